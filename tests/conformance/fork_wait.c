/* fork(), waitpid() and wait(): return values, exit statuses and errors. */
#include "check.h"

#include <sys/syscall.h>

static void test_fork_returns(void) {
  CASE("fork returns child pid and zero");
  pid_t parent = getpid();
  int fds[2];
  CHECK_OK(pipe(fds));
  pid_t pid = fork();
  if (pid == 0) {
    pid_t values[2] = {getpid(), getppid()};
    write(fds[1], values, sizeof values);
    _exit(0);
  }
  CHECK(pid > 0);
  pid_t values[2] = {0, 0};
  CHECK_EQ(read(fds[0], values, sizeof values), sizeof values);
  CHECK_EQ(values[0], pid);
  CHECK_EQ(values[1], parent);
  CHECK_CHILD_EXIT(pid, 0);
  close(fds[0]);
  close(fds[1]);
}

static void test_exit_codes(void) {
  CASE("exit code reaches parent");
  pid_t pid = fork();
  if (pid == 0) _exit(42);
  int status = 0;
  CHECK_EQ(waitpid(pid, &status, 0), pid);
  CHECK(WIFEXITED(status));
  CHECK_EQ(WEXITSTATUS(status), 42);

  CASE("exit code is truncated to 8 bits");
  pid = fork();
  if (pid == 0) _exit(256 + 7);
  CHECK_EQ(waitpid(pid, &status, 0), pid);
  CHECK(WIFEXITED(status));
  CHECK_EQ(WEXITSTATUS(status), 7);

  CASE("exit() from main path flushes and exits");
  pid = fork();
  if (pid == 0) exit(3);
  CHECK_EQ(waitpid(pid, &status, 0), pid);
  CHECK_EQ(status, 3 << 8);
}

static void test_wnohang(void) {
  CASE("WNOHANG on running child returns 0");
  int fds[2];
  CHECK_OK(pipe(fds));
  pid_t pid = fork();
  if (pid == 0) {
    char byte;
    close(fds[1]);
    read(fds[0], &byte, 1);
    _exit(5);
  }
  close(fds[0]);
  int status = -1;
  CHECK_EQ(waitpid(pid, &status, WNOHANG), 0);
  close(fds[1]);
  CHECK_EQ(waitpid(pid, &status, 0), pid);
  CHECK(WIFEXITED(status));
  CHECK_EQ(WEXITSTATUS(status), 5);
}

static void test_killed_child(void) {
  CASE("child killed by SIGKILL");
  pid_t pid = fork();
  if (pid == 0) {
    for (;;) pause();
  }
  CHECK_OK(kill(pid, SIGKILL));
  int status = 0;
  CHECK_EQ(waitpid(pid, &status, 0), pid);
  CHECK(WIFSIGNALED(status));
  CHECK_EQ(WTERMSIG(status), SIGKILL);
  CHECK(!WIFEXITED(status));
}

static void test_many_children(void) {
  CASE("wait collects every child once");
  enum { count = 8 };
  pid_t pids[count];
  for (int i = 0; i < count; i++) {
    pids[i] = fork();
    if (pids[i] == 0) _exit(10 + i);
  }
  int seen[count] = {0};
  for (int i = 0; i < count; i++) {
    int status = 0;
    pid_t pid = wait(&status);
    int index = -1;
    for (int j = 0; j < count; j++)
      if (pids[j] == pid) index = j;
    CHECK(index >= 0);
    if (index < 0) continue;
    seen[index]++;
    CHECK(WIFEXITED(status));
    CHECK_EQ(WEXITSTATUS(status), 10 + index);
  }
  for (int i = 0; i < count; i++) CHECK_EQ(seen[i], 1);
  CHECK_ERR(wait(NULL), ECHILD);
}

static void test_errors(void) {
  CASE("wait with no children fails with ECHILD");
  CHECK_ERR(wait(NULL), ECHILD);
  CHECK_ERR(waitpid(-1, NULL, 0), ECHILD);
  CHECK_ERR(waitpid(-1, NULL, WNOHANG), ECHILD);

  CASE("waitpid on a non-child fails with ECHILD");
  CHECK_ERR(waitpid(getpid(), NULL, 0), ECHILD);

  CASE("waitpid with unknown option bits fails with EINVAL");
  CHECK_ERR(waitpid(-1, NULL, 0x100), EINVAL);

  CASE("bad status pointer fails with EFAULT and still reaps");
  pid_t pid = fork();
  if (pid == 0) _exit(0);
  CHECK_ERR(syscall(SYS_wait4, pid, (int*)8, 0, NULL), EFAULT);
  CHECK_ERR(waitpid(pid, NULL, WNOHANG), ECHILD);
}

static void test_child_of_child(void) {
  CASE("grandchild is not waitable by grandparent");
  int report[2], release[2];
  CHECK_OK(pipe(report));
  CHECK_OK(pipe(release));
  pid_t pid = fork();
  if (pid == 0) {
    pid_t grandchild = fork();
    if (grandchild == 0) {
      char byte;
      close(release[1]);
      read(release[0], &byte, 1);
      _exit(0);
    }
    write(report[1], &grandchild, sizeof grandchild);
    int status;
    waitpid(grandchild, &status, 0);
    _exit(WIFEXITED(status) ? 9 : 1);
  }
  pid_t grandchild = 0;
  CHECK_EQ(read(report[0], &grandchild, sizeof grandchild), sizeof grandchild);
  CHECK_ERR(waitpid(grandchild, NULL, WNOHANG), ECHILD);
  char byte = 'x';
  write(release[1], &byte, 1);
  close(report[0]);
  close(report[1]);
  close(release[0]);
  close(release[1]);
  CHECK_CHILD_EXIT(pid, 9);
}

int main(void) {
  test_fork_returns();
  test_exit_codes();
  test_wnohang();
  test_killed_child();
  test_many_children();
  test_errors();
  test_child_of_child();
  return check_finish();
}
