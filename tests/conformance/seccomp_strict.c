/* seccomp(SECCOMP_SET_MODE_STRICT) and prctl(PR_SET_SECCOMP,
 * SECCOMP_MODE_STRICT): read, write, exit and rt_sigreturn run, any other
 * call ends the thread with SIGKILL; and the mode's argument checks.
 *
 * Strict mode cannot be left, so every case runs in a forked child, which
 * ends with exit(2) because exit_group(2) is not allowed. */
#include "check.h"

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

static int run_in_strict_child(int use_prctl, int make_forbidden_call) {
  int data[2];
  if (pipe(data) != 0) return -1;
  pid_t pid = fork();
  if (pid == 0) {
    long ret = use_prctl
                   ? syscall(SYS_prctl, PR_SET_SECCOMP, SECCOMP_MODE_STRICT,
                             0, 0, 0)
                   : syscall(SYS_seccomp, SECCOMP_SET_MODE_STRICT, 0, NULL);
    if (ret != 0) syscall(SYS_exit, 2);
    /* Raw calls only: the C library might use other calls. */
    char byte = 'x';
    if (syscall(SYS_write, data[1], &byte, 1) != 1) syscall(SYS_exit, 3);
    if (syscall(SYS_read, data[0], &byte, 1) != 1) syscall(SYS_exit, 4);
    if (make_forbidden_call) syscall(SYS_getppid);
    syscall(SYS_exit, 0);
  }
  close(data[0]);
  close(data[1]);
  int status = 0;
  while (waitpid(pid, &status, 0) == -1 && errno == EINTR) {
  }
  return status;
}

static void check_allowed_and_forbidden(void) {
  CASE("strict mode allows read, write and exit");
  int status = run_in_strict_child(0, 0);
  CHECK(WIFEXITED(status));
  CHECK_EQ(WEXITSTATUS(status), 0);

  CASE("strict mode kills on any other call");
  status = run_in_strict_child(0, 1);
  CHECK(WIFSIGNALED(status));
  CHECK_EQ(WTERMSIG(status), SIGKILL);

  CASE("prctl enters strict mode too");
  status = run_in_strict_child(1, 0);
  CHECK(WIFEXITED(status));
  CHECK_EQ(WEXITSTATUS(status), 0);
  status = run_in_strict_child(1, 1);
  CHECK(WIFSIGNALED(status));
  CHECK_EQ(WTERMSIG(status), SIGKILL);
}

static void check_argument_errors(void) {
  CASE("strict mode takes no flags and no pointer");
  pid_t pid = CHECK_OK(fork());
  if (pid == 0) {
    CHECK_ERR(syscall(SYS_seccomp, SECCOMP_SET_MODE_STRICT, 1, NULL), EINVAL);
    int dummy = 0;
    CHECK_ERR(syscall(SYS_seccomp, SECCOMP_SET_MODE_STRICT, 0, &dummy),
              EINVAL);
    CHECK_EQ(prctl(PR_GET_SECCOMP, 0, 0, 0, 0), SECCOMP_MODE_DISABLED);
    check_child_done();
  }
  CHECK_CHILD_EXIT(pid, 0);

  CASE("strict mode after a filter fails with EINVAL");
  pid = CHECK_OK(fork());
  if (pid == 0) {
    CHECK_OK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
    struct sock_filter allow[] = {
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {1, allow};
    CHECK_OK(syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog));
    CHECK_ERR(syscall(SYS_seccomp, SECCOMP_SET_MODE_STRICT, 0, NULL), EINVAL);
    CHECK_ERR(prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT, 0, 0, 0), EINVAL);
    CHECK_EQ(prctl(PR_GET_SECCOMP, 0, 0, 0, 0), SECCOMP_MODE_FILTER);
    check_child_done();
  }
  CHECK_CHILD_EXIT(pid, 0);

  CASE("prctl with an unknown mode fails with EINVAL");
  CHECK_ERR(prctl(PR_SET_SECCOMP, 3, 0, 0, 0), EINVAL);
  CHECK_ERR(prctl(PR_SET_SECCOMP, SECCOMP_MODE_DISABLED, 0, 0, 0), EINVAL);
}

int main(void) {
  check_allowed_and_forbidden();
  check_argument_errors();
  return check_finish();
}
