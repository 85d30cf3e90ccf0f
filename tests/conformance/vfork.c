/* vfork() and CLONE_VFORK: shared memory until exit or exec, the parent
 * suspended meanwhile, and exit statuses. The vfork child only stores to
 * memory and makes raw system calls. */
#include "check.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>

static long elapsed_ms(const struct timespec* start) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (now.tv_sec - start->tv_sec) * 1000 +
         (now.tv_nsec - start->tv_nsec) / 1000000;
}

static volatile int shared_value;
static volatile pid_t child_pid_seen;
static volatile pid_t child_ppid_seen;

static int vfork_clone_body(void* argument) {
  shared_value = 99;
  return 12;
}

int main(int argc, char** argv) {
  if (argc >= 2 && strcmp(argv[1], "wait-for-eof") == 0) {
    char byte;
    while (read(0, &byte, 1) > 0) {
    }
    return 0;
  }

  CASE("vfork child shares memory with the parent");
  shared_value = 0;
  pid_t pid = vfork();
  if (pid == 0) {
    shared_value = 42;
    child_pid_seen = (pid_t)syscall(SYS_getpid);
    child_ppid_seen = (pid_t)syscall(SYS_getppid);
    _exit(7);
  }
  CHECK(pid > 0);
  CHECK_EQ(shared_value, 42);

  CASE("vfork child has its own pid and the parent as parent");
  CHECK_EQ(child_pid_seen, pid);
  CHECK_EQ(child_ppid_seen, getpid());

  CASE("vfork child's exit status reaches the parent");
  CHECK_CHILD_EXIT(pid, 7);

  CASE("parent is suspended until the vfork child exits");
  struct timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  pid = vfork();
  if (pid == 0) {
    struct timespec pause_time = {0, 100 * 1000 * 1000};
    syscall(SYS_nanosleep, &pause_time, NULL);
    _exit(0);
  }
  CHECK(elapsed_ms(&start) >= 100);
  CHECK_CHILD_EXIT(pid, 0);

  CASE("parent resumes when the vfork child calls execve");
  int to_child[2];
  CHECK_OK(pipe2(to_child, O_CLOEXEC));
  char* child_argv[] = {argv[0], "wait-for-eof", NULL};
  pid = vfork();
  if (pid == 0) {
    dup2(to_child[0], 0);
    execv(argv[0], child_argv);
    _exit(99);
  }
  CHECK(pid > 0);
  int status = 0;
  CHECK_EQ(waitpid(pid, &status, WNOHANG), 0);
  close(to_child[0]);
  close(to_child[1]);
  CHECK_CHILD_EXIT(pid, 0);

  CASE("failed execve in a vfork child lets _exit report it");
  pid = vfork();
  if (pid == 0) {
    char* missing_argv[] = {"/nonexistent/program", NULL};
    execv(missing_argv[0], missing_argv);
    _exit(errno == ENOENT ? 3 : 4);
  }
  CHECK_CHILD_EXIT(pid, 3);

  CASE("clone with CLONE_VM|CLONE_VFORK behaves like vfork");
  char* stack = mmap(NULL, 65536, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  shared_value = 0;
  pid = clone(vfork_clone_body, stack + 65536, CLONE_VM | CLONE_VFORK | SIGCHLD,
              NULL);
  CHECK(pid > 0);
  CHECK_EQ(shared_value, 99);
  CHECK_CHILD_EXIT(pid, 12);

  CASE("vfork child killed by a signal releases the parent");
  pid = vfork();
  if (pid == 0) {
    syscall(SYS_kill, syscall(SYS_getpid), SIGKILL);
    _exit(0);
  }
  CHECK_EQ(waitpid(pid, &status, 0), pid);
  CHECK(WIFSIGNALED(status));
  CHECK_EQ(WTERMSIG(status), SIGKILL);
  return check_finish();
}
