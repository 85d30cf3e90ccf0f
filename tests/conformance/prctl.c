/* prctl(): thread names, parent-death signals, dumpable, no_new_privs,
 * subreaper, timer slack and errors. */
#include "check.h"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

static const char* read_comm(void) {
  static char comm[64];
  comm[0] = '\0';
  int fd = open("/proc/self/comm", O_RDONLY);
  if (fd < 0) return comm;
  ssize_t n = read(fd, comm, sizeof comm - 1);
  close(fd);
  comm[n > 0 ? n : 0] = '\0';
  comm[strcspn(comm, "\n")] = '\0';
  return comm;
}

static volatile sig_atomic_t usr1_count;

static void on_usr1(int signo) { usr1_count++; }

int main(void) {
  CASE("PR_SET_NAME sets the name read by PR_GET_NAME and /proc/self/comm");
  CHECK_EQ(prctl(PR_SET_NAME, "conformance", 0, 0, 0), 0);
  char name[32] = {0};
  CHECK_EQ(prctl(PR_GET_NAME, name, 0, 0, 0), 0);
  CHECK_STR(name, "conformance");
  CHECK_STR(read_comm(), "conformance");

  CASE("PR_SET_NAME truncates to 15 bytes");
  CHECK_EQ(prctl(PR_SET_NAME, "abcdefghijklmnopqrstuvwxyz", 0, 0, 0), 0);
  memset(name, 0, sizeof name);
  CHECK_EQ(prctl(PR_GET_NAME, name, 0, 0, 0), 0);
  CHECK_STR(name, "abcdefghijklmno");

  CASE("PR_SET_NAME with a bad pointer fails with EFAULT");
  CHECK_ERR(prctl(PR_SET_NAME, (char*)8, 0, 0, 0), EFAULT);

  CASE("dumpable defaults to 1 and can be cleared and restored");
  CHECK_EQ(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 1);
  CHECK_EQ(prctl(PR_SET_DUMPABLE, 0, 0, 0, 0), 0);
  CHECK_EQ(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 0);
  CHECK_EQ(prctl(PR_SET_DUMPABLE, 1, 0, 0, 0), 0);
  CHECK_EQ(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 1);

  CASE("PR_SET_DUMPABLE 2 fails with EINVAL");
  CHECK_ERR(prctl(PR_SET_DUMPABLE, 2, 0, 0, 0), EINVAL);

  CASE("no_new_privs is off, can be set once and is inherited");
  CHECK_EQ(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0), 0);
  pid_t pid = fork();
  if (pid == 0) {
    CHECK_EQ(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
    CHECK_EQ(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0), 1);
    CASE("clearing no_new_privs fails with EINVAL");
    CHECK_ERR(prctl(PR_SET_NO_NEW_PRIVS, 0, 0, 0, 0), EINVAL);
    pid_t grandchild = fork();
    if (grandchild == 0)
      _exit(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1 ? 0 : 1);
    CHECK_CHILD_EXIT(grandchild, 0);
    check_child_done();
  }
  CHECK_CHILD_EXIT(pid, 0);

  CASE("non-zero unused arguments fail with EINVAL");
  CHECK_ERR(prctl(PR_GET_NO_NEW_PRIVS, 1, 0, 0, 0), EINVAL);

  CASE("unknown option fails with EINVAL");
  CHECK_ERR(prctl(0x7fff1234, 0, 0, 0, 0), EINVAL);

  CASE("timer slack can be set and read back");
  CHECK_EQ(prctl(PR_SET_TIMERSLACK, 100000, 0, 0, 0), 0);
  CHECK_EQ(prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0), 100000);

  CASE("child subreaper flag can be set and read back");
  int flag = -1;
  CHECK_EQ(prctl(PR_GET_CHILD_SUBREAPER, &flag, 0, 0, 0), 0);
  CHECK_EQ(flag, 0);
  CHECK_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 0);
  CHECK_EQ(prctl(PR_GET_CHILD_SUBREAPER, &flag, 0, 0, 0), 0);
  CHECK_EQ(flag, 1);

  CASE("PR_SET_PDEATHSIG signals the child when its parent exits");
  int fds[2];
  CHECK_OK(pipe(fds));
  pid = fork();
  if (pid == 0) {
    pid_t grandchild = fork();
    if (grandchild == 0) {
      signal(SIGUSR1, on_usr1);
      sigset_t block, old;
      sigemptyset(&block);
      sigaddset(&block, SIGUSR1);
      sigprocmask(SIG_BLOCK, &block, &old);
      CHECK_EQ(prctl(PR_SET_PDEATHSIG, SIGUSR1, 0, 0, 0), 0);
      int signo = 0;
      CHECK_EQ(prctl(PR_GET_PDEATHSIG, &signo, 0, 0, 0), 0);
      CHECK_EQ(signo, SIGUSR1);
      write(fds[1], "r", 1);
      while (usr1_count == 0) sigsuspend(&old);
      check_child_done();
    }
    char byte;
    read(fds[0], &byte, 1);
    _exit(0);
  }
  CHECK_CHILD_EXIT(pid, 0);
  int status = 0;
  pid_t orphan = wait(&status);
  CHECK(orphan > 0);
  CHECK(WIFEXITED(status));
  CHECK_EQ(WEXITSTATUS(status), 0);

  CASE("PR_SET_PDEATHSIG with an invalid signal fails with EINVAL");
  CHECK_ERR(prctl(PR_SET_PDEATHSIG, 65, 0, 0, 0), EINVAL);
  close(fds[0]);
  close(fds[1]);
  return check_finish();
}
