/* Reaching the host kernel without going through moat: the i386 entry
 * points (int $0x80, sysenter, and syscall from a 32-bit code segment), the
 * vsyscall page, a mapping at address 0, and signal returns with registers
 * no user code may have. `rawsys OP` runs one. Each
 * attempt kills the host decoy or opens the host secret if it reaches the
 * host kernel; the runner checks the decoy after. Faults are caught and
 * reported, since the program may well get SIGILL or SIGSEGV; what matters
 * is that the host and moat are unaffected.
 *
 * Built with -static -no-pie, so code and data sit below 4 GiB where 32-bit
 * code can reach them. */
#include "escape.h"

#include <setjmp.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <time.h>
#include <ucontext.h>

static sigjmp_buf fault_jump;
static volatile int fault_signal;
static volatile long fault_rax;

static void on_fault(int sig, siginfo_t* info, void* context) {
  ucontext_t* uc = context;
  fault_signal = sig;
  fault_rax = uc->uc_mcontext.gregs[REG_RAX];
  siglongjmp(fault_jump, 1);
}

static void catch_faults(void) {
  struct sigaction sa = {.sa_sigaction = on_fault,
                         .sa_flags = SA_SIGINFO | SA_NODEFER};
  int sigs[] = {SIGSEGV, SIGILL, SIGBUS, SIGSYS, SIGTRAP, SIGFPE};
  for (size_t i = 0; i < sizeof(sigs) / sizeof(*sigs); i++)
    sigaction(sigs[i], &sa, NULL);
}

/* Below 4 GiB: the secret's path for 32-bit calls. */
static char low_path[4096];

/* Runs `int $0x80` from 64-bit code. */
static long int80(long nr, long a, long b, long c) {
  long ret;
  asm volatile("int $0x80"
               : "=a"(ret)
               : "a"(nr), "b"(a), "c"(b), "d"(c)
               : "memory", "r8", "r9", "r10", "r11");
  return ret;
}

/* compat_int80, compat_syscall and compat_sysenter switch to the 32-bit
 * code segment (0x23) on a stack below 4 GiB, run their instruction with
 * eax=nr, ebx=a, ecx=b, edx=c and far-jump back to 64-bit code (0x33).
 * The far pointer is read through %ss, because %ds contains the null selector
 * in 64-bit processes and 32-bit code faults on it. */
long compat_int80(long nr, long a, long b, long c);
long compat_syscall(long nr, long a, long b, long c);
long compat_sysenter(long nr, long a, long b, long c);
#define COMPAT_TRAMPOLINE(name, insn)                         \
  asm(".text\n"                                               \
      ".globl " #name "\n" #name ":\n"                        \
      "  push %rbx\n"                                         \
      "  push %rbp\n"                                         \
      "  mov %rsp, compat_saved_rsp(%rip)\n"                  \
      "  mov %rcx, %r8\n"                                     \
      "  mov %rdi, %rax\n"                                    \
      "  mov %rsi, %rbx\n"                                    \
      "  mov %rdx, %rcx\n"                                    \
      "  mov %r8, %rdx\n"                                     \
      "  mov compat_low_stack(%rip), %rsp\n"                  \
      "  mov %rsp, %rbp\n"                                    \
      "  lea 1f(%rip), %r9\n"                                 \
      "  pushq $0x23\n"                                       \
      "  push %r9\n"                                          \
      "  lretq\n"                                             \
      ".code32\n"                                             \
      "1:\n"                                                  \
      "  " insn "\n"                                          \
      "  ljmp *%ss:" #name "_back\n"                          \
      ".code64\n"                                             \
      "2:\n"                                                  \
      "  mov compat_saved_rsp(%rip), %rsp\n"                  \
      "  pop %rbp\n"                                          \
      "  pop %rbx\n"                                          \
      "  ret\n"                                               \
      ".data\n" #name "_back: .long 2b\n .word 0x33\n"        \
      ".text\n")
asm(".data\n.globl compat_saved_rsp\ncompat_saved_rsp: .quad 0\n.text\n");
/* The stack 32-bit code runs on (its pointer is cut to 32 bits there). */
uint64_t compat_low_stack;
COMPAT_TRAMPOLINE(compat_int80, "int $0x80");
COMPAT_TRAMPOLINE(compat_syscall, "syscall");
COMPAT_TRAMPOLINE(compat_sysenter, "sysenter");

typedef long (*raw_call)(long, long, long, long);

/* Runs one i386 entry: kill(decoy, 0) tells whether it reached the host,
 * open(secret) whether host files are reachable, and kill(decoy, SIGKILL)
 * leaves the verdict to the runner. */
static void try_i386(const char* name, raw_call call) {
  const int kI386Kill = 37, kI386Open = 5, kI386Getpid = 20;
  snprintf(low_path, sizeof(low_path), "%s", secret_path());
  struct {
    const char* what;
    long nr, a, b, c;
  } calls[] = {
      {"getpid", kI386Getpid, 0, 0, 0},
      {"open(secret)", kI386Open, (long)low_path, O_RDONLY, 0},
      {"kill(decoy, 0)", kI386Kill, decoy_pid(), 0, 0},
      {"kill(decoy, SIGKILL)", kI386Kill, decoy_pid(), SIGKILL, 0},
  };
  for (size_t i = 0; i < sizeof(calls) / sizeof(*calls); i++) {
    fault_signal = 0;
    long r = -1;
    if (sigsetjmp(fault_jump, 1) == 0) {
      r = call(calls[i].nr, calls[i].a, calls[i].b, calls[i].c);
      note("%s %s returned %ld (getpid() is %d)", name, calls[i].what, r,
           getpid());
      if (calls[i].nr == kI386Open && r > 2 && fd_is_secret(r))
        escaped("%s open read the host secret", name);
    } else {
      note("%s %s raised signal %d", name, calls[i].what, fault_signal);
    }
  }
}

