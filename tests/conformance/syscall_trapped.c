/* System calls from sites that moat's trap platform never patches, which
 * reach the kernel through the stub's SIGSYS handler. That handler returns
 * to the program by loading the registers itself. So the cases check every
 * register, the flags, and the vector and x87 state across such a call.
 * They also check that a signal sent to a thread while it leaves a call
 * interrupts it even when the thread then makes no more calls. Natively
 * these are plain system calls. */
#include "check.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <x86intrin.h>

/* The registers' values in and out of the call below. They are static so
 * that the assembly reaches them without %rsp or %rbp, which it changes. */
static const uint64_t kValues[12] = {
    0x0808080808080808, 0x0909090909090909, 0x1010101010101010,
    0x1212121212121212, 0x1313131313131313, 0x1414141414141414,
    0x1515151515151515, 0x0b0b0b0b0b0b0b0b, 0x0d0d0d0d0d0d0d0d,
    0x0e0e0e0e0e0e0e0e, 0x0f0f0f0f0f0f0f0f, 0x0a0a0a0a0a0a0a0a};
static uint64_t out[12], rax, rcx, after, flags, rsp_before, rsp_after;
static uint64_t saved_rbp;
static uint64_t y[4], y_out[4];
static unsigned mxcsr_in = 0x1f80 | 0x6000, mxcsr_out, mxcsr_default = 0x1f80;
static uint16_t fcw_in = 0x027f, fcw_out, fcw_default = 0x037f;

/* Calls getpid from a site that is not `mov $nr, %eax; syscall`. Every
 * register the call must keep (r8 r9 r10 r12 r13 r14 r15 rbx rdi rsi rdx
 * rbp) has a known value. The direction flag is set. The vector register,
 * MXCSR and x87 control word have values of their own. */
static void case_registers(void) {
  CASE("registers");
  for (int round = 0; round < 200; round++) {
    uint64_t y_in[4] = {0x1111, 0x2222, 0x3333 + round, 0x4444};
    memcpy(y, y_in, sizeof y);
    __asm__ volatile(
        "vmovdqu %[y], %%ymm9\n\t"
        "ldmxcsr %[mi]\n\t"
        "fldcw %[fi]\n\t"
        "mov %%rbp, %[sbp]\n\t"
        "mov %%rsp, %[rspb]\n\t"
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
        "mov 88+%[v], %%rbp\n\t"
        "lea 1f(%%rip), %%r11\n\t"
        "mov %%r11, %[after]\n\t"
        "mov $39, %%eax\n\t"
        "std\n\t"
        "syscall\n"
        "1:\n\t"
        "pushf\n\t"
        "pop %%r11\n\t"
        "cld\n\t"
        "mov %%r11, %[flags]\n\t"
        "mov %%rax, %[rax]\n\t"
        "mov %%rcx, %[rcx]\n\t"
        "mov %%rsp, %[rspa]\n\t"
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
        "mov %%rbp, 88+%[out]\n\t"
        "mov %[sbp], %%rbp\n\t"
        "vmovdqu %%ymm9, %[yo]\n\t"
        "stmxcsr %[mo]\n\t"
        "ldmxcsr %[md]\n\t"
        "fnstcw %[fo]\n\t"
        "fldcw %[fd]\n\t"
        : [rax] "=m"(rax), [rcx] "=m"(rcx), [after] "=m"(after),
          [flags] "=m"(flags), [rspb] "=m"(rsp_before),
          [rspa] "=m"(rsp_after), [out] "=m"(out), [yo] "=m"(y_out),
          [mo] "=m"(mxcsr_out), [fo] "=m"(fcw_out), [sbp] "=m"(saved_rbp)
        : [v] "m"(kValues), [y] "m"(y), [mi] "m"(mxcsr_in),
          [md] "m"(mxcsr_default), [fi] "m"(fcw_in), [fd] "m"(fcw_default)
        : "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11",
          "r12", "r13", "r14", "r15", "xmm9", "memory");
    if (rcx != after) {
      CHECK_EQ(rcx, after);
      break;
    }
    CHECK_EQ(rax, getpid());
    CHECK_EQ(rsp_after, rsp_before);
    CHECK((flags & 0x400) != 0); /* DF */
    for (int i = 0; i < 12; i++) CHECK_EQ(out[i], kValues[i]);
    CHECK(memcmp(y, y_out, sizeof y) == 0);
    CHECK_EQ(mxcsr_out, 0x1f80 | 0x6000);
    CHECK_EQ(fcw_out, 0x027f);
  }
}

