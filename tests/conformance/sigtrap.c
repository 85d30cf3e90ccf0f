/* SIGTRAP from int3: si_code, the instruction pointer after the trap, the
 * default action, and SIGTRAP sent with kill(). A ptrace-based sandbox uses
 * SIGTRAP itself, so it must tell these apart from its own stops. */
#include "check.h"

#include <stdint.h>
#include <ucontext.h>

static siginfo_t trap_info;
static uintptr_t trap_rip;
static uintptr_t after_int3;
static volatile int trap_count;

static void on_trap(int signo, siginfo_t* info, void* context) {
  trap_info = *info;
  trap_rip = ((ucontext_t*)context)->uc_mcontext.gregs[REG_RIP];
  trap_count++;
}

static void run_int3(void) {
  __asm__ volatile(
      "leaq 1f(%%rip), %%rax\n\t"
      "movq %%rax, %0\n\t"
      "int3\n\t"
      "1:\n\t"
      : "=m"(after_int3)
      :
      : "rax", "memory");
}

int main(void) {
  struct sigaction action = {0};
  action.sa_sigaction = on_trap;
  action.sa_flags = SA_SIGINFO;
  sigaction(SIGTRAP, &action, NULL);

  CASE("int3 raises SIGTRAP with SI_KERNEL");
  memset(&trap_info, 0, sizeof trap_info);
  trap_count = 0;
  run_int3();
  CHECK_EQ(trap_count, 1);
  CHECK_EQ(trap_info.si_signo, SIGTRAP);
  CHECK_EQ(trap_info.si_code, SI_KERNEL);

  CASE("RIP points after the int3 and execution continues there");
  CHECK_EQ(trap_rip, after_int3);

  CASE("repeated int3 traps every time");
  for (int i = 0; i < 10; i++) run_int3();
  CHECK_EQ(trap_count, 11);

  CASE("kill with SIGTRAP reports SI_USER");
  memset(&trap_info, 0, sizeof trap_info);
  kill(getpid(), SIGTRAP);
  CHECK_EQ(trap_info.si_signo, SIGTRAP);
  CHECK_EQ(trap_info.si_code, SI_USER);
  CHECK_EQ(trap_info.si_pid, getpid());

  CASE("default action kills the process with SIGTRAP");
  pid_t pid = fork();
  if (pid == 0) {
    signal(SIGTRAP, SIG_DFL);
    run_int3();
    _exit(0);
  }
  int status = 0;
  CHECK_EQ(waitpid(pid, &status, 0), pid);
  CHECK(WIFSIGNALED(status));
  CHECK_EQ(WTERMSIG(status), SIGTRAP);

  CASE("ignored SIGTRAP from int3 still kills the process");
  pid = fork();
  if (pid == 0) {
    signal(SIGTRAP, SIG_IGN);
    run_int3();
    _exit(0);
  }
  CHECK_EQ(waitpid(pid, &status, 0), pid);
  CHECK(WIFSIGNALED(status));
  CHECK_EQ(WTERMSIG(status), SIGTRAP);

  CASE("ignored SIGTRAP from kill is discarded");
  pid = fork();
  if (pid == 0) {
    signal(SIGTRAP, SIG_IGN);
    raise(SIGTRAP);
    _exit(6);
  }
  CHECK_CHILD_EXIT(pid, 6);
  return check_finish();
}
