/* fork() while other threads write: their writes to pages that fork made
 * copy-on-write must go through, however the faults interleave. */
#include "check.h"

#include <pthread.h>

#define SLOTS 4096
#define FORKS 50

static volatile long counter[SLOTS];
static volatile int stop;

static void on_segv(int sig, siginfo_t* info, void* context) {
  (void)sig;
  (void)context;
  printf("unexpected SIGSEGV at %p, code %d\n", info->si_addr, info->si_code);
  _exit(1);
}

static void* writer(void* arg) {
  (void)arg;
  for (long i = 0; !stop; i++) counter[(i * 512) % SLOTS]++;
  return NULL;
}

int main(void) {
  CASE("writers keep running while another thread forks");
  struct sigaction sa = {0};
  sa.sa_sigaction = on_segv;
  sa.sa_flags = SA_SIGINFO;
  CHECK_OK(sigaction(SIGSEGV, &sa, NULL));
  pthread_t threads[2];
  for (int i = 0; i < 2; i++)
    CHECK_EQ(pthread_create(&threads[i], NULL, writer, NULL), 0);
  int forks = 0;
  for (int i = 0; i < FORKS; i++) {
    pid_t pid = fork();
    if (pid == 0) _exit(0);
    if (pid > 0 && waitpid(pid, NULL, 0) == pid) forks++;
    counter[0]++;
  }
  stop = 1;
  for (int i = 0; i < 2; i++) pthread_join(threads[i], NULL);
  CHECK_EQ(forks, FORKS);
  return check_finish();
}
