/* POSIX threads: create/join, mutexes, condition variables, barriers,
 * thread-local storage, cancellation and thread-directed signals. */
#include "check.h"

#include <pthread.h>
#include <stdint.h>
#include <sys/syscall.h>

static void* return_argument_plus_one(void* argument) {
  return (void*)((intptr_t)argument + 1);
}

static void test_create_join(void) {
  CASE("join returns the thread's return value");
  pthread_t thread;
  CHECK_EQ(pthread_create(&thread, NULL, return_argument_plus_one, (void*)41),
           0);
  void* result = NULL;
  CHECK_EQ(pthread_join(thread, &result), 0);
  CHECK_EQ((intptr_t)result, 42);

  CASE("joining yourself fails with EDEADLK");
  CHECK_EQ(pthread_join(pthread_self(), NULL), EDEADLK);
}

static pthread_mutex_t counter_lock = PTHREAD_MUTEX_INITIALIZER;
static long counter;

static void* increment(void* argument) {
  for (int i = 0; i < 100000; i++) {
    pthread_mutex_lock(&counter_lock);
    counter++;
    pthread_mutex_unlock(&counter_lock);
  }
  return NULL;
}

static void test_mutex(void) {
  CASE("mutex protects a shared counter");
  counter = 0;
  pthread_t threads[4];
  for (int i = 0; i < 4; i++)
    CHECK_EQ(pthread_create(&threads[i], NULL, increment, NULL), 0);
  for (int i = 0; i < 4; i++) CHECK_EQ(pthread_join(threads[i], NULL), 0);
  CHECK_EQ(counter, 400000);

  CASE("error-checking mutex reports relock and foreign unlock");
  pthread_mutexattr_t attributes;
  pthread_mutexattr_init(&attributes);
  pthread_mutexattr_settype(&attributes, PTHREAD_MUTEX_ERRORCHECK);
  pthread_mutex_t mutex;
  pthread_mutex_init(&mutex, &attributes);
  CHECK_EQ(pthread_mutex_lock(&mutex), 0);
  CHECK_EQ(pthread_mutex_lock(&mutex), EDEADLK);
  CHECK_EQ(pthread_mutex_trylock(&mutex), EBUSY);
  CHECK_EQ(pthread_mutex_unlock(&mutex), 0);
  CHECK_EQ(pthread_mutex_unlock(&mutex), EPERM);
}

static pthread_mutex_t queue_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t queue_changed = PTHREAD_COND_INITIALIZER;
static int queue[100];
static int queue_length;
static int queue_done;

static void* produce(void* argument) {
  for (int i = 0; i < 100; i++) {
    pthread_mutex_lock(&queue_lock);
    queue[queue_length++] = i;
    pthread_cond_signal(&queue_changed);
    pthread_mutex_unlock(&queue_lock);
  }
  pthread_mutex_lock(&queue_lock);
  queue_done = 1;
  pthread_cond_broadcast(&queue_changed);
  pthread_mutex_unlock(&queue_lock);
  return NULL;
}

static void test_condition(void) {
  CASE("condition variable hands over every item");
  queue_length = 0;
  queue_done = 0;
  pthread_t thread;
  CHECK_EQ(pthread_create(&thread, NULL, produce, NULL), 0);
  int consumed = 0;
  long sum = 0;
  pthread_mutex_lock(&queue_lock);
  while (!queue_done || consumed < queue_length) {
    if (consumed < queue_length) {
      sum += queue[consumed++];
      continue;
    }
    pthread_cond_wait(&queue_changed, &queue_lock);
  }
  pthread_mutex_unlock(&queue_lock);
  pthread_join(thread, NULL);
  CHECK_EQ(consumed, 100);
  CHECK_EQ(sum, 4950);

  CASE("timed wait with a past deadline returns ETIMEDOUT");
  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec -= 1;
  pthread_mutex_lock(&queue_lock);
  CHECK_EQ(pthread_cond_timedwait(&queue_changed, &queue_lock, &deadline),
           ETIMEDOUT);
  pthread_mutex_unlock(&queue_lock);
}

static __thread int thread_local_value = 5;
static pthread_barrier_t barrier;

struct identity {
  pid_t pid;
  pid_t tid;
  int local_before;
  int serial;
};

static void* record_identity(void* argument) {
  struct identity* identity = argument;
  identity->pid = getpid();
  identity->tid = gettid();
  identity->local_before = thread_local_value;
  thread_local_value = identity->tid;
  int result = pthread_barrier_wait(&barrier);
  identity->serial = result == PTHREAD_BARRIER_SERIAL_THREAD;
  if (thread_local_value != identity->tid) identity->local_before = -1;
  return NULL;
}

