/* sigaltstack(): installing, querying, running handlers on the alternate
 * stack, recovering from stack overflow, inheritance and errors. */
#include "check.h"

#include <pthread.h>
#include <stdint.h>
#include <sys/resource.h>

static char* alt_base;
static size_t alt_size;
static volatile uintptr_t handler_frame;
static volatile int handler_flags;

static void record_stack(int signo) {
  char local;
  handler_frame = (uintptr_t)&local;
  stack_t current;
  sigaltstack(NULL, &current);
  handler_flags = current.ss_flags;
}

static volatile int change_errno;

static void change_while_on_stack(int signo) {
  stack_t other = {
      .ss_sp = malloc(SIGSTKSZ), .ss_size = SIGSTKSZ, .ss_flags = 0};
  change_errno = sigaltstack(&other, NULL) == 0 ? 0 : errno;
}

static int on_alt_stack(uintptr_t address) {
  return address >= (uintptr_t)alt_base &&
         address < (uintptr_t)alt_base + alt_size;
}

static void on_overflow(int signo) { _exit(0); }

/* Recurses until the stack overflows; the depth check only keeps the
 * compiler from treating the recursion as infinite. */
static int recurse(int depth) {
  volatile char padding[4096];
  padding[0] = (char)depth;
  if (depth < 0) return 0;
  return recurse(depth + 1) + padding[0];
}

static void* query_in_thread(void* argument) {
  stack_t current;
  sigaltstack(NULL, &current);
  *(int*)argument = current.ss_flags;
  return NULL;
}

int main(void) {
  alt_size = 64 * 1024;
  alt_base = malloc(alt_size);

  CASE("a new process has no alternate stack");
  stack_t current;
  CHECK_EQ(sigaltstack(NULL, &current), 0);
  CHECK_EQ(current.ss_flags, SS_DISABLE);

  CASE("installed stack is reported back");
  stack_t stack = {.ss_sp = alt_base, .ss_size = alt_size, .ss_flags = 0};
  CHECK_EQ(sigaltstack(&stack, NULL), 0);
  CHECK_EQ(sigaltstack(NULL, &current), 0);
  CHECK(current.ss_sp == alt_base);
  CHECK_EQ(current.ss_size, alt_size);
  CHECK_EQ(current.ss_flags, 0);

  CASE("SA_ONSTACK handler runs on the alternate stack with SS_ONSTACK");
  struct sigaction action = {0};
  action.sa_handler = record_stack;
  action.sa_flags = SA_ONSTACK;
  sigaction(SIGUSR1, &action, NULL);
  raise(SIGUSR1);
  CHECK_EQ(on_alt_stack(handler_frame), 1);
  CHECK_EQ(handler_flags, SS_ONSTACK);

  CASE("handler without SA_ONSTACK runs on the normal stack");
  action.sa_flags = 0;
  sigaction(SIGUSR1, &action, NULL);
  raise(SIGUSR1);
  CHECK_EQ(on_alt_stack(handler_frame), 0);
  CHECK_EQ(handler_flags, 0);

  CASE("changing the stack while running on it fails with EPERM");
  action.sa_handler = change_while_on_stack;
  action.sa_flags = SA_ONSTACK;
  sigaction(SIGUSR2, &action, NULL);
  change_errno = 0;
  raise(SIGUSR2);
  CHECK_EQ(change_errno, EPERM);

  CASE("old stack is returned when replacing it");
  stack_t old;
  CHECK_EQ(sigaltstack(&stack, &old), 0);
  CHECK(old.ss_sp == alt_base);

  CASE("size below MINSIGSTKSZ fails with ENOMEM");
  stack_t tiny = {.ss_sp = alt_base, .ss_size = 512, .ss_flags = 0};
  CHECK_ERR(sigaltstack(&tiny, NULL), ENOMEM);

  CASE("unknown ss_flags fail with EINVAL");
  stack_t bad_flags = {
      .ss_sp = alt_base, .ss_size = alt_size, .ss_flags = 0x10};
  CHECK_ERR(sigaltstack(&bad_flags, NULL), EINVAL);

  CASE("alternate stack is inherited by fork");
  pid_t pid = fork();
  if (pid == 0) {
    stack_t inherited;
    sigaltstack(NULL, &inherited);
    _exit(inherited.ss_sp == alt_base && inherited.ss_flags == 0 ? 0 : 1);
  }
  CHECK_CHILD_EXIT(pid, 0);

  CASE("new threads start without an alternate stack");
  int thread_flags = -1;
  pthread_t thread;
  pthread_create(&thread, NULL, query_in_thread, &thread_flags);
  pthread_join(thread, NULL);
  CHECK_EQ(thread_flags, SS_DISABLE);

  CASE("SS_DISABLE removes the stack");
  stack_t disable = {.ss_sp = NULL, .ss_size = 0, .ss_flags = SS_DISABLE};
  CHECK_EQ(sigaltstack(&disable, NULL), 0);
  CHECK_EQ(sigaltstack(NULL, &current), 0);
  CHECK_EQ(current.ss_flags, SS_DISABLE);

  CASE("SIGSEGV from stack overflow is handled on the alternate stack");
  pid = fork();
  if (pid == 0) {
    struct rlimit limit = {1 << 20, 1 << 20};
    setrlimit(RLIMIT_STACK, &limit);
    stack_t overflow_stack = {
        .ss_sp = alt_base, .ss_size = alt_size, .ss_flags = 0};
    sigaltstack(&overflow_stack, NULL);
    struct sigaction segv = {0};
    segv.sa_handler = on_overflow;
    segv.sa_flags = SA_ONSTACK;
    sigaction(SIGSEGV, &segv, NULL);
    recurse(0);
    _exit(1);
  }
  CHECK_CHILD_EXIT(pid, 0);
  return check_finish();
}
