/* SIGILL from ud2: si_code, si_addr and the trap number, resuming past the
 * instruction by editing RIP, the default action, and privileged
 * instructions raising SIGSEGV instead. */
#include "check.h"

#include <setjmp.h>
#include <stdint.h>
#include <ucontext.h>

#define INVALID_OPCODE_TRAP 6
#define GENERAL_PROTECTION_TRAP 13

static sigjmp_buf recovery;
static siginfo_t fault_info;
static uintptr_t fault_rip;
static long long fault_trap;
static volatile int skip_instruction;
static uintptr_t ud2_address;

static void on_fault(int signo, siginfo_t* info, void* context) {
  ucontext_t* uc = context;
  fault_info = *info;
  fault_rip = uc->uc_mcontext.gregs[REG_RIP];
  fault_trap = uc->uc_mcontext.gregs[REG_TRAPNO];
  if (skip_instruction) {
    uc->uc_mcontext.gregs[REG_RIP] += 2;
    return;
  }
  siglongjmp(recovery, 1);
}

static void run_ud2(void) {
  __asm__ volatile(
      "leaq 1f(%%rip), %%rax\n\t"
      "movq %%rax, %0\n\t"
      "1: ud2\n\t"
      : "=m"(ud2_address)
      :
      : "rax", "memory");
}

int main(void) {
  struct sigaction action = {0};
  action.sa_sigaction = on_fault;
  action.sa_flags = SA_SIGINFO;
  sigaction(SIGILL, &action, NULL);
  sigaction(SIGSEGV, &action, NULL);

  CASE("ud2 raises SIGILL with ILL_ILLOPN at the instruction");
  memset(&fault_info, 0, sizeof fault_info);
  if (sigsetjmp(recovery, 1) == 0) {
    run_ud2();
    FAIL("ud2 returned");
  }
  CHECK_EQ(fault_info.si_signo, SIGILL);
  CHECK_EQ(fault_info.si_code, ILL_ILLOPN);
  CHECK_EQ((uintptr_t)fault_info.si_addr, ud2_address);
  CHECK_EQ(fault_rip, ud2_address);

  CASE("ud2 reports the invalid opcode trap number");
  CHECK_EQ(fault_trap, INVALID_OPCODE_TRAP);

  CASE("handler can skip the instruction by advancing RIP");
  skip_instruction = 1;
  memset(&fault_info, 0, sizeof fault_info);
  run_ud2();
  skip_instruction = 0;
  CHECK_EQ(fault_info.si_signo, SIGILL);

  CASE("hlt in user mode raises SIGSEGV with SI_KERNEL");
  memset(&fault_info, 0, sizeof fault_info);
  if (sigsetjmp(recovery, 1) == 0) {
    __asm__ volatile("hlt");
    FAIL("hlt returned");
  }
  CHECK_EQ(fault_info.si_signo, SIGSEGV);
  CHECK_EQ(fault_info.si_code, SI_KERNEL);
  CHECK_EQ(fault_trap, GENERAL_PROTECTION_TRAP);

  CASE("default action kills the process with SIGILL");
  pid_t pid = fork();
  if (pid == 0) {
    signal(SIGILL, SIG_DFL);
    run_ud2();
    _exit(0);
  }
  int status = 0;
  CHECK_EQ(waitpid(pid, &status, 0), pid);
  CHECK(WIFSIGNALED(status));
  CHECK_EQ(WTERMSIG(status), SIGILL);

  CASE("ud2 while SIGILL is blocked kills the process");
  pid = fork();
  if (pid == 0) {
    sigset_t ill;
    sigemptyset(&ill);
    sigaddset(&ill, SIGILL);
    sigprocmask(SIG_BLOCK, &ill, NULL);
    run_ud2();
    _exit(0);
  }
  CHECK_EQ(waitpid(pid, &status, 0), pid);
  CHECK(WIFSIGNALED(status));
  CHECK_EQ(WTERMSIG(status), SIGILL);

  CASE("kill with SIGILL reports SI_USER");
  memset(&fault_info, 0, sizeof fault_info);
  if (sigsetjmp(recovery, 1) == 0) kill(getpid(), SIGILL);
  CHECK_EQ(fault_info.si_signo, SIGILL);
  CHECK_EQ(fault_info.si_code, SI_USER);
  return check_finish();
}
