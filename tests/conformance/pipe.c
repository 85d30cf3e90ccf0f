/* pipe() and pipe2(): data flow, end-of-file, EPIPE, flags and capacity. */
#include "check.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>

static volatile sig_atomic_t sigpipe_count;

static void on_sigpipe(int signo) { sigpipe_count++; }

static void test_round_trip(void) {
  CASE("bytes written are read back in order");
  int fds[2];
  CHECK_EQ(pipe(fds), 0);
  CHECK(fds[0] >= 0);
  CHECK(fds[1] >= 0);
  CHECK_NE(fds[0], fds[1]);
  CHECK_EQ(write(fds[1], "hello", 5), 5);
  CHECK_EQ(write(fds[1], " world", 6), 6);
  char buffer[32] = {0};
  CHECK_EQ(read(fds[0], buffer, sizeof buffer), 11);
  CHECK_STR(buffer, "hello world");

  CASE("short read returns what is available");
  CHECK_EQ(write(fds[1], "abc", 3), 3);
  memset(buffer, 0, sizeof buffer);
  CHECK_EQ(read(fds[0], buffer, 2), 2);
  CHECK_STR(buffer, "ab");
  CHECK_EQ(read(fds[0], buffer, sizeof buffer), 1);
  CHECK_EQ(buffer[0], 'c');

  CASE("wrong direction fails with EBADF");
  CHECK_ERR(write(fds[0], "x", 1), EBADF);
  CHECK_ERR(read(fds[1], buffer, 1), EBADF);

  CASE("pipe ends are FIFOs and not seekable");
  struct stat info;
  CHECK_OK(fstat(fds[0], &info));
  CHECK(S_ISFIFO(info.st_mode));
  CHECK_ERR(lseek(fds[0], 0, SEEK_SET), ESPIPE);
  close(fds[0]);
  close(fds[1]);
}

static void test_eof_and_epipe(void) {
  CASE("read after writer closes returns 0");
  int fds[2];
  CHECK_OK(pipe(fds));
  CHECK_EQ(write(fds[1], "z", 1), 1);
  close(fds[1]);
  char byte;
  CHECK_EQ(read(fds[0], &byte, 1), 1);
  CHECK_EQ(read(fds[0], &byte, 1), 0);
  close(fds[0]);

  CASE("write after reader closes raises SIGPIPE and fails with EPIPE");
  CHECK_OK(pipe(fds));
  close(fds[0]);
  struct sigaction action = {0};
  action.sa_handler = on_sigpipe;
  CHECK_OK(sigaction(SIGPIPE, &action, NULL));
  sigpipe_count = 0;
  CHECK_ERR(write(fds[1], "z", 1), EPIPE);
  CHECK_EQ(sigpipe_count, 1);

  CASE("write after reader closes with SIGPIPE ignored fails with EPIPE");
  signal(SIGPIPE, SIG_IGN);
  CHECK_ERR(write(fds[1], "z", 1), EPIPE);
  close(fds[1]);

  CASE("SIGPIPE default action kills the writer");
  CHECK_OK(pipe(fds));
  close(fds[0]);
  pid_t pid = fork();
  if (pid == 0) {
    signal(SIGPIPE, SIG_DFL);
    write(fds[1], "z", 1);
    _exit(0);
  }
  int status = 0;
  CHECK_EQ(waitpid(pid, &status, 0), pid);
  CHECK(WIFSIGNALED(status));
  CHECK_EQ(WTERMSIG(status), SIGPIPE);
  close(fds[1]);
}

