/* Floating-point and vector state across signal delivery: registers survive
 * a handler that clobbers them, the handler starts with a clean MXCSR and x87
 * control word, sigreturn restores state edited in the ucontext, and
 * asynchronous signals do not disturb a running computation. */
#include "check.h"

#include <stdint.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <ucontext.h>

#define MXCSR_DEFAULT 0x1f80
#define MXCSR_ROUND_TOWARD_ZERO 0x6000
#define X87_CONTROL_DEFAULT 0x037f

static uint32_t handler_mxcsr;
static uint16_t handler_x87_control;

static void clobber_vectors(int signo) {
  __asm__ volatile("stmxcsr %0" : "=m"(handler_mxcsr));
  __asm__ volatile("fnstcw %0" : "=m"(handler_x87_control));
  static const uint64_t garbage[2] = {0xdeadbeefdeadbeefULL,
                                      0xfeedfacefeedfaceULL};
  __asm__ volatile(
      "movdqu %0, %%xmm0\n\tmovdqu %0, %%xmm1\n\tmovdqu %0, %%xmm2\n\tmovdqu "
      "%0, %%xmm3\n\t"
      "movdqu %0, %%xmm4\n\tmovdqu %0, %%xmm5\n\tmovdqu %0, %%xmm6\n\tmovdqu "
      "%0, %%xmm7\n\t"
      "movdqu %0, %%xmm8\n\tmovdqu %0, %%xmm9\n\tmovdqu %0, %%xmm10\n\tmovdqu "
      "%0, %%xmm11\n\t"
      "movdqu %0, %%xmm12\n\tmovdqu %0, %%xmm13\n\tmovdqu %0, "
      "%%xmm14\n\tmovdqu %0, %%xmm15\n\t"
      :
      : "m"(garbage)
      : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8",
        "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
  uint32_t other_mxcsr = MXCSR_DEFAULT | MXCSR_ROUND_TOWARD_ZERO;
  __asm__ volatile("ldmxcsr %0" : : "m"(other_mxcsr));
  volatile double x = 1.0;
  for (int i = 0; i < 100; i++) x = x * 1.5 + 0.25;
}

/* Loads 16 xmm registers from input, signals this thread with tgkill from
 * inside the same asm block, then stores the registers to output. */
static void signal_with_vectors_loaded(const uint64_t input[32],
                                       uint64_t output[32], int signo) {
  long pid = getpid();
  long tid = gettid();
  __asm__ volatile(
      "movdqu 0(%[in]), %%xmm0\n\tmovdqu 16(%[in]), %%xmm1\n\t"
      "movdqu 32(%[in]), %%xmm2\n\tmovdqu 48(%[in]), %%xmm3\n\t"
      "movdqu 64(%[in]), %%xmm4\n\tmovdqu 80(%[in]), %%xmm5\n\t"
      "movdqu 96(%[in]), %%xmm6\n\tmovdqu 112(%[in]), %%xmm7\n\t"
      "movdqu 128(%[in]), %%xmm8\n\tmovdqu 144(%[in]), %%xmm9\n\t"
      "movdqu 160(%[in]), %%xmm10\n\tmovdqu 176(%[in]), %%xmm11\n\t"
      "movdqu 192(%[in]), %%xmm12\n\tmovdqu 208(%[in]), %%xmm13\n\t"
      "movdqu 224(%[in]), %%xmm14\n\tmovdqu 240(%[in]), %%xmm15\n\t"
      "movq %[number], %%rax\n\t"
      "syscall\n\t"
      "movdqu %%xmm0, 0(%[out])\n\tmovdqu %%xmm1, 16(%[out])\n\t"
      "movdqu %%xmm2, 32(%[out])\n\tmovdqu %%xmm3, 48(%[out])\n\t"
      "movdqu %%xmm4, 64(%[out])\n\tmovdqu %%xmm5, 80(%[out])\n\t"
      "movdqu %%xmm6, 96(%[out])\n\tmovdqu %%xmm7, 112(%[out])\n\t"
      "movdqu %%xmm8, 128(%[out])\n\tmovdqu %%xmm9, 144(%[out])\n\t"
      "movdqu %%xmm10, 160(%[out])\n\tmovdqu %%xmm11, 176(%[out])\n\t"
      "movdqu %%xmm12, 192(%[out])\n\tmovdqu %%xmm13, 208(%[out])\n\t"
      "movdqu %%xmm14, 224(%[out])\n\tmovdqu %%xmm15, 240(%[out])\n\t"
      :
      : [in] "r"(input), [out] "r"(output), [number] "i"(SYS_tgkill), "D"(pid),
        "S"(tid), "d"((long)signo)
      : "rax", "rcx", "r11", "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4",
        "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12",
        "xmm13", "xmm14", "xmm15");
}

static void edit_xmm0(int signo, siginfo_t* info, void* context) {
  ucontext_t* uc = context;
  uc->uc_mcontext.fpregs->_xmm[0].element[0] = 0x11111111;
  uc->uc_mcontext.fpregs->_xmm[0].element[1] = 0x22222222;
  uc->uc_mcontext.fpregs->_xmm[0].element[2] = 0x33333333;
  uc->uc_mcontext.fpregs->_xmm[0].element[3] = 0x44444444;
}

static volatile int tick_count;
static volatile uint32_t frame_mxcsr;

static void record_frame_mxcsr(int signo, siginfo_t* info, void* context) {
  ucontext_t* uc = context;
  frame_mxcsr = uc->uc_mcontext.fpregs->mxcsr;
}

static void on_tick(int signo) {
  tick_count++;
  volatile double noise = 3.0;
  for (int i = 0; i < 50; i++) noise = noise / 1.1 + 0.7;
}

/* Sums an alternating series. It is not inlined and its argument is read
 * from a volatile, so every call really runs the loop. */
__attribute__((noinline)) static double series(volatile int terms) {
  double sum = 0;
  for (int i = 1; i <= terms; i++)
    sum += 1.0 / ((double)i * i) * (i % 2 ? 1.0 : -1.0);
  return sum;
}

int main(void) {
  uint64_t input[32], output[32];
  for (int i = 0; i < 32; i++) input[i] = 0x0101010101010101ULL * (i + 1);

  CASE("xmm registers survive a handler that clobbers them");
  signal(SIGUSR1, clobber_vectors);
  memset(output, 0, sizeof output);
  signal_with_vectors_loaded(input, output, SIGUSR1);
  CHECK_EQ(memcmp(input, output, sizeof input), 0);

  CASE("the handler starts with the default MXCSR and x87 control word");
  CHECK_EQ(handler_mxcsr & 0xffc0, MXCSR_DEFAULT);
  CHECK_EQ(handler_x87_control, X87_CONTROL_DEFAULT);

  CASE("MXCSR rounding mode survives a handler that changes it");
  uint32_t rounding = MXCSR_DEFAULT | MXCSR_ROUND_TOWARD_ZERO;
  __asm__ volatile("ldmxcsr %0" : : "m"(rounding));
  raise(SIGUSR1);
  uint32_t after = 0;
  __asm__ volatile("stmxcsr %0" : "=m"(after));
  CHECK_EQ(after & 0xffc0, MXCSR_DEFAULT | MXCSR_ROUND_TOWARD_ZERO);
  CHECK_EQ(handler_mxcsr & 0xffc0, MXCSR_DEFAULT);
  uint32_t restore = MXCSR_DEFAULT;
  __asm__ volatile("ldmxcsr %0" : : "m"(restore));

  CASE("x87 control word survives a handler");
  uint16_t control = 0x0c7f;
  __asm__ volatile("fldcw %0" : : "m"(control));
  raise(SIGUSR1);
  uint16_t control_after = 0;
  __asm__ volatile("fnstcw %0" : "=m"(control_after));
  CHECK_EQ(control_after, 0x0c7f);
  CHECK_EQ(handler_x87_control, X87_CONTROL_DEFAULT);
  control = X87_CONTROL_DEFAULT;
  __asm__ volatile("fldcw %0" : : "m"(control));

  CASE("xmm0 edited in the ucontext is restored by sigreturn");
  struct sigaction action = {0};
  action.sa_sigaction = edit_xmm0;
  action.sa_flags = SA_SIGINFO;
  sigaction(SIGUSR2, &action, NULL);
  memset(output, 0, sizeof output);
  signal_with_vectors_loaded(input, output, SIGUSR2);
  CHECK_EQ(output[0], 0x2222222211111111ULL);
  CHECK_EQ(output[1], 0x4444444433333333ULL);
  CHECK_EQ(output[2], input[2]);
  CHECK_EQ(output[31], input[31]);

  CASE("a signal that interrupts a blocking read gets the caller's MXCSR");
  /* The read wrapper runs 300 times first, so that its call site is hot
   * and moat's trap platform patches it. */
  int pipe_fds[2];
  CHECK_OK(pipe(pipe_fds));
  char byte = 'b';
  for (int i = 0; i < 300; i++) {
    CHECK_EQ(write(pipe_fds[1], &byte, 1), 1);
    CHECK_EQ(read(pipe_fds[0], &byte, 1), 1);
  }
  struct sigaction record = {0};
  record.sa_sigaction = record_frame_mxcsr;
  record.sa_flags = SA_SIGINFO; /* no SA_RESTART: read fails with EINTR */
  sigaction(SIGALRM, &record, NULL);
  struct itimerval once = {{0, 0}, {0, 50000}};
  uint32_t toward_zero = MXCSR_DEFAULT | MXCSR_ROUND_TOWARD_ZERO;
  uint32_t after_read = 0;
  CHECK_OK(setitimer(ITIMER_REAL, &once, NULL));
  __asm__ volatile("ldmxcsr %0" : : "m"(toward_zero));
  ssize_t got = read(pipe_fds[0], &byte, 1);
  __asm__ volatile("stmxcsr %0" : "=m"(after_read));
  uint32_t default_mxcsr = MXCSR_DEFAULT;
  __asm__ volatile("ldmxcsr %0" : : "m"(default_mxcsr));
  CHECK_EQ(got, -1);
  CHECK_EQ(errno, EINTR);
  CHECK_EQ(frame_mxcsr & 0xffff, toward_zero);
  CHECK_EQ(after_read, toward_zero);
  close(pipe_fds[0]);
  close(pipe_fds[1]);

  CASE("asynchronous signals do not change a floating-point result");
  double expected = series(3000000);
  signal(SIGALRM, on_tick);
  struct itimerval timer = {{0, 1000}, {0, 1000}};
  setitimer(ITIMER_REAL, &timer, NULL);
  double with_signals = 0;
  int rounds = 0;
  do {
    with_signals = series(3000000);
    rounds++;
  } while (tick_count < 20 && rounds < 50);
  struct itimerval stop = {{0, 0}, {0, 0}};
  setitimer(ITIMER_REAL, &stop, NULL);
  CHECK(tick_count > 0);
  CHECK(memcmp(&expected, &with_signals, sizeof expected) == 0);
  return check_finish();
}
