/* select() and pselect(): ready sets, timeout updates, signal masks and errors.
 */
#include "check.h"

#include <sys/select.h>
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
  int nfds = (fds[0] > fds[1] ? fds[0] : fds[1]) + 1;

  CASE("empty pipe is not readable and the set is cleared");
  fd_set readable;
  FD_ZERO(&readable);
  FD_SET(fds[0], &readable);
  struct timeval zero = {0, 0};
  CHECK_EQ(select(nfds, &readable, NULL, NULL, &zero), 0);
  CHECK_EQ(FD_ISSET(fds[0], &readable), 0);

  CASE("pipe with data is readable");
  CHECK_EQ(write(fds[1], "x", 1), 1);
  FD_ZERO(&readable);
  FD_SET(fds[0], &readable);
  zero = (struct timeval){0, 0};
  CHECK_EQ(select(nfds, &readable, NULL, NULL, &zero), 1);
  CHECK(FD_ISSET(fds[0], &readable));

  CASE("read and write sets are counted separately");
  fd_set writable;
  FD_ZERO(&readable);
  FD_ZERO(&writable);
  FD_SET(fds[0], &readable);
  FD_SET(fds[1], &writable);
  zero = (struct timeval){0, 0};
  CHECK_EQ(select(nfds, &readable, &writable, NULL, &zero), 2);
  CHECK(FD_ISSET(fds[1], &writable));
  char byte;
  read(fds[0], &byte, 1);

  CASE("timeout elapses and is updated to the remaining time");
  FD_ZERO(&readable);
  FD_SET(fds[0], &readable);
  struct timeval timeout = {0, 100000};
  struct timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  CHECK_EQ(select(nfds, &readable, NULL, NULL, &timeout), 0);
  CHECK(elapsed_ms(&start) >= 100);
  CHECK_EQ(timeout.tv_sec, 0);
  CHECK_EQ(timeout.tv_usec, 0);

  CASE("select with no sets sleeps for the timeout");
  timeout = (struct timeval){0, 50000};
  clock_gettime(CLOCK_MONOTONIC, &start);
  CHECK_EQ(select(0, NULL, NULL, NULL, &timeout), 0);
  CHECK(elapsed_ms(&start) >= 50);

  CASE("early wake-up leaves the remaining time in the timeout");
  pid_t pid = fork();
  if (pid == 0) {
    usleep(50000);
    write(fds[1], "w", 1);
    _exit(0);
  }
  FD_ZERO(&readable);
  FD_SET(fds[0], &readable);
  timeout = (struct timeval){4, 0};
  CHECK_EQ(select(nfds, &readable, NULL, NULL, &timeout), 1);
  CHECK(timeout.tv_sec < 4);
  CHECK(timeout.tv_sec >= 2);
  CHECK_CHILD_EXIT(pid, 0);
  read(fds[0], &byte, 1);

  CASE("closed descriptor in a set fails with EBADF");
  int closed = dup(0);
  close(closed);
  FD_ZERO(&readable);
  FD_SET(closed, &readable);
  zero = (struct timeval){0, 0};
  CHECK_ERR(select(closed + 1, &readable, NULL, NULL, &zero), EBADF);

  CASE("negative nfds fails with EINVAL");
  zero = (struct timeval){0, 0};
  CHECK_ERR(select(-1, NULL, NULL, NULL, &zero), EINVAL);

  CASE("invalid timeout fails with EINVAL");
  FD_ZERO(&readable);
  FD_SET(fds[0], &readable);
  struct timeval invalid = {-1, 0};
  CHECK_ERR(select(nfds, &readable, NULL, NULL, &invalid), EINVAL);

  CASE("bad set pointer fails with EFAULT");
  zero = (struct timeval){0, 0};
  CHECK_ERR(syscall(SYS_select, nfds, (fd_set*)8, NULL, NULL, &zero), EFAULT);

  CASE("pselect unblocks a signal only while waiting");
  signal(SIGUSR1, on_usr1);
  sigset_t block, wait_mask;
  sigemptyset(&block);
  sigaddset(&block, SIGUSR1);
  sigprocmask(SIG_BLOCK, &block, NULL);
  raise(SIGUSR1);
  sigemptyset(&wait_mask);
  FD_ZERO(&readable);
  FD_SET(fds[0], &readable);
  struct timespec long_wait = {5, 0};
  CHECK_ERR(pselect(nfds, &readable, NULL, NULL, &long_wait, &wait_mask),
            EINTR);
  CHECK_EQ(usr1_count, 1);
  sigset_t after;
  sigprocmask(SIG_SETMASK, NULL, &after);
  CHECK_EQ(sigismember(&after, SIGUSR1), 1);

  CASE("pselect with an invalid timeout fails with EINVAL");
  struct timespec invalid_ns = {0, 1000000000};
  CHECK_ERR(pselect(nfds, &readable, NULL, NULL, &invalid_ns, NULL), EINVAL);
  close(fds[0]);
  close(fds[1]);
  return check_finish();
}