static void test_pipe2_flags(void) {
  CASE("pipe2 O_NONBLOCK read on empty pipe fails with EAGAIN");
  int fds[2];
  CHECK_OK(pipe2(fds, O_NONBLOCK));
  char byte;
  CHECK_ERR(read(fds[0], &byte, 1), EAGAIN);
  CHECK((fcntl(fds[0], F_GETFL) & O_NONBLOCK) != 0);
  CHECK((fcntl(fds[1], F_GETFL) & O_NONBLOCK) != 0);
  CHECK_EQ(fcntl(fds[0], F_GETFD), 0);
  close(fds[0]);
  close(fds[1]);

  CASE("pipe2 O_CLOEXEC sets FD_CLOEXEC on both ends");
  CHECK_OK(pipe2(fds, O_CLOEXEC));
  CHECK_EQ(fcntl(fds[0], F_GETFD), FD_CLOEXEC);
  CHECK_EQ(fcntl(fds[1], F_GETFD), FD_CLOEXEC);
  CHECK_EQ(fcntl(fds[0], F_GETFL) & O_NONBLOCK, 0);
  close(fds[0]);
  close(fds[1]);

  CASE("pipe2 access modes are read and write");
  CHECK_OK(pipe(fds));
  CHECK_EQ(fcntl(fds[0], F_GETFL) & O_ACCMODE, O_RDONLY);
  CHECK_EQ(fcntl(fds[1], F_GETFL) & O_ACCMODE, O_WRONLY);
  close(fds[0]);
  close(fds[1]);

  CASE("pipe2 with unknown flags fails with EINVAL");
  CHECK_ERR(pipe2(fds, O_APPEND), EINVAL);
  CHECK_ERR(pipe2(fds, 0x10000000), EINVAL);

  CASE("pipe with bad pointer fails with EFAULT");
  CHECK_ERR(syscall(SYS_pipe2, (int*)8, 0), EFAULT);
}

static void test_capacity(void) {
  CASE("default capacity is 65536 bytes");
  int fds[2];
  CHECK_OK(pipe2(fds, O_NONBLOCK));
  CHECK_EQ(fcntl(fds[1], F_GETPIPE_SZ), 65536);
  static char block[4096];
  long total = 0;
  for (;;) {
    ssize_t n = write(fds[1], block, sizeof block);
    if (n < 0) {
      CHECK_EQ(errno, EAGAIN);
      break;
    }
    total += n;
    if (total > 1 << 20) break;
  }
  CHECK_EQ(total, 65536);

  CASE("F_SETPIPE_SZ below the contents fails with EBUSY");
  CHECK_ERR(fcntl(fds[1], F_SETPIPE_SZ, 4096), EBUSY);
  close(fds[0]);
  close(fds[1]);

  CASE("F_SETPIPE_SZ to one page limits capacity");
  CHECK_OK(pipe2(fds, O_NONBLOCK));
  CHECK_EQ(fcntl(fds[1], F_SETPIPE_SZ, 4096), 4096);
  CHECK_EQ(fcntl(fds[0], F_GETPIPE_SZ), 4096);
  CHECK_EQ(write(fds[1], block, sizeof block), 4096);
  CHECK_ERR(write(fds[1], block, 1), EAGAIN);
  close(fds[0]);
  close(fds[1]);

  CASE("F_SETPIPE_SZ rounds up to a power of two pages");
  CHECK_OK(pipe(fds));
  CHECK_EQ(fcntl(fds[1], F_SETPIPE_SZ, 3 * 4096), 4 * 4096);
  close(fds[0]);
  close(fds[1]);

  CASE("partial write to nearly full nonblocking pipe");
  CHECK_OK(pipe2(fds, O_NONBLOCK));
  CHECK_EQ(fcntl(fds[1], F_SETPIPE_SZ, 8192), 8192);
  CHECK_EQ(write(fds[1], block, 100), 100);
  static char big[16384];
  ssize_t written = write(fds[1], big, sizeof big);
  CHECK(written > 0);
  CHECK(written < (ssize_t)sizeof big);
  close(fds[0]);
  close(fds[1]);
}

static void test_between_processes(void) {
  CASE("child writes and parent reads");
  int fds[2];
  CHECK_OK(pipe(fds));
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    for (int i = 0; i < 100; i++) {
      char line[16];
      int length = snprintf(line, sizeof line, "%03d", i);
      write(fds[1], line, length);
    }
    _exit(0);
  }
  close(fds[1]);
  char buffer[400];
  size_t total = 0;
  for (;;) {
    ssize_t n = read(fds[0], buffer + total, sizeof buffer - total);
    if (n <= 0) break;
    total += n;
  }
  CHECK_EQ(total, 300);
  CHECK(memcmp(buffer, "000001002", 9) == 0);
  CHECK(memcmp(buffer + 297, "099", 3) == 0);
  close(fds[0]);
  CHECK_CHILD_EXIT(pid, 0);
}

int main(void) {
  test_round_trip();
  test_eof_and_epipe();
  test_pipe2_flags();
  test_capacity();
  test_between_processes();
  return check_finish();
}
