/* set_tid_address(): return value, and the clear-and-wake on thread exit.
 *
 * The kernel clears the word only when the exiting task shares its memory
 * with another task, so threads are made with raw clone() and run only raw
 * system calls, because they have no glibc thread setup. */
#include "check.h"

#include <linux/futex.h>
#include <sched.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>

static long raw_syscall(long number, long a, long b, long c) {
  long result;
  __asm__ volatile("syscall"
                   : "=a"(result)
                   : "a"(number), "D"(a), "S"(b), "d"(c)
                   : "rcx", "r11", "memory");
  return result;
}

static volatile int32_t clear_word;
static volatile long returned_tid;
static volatile long actual_tid;

__attribute__((no_stack_protector)) static int thread_body(void* argument) {
  returned_tid = raw_syscall(SYS_set_tid_address, (long)&clear_word, 0, 0);
  actual_tid = raw_syscall(SYS_gettid, 0, 0, 0);
  raw_syscall(SYS_exit, 0, 0, 0);
  return 0;
}

int main(void) {
  CASE("set_tid_address returns the caller's tid");
  static int32_t own_word;
  CHECK_EQ(syscall(SYS_set_tid_address, &own_word), gettid());

  CASE("thread exit clears the registered word and wakes a futex waiter");
  char* stack = mmap(NULL, 65536, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  clear_word = -1;
  int flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD |
              CLONE_SYSVSEM;
  int tid = clone(thread_body, stack + 65536, flags, NULL);
  CHECK(tid > 0);
  /* clear_word stays -1 until the thread exits, so FUTEX_WAIT with -1
   * sleeps until the kernel's wake and fails with EAGAIN once it is 0. */
  for (int i = 0; i < 1000 && clear_word != 0; i++) {
    struct timespec timeout = {0, 5 * 1000 * 1000};
    syscall(SYS_futex, &clear_word, FUTEX_WAIT, -1, &timeout, NULL, 0);
  }
  CHECK_EQ(clear_word, 0);

  CASE("set_tid_address in a thread returns that thread's tid");
  CHECK_EQ(returned_tid, tid);
  CHECK_EQ(actual_tid, tid);

  CASE("set_tid_address in a forked child returns the child's pid");
  pid_t pid = fork();
  if (pid == 0) {
    int32_t word = 0;
    _exit(syscall(SYS_set_tid_address, &word) == getpid() ? 0 : 1);
  }
  CHECK_CHILD_EXIT(pid, 0);

  CASE("set_tid_address replaces the CLONE_CHILD_CLEARTID word");
  static volatile int32_t clone_word;
  clone_word = -1;
  clear_word = -1;
  tid = clone(thread_body, stack + 65536, flags | CLONE_CHILD_CLEARTID, NULL,
              NULL, NULL, &clone_word);
  CHECK(tid > 0);
  /* thread_body replaces the registration with clear_word, so clone_word
   * must stay as it was. */
  for (int i = 0; i < 1000 && clear_word != 0; i++) {
    struct timespec timeout = {0, 5 * 1000 * 1000};
    syscall(SYS_futex, &clear_word, FUTEX_WAIT, -1, &timeout, NULL, 0);
  }
  CHECK_EQ(clear_word, 0);
  CHECK_EQ(clone_word, -1);
  return check_finish();
}
