/* A process with hundreds of threads alive at once: every thread starts,
 * waits for all the others at a barrier and makes system calls, and the
 * process reaps them all. */
#include "check.h"

#include <pthread.h>
#include <sys/syscall.h>

enum { kThreads = 300 };

static pthread_barrier_t barrier;

static void* run(void* arg) {
  (void)arg;
  int r = pthread_barrier_wait(&barrier);
  if (r != 0 && r != PTHREAD_BARRIER_SERIAL_THREAD) return (void*)1;
  long tid = syscall(SYS_gettid);
  return (void*)(tid > 0 && getpid() > 0 ? 0L : 2L);
}

int main(void) {
  CASE("threads alive together");
  CHECK_EQ(pthread_barrier_init(&barrier, NULL, kThreads + 1), 0);
  pthread_attr_t attr;
  CHECK_EQ(pthread_attr_init(&attr), 0);
  CHECK_EQ(pthread_attr_setstacksize(&attr, 64 * 1024), 0);
  pthread_t threads[kThreads];
  int started = 0;
  for (int i = 0; i < kThreads; i++) {
    int r = pthread_create(&threads[i], &attr, run, NULL);
    CHECK_EQ(r, 0);
    if (r != 0) break;
    started++;
  }
  if (started == kThreads) {
    int r = pthread_barrier_wait(&barrier);
    CHECK(r == 0 || r == PTHREAD_BARRIER_SERIAL_THREAD);
  }
  for (int i = 0; i < started; i++) {
    void* result = NULL;
    CHECK_EQ(pthread_join(threads[i], &result), 0);
    CHECK_EQ((long)result, 0);
  }
  return check_finish();
}
