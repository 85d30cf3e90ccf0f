/* signalfd(): reading blocked signals as records, readiness, mask updates,
 * inheritance and errors. */
#include "check.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>

int main(void) {
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGUSR1);
  sigaddset(&mask, SIGRTMIN);
  sigprocmask(SIG_BLOCK, &mask, NULL);

  CASE("signalfd reads a pending signal with its siginfo");
  int fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
  CHECK(fd >= 0);
  CHECK_EQ(fcntl(fd, F_GETFD), FD_CLOEXEC);
  CHECK_OK(kill(getpid(), SIGUSR1));
  struct signalfd_siginfo record;
  memset(&record, 0, sizeof record);
  CHECK_EQ(read(fd, &record, sizeof record), (ssize_t)sizeof record);
  CHECK_EQ(record.ssi_signo, SIGUSR1);
  CHECK_EQ(record.ssi_code, SI_USER);
  CHECK_EQ(record.ssi_pid, getpid());
  CHECK_EQ(record.ssi_uid, getuid());

  CASE("the read signal is no longer pending");
  sigset_t pending;
  sigpending(&pending);
  CHECK_EQ(sigismember(&pending, SIGUSR1), 0);

  CASE("empty non-blocking signalfd fails with EAGAIN");
  CHECK_ERR(read(fd, &record, sizeof record), EAGAIN);

  CASE("several queued signals are read in one call");
  for (int i = 0; i < 3; i++) {
    union sigval value = {.sival_int = i};
    CHECK_OK(sigqueue(getpid(), SIGRTMIN, value));
  }
  struct signalfd_siginfo records[4];
  CHECK_EQ(read(fd, records, sizeof records),
           3 * (ssize_t)sizeof(struct signalfd_siginfo));
  CHECK_EQ(records[0].ssi_code, SI_QUEUE);
  CHECK_EQ(records[0].ssi_int, 0);
  CHECK_EQ(records[2].ssi_int, 2);

  CASE("poll reports POLLIN while a signal is pending");
  struct pollfd entry = {fd, POLLIN, 0};
  CHECK_EQ(poll(&entry, 1, 0), 0);
  raise(SIGUSR1);
  CHECK_EQ(poll(&entry, 1, 0), 1);
  CHECK_EQ(entry.revents, POLLIN);

  CASE("updating the mask through the same descriptor");
  sigset_t only_rt;
  sigemptyset(&only_rt);
  sigaddset(&only_rt, SIGRTMIN);
  CHECK_EQ(signalfd(fd, &only_rt, 0), fd);
  CHECK_ERR(read(fd, &record, sizeof record), EAGAIN);
  sigpending(&pending);
  CHECK_EQ(sigismember(&pending, SIGUSR1), 1);
  sigset_t wait_set;
  sigemptyset(&wait_set);
  sigaddset(&wait_set, SIGUSR1);
  struct timespec zero = {0, 0};
  CHECK_EQ(sigtimedwait(&wait_set, NULL, &zero), SIGUSR1);

  CASE("a signal sent by a child is read with the child's pid");
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) {
    union sigval value = {.sival_int = 77};
    sigqueue(parent, SIGRTMIN, value);
    _exit(0);
  }
  CHECK_CHILD_EXIT(pid, 0);
  memset(&record, 0, sizeof record);
  CHECK_EQ(read(fd, &record, sizeof record), (ssize_t)sizeof record);
  CHECK_EQ(record.ssi_pid, pid);
  CHECK_EQ(record.ssi_int, 77);

  CASE("read buffer smaller than one record fails with EINVAL");
  char small[8];
  CHECK_ERR(read(fd, small, sizeof small), EINVAL);

  CASE("unknown flags fail with EINVAL");
  CHECK_ERR(signalfd(-1, &mask, 0x1), EINVAL);

  CASE("a descriptor that is not a signalfd fails with EINVAL");
  int fds[2];
  CHECK_OK(pipe(fds));
  CHECK_ERR(signalfd(fds[0], &mask, 0), EINVAL);
  close(fds[0]);
  close(fds[1]);

  CASE("wrong sigset size fails with EINVAL");
  CHECK_ERR(syscall(SYS_signalfd4, -1, &mask, 4, 0), EINVAL);
  close(fd);
  return check_finish();
}
