/* A signal sent to a thread or process right after clone() or fork()
 * created it, before it could run, is delivered to it. */
#include "check.h"

#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#define THREADS 200
#define ROUNDS 8
#define STACK (64 * 1024)

static volatile int handled;
static volatile int exited;

static void on_usr1(int sig) {
  (void)sig;
  __atomic_add_fetch(&handled, 1, __ATOMIC_SEQ_CST);
}

static volatile int stop_spam;

static void* spam_group(void* arg) {
  (void)arg;
  while (!stop_spam) kill(0, SIGUSR1);
  return NULL;
}

static int thread_main(void* arg) {
  (void)arg;
  __atomic_add_fetch(&exited, 1, __ATOMIC_SEQ_CST);
  syscall(SYS_exit, 0);
  return 0;
}

int main(void) {
  CASE("signals sent at once to new threads are all handled");
  struct sigaction sa = {0};
  sa.sa_handler = on_usr1;
  sa.sa_flags = SA_RESTART;
  CHECK_OK(sigaction(SIGUSR1, &sa, NULL));
  // Each round gives the signal another 200 chances to reach a thread in
  // its first instructions. A thread may still be on its stack after it
  // counted itself, so every round has stacks of its own.
  for (int round = 0; round < ROUNDS; round++) {
    char* stacks = mmap(NULL, (size_t)THREADS * STACK, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(stacks != MAP_FAILED);
    exited = 0;
    handled = 0;
    int sent = 0;
    for (int i = 0; i < THREADS; i++) {
      int flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND |
                  CLONE_THREAD | CLONE_SYSVSEM;
      int tid =
          clone(thread_main, stacks + (size_t)(i + 1) * STACK, flags, NULL);
      CHECK(tid > 0);
      // The thread may have exited already; then there is nothing to send.
      if (syscall(SYS_tgkill, getpid(), tid, SIGUSR1) == 0) sent++;
    }
    for (int i = 0; i < 2000 && exited < THREADS; i++) usleep(1000);
    CHECK_EQ(exited, THREADS);
    // A signal sent to a thread that then exits before handling it is
    // dropped, so only an upper bound is checked.
    CHECK(handled <= sent);
  }

  CASE("process group signals reach children that have not run yet");
  // In a process group of its own, one thread signals the group without
  // pause while another forks, so some signals find a child before its
  // first instruction.
  pid_t leader = fork();
  if (leader == 0) {
    setpgid(0, 0);
    pthread_t spammer;
    if (pthread_create(&spammer, NULL, spam_group, NULL) != 0) _exit(2);
    int clean = 0;
    for (int i = 0; i < THREADS / 2; i++) {
      pid_t pid = fork();
      if (pid == 0) _exit(0);
      int status;
      if (pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
          WEXITSTATUS(status) == 0)
        clean++;
    }
    stop_spam = 1;
    pthread_join(spammer, NULL);
    _exit(clean == THREADS / 2 ? 0 : 1);
  }
  CHECK_CHILD_EXIT(leader, 0);
  return check_finish();
}
