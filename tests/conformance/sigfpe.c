/* SIGFPE: integer division faults, unmasked SSE exceptions, si_code and
 * si_addr, and the default action. */
#include "check.h"

#include <setjmp.h>
#include <stdint.h>
#include <ucontext.h>

#define MXCSR_DEFAULT 0x1f80
#define MXCSR_ZERO_DIVIDE_MASK 0x0200
#define MXCSR_INVALID_MASK 0x0080

static sigjmp_buf recovery;
static siginfo_t fault_info;
static uintptr_t fault_rip;
static uintptr_t expected_rip;

static void on_fpe(int signo, siginfo_t* info, void* context) {
  fault_info = *info;
  fault_rip = ((ucontext_t*)context)->uc_mcontext.gregs[REG_RIP];
  siglongjmp(recovery, 1);
}

/* Divides dividend by divisor with idiv and records the instruction's
 * address in expected_rip before executing it. */
static long divide(long dividend, long divisor) {
  long quotient = dividend;
  __asm__ volatile(
      "leaq 1f(%%rip), %%rcx\n\t"
      "movq %%rcx, %[rip]\n\t"
      "cqto\n\t"
      "1: idivq %[divisor]\n\t"
      : "+a"(quotient), [rip] "=m"(expected_rip)
      : [divisor] "r"(divisor)
      : "rcx", "rdx", "cc");
  return quotient;
}

static void set_mxcsr(unsigned value) {
  __asm__ volatile("ldmxcsr %0" : : "m"(value) : "memory");
}

static unsigned get_mxcsr(void) {
  unsigned value;
  __asm__ volatile("stmxcsr %0" : "=m"(value));
  return value;
}

static volatile double double_result;

/* Divides in a separate function whose result is stored, so the compiler can
 * neither fold nor drop the division. */
__attribute__((noinline)) static double divide_double(double a, double b) {
  volatile double x = a, y = b;
  double_result = x / y;
  return double_result;
}

int main(void) {
  struct sigaction action = {0};
  action.sa_sigaction = on_fpe;
  action.sa_flags = SA_SIGINFO;
  sigaction(SIGFPE, &action, NULL);

  CASE("integer division by zero raises FPE_INTDIV at the idiv");
  memset(&fault_info, 0, sizeof fault_info);
  volatile long zero = 0;
  if (sigsetjmp(recovery, 1) == 0) {
    divide(10, zero);
    FAIL("division by zero returned");
  }
  CHECK_EQ(fault_info.si_signo, SIGFPE);
  CHECK_EQ(fault_info.si_code, FPE_INTDIV);
  CHECK_EQ((uintptr_t)fault_info.si_addr, expected_rip);
  CHECK_EQ(fault_rip, expected_rip);

  CASE("LONG_MIN divided by -1 raises SIGFPE");
  memset(&fault_info, 0, sizeof fault_info);
  volatile long minus_one = -1;
  if (sigsetjmp(recovery, 1) == 0) {
    divide(INT64_MIN, minus_one);
    FAIL("overflowing division returned");
  }
  CHECK_EQ(fault_info.si_signo, SIGFPE);
  CHECK_EQ(fault_info.si_code, FPE_INTDIV);

  CASE("normal division still works after recovering");
  CHECK_EQ(divide(42, 6), 7);

  CASE("masked floating-point division by zero gives infinity");
  double result = divide_double(1.0, 0.0);
  CHECK(result > 1e308);

  CASE("unmasked SSE division by zero raises FPE_FLTDIV");
  memset(&fault_info, 0, sizeof fault_info);
  if (sigsetjmp(recovery, 1) == 0) {
    set_mxcsr(MXCSR_DEFAULT & ~MXCSR_ZERO_DIVIDE_MASK);
    divide_double(1.0, 0.0);
    set_mxcsr(MXCSR_DEFAULT);
    FAIL("unmasked division by zero returned");
  }
  set_mxcsr(MXCSR_DEFAULT);
  CHECK_EQ(fault_info.si_signo, SIGFPE);
  CHECK_EQ(fault_info.si_code, FPE_FLTDIV);

  CASE("unmasked SSE invalid operation raises FPE_FLTINV");
  memset(&fault_info, 0, sizeof fault_info);
  if (sigsetjmp(recovery, 1) == 0) {
    set_mxcsr(MXCSR_DEFAULT & ~MXCSR_INVALID_MASK);
    divide_double(0.0, 0.0);
    set_mxcsr(MXCSR_DEFAULT);
    FAIL("unmasked invalid operation returned");
  }
  set_mxcsr(MXCSR_DEFAULT);
  CHECK_EQ(fault_info.si_code, FPE_FLTINV);

  CASE("MXCSR is usable after the handler");
  CHECK_EQ(get_mxcsr() & 0xffc0, MXCSR_DEFAULT);

  CASE("default action kills the process with SIGFPE");
  pid_t pid = fork();
  if (pid == 0) {
    signal(SIGFPE, SIG_DFL);
    divide(1, zero);
    _exit(0);
  }
  int status = 0;
  CHECK_EQ(waitpid(pid, &status, 0), pid);
  CHECK(WIFSIGNALED(status));
  CHECK_EQ(WTERMSIG(status), SIGFPE);

  CASE("kill with SIGFPE reports SI_USER");
  memset(&fault_info, 0, sizeof fault_info);
  if (sigsetjmp(recovery, 1) == 0) kill(getpid(), SIGFPE);
  CHECK_EQ(fault_info.si_code, SI_USER);
  return check_finish();
}
