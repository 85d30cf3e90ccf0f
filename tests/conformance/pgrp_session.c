/* Process groups and sessions: setpgid(), getpgid(), setsid(), getsid(),
 * inheritance and errors. The cases run in fresh children, which are never
 * group or session leaders, whatever the sandbox made of this process. */
#include "check.h"

#include <fcntl.h>

static pid_t reaped_pid(void) {
  pid_t pid = fork();
  if (pid == 0) _exit(0);
  waitpid(pid, NULL, 0);
  return pid;
}

int main(int argc, char** argv) {
  if (argc >= 2 && strcmp(argv[1], "wait-for-eof") == 0) {
    char byte;
    while (read(0, &byte, 1) > 0) {
    }
    return 0;
  }
  pid_t unused_pid = reaped_pid();

  CASE("a child starts in its parent's group and session");
  pid_t parent_group = getpgrp();
  pid_t parent_session = getsid(0);
  pid_t pid = fork();
  if (pid == 0) {
    CHECK_EQ(getpgrp(), parent_group);
    CHECK_EQ(getpgid(0), parent_group);
    CHECK_EQ(getsid(0), parent_session);

    CASE("setpgid(0, 0) makes the caller a group leader");
    CHECK_EQ(setpgid(0, 0), 0);
    CHECK_EQ(getpgrp(), getpid());
    CHECK_EQ(getsid(0), parent_session);

    CASE("setsid by a group leader fails with EPERM");
    CHECK_ERR(setsid(), EPERM);
    check_child_done();
  }
  CHECK_CHILD_EXIT(pid, 0);

  CASE("setsid creates a session and group led by the caller");
  pid = fork();
  if (pid == 0) {
    CHECK_EQ(setsid(), getpid());
    CHECK_EQ(getsid(0), getpid());
    CHECK_EQ(getpgrp(), getpid());

    CASE("a session leader cannot change its group");
    CHECK_ERR(setpgid(0, 0), EPERM);

    CASE("a new session has no controlling terminal");
    CHECK_ERR(open("/dev/tty", O_RDWR), ENXIO);

    CASE("joining a group in another session fails with EPERM");
    pid_t child = fork();
    if (child == 0) {
      CHECK_ERR(setpgid(0, parent_group), EPERM);
      check_child_done();
    }
    CHECK_CHILD_EXIT(child, 0);

    CASE("a child of a session leader inherits the session");
    child = fork();
    if (child == 0) _exit(getsid(0) == getppid() ? 0 : 1);
    CHECK_CHILD_EXIT(child, 0);
    check_child_done();
  }
  CHECK_CHILD_EXIT(pid, 0);

  CASE("parent can move its child into a new group");
  int release[2];
  CHECK_OK(pipe(release));
  pid = fork();
  if (pid == 0) {
    char byte;
    read(release[0], &byte, 1);
    _exit(getpgrp() == getpid() ? 0 : 1);
  }
  CHECK_EQ(setpgid(pid, pid), 0);
  CHECK_EQ(getpgid(pid), pid);
  write(release[1], "x", 1);
  CHECK_CHILD_EXIT(pid, 0);

  CASE("setpgid on a child after it called execve fails with EACCES");
  int to_child[2];
  CHECK_OK(pipe(to_child));
  int exec_done[2];
  CHECK_OK(pipe2(exec_done, O_CLOEXEC));
  pid = fork();
  if (pid == 0) {
    dup2(to_child[0], 0);
    close(to_child[1]);
    char* child_argv[] = {argv[0], "wait-for-eof", NULL};
    execv(argv[0], child_argv);
    _exit(99);
  }
  close(to_child[0]);
  close(exec_done[1]);
  char byte;
  CHECK_EQ(read(exec_done[0], &byte, 1), 0);
  CHECK_ERR(setpgid(pid, pid), EACCES);
  close(to_child[1]);
  close(exec_done[0]);
  CHECK_CHILD_EXIT(pid, 0);

  CASE("setpgid on a process that is not a child fails with ESRCH");
  CHECK_ERR(setpgid(unused_pid, 0), ESRCH);

  CASE("negative pgid fails with EINVAL");
  CHECK_ERR(setpgid(0, -1), EINVAL);

  CASE("getpgid and getsid of a missing process fail with ESRCH");
  CHECK_ERR(getpgid(unused_pid), ESRCH);
  CHECK_ERR(getsid(unused_pid), ESRCH);

  CASE("setpgid to a group that does not exist fails with EPERM");
  pid = fork();
  if (pid == 0) {
    CHECK_ERR(setpgid(0, unused_pid), EPERM);
    check_child_done();
  }
  CHECK_CHILD_EXIT(pid, 0);
  close(release[0]);
  close(release[1]);
  return check_finish();
}
