/* Ids seen by a process that is not root: the owner of its pipes, the uid
 * that SIGCHLD and waitid report, and the order of rename's errors when it
 * may not write the target directory. The checks run in a child that
 * gave up root, so they run in the root-mode suites too. */
#include "check.h"

#include <fcntl.h>
#include <sys/stat.h>

/* The uid and gid of nobody and nogroup on Debian, which own no files. */
#define OTHER_ID 65534

static volatile sig_atomic_t chld_uid = -1;

static void on_chld(int sig, siginfo_t* info, void* context) {
  chld_uid = info->si_uid;
}

static void check_pipe_owner(void) {
  CASE("a pipe belongs to its creator and reopens through /proc/self/fd");
  int fds[2];
  CHECK_OK(pipe(fds));
  struct stat st;
  CHECK_OK(fstat(fds[0], &st));
  CHECK_EQ(st.st_uid, geteuid());
  CHECK_EQ(st.st_gid, getegid());
  char path[64];
  snprintf(path, sizeof path, "/proc/self/fd/%d", fds[0]);
  int reopened = open(path, O_RDONLY);
  CHECK(reopened >= 0);
  CHECK_EQ(write(fds[1], "p", 1), 1);
  char byte = 0;
  CHECK_EQ(read(reopened, &byte, 1), 1);
  CHECK_EQ(byte, 'p');
  close(reopened);
  close(fds[0]);
  close(fds[1]);
}

static void check_rename_order(void) {
  CASE("rename to another mount fails with EXDEV before EACCES");
  /* This user may not write /proc, which is a different mount from /tmp. */
  CHECK_ERR(rename("/tmp", "/proc/moat-unprivileged-target"), EXDEV);
  CASE("rename of a missing name fails with ENOENT before EACCES");
  CHECK_ERR(rename("/proc/moat-missing", "/proc/moat-other"), ENOENT);
}

static void check_child_uid(void) {
  CASE("SIGCHLD and waitid report the child's real uid");
  struct sigaction sa = {0};
  sa.sa_sigaction = on_chld;
  sa.sa_flags = SA_SIGINFO;
  CHECK_OK(sigaction(SIGCHLD, &sa, NULL));
  pid_t pid = fork();
  if (pid == 0) _exit(0);
  siginfo_t info;
  memset(&info, 0, sizeof info);
  CHECK_EQ(waitid(P_PID, pid, &info, WEXITED), 0);
  CHECK_EQ(info.si_uid, getuid());
  CHECK_EQ(chld_uid, getuid());
}

int main(void) {
  CASE("setup: the test runs as root natively and in moat");
  CHECK_EQ(getuid(), 0);
  pid_t pid = fork();
  if (pid == 0) {
    CHECK_OK(setresgid(OTHER_ID, OTHER_ID, OTHER_ID));
    CHECK_OK(setresuid(OTHER_ID, OTHER_ID, OTHER_ID));
    check_pipe_owner();
    check_rename_order();
    check_child_uid();
    check_child_done();
  }
  CASE("waitid reports the uid the child ended with, not the parent's");
  siginfo_t info;
  memset(&info, 0, sizeof info);
  CHECK_EQ(waitid(P_PID, pid, &info, WEXITED), 0);
  CHECK_EQ(info.si_code, CLD_EXITED);
  CHECK_EQ(info.si_status, 0);
  CHECK_EQ(info.si_uid, OTHER_ID);
  return check_finish();
}