/* The interrupt case: a worker makes calls until the main thread has sent
 * it a signal, then spins without calls until its handler has run. */
static atomic_int sent, handled, worker_calls, stop;
static uint64_t cycles_per_ms;

static void on_usr1(int sig) {
  (void)sig;
  atomic_store(&handled, 1);
}

static long getppid_unpatched(void) {
  long ret;
  __asm__ volatile("mov $110, %%eax\n\tnop\n\tsyscall"
                   : "=a"(ret)
                   :
                   : "rcx", "r11", "memory");
  return ret;
}

static void* worker(void* arg) {
  long* missed = arg;
  while (!atomic_load(&stop)) {
    /* Calls, with a pause after each in which the main thread's `sent`
     * can show before the next call delivers the signal anyway. */
    while (!atomic_load(&sent)) {
      if (atomic_fetch_add(&worker_calls, 1) % 2 == 0)
        getppid_unpatched();
      else
        getppid(); /* a site the trap platform patches */
      uint64_t until = __rdtsc() + cycles_per_ms / 50;
      while (!atomic_load(&sent) && __rdtsc() < until) _mm_pause();
    }
    /* The main thread sets `stop` before its last `sent`, which comes
     * with no signal. */
    if (atomic_load(&stop)) break;
    /* No call from here on until the handler ran, for at most 2 s: a
     * lost signal never arrives, and a loaded machine can hold a ready
     * thread back for much of a second. */
    uint64_t deadline = __rdtsc() + 2000 * cycles_per_ms;
    while (!atomic_load(&handled) && __rdtsc() < deadline) _mm_pause();
    if (!atomic_load(&handled)) (*missed)++;
    atomic_store(&sent, 0);
    while (atomic_load(&handled) && !atomic_load(&stop)) _mm_pause();
  }
  return NULL;
}

static void case_interrupt_after_call(void) {
  CASE("interrupt while leaving a call");
  struct timespec start, end;
  uint64_t c0 = __rdtsc();
  clock_gettime(CLOCK_MONOTONIC, &start);
  do {
    clock_gettime(CLOCK_MONOTONIC, &end);
  } while ((end.tv_sec - start.tv_sec) * 1000000000L + end.tv_nsec -
               start.tv_nsec <
           20000000L);
  uint64_t ns = (end.tv_sec - start.tv_sec) * 1000000000L + end.tv_nsec -
                start.tv_nsec;
  cycles_per_ms = (__rdtsc() - c0) * 1000000 / ns;

  struct sigaction sa = {0};
  sa.sa_handler = on_usr1;
  CHECK_OK(sigaction(SIGUSR1, &sa, NULL));
  long missed = 0;
  pthread_t t;
  CHECK_EQ(pthread_create(&t, NULL, worker, &missed), 0);
  for (int trial = 0; trial < 300; trial++) {
    /* Sends while the worker is inside or just past a call. */
    int calls = atomic_load(&worker_calls);
    while (atomic_load(&worker_calls) == calls) sched_yield();
    CHECK_EQ(pthread_kill(t, SIGUSR1), 0);
    atomic_store(&sent, 1);
    while (atomic_load(&sent)) sched_yield();
    atomic_store(&handled, 0);
  }
  atomic_store(&stop, 1);
  atomic_store(&sent, 1);
  CHECK_EQ(pthread_join(t, NULL), 0);
  CHECK_EQ(missed, 0);
}

int main(void) {
  case_registers();
  case_interrupt_after_call();
  return check_finish();
}
