/* sigtimedwait(), sigwaitinfo() and sigwait(): dequeuing blocked signals,
 * siginfo contents, queue order, timeouts and errors. */
#include "check.h"

#include <sys/syscall.h>
#include <time.h>

static long elapsed_ms(const struct timespec* start) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (now.tv_sec - start->tv_sec) * 1000 +
         (now.tv_nsec - start->tv_nsec) / 1000000;
}

int main(void) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  sigaddset(&set, SIGRTMIN);
  sigprocmask(SIG_BLOCK, &set, NULL);

  CASE("pending signal is returned with its siginfo");
  raise(SIGUSR1);
  siginfo_t info;
  memset(&info, 0, sizeof info);
  struct timespec timeout = {1, 0};
  /* glibc's sigtimedwait() rewrites SI_TKILL to SI_USER, so the raw system
   * call is used to see what the kernel reports for raise(). */
  CHECK_EQ(syscall(SYS_rt_sigtimedwait, &set, &info, &timeout, 8), SIGUSR1);
  CHECK_EQ(info.si_signo, SIGUSR1);
  CHECK_EQ(info.si_code, SI_TKILL);
  CHECK_EQ(info.si_pid, getpid());
  CHECK_EQ(info.si_uid, getuid());

  CASE("dequeued signal is no longer pending");
  sigset_t pending;
  sigpending(&pending);
  CHECK_EQ(sigismember(&pending, SIGUSR1), 0);

  CASE("timeout with nothing pending fails with EAGAIN after the timeout");
  timeout = (struct timespec){0, 50 * 1000 * 1000};
  struct timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  CHECK_ERR(sigtimedwait(&set, &info, &timeout), EAGAIN);
  CHECK(elapsed_ms(&start) >= 50);

  CASE("zero timeout polls and fails with EAGAIN");
  timeout = (struct timespec){0, 0};
  CHECK_ERR(sigtimedwait(&set, &info, &timeout), EAGAIN);

  CASE("queued real-time signals come out in order with their values");
  for (int i = 1; i <= 3; i++) {
    union sigval value = {.sival_int = i * 10};
    CHECK_OK(sigqueue(getpid(), SIGRTMIN, value));
  }
  for (int i = 1; i <= 3; i++) {
    memset(&info, 0, sizeof info);
    CHECK_EQ(sigwaitinfo(&set, &info), SIGRTMIN);
    CHECK_EQ(info.si_code, SI_QUEUE);
    CHECK_EQ(info.si_value.sival_int, i * 10);
  }

  CASE("lower-numbered signal is dequeued first");
  raise(SIGRTMIN);
  raise(SIGUSR1);
  CHECK_EQ(sigwaitinfo(&set, &info), SIGUSR1);
  CHECK_EQ(sigwaitinfo(&set, &info), SIGRTMIN);

  CASE("signal from a child carries the child's pid");
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) {
    usleep(20000);
    kill(parent, SIGUSR1);
    _exit(0);
  }
  memset(&info, 0, sizeof info);
  timeout = (struct timespec){4, 0};
  CHECK_EQ(sigtimedwait(&set, &info, &timeout), SIGUSR1);
  CHECK_EQ(info.si_code, SI_USER);
  CHECK_EQ(info.si_pid, pid);
  CHECK_CHILD_EXIT(pid, 0);

  CASE("sigwait returns the signal number");
  raise(SIGUSR1);
  int signo = 0;
  CHECK_EQ(sigwait(&set, &signo), 0);
  CHECK_EQ(signo, SIGUSR1);

  CASE("signals outside the set stay pending");
  sigset_t usr2;
  sigemptyset(&usr2);
  sigaddset(&usr2, SIGUSR2);
  sigprocmask(SIG_BLOCK, &usr2, NULL);
  raise(SIGUSR2);
  timeout = (struct timespec){0, 0};
  CHECK_ERR(sigtimedwait(&set, &info, &timeout), EAGAIN);
  sigpending(&pending);
  CHECK_EQ(sigismember(&pending, SIGUSR2), 1);
  CHECK_EQ(sigtimedwait(&usr2, &info, &timeout), SIGUSR2);

  CASE("invalid timeout fails with EINVAL");
  timeout = (struct timespec){0, 1000000000};
  CHECK_ERR(sigtimedwait(&set, &info, &timeout), EINVAL);

  CASE("wrong sigset size fails with EINVAL");
  timeout = (struct timespec){0, 0};
  CHECK_ERR(syscall(SYS_rt_sigtimedwait, &set, &info, &timeout, 4), EINVAL);
  return check_finish();
}
