/* poll() and ppoll(): readiness bits, POLLHUP/POLLERR/POLLNVAL, timeouts,
 * wake-ups, signal masks and errors. */
#include "check.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>

static long elapsed_ms(const struct timespec* start) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (now.tv_sec - start->tv_sec) * 1000 +
         (now.tv_nsec - start->tv_nsec) / 1000000;
}

static volatile sig_atomic_t usr1_count;

static void on_usr1(int signo) { usr1_count++; }

int main(void) {
  int fds[2];
  CHECK_OK(pipe(fds));

  CASE("empty pipe with timeout 0 returns 0");
  struct pollfd entry = {fds[0], POLLIN, 0};
  CHECK_EQ(poll(&entry, 1, 0), 0);
  CHECK_EQ(entry.revents, 0);

  CASE("pipe with data reports POLLIN");
  CHECK_EQ(write(fds[1], "x", 1), 1);
  entry.revents = 0;
  CHECK_EQ(poll(&entry, 1, 0), 1);
  CHECK_EQ(entry.revents, POLLIN);

  CASE("write end of a pipe with room reports POLLOUT");
  struct pollfd writer = {fds[1], POLLOUT | POLLIN, 0};
  CHECK_EQ(poll(&writer, 1, 0), 1);
  CHECK_EQ(writer.revents, POLLOUT);

  CASE("several descriptors are counted separately");
  struct pollfd both[2] = {{fds[0], POLLIN, 0}, {fds[1], POLLOUT, 0}};
  CHECK_EQ(poll(both, 2, 0), 2);

  CASE("closed write end reports POLLHUP with remaining data");
  close(fds[1]);
  entry.revents = 0;
  CHECK_EQ(poll(&entry, 1, 0), 1);
  CHECK_EQ(entry.revents, POLLIN | POLLHUP);
  char byte;
  read(fds[0], &byte, 1);
  entry.revents = 0;
  CHECK_EQ(poll(&entry, 1, 0), 1);
  CHECK_EQ(entry.revents, POLLHUP);
  close(fds[0]);

  CASE("closed read end reports POLLERR on the write end");
  CHECK_OK(pipe(fds));
  close(fds[0]);
  writer = (struct pollfd){fds[1], POLLOUT, 0};
  CHECK_EQ(poll(&writer, 1, 0), 1);
  CHECK_EQ(writer.revents, POLLOUT | POLLERR);
  close(fds[1]);

  CASE("closed descriptor reports POLLNVAL and negative fds are ignored");
  struct pollfd mixed[2] = {{12345, POLLIN, 0}, {-1, POLLIN, 0}};
  CHECK_EQ(poll(mixed, 2, 0), 1);
  CHECK_EQ(mixed[0].revents, POLLNVAL);
  CHECK_EQ(mixed[1].revents, 0);

  CASE("regular file is always readable and writable");
  int file = open("/dev/null", O_RDWR);
  struct pollfd file_entry = {file, POLLIN | POLLOUT, 0};
  CHECK_EQ(poll(&file_entry, 1, 0), 1);
  CHECK_EQ(file_entry.revents, POLLIN | POLLOUT);
  close(file);

  CASE("timeout elapses when nothing is ready");
  CHECK_OK(pipe(fds));
  entry = (struct pollfd){fds[0], POLLIN, 0};
  struct timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  CHECK_EQ(poll(&entry, 1, 100), 0);
  CHECK(elapsed_ms(&start) >= 100);

  CASE("data from another process wakes an infinite poll");
  pid_t pid = fork();
  if (pid == 0) {
    usleep(50000);
    write(fds[1], "w", 1);
    _exit(0);
  }
  entry.revents = 0;
  CHECK_EQ(poll(&entry, 1, -1), 1);
  CHECK_EQ(entry.revents, POLLIN);
  CHECK_CHILD_EXIT(pid, 0);

  CASE("nfds above RLIMIT_NOFILE fails with EINVAL");
  struct rlimit limit;
  getrlimit(RLIMIT_NOFILE, &limit);
  CHECK_ERR(poll(&entry, limit.rlim_cur + 1, 0), EINVAL);

  CASE("bad array fails with EFAULT");
  CHECK_ERR(syscall(SYS_poll, (struct pollfd*)8, 1, 0), EFAULT);

  CASE("ppoll with a past-zero timeout returns at once");
  read(fds[0], &byte, 1);
  struct timespec zero = {0, 0};
  entry.revents = 0;
  CHECK_EQ(ppoll(&entry, 1, &zero, NULL), 0);

  CASE("ppoll with an invalid timeout fails with EINVAL");
  struct timespec invalid = {0, 1000000000};
  CHECK_ERR(ppoll(&entry, 1, &invalid, NULL), EINVAL);

  CASE("ppoll unblocks a signal only while waiting");
  signal(SIGUSR1, on_usr1);
  sigset_t block, wait_mask;
  sigemptyset(&block);
  sigaddset(&block, SIGUSR1);
  sigprocmask(SIG_BLOCK, &block, NULL);
  raise(SIGUSR1);
  CHECK_EQ(usr1_count, 0);
  sigemptyset(&wait_mask);
  struct timespec long_wait = {5, 0};
  CHECK_ERR(ppoll(&entry, 1, &long_wait, &wait_mask), EINTR);
  CHECK_EQ(usr1_count, 1);
  sigset_t after;
  sigprocmask(SIG_SETMASK, NULL, &after);
  CHECK_EQ(sigismember(&after, SIGUSR1), 1);

  CASE("ppoll with a wrong sigset size fails with EINVAL");
  CHECK_ERR(syscall(SYS_ppoll, &entry, 1, &zero, &wait_mask, 4), EINVAL);
  close(fds[0]);
  close(fds[1]);
  return check_finish();
}