static void op_vsyscall(void) {
  typedef long (*vgtod)(struct timeval*, void*);
  typedef long (*vtime)(time_t*);
  struct timeval tv = {0};
  if (sigsetjmp(fault_jump, 1) == 0) {
    long r = ((vgtod)0xffffffffff600000)(&tv, NULL);
    note("vsyscall gettimeofday returned %ld, %ld s (time() %ld)", r,
         (long)tv.tv_sec, (long)time(NULL));
  } else {
    note("vsyscall gettimeofday raised signal %d", fault_signal);
  }
  if (sigsetjmp(fault_jump, 1) == 0) {
    time_t t = 0;
    long r = ((vtime)0xffffffffff600400)(&t);
    note("vsyscall time returned %ld", r);
  } else {
    note("vsyscall time raised signal %d", fault_signal);
  }
  /* Into the middle of the page, and with a pointer into the stub. */
  if (sigsetjmp(fault_jump, 1) == 0) {
    ((vtime)0xffffffffff600400)((time_t*)0x7fffffe00100);
    note("vsyscall time wrote into the stub page");
  } else {
    note("vsyscall time to the stub page raised signal %d", fault_signal);
  }
}

/* The context the next SIGUSR1 handler returns with. */
static volatile int bad_context;

static void corrupt_context(int sig, siginfo_t* info, void* context) {
  ucontext_t* uc = context;
  greg_t* regs = uc->uc_mcontext.gregs;
  switch (bad_context) {
    case 0:  /* kernel code segment: cs is the low 16 bits of CSGSFS */
      regs[REG_CSGSFS] = (regs[REG_CSGSFS] & ~0xffffll) | 0x10;
      break;
    case 1:  /* a non-canonical instruction pointer */
      regs[REG_RIP] = (greg_t)0x8000000000000000ull;
      break;
    case 2:  /* a kernel address */
      regs[REG_RIP] = (greg_t)0xffffffff81000000ull;
      break;
    case 3:  /* IOPL 3, the trap flag and a non-canonical stack */
      regs[REG_EFL] |= 0x3000 | 0x100;
      regs[REG_RSP] = (greg_t)0x8000000000001000ull;
      break;
  }
}

/* Returns from a signal handler with registers no user code may have; the
 * process should die of SIGSEGV and moat must carry on. */
static void op_sigreturn(void) {
  for (int which = 0; which < 4; which++) {
    pid_t child = fork();
    if (child == 0) {
      struct sigaction sa = {.sa_sigaction = corrupt_context,
                             .sa_flags = SA_SIGINFO};
      sigaction(SIGUSR1, &sa, NULL);
      signal(SIGSEGV, SIG_DFL);
      signal(SIGTRAP, SIG_DFL);
      bad_context = which;
      alarm(2);
      raise(SIGUSR1);
      _exit(0);
    }
    int status;
    waitpid(child, &status, 0);
    note("bad context %d: child status %#x", which, status);
  }
}

static void op_mmap0(void) {
  void* p = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  if (p == MAP_FAILED) {
    note("mmap at 0: %s", strerror(errno));
  } else {
    note("mmap at 0 succeeded");
  }
  if (sigsetjmp(fault_jump, 1) == 0) {
    *(volatile int*)0 = 1;
    note("wrote to address 0");
  } else {
    note("writing address 0 raised signal %d", fault_signal);
  }
}

int main(int argc, char** argv) {
  catch_faults();
  const char* op = argc > 1 ? argv[1] : "";
  if (strcmp(op, "int80") == 0) {
    try_i386("int $0x80", int80);
  } else if (strcmp(op, "compat") == 0) {
    char* stack = mmap(NULL, 65536, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
    if (stack == MAP_FAILED) broken("mmap MAP_32BIT: %s", strerror(errno));
    compat_low_stack = (uint64_t)(stack + 65536 - 64);
    try_i386("32-bit int $0x80", compat_int80);
    try_i386("32-bit syscall", compat_syscall);
    try_i386("32-bit sysenter", compat_sysenter);
  } else if (strcmp(op, "sysenter") == 0) {
    if (sigsetjmp(fault_jump, 1) == 0) {
      asm volatile("mov %%rsp, %%rbp\n sysenter" ::: "rbp", "memory");
      note("sysenter returned");
    } else {
      note("64-bit sysenter raised signal %d", fault_signal);
    }
  } else if (strcmp(op, "vsyscall") == 0) {
    op_vsyscall();
  } else if (strcmp(op, "mmap0") == 0) {
    op_mmap0();
  } else if (strcmp(op, "sigreturn") == 0) {
    op_sigreturn();
  } else {
    broken("usage: rawsys int80|compat|sysenter|vsyscall|mmap0|sigreturn");
  }
  return escape_finish();
}