static void test_identity_and_tls(void) {
  CASE("threads share pid and have distinct tids");
  CHECK_EQ(pthread_barrier_init(&barrier, NULL, 4), 0);
  struct identity identities[4] = {0};
  pthread_t threads[4];
  for (int i = 0; i < 4; i++)
    CHECK_EQ(pthread_create(&threads[i], NULL, record_identity, &identities[i]),
             0);
  for (int i = 0; i < 4; i++) pthread_join(threads[i], NULL);
  int serial_count = 0;
  for (int i = 0; i < 4; i++) {
    CHECK_EQ(identities[i].pid, getpid());
    CHECK_NE(identities[i].tid, getpid());
    for (int j = 0; j < i; j++) CHECK_NE(identities[i].tid, identities[j].tid);
    serial_count += identities[i].serial;
  }

  CASE("thread-local storage starts at its initial value in every thread");
  for (int i = 0; i < 4; i++) CHECK_EQ(identities[i].local_before, 5);
  CHECK_EQ(thread_local_value, 5);

  CASE("exactly one barrier waiter is the serial thread");
  CHECK_EQ(serial_count, 1);
  pthread_barrier_destroy(&barrier);
}

static void* sleep_forever(void* argument) {
  for (;;) pause();
  return NULL;
}

static volatile pid_t signal_tid;

static void record_tid(int signo) { signal_tid = gettid(); }

static pid_t target_tid;
static pthread_barrier_t ready;

static void* wait_for_signal(void* argument) {
  target_tid = gettid();
  pthread_barrier_wait(&ready);
  for (int i = 0; i < 5000 && signal_tid == 0; i++) usleep(1000);
  return NULL;
}

static void test_cancel_and_kill(void) {
  CASE("cancelled thread blocked in pause joins with PTHREAD_CANCELED");
  pthread_t thread;
  CHECK_EQ(pthread_create(&thread, NULL, sleep_forever, NULL), 0);
  CHECK_EQ(pthread_cancel(thread), 0);
  void* result = NULL;
  CHECK_EQ(pthread_join(thread, &result), 0);
  CHECK(result == PTHREAD_CANCELED);

  CASE("pthread_kill runs the handler in the target thread");
  signal(SIGUSR1, record_tid);
  signal_tid = 0;
  pthread_barrier_init(&ready, NULL, 2);
  CHECK_EQ(pthread_create(&thread, NULL, wait_for_signal, NULL), 0);
  pthread_barrier_wait(&ready);
  CHECK_EQ(pthread_kill(thread, SIGUSR1), 0);
  pthread_join(thread, NULL);
  CHECK_EQ(signal_tid, target_tid);
  pthread_barrier_destroy(&ready);
  signal(SIGUSR1, SIG_DFL);
}

static void* exit_with_value(void* argument) {
  pthread_exit((void*)7);
  return NULL;
}

static void* spin_on_stack(void* argument) {
  volatile char buffer[200 * 1024];
  buffer[0] = 1;
  buffer[sizeof buffer - 1] = 2;
  return (void*)(intptr_t)(buffer[0] + buffer[sizeof buffer - 1]);
}

static void test_exit_and_stack(void) {
  CASE("pthread_exit value reaches join");
  pthread_t thread;
  CHECK_EQ(pthread_create(&thread, NULL, exit_with_value, NULL), 0);
  void* result = NULL;
  pthread_join(thread, &result);
  CHECK_EQ((intptr_t)result, 7);

  CASE("thread with a requested stack size can use it");
  pthread_attr_t attributes;
  pthread_attr_init(&attributes);
  CHECK_EQ(pthread_attr_setstacksize(&attributes, 1024 * 1024), 0);
  CHECK_EQ(pthread_create(&thread, &attributes, spin_on_stack, NULL), 0);
  pthread_join(thread, &result);
  CHECK_EQ((intptr_t)result, 3);
  pthread_attr_destroy(&attributes);

  CASE("many short-lived threads");
  for (int i = 0; i < 200; i++) {
    CHECK_EQ(pthread_create(&thread, NULL, return_argument_plus_one,
                            (void*)(intptr_t)i),
             0);
    pthread_join(thread, &result);
    if ((intptr_t)result != i + 1) {
      CHECK_EQ((intptr_t)result, i + 1);
      break;
    }
  }
}

int main(void) {
  test_create_join();
  test_mutex();
  test_condition();
  test_identity_and_tls();
  test_cancel_and_kill();
  test_exit_and_stack();
  return check_finish();
}
