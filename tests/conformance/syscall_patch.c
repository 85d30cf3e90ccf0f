/* System calls made from `mov $nr, %eax; syscall` sites, which moat's trap
 * platform patches into a jump after their first few calls. The cases check
 * results, registers and vector state across the call, and a jump straight
 * to the `syscall` with another number. They also check restarts after a
 * signal, threads, fork, the file's bytes, code made writable, and a GS
 * base of the program's own. Natively these are plain system calls. Each
 * case calls the same site many times, so that inside moat its later calls
 * take the patch. */
#include "check.h"

#include <asm/prctl.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/time.h>

/* A site in a function of its own: getpid, then `ret`. The `nop` keeps the
 * byte before the `mov` from looking like a prefix. */
extern long site_getpid(void);
extern char site_getpid_mov[], site_getpid_syscall[];
/* Jumps to the site's `syscall` with the number in %edi, as code may. */
extern long jump_to_syscall(long nr);
__asm__(
    ".text\n"
    ".globl site_getpid, site_getpid_mov, site_getpid_syscall\n"
    "site_getpid:\n"
    "  nop\n"
    "site_getpid_mov:\n"
    "  mov $39, %eax\n"
    "site_getpid_syscall:\n"
    "  syscall\n"
    "  ret\n"
    ".globl jump_to_syscall\n"
    "jump_to_syscall:\n"
    "  mov %edi, %eax\n"
    "  jmp site_getpid_syscall\n");

static const uint8_t kGetpidSite[7] = {0xb8, 39, 0, 0, 0, 0x0f, 0x05};

/* read(2) from a site of its own, for the restart cases. */
static long site_read(int fd, void* buf, size_t n) {
  long ret;
  __asm__ volatile("nop\n\tmov $0, %%eax\n\tsyscall"
                   : "=a"(ret)
                   : "D"(fd), "S"(buf), "d"(n)
                   : "rcx", "r11", "memory");
  return ret;
}

static void case_results(void) {
  CASE("results");
  long pid = syscall(SYS_getpid);
  for (int i = 0; i < 1000; i++) CHECK_EQ(site_getpid(), pid);
  CHECK_EQ(jump_to_syscall(SYS_getppid), syscall(SYS_getppid));
  CHECK_EQ(jump_to_syscall(SYS_gettid), syscall(SYS_gettid));
  CHECK_EQ(site_getpid(), pid);
}

/* Every register but %rax, %rcx and %r11 keeps its value across the call,
 * and %rcx contains the address after the `syscall`. Vector registers,
 * upper halves included, and MXCSR keep their values too. */
static void case_registers(void) {
  CASE("registers");
  /* r8 r9 r10 r12 r13 r14 r15 rbx rdi rsi rdx */
  static const uint64_t kValues[11] = {
      0x0808080808080808, 0x0909090909090909, 0x1010101010101010,
      0x1212121212121212, 0x1313131313131313, 0x1414141414141414,
      0x1515151515151515, 0x0b0b0b0b0b0b0b0b, 0x0d0d0d0d0d0d0d0d,
      0x0e0e0e0e0e0e0e0e, 0x0f0f0f0f0f0f0f0f};
  for (int round = 0; round < 200; round++) {
    uint64_t out[11], rax, rcx, after;
    uint64_t y[4] = {0x1111, 0x2222, 0x3333 + round, 0x4444}, y_out[4];
    unsigned mxcsr_in = 0x1f80 | 0x6000, mxcsr_out = 0; /* round to zero */
    __asm__ volatile(
        "vmovdqu %[y], %%ymm9\n\t"
        "ldmxcsr %[mi]\n\t"
        "mov 0+%[v], %%r8\n\t"
        "mov 8+%[v], %%r9\n\t"
        "mov 16+%[v], %%r10\n\t"
        "mov 24+%[v], %%r12\n\t"
        "mov 32+%[v], %%r13\n\t"
        "mov 40+%[v], %%r14\n\t"
        "mov 48+%[v], %%r15\n\t"
        "mov 56+%[v], %%rbx\n\t"
        "mov 64+%[v], %%rdi\n\t"
        "mov 72+%[v], %%rsi\n\t"
        "mov 80+%[v], %%rdx\n\t"
        "lea 1f(%%rip), %%r11\n\t"
        "mov %%r11, %[after]\n\t"
        "nop\n\t"
        "mov $39, %%eax\n\t"
        "syscall\n"
        "1:\n\t"
        "mov %%rax, %[rax]\n\t"
        "mov %%rcx, %[rcx]\n\t"
        "mov %%r8, 0+%[out]\n\t"
        "mov %%r9, 8+%[out]\n\t"
        "mov %%r10, 16+%[out]\n\t"
        "mov %%r12, 24+%[out]\n\t"
        "mov %%r13, 32+%[out]\n\t"
        "mov %%r14, 40+%[out]\n\t"
        "mov %%r15, 48+%[out]\n\t"
        "mov %%rbx, 56+%[out]\n\t"
        "mov %%rdi, 64+%[out]\n\t"
        "mov %%rsi, 72+%[out]\n\t"
        "mov %%rdx, 80+%[out]\n\t"
        "vmovdqu %%ymm9, %[yo]\n\t"
        "stmxcsr %[mo]\n\t"
        "movl $0x1f80, %[mi2]\n\t"
        "ldmxcsr %[mi2]\n\t"
        : [rax] "=m"(rax), [rcx] "=m"(rcx), [after] "=m"(after),
          [out] "=m"(out), [yo] "=m"(y_out), [mo] "=m"(mxcsr_out),
          [mi2] "=m"(mxcsr_in)
        : [v] "m"(kValues), [y] "m"(y), [mi] "m"(mxcsr_in)
        : "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11",
          "r12", "r13", "r14", "r15", "xmm9", "memory");
    if (rcx != after) {
      CHECK_EQ(rcx, after);
      break;
    }
    CHECK_EQ(rax, getpid());
    for (int i = 0; i < 11; i++) CHECK_EQ(out[i], kValues[i]);
    CHECK(memcmp(y, y_out, sizeof y) == 0);
    CHECK_EQ(mxcsr_out, 0x1f80 | 0x6000);
  }
}

