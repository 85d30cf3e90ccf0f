/* clone() and clone3() with thread and process flags.
 *
 * Children created with CLONE_VM run on a stack from this file and must not
 * touch glibc state that lives in thread-local storage (errno included), so
 * they only use the raw_syscall helpers below and plain memory accesses. */
#include "check.h"

#include <fcntl.h>
#include <linux/futex.h>
#include <linux/sched.h>
#include <sched.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#define STACK_SIZE (256 * 1024)

static long raw_syscall(long number, long a, long b, long c) {
  long result;
  __asm__ volatile("syscall"
                   : "=a"(result)
                   : "a"(number), "D"(a), "S"(b), "d"(c)
                   : "rcx", "r11", "memory");
  return result;
}

static char* make_stack(void) {
  char* stack = mmap(NULL, STACK_SIZE, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  CHECK(stack != MAP_FAILED);
  return stack + STACK_SIZE;
}

/* Waits until the kernel clears *tid_word on thread exit. */
static void wait_for_clear(volatile pid_t* tid_word) {
  for (int i = 0; i < 5000; i++) {
    pid_t value = *tid_word;
    if (value == 0) return;
    syscall(SYS_futex, tid_word, FUTEX_WAIT, value,
            &(struct timespec){0, 1000000}, NULL, 0);
  }
}

struct thread_report {
  volatile long tid;
  volatile long pid;
  volatile long fs_base;
  volatile int value;
  volatile int fd;
};

static struct thread_report report;

__attribute__((no_stack_protector)) static int thread_body(void* argument) {
  report.tid = raw_syscall(SYS_gettid, 0, 0, 0);
  report.pid = raw_syscall(SYS_getpid, 0, 0, 0);
  unsigned long base = 0;
  raw_syscall(SYS_arch_prctl, 0x1003 /* ARCH_GET_FS */, (long)&base, 0);
  report.fs_base = (long)base;
  report.value = *(int*)argument + 1;
  return 0;
}

__attribute__((no_stack_protector)) static int open_body(void* argument) {
  report.fd = (int)raw_syscall(SYS_open, (long)"/dev/null", 0, 0);
  return 0;
}

__attribute__((no_stack_protector)) static int exit_code_body(void* argument) {
  return 42;
}

static void test_thread(void) {
  CASE("CLONE_THREAD shares memory and reports tid through ptid and ctid");
  static volatile pid_t parent_tid = 0;
  static volatile pid_t child_tid = 0;
  static unsigned long tls_block[64];
  tls_block[0] = (unsigned long)tls_block;
  int input = 41;
  memset(&report, 0, sizeof report);
  child_tid = -1;
  int flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD |
              CLONE_SYSVSEM | CLONE_SETTLS | CLONE_PARENT_SETTID |
              CLONE_CHILD_CLEARTID;
  int tid = clone(thread_body, make_stack(), flags, &input, &parent_tid,
                  tls_block, &child_tid);
  CHECK(tid > 0);
  CHECK_EQ(parent_tid, tid);
  wait_for_clear(&child_tid);
  CHECK_EQ(child_tid, 0);
  CHECK_EQ(report.value, 42);
  CHECK_EQ(report.tid, tid);
  CHECK_NE(report.tid, getpid());

  CASE("thread has the same pid");
  CHECK_EQ(report.pid, getpid());

  CASE("CLONE_SETTLS sets the thread's fs base");
  CHECK_EQ(report.fs_base, (long)tls_block);

  CASE("thread is not waitable as a child");
  CHECK_ERR(waitpid(tid, NULL, __WALL | WNOHANG), ECHILD);
}

static void test_invalid_flags(void) {
  CASE("CLONE_THREAD without CLONE_SIGHAND fails with EINVAL");
  CHECK_ERR(syscall(SYS_clone, CLONE_VM | CLONE_THREAD, 0, NULL, NULL, 0),
            EINVAL);

  CASE("CLONE_SIGHAND without CLONE_VM fails with EINVAL");
  CHECK_ERR(syscall(SYS_clone, CLONE_SIGHAND, 0, NULL, NULL, 0), EINVAL);

  CASE("CLONE_NEWNS with CLONE_FS fails with EINVAL");
  CHECK_ERR(syscall(SYS_clone, CLONE_NEWNS | CLONE_FS, 0, NULL, NULL, 0),
            EINVAL);
}

static void test_vm_process(void) {
  CASE("CLONE_VM process shares memory and is waitable");
  int input = 1;
  memset(&report, 0, sizeof report);
  pid_t pid = clone(thread_body, make_stack(), CLONE_VM | SIGCHLD, &input);
  CHECK(pid > 0);
  int status = 0;
  CHECK_EQ(waitpid(pid, &status, 0), pid);
  CHECK(WIFEXITED(status));
  CHECK_EQ(WEXITSTATUS(status), 0);
  CHECK_EQ(report.value, 2);
  CHECK_EQ(report.pid, pid);

  CASE("return value of the clone function is the exit code");
  pid = clone(exit_code_body, make_stack(), CLONE_VM | SIGCHLD, NULL);
  CHECK_CHILD_EXIT(pid, 42);
}

static void test_files_sharing(void) {
  CASE("CLONE_FILES shares new descriptors with the parent");
  report.fd = -1;
  pid_t pid =
      clone(open_body, make_stack(), CLONE_VM | CLONE_FILES | SIGCHLD, NULL);
  CHECK_CHILD_EXIT(pid, 0);
  CHECK(report.fd >= 0);
  CHECK_OK(fcntl(report.fd, F_GETFD));
  close(report.fd);

  CASE("without CLONE_FILES new descriptors stay in the child");
  report.fd = -1;
  pid = clone(open_body, make_stack(), CLONE_VM | SIGCHLD, NULL);
  CHECK_CHILD_EXIT(pid, 0);
  CHECK(report.fd >= 0);
  CHECK_ERR(fcntl(report.fd, F_GETFD), EBADF);
}

static void test_clone3(void) {
  CASE("clone3 with exit_signal SIGCHLD behaves like fork");
  struct clone_args args;
  memset(&args, 0, sizeof args);
  args.exit_signal = SIGCHLD;
  pid_t parent = getpid();
  long pid = syscall(SYS_clone3, &args, sizeof args);
  if (pid == 0) _exit(raw_syscall(SYS_getppid, 0, 0, 0) == parent ? 7 : 1);
  CHECK(pid > 0);
  CHECK_CHILD_EXIT(pid, 7);

  CASE("clone3 with CLONE_PARENT_SETTID stores the child pid");
  pid_t stored = 0;
  memset(&args, 0, sizeof args);
  args.flags = CLONE_PARENT_SETTID;
  args.parent_tid = (uintptr_t)&stored;
  args.exit_signal = SIGCHLD;
  pid = syscall(SYS_clone3, &args, sizeof args);
  if (pid == 0) _exit(0);
  CHECK(pid > 0);
  CHECK_EQ(stored, pid);
  CHECK_CHILD_EXIT(pid, 0);

  CASE("clone3 with a too small size fails with EINVAL");
  CHECK_ERR(syscall(SYS_clone3, &args, 32), EINVAL);

  CASE("clone3 with an invalid exit signal fails with EINVAL");
  memset(&args, 0, sizeof args);
  args.exit_signal = 65;
  CHECK_ERR(syscall(SYS_clone3, &args, sizeof args), EINVAL);

  CASE("clone3 with a bad pointer fails with EFAULT");
  CHECK_ERR(syscall(SYS_clone3, (void*)8, sizeof args), EFAULT);
}

int main(void) {
  test_thread();
  test_invalid_flags();
  test_vm_process();
  test_files_sharing();
  test_clone3();
  return check_finish();
}
