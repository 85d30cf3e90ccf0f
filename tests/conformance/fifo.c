/* FIFOs: how opens of the two ends wait for each other, and what reads and
 * writes see once one end is gone. */
#include "check.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>

static char fifo_path[128];

static void test_nonblocking_opens(void) {
  CASE("O_WRONLY|O_NONBLOCK without a reader fails with ENXIO");
  CHECK_ERR(open(fifo_path, O_WRONLY | O_NONBLOCK), ENXIO);

  CASE("O_RDONLY|O_NONBLOCK opens at once, and then a writer can open");
  int reader = open(fifo_path, O_RDONLY | O_NONBLOCK);
  CHECK(reader >= 0);
  int writer = open(fifo_path, O_WRONLY | O_NONBLOCK);
  CHECK(writer >= 0);

  CASE("a read with no data but a writer present fails with EAGAIN");
  char c;
  CHECK_ERR(read(reader, &c, 1), EAGAIN);

  CASE("data written is read back, then EOF once the writer closes");
  CHECK_EQ(write(writer, "xy", 2), 2);
  close(writer);
  char buf[4];
  CHECK_EQ(read(reader, buf, sizeof buf), 2);
  CHECK_EQ(read(reader, buf, sizeof buf), 0);
  struct pollfd p = {.fd = reader, .events = POLLIN};
  CHECK_EQ(poll(&p, 1, 0), 1);
  CHECK(p.revents & POLLHUP);
  close(reader);
}

static void test_rdwr_open(void) {
  CASE("O_RDWR opens at once and counts as a reader");
  int both = open(fifo_path, O_RDWR);
  CHECK(both >= 0);
  int writer = open(fifo_path, O_WRONLY | O_NONBLOCK);
  CHECK(writer >= 0);
  CHECK_EQ(write(writer, "z", 1), 1);
  char c = 0;
  CHECK_EQ(read(both, &c, 1), 1);
  CHECK_EQ(c, 'z');
  close(writer);
  close(both);
}

static void test_write_without_reader(void) {
  CASE("a write after the last reader closed raises SIGPIPE and fails EPIPE");
  int reader = open(fifo_path, O_RDONLY | O_NONBLOCK);
  int writer = open(fifo_path, O_WRONLY | O_NONBLOCK);
  CHECK(reader >= 0);
  CHECK(writer >= 0);
  close(reader);
  signal(SIGPIPE, SIG_IGN);
  CHECK_ERR(write(writer, "x", 1), EPIPE);
  signal(SIGPIPE, SIG_DFL);
  close(writer);
}

/* Checks that a blocked open() returns even when the other end opened and
 * closed again before the blocked task ran. bash relies on this when a
 * background job reports through a FIFO. */
static void test_blocking_open_race(void) {
  CASE("a blocking read open returns even if the writer has already closed");
  for (int i = 0; i < 300; i++) {
    pid_t pid = fork();
    if (pid == 0) {
      alarm(5);
      int fd = open(fifo_path, O_RDONLY);
      if (fd < 0) _exit(2);
      char c;
      ssize_t n = read(fd, &c, 1);
      _exit(n == 1 && c == 'r' ? 0 : 3);
    }
    int fd = open(fifo_path, O_WRONLY);
    CHECK(fd >= 0);
    CHECK_EQ(write(fd, "r", 1), 1);
    close(fd);
    int status = 0;
    CHECK_EQ(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      char how[64];
      check_describe_status(status, how, sizeof how);
      check_fail(__FILE_NAME__, __LINE__, "reader %d: %s", i, how);
      break;
    }
  }

  CASE("a blocking write open returns even if the reader has already closed");
  for (int i = 0; i < 300; i++) {
    pid_t pid = fork();
    if (pid == 0) {
      alarm(5);
      int fd = open(fifo_path, O_WRONLY);
      _exit(fd >= 0 ? 0 : 2);
    }
    int fd = open(fifo_path, O_RDONLY);
    CHECK(fd >= 0);
    close(fd);
    int status = 0;
    CHECK_EQ(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      char how[64];
      check_describe_status(status, how, sizeof how);
      check_fail(__FILE_NAME__, __LINE__, "writer %d: %s", i, how);
      break;
    }
  }
}

int main(void) {
  char* dir = check_make_temp_dir();
  snprintf(fifo_path, sizeof fifo_path, "%s/fifo", dir);
  CHECK_OK(mkfifo(fifo_path, 0600));
  test_nonblocking_opens();
  test_rdwr_open();
  test_write_without_reader();
  test_blocking_open_race();
  check_remove_tree(dir);
  return check_finish();
}