/* read(2) from a site of its own with a value in %ymm9 around the call,
 * which comes back in `after`. */
static long site_read_keeping_ymm9(int fd, void* buf, size_t n,
                                   const uint64_t before[4],
                                   uint64_t after[4]) {
  long ret;
  __asm__ volatile(
      "vmovdqu (%[before]), %%ymm9\n\t"
      "nop\n\t"
      "mov $0, %%eax\n\t"
      "syscall\n\t"
      "vmovdqu %%ymm9, (%[after])"
      : "=a"(ret)
      : "D"(fd), "S"(buf), "d"(n), [before] "r"(before), [after] "r"(after)
      : "rcx", "r11", "xmm9", "memory");
  return ret;
}

static int alarm_write_fd = -1;
static uint64_t handler_ymm9[4];
static void on_alarm(int sig) {
  (void)sig;
  char c = 'x';
  /* A handler starts with the vector registers in their initial state, and
   * its own use of them must not leak out. */
  __asm__ volatile("vmovdqu %%ymm9, %0\n\t"
                   "vpcmpeqd %%ymm9, %%ymm9, %%ymm9"
                   : "=m"(handler_ymm9)
                   :
                   : "xmm9");
  if (write(alarm_write_fd, &c, 1) != 1) _exit(3);
}

/* A read blocked in a patched site is interrupted by a handler that
 * writes to the pipe. With SA_RESTART the read starts again at the
 * `syscall`, which the patch left in place, and reads the byte. Without
 * it, the read fails with EINTR. */
static void restart_case(int flags, long expected) {
  int p[2];
  CHECK_OK(pipe(p));
  alarm_write_fd = p[1];
  char c;
  for (int i = 0; i < 50; i++) {
    CHECK_EQ(write(p[1], "a", 1), 1);
    CHECK_EQ(site_read(p[0], &c, 1), 1);
  }

  struct sigaction sa = {0};
  sa.sa_handler = on_alarm;
  sa.sa_flags = flags;
  CHECK_OK(sigaction(SIGALRM, &sa, NULL));
  struct itimerval it = {{0, 0}, {0, 50000}};
  CHECK_OK(setitimer(ITIMER_REAL, &it, NULL));
  CHECK_EQ(site_read(p[0], &c, 1), expected);
  /* An interrupted read leaves the handler's byte in the pipe. */
  if (expected == -EINTR) {
    CHECK_EQ(read(p[0], &c, 1), 1);
  }

  /* Again with a vector value that the handler clobbers in its own
   * registers: the call returns with the value it was made with. */
  for (int i = 0; i < 50; i++) {
    uint64_t before[4] = {1, 2, 3, (uint64_t)i}, after[4] = {0};
    CHECK_EQ(write(p[1], "a", 1), 1);
    CHECK_EQ(site_read_keeping_ymm9(p[0], &c, 1, before, after), 1);
    CHECK(memcmp(before, after, sizeof before) == 0);
  }

  uint64_t before[4] = {5, 6, 7, 8}, after[4] = {0};
  memset(handler_ymm9, 0xff, sizeof handler_ymm9);
  CHECK_OK(setitimer(ITIMER_REAL, &it, NULL));
  CHECK_EQ(site_read_keeping_ymm9(p[0], &c, 1, before, after), expected);
  CHECK(memcmp(before, after, sizeof before) == 0);
  static const uint64_t kZero[4];
  CHECK(memcmp(handler_ymm9, kZero, sizeof kZero) == 0);
  if (expected == -EINTR) {
    CHECK_EQ(read(p[0], &c, 1), 1);
  }

  signal(SIGALRM, SIG_DFL);
  close(p[0]);
  close(p[1]);
}

