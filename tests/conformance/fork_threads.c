/* Threads and forks mixed: a forked child makes threads and joins them,
 * and a process with threads forks. */
#include "check.h"

#include <pthread.h>

static void* double_it(void* arg) { return (void*)((long)arg * 2); }

/* Starts four threads, joins them and returns the sum of their results. */
static long run_threads(void) {
  pthread_t threads[4];
  for (long i = 0; i < 4; i++)
    if (pthread_create(&threads[i], NULL, double_it, (void*)(i + 1)) != 0)
      return -1;
  long sum = 0;
  for (int i = 0; i < 4; i++) {
    void* result;
    pthread_join(threads[i], &result);
    sum += (long)result;
  }
  return sum;
}

static void test_threads_in_child(void) {
  CASE("a forked child starts and joins threads");
  for (int round = 0; round < 3; round++) {
    pid_t pid = fork();
    if (pid == 0) {
      CHECK_EQ(run_threads(), 20);
      check_child_done();
    }
    CHECK_CHILD_EXIT(pid, 0);
  }
}

static void test_fork_with_threads(void) {
  CASE("a process that ran threads forks");
  pid_t pid = fork();
  if (pid == 0) {
    CHECK_EQ(run_threads(), 20);
    int shared = 41;
    pid_t grandchild = fork();
    if (grandchild == 0) _exit(shared + 1);
    shared = 0;
    CHECK_CHILD_EXIT(grandchild, 42);
    CHECK_EQ(shared, 0);
    check_child_done();
  }
  CHECK_CHILD_EXIT(pid, 0);
}

int main(void) {
  test_threads_in_child();
  test_fork_with_threads();
  return check_finish();
}
