/* waitid(): siginfo contents, WNOWAIT, WNOHANG, P_ALL, P_PGID, P_PIDFD and
 * errors. */
#include "check.h"

#include <sys/syscall.h>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

int main(void) {
  CASE("exited child is reported with CLD_EXITED and its status");
  pid_t pid = fork();
  if (pid == 0) _exit(17);
  siginfo_t info;
  memset(&info, 0, sizeof info);
  CHECK_EQ(waitid(P_PID, pid, &info, WEXITED), 0);
  CHECK_EQ(info.si_signo, SIGCHLD);
  CHECK_EQ(info.si_code, CLD_EXITED);
  CHECK_EQ(info.si_pid, pid);
  CHECK_EQ(info.si_status, 17);
  CHECK_EQ(info.si_uid, getuid());
  CHECK_ERR(waitid(P_PID, pid, &info, WEXITED), ECHILD);

  CASE("killed child is reported with CLD_KILLED and the signal");
  pid = fork();
  if (pid == 0) {
    for (;;) pause();
  }
  kill(pid, SIGKILL);
  memset(&info, 0, sizeof info);
  CHECK_EQ(waitid(P_PID, pid, &info, WEXITED), 0);
  CHECK_EQ(info.si_code, CLD_KILLED);
  CHECK_EQ(info.si_status, SIGKILL);

  CASE("WNOWAIT leaves the child waitable");
  pid = fork();
  if (pid == 0) _exit(8);
  memset(&info, 0, sizeof info);
  CHECK_EQ(waitid(P_PID, pid, &info, WEXITED | WNOWAIT), 0);
  CHECK_EQ(info.si_status, 8);
  memset(&info, 0, sizeof info);
  CHECK_EQ(waitid(P_PID, pid, &info, WEXITED), 0);
  CHECK_EQ(info.si_pid, pid);
  CHECK_EQ(info.si_status, 8);

  CASE("WNOHANG with no state change returns 0 and zeroes si_pid");
  int release[2];
  CHECK_OK(pipe(release));
  pid = fork();
  if (pid == 0) {
    char byte;
    read(release[0], &byte, 1);
    _exit(0);
  }
  memset(&info, 0xff, sizeof info);
  CHECK_EQ(waitid(P_PID, pid, &info, WEXITED | WNOHANG), 0);
  CHECK_EQ(info.si_pid, 0);
  CHECK_EQ(info.si_signo, 0);
  write(release[1], "x", 1);

  CASE("P_ALL waits for any child");
  memset(&info, 0, sizeof info);
  CHECK_EQ(waitid(P_ALL, 0, &info, WEXITED), 0);
  CHECK_EQ(info.si_pid, pid);

  CASE("P_PGID waits for a child in that process group");
  pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    char byte;
    read(release[0], &byte, 1);
    _exit(2);
  }
  setpgid(pid, pid);
  write(release[1], "x", 1);
  memset(&info, 0, sizeof info);
  CHECK_EQ(waitid(P_PGID, pid, &info, WEXITED), 0);
  CHECK_EQ(info.si_pid, pid);
  CHECK_EQ(info.si_status, 2);

  CASE("P_PIDFD waits for the child behind a pidfd");
  pid = fork();
  if (pid == 0) _exit(6);
  int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
  CHECK(pidfd >= 0);
  memset(&info, 0, sizeof info);
  CHECK_EQ(waitid(P_PIDFD, pidfd, &info, WEXITED), 0);
  CHECK_EQ(info.si_pid, pid);
  CHECK_EQ(info.si_status, 6);
  close(pidfd);

  CASE("NULL infop is accepted");
  pid = fork();
  if (pid == 0) _exit(0);
  CHECK_EQ(syscall(SYS_waitid, P_PID, pid, NULL, WEXITED, NULL), 0);

  CASE("no children fails with ECHILD");
  CHECK_ERR(waitid(P_ALL, 0, &info, WEXITED), ECHILD);

  CASE("missing wait options fail with EINVAL");
  CHECK_ERR(waitid(P_ALL, 0, &info, 0), EINVAL);
  CHECK_ERR(waitid(P_ALL, 0, &info, WNOHANG), EINVAL);

  CASE("invalid idtype fails with EINVAL");
  CHECK_ERR(waitid((idtype_t)42, 0, &info, WEXITED), EINVAL);

  CASE("P_PIDFD with a non-pidfd descriptor fails with EBADF");
  CHECK_ERR(waitid(P_PIDFD, release[0], &info, WEXITED), EBADF);
  close(release[0]);
  close(release[1]);
  return check_finish();
}
