/* What a vfork child may not change in its parent: registers, including
 * vector registers and the floating-point control words, and whether the
 * parent lives. Also that threads made after another thread exited start
 * with their creator's floating-point state, not the dead thread's. */
#include "check.h"

#include <fenv.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/syscall.h>

/* vfork through a raw syscall with %xmm9 and %r15 set in the parent. The
 * child overwrites both and exits; the parent returns their values
 * afterwards. Nothing in between touches memory. */
static void vfork_clobber(uint64_t* xmm_after, uint64_t* r15_after,
                          long* pid) {
  uint64_t xmm = 0, r15 = 0;
  long ret;
  __asm__ volatile(
      "movabs $0x1122334455667788, %%rax\n\t"
      "movq %%rax, %%xmm9\n\t"
      "movabs $0x0badc0de0badc0de, %%r15\n\t"
      "mov $58, %%eax\n\t" /* vfork */
      "syscall\n\t"
      "test %%rax, %%rax\n\t"
      "jnz 1f\n\t"
      "movabs $0x5a5a5a5a5a5a5a5a, %%rdx\n\t"
      "movq %%rdx, %%xmm9\n\t"
      "mov %%rdx, %%r15\n\t"
      "mov $60, %%eax\n\t" /* exit(3) */
      "mov $3, %%edi\n\t"
      "syscall\n\t"
      "1:\n\t"
      "movq %%xmm9, %1\n\t"
      "mov %%r15, %2\n\t"
      : "=a"(ret), "=r"(xmm), "=r"(r15)
      :
      : "rcx", "rdx", "rdi", "r11", "r15", "xmm9", "memory");
  *xmm_after = xmm;
  *r15_after = r15;
  *pid = ret;
}

static volatile int thread_round;

static void* set_downward(void* arg) {
  fesetround(FE_DOWNWARD);
  return NULL;
}

static void* read_round(void* arg) {
  thread_round = fegetround();
  return NULL;
}

int main(void) {
  CASE("vfork child's registers do not reach the parent");
  for (int round = 0; round < 3; round++) {
    uint64_t xmm, r15;
    long pid;
    vfork_clobber(&xmm, &r15, &pid);
    CHECK(pid > 0);
    CHECK_EQ(xmm, 0x1122334455667788ull);
    CHECK_EQ(r15, 0x0badc0de0badc0deull);
    CHECK_CHILD_EXIT((pid_t)pid, 3);
  }

  CASE("vfork child's rounding mode does not reach the parent");
  CHECK_EQ(fesetround(FE_UPWARD), 0);
  pid_t pid = vfork();
  if (pid == 0) {
    fesetround(FE_TOWARDZERO);
    _exit(fegetround() == FE_TOWARDZERO ? 0 : 1);
  }
  CHECK(pid > 0);
  CHECK_EQ(fegetround(), FE_UPWARD);
  CHECK_CHILD_EXIT(pid, 0);

  CASE("vfork child starts with the parent's rounding mode");
  pid = vfork();
  if (pid == 0) _exit(fegetround() == FE_UPWARD ? 0 : 1);
  CHECK_CHILD_EXIT(pid, 0);
  fesetround(FE_TONEAREST);

  CASE("a new thread has its creator's rounding mode, not an exited one's");
  for (int round = 0; round < 3; round++) {
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, set_downward, NULL), 0);
    CHECK_EQ(pthread_join(t, NULL), 0);
    CHECK_EQ(fesetround(FE_UPWARD), 0);
    thread_round = -1;
    CHECK_EQ(pthread_create(&t, NULL, read_round, NULL), 0);
    CHECK_EQ(pthread_join(t, NULL), 0);
    CHECK_EQ(thread_round, FE_UPWARD);
    fesetround(FE_TONEAREST);
  }

  CASE("vfork child goes on after its parent is killed");
  int pipefd[2];
  CHECK_OK(pipe(pipefd));
  pid_t parent = fork();
  if (parent == 0) {
    close(pipefd[0]);
    pid_t child = vfork();
    if (child == 0) {
      syscall(SYS_kill, syscall(SYS_getppid), SIGKILL);
      struct timespec pause_time = {0, 50 * 1000 * 1000};
      syscall(SYS_nanosleep, &pause_time, NULL);
      syscall(SYS_write, pipefd[1], "alive", 5);
      syscall(SYS_exit, 0);
    }
    _exit(9); /* not reached: the child killed this process first */
  }
  CHECK(parent > 0);
  close(pipefd[1]);
  int status = 0;
  CHECK_EQ(waitpid(parent, &status, 0), parent);
  CHECK(WIFSIGNALED(status));
  CHECK_EQ(WTERMSIG(status), SIGKILL);
  char buf[8] = {0};
  CHECK_EQ(read(pipefd[0], buf, sizeof buf), 5);
  CHECK_STR(buf, "alive");

  CASE("a multithreaded parent's vfork child runs and exits");
  pthread_t t;
  CHECK_EQ(pthread_create(&t, NULL, read_round, NULL), 0);
  pid = vfork();
  if (pid == 0) _exit(4);
  CHECK_CHILD_EXIT(pid, 4);
  CHECK_EQ(pthread_join(t, NULL), 0);
  return check_finish();
}