static void case_restart(void) {
  CASE("restart");
  restart_case(SA_RESTART, 1);
  CASE("interrupted");
  restart_case(0, -EINTR);
}

static void* thread_calls(void* arg) {
  long pid = (long)arg;
  long bad = 0;
  for (int i = 0; i < 20000; i++) bad += site_getpid() != pid;
  return (void*)bad;
}

static volatile long signals_seen;
static void on_usr1(int sig) {
  (void)sig;
  signals_seen++;
}

/* Threads call the site while it is being patched and while another
 * thread sends them signals, which may land anywhere on the way in. */
static void case_threads(void) {
  CASE("threads");
  signal(SIGUSR1, on_usr1);
  pthread_t t[4];
  long pid = getpid();
  for (int i = 0; i < 4; i++)
    CHECK_EQ(pthread_create(&t[i], NULL, thread_calls, (void*)pid), 0);
  for (int i = 0; i < 200; i++) {
    pthread_kill(t[i % 4], SIGUSR1);
    usleep(100);
  }
  for (int i = 0; i < 4; i++) {
    void* bad;
    CHECK_EQ(pthread_join(t[i], &bad), 0);
    CHECK_EQ((long)bad, 0);
  }
  CHECK(signals_seen > 0);
  signal(SIGUSR1, SIG_DFL);
}

static void case_fork(void) {
  CASE("fork");
  for (int i = 0; i < 100; i++) site_getpid();
  pid_t child = fork();
  if (child == 0) {
    long pid = syscall(SYS_getpid);
    for (int i = 0; i < 1000; i++)
      if (site_getpid() != pid) _exit(1);
    _exit(0);
  }
  CHECK_CHILD_EXIT(child, 0);
  CHECK_EQ(site_getpid(), getpid());
}

/* A read of the program's file shows the site as it was built. */
static void case_file_bytes(void) {
  CASE("file bytes");
  for (int i = 0; i < 100; i++) site_getpid();
  check_file_bytes(site_getpid_mov, kGetpidSite, 7);
}

/* Code the program makes writable shows its own bytes, and calls made
 * from it while writable still work. */
static void case_writable(void) {
  CASE("writable");
  for (int i = 0; i < 100; i++) site_getpid();
  uintptr_t page = (uintptr_t)site_getpid_mov & ~(uintptr_t)4095;
  size_t length = (uintptr_t)site_getpid_syscall + 2 - page;
  CHECK_OK(mprotect((void*)page, length, PROT_READ | PROT_WRITE | PROT_EXEC));
  CHECK(memcmp(site_getpid_mov, kGetpidSite, 7) == 0);
  for (int i = 0; i < 100; i++) CHECK_EQ(site_getpid(), getpid());
  CHECK_OK(mprotect((void*)page, length, PROT_READ | PROT_EXEC));
  for (int i = 0; i < 100; i++) CHECK_EQ(site_getpid(), getpid());
}

/* A program that sets a GS base of its own keeps it across calls. */
static void case_gs_base(void) {
  CASE("gs base");
  for (int i = 0; i < 100; i++) site_getpid();
  static uint64_t block[4] = {0x1234567890abcdef, 2, 3, 4};
  CHECK_OK(syscall(SYS_arch_prctl, ARCH_SET_GS, (unsigned long)block));
  for (int i = 0; i < 100; i++) {
    CHECK_EQ(site_getpid(), getpid());
    uint64_t v;
    __asm__ volatile("mov %%gs:0, %0" : "=r"(v));
    CHECK_EQ(v, block[0]);
  }
  unsigned long gs = 0;
  CHECK_OK(syscall(SYS_arch_prctl, ARCH_GET_GS, &gs));
  CHECK_EQ(gs, (unsigned long)block);
  CHECK_OK(syscall(SYS_arch_prctl, ARCH_SET_GS, 0UL));
}

/* Low addresses stay the program's. A mapping it requests there succeeds,
 * even one that must not replace anything, and calls go on working. */
static void case_low_mapping(void) {
  CASE("low mapping");
  for (int i = 0; i < 100; i++) site_getpid();
  char* want = (char*)0x05000000;
  size_t length = 0x200000;
  char* p = mmap(want, length, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  CHECK(p == want);
  if (p != MAP_FAILED) {
    memset(p, 7, length);
    for (int i = 0; i < 100; i++) CHECK_EQ(site_getpid(), getpid());
    CHECK_OK(munmap(p, length));
  }
  p = mmap(want, length, PROT_READ | PROT_WRITE,
           MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  CHECK(p == want);
  for (int i = 0; i < 100; i++) CHECK_EQ(site_getpid(), getpid());
  if (p != MAP_FAILED) CHECK_OK(munmap(p, length));
}

int main(void) {
  case_results();
  case_registers();
  case_restart();
  case_threads();
  case_fork();
  case_file_bytes();
  case_writable();
  case_gs_base();
  case_low_mapping();
  return check_finish();
}
