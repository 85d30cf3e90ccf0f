/* futex(): wait, wake, timeouts, requeue, bitsets, shared futexes and errors.
 */
#include "check.h"

#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>

static long futex(void* address, int op, uint32_t value,
                  const struct timespec* timeout, void* address2,
                  uint32_t value3) {
  return syscall(SYS_futex, address, op, value, timeout, address2, value3);
}

static long elapsed_ms(const struct timespec* start) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (now.tv_sec - start->tv_sec) * 1000 +
         (now.tv_nsec - start->tv_nsec) / 1000000;
}

static _Atomic uint32_t word_a;
static _Atomic uint32_t word_b;

static void* wait_while_zero(void* argument) {
  while (atomic_load(&word_a) == 0)
    futex(&word_a, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
  return NULL;
}

static void test_wait_errors(void) {
  uint32_t word = 5;

  CASE("FUTEX_WAIT with a different value fails with EAGAIN");
  CHECK_ERR(futex(&word, FUTEX_WAIT, 4, NULL, NULL, 0), EAGAIN);

  CASE("FUTEX_WAIT times out with ETIMEDOUT after the timeout");
  struct timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  struct timespec timeout = {0, 50 * 1000 * 1000};
  CHECK_ERR(futex(&word, FUTEX_WAIT_PRIVATE, 5, &timeout, NULL, 0), ETIMEDOUT);
  CHECK(elapsed_ms(&start) >= 50);

  CASE("FUTEX_WAKE with no waiters returns 0");
  CHECK_EQ(futex(&word, FUTEX_WAKE, 1, NULL, NULL, 0), 0);

  CASE("NULL address fails with EFAULT");
  CHECK_ERR(futex(NULL, FUTEX_WAIT, 0, NULL, NULL, 0), EFAULT);

  CASE("unaligned address fails with EINVAL");
  char buffer[8] __attribute__((aligned(4))) = {0};
  CHECK_ERR(futex(buffer + 1, FUTEX_WAIT, 0, NULL, NULL, 0), EINVAL);

  CASE("unknown operation fails with ENOSYS");
  CHECK_ERR(futex(&word, 99, 0, NULL, NULL, 0), ENOSYS);

  CASE("invalid timeout fails with EINVAL");
  struct timespec invalid = {0, 2000000000};
  CHECK_ERR(futex(&word, FUTEX_WAIT, 5, &invalid, NULL, 0), EINVAL);

  CASE("FUTEX_WAIT_BITSET with zero bitset fails with EINVAL");
  CHECK_ERR(futex(&word, FUTEX_WAIT_BITSET, 5, NULL, NULL, 0), EINVAL);

  CASE("FUTEX_WAIT_BITSET with a past absolute deadline times out at once");
  struct timespec past;
  clock_gettime(CLOCK_REALTIME, &past);
  past.tv_sec -= 1;
  CHECK_ERR(futex(&word, FUTEX_WAIT_BITSET | FUTEX_CLOCK_REALTIME, 5, &past,
                  NULL, FUTEX_BITSET_MATCH_ANY),
            ETIMEDOUT);
}

static void test_wake_thread(void) {
  CASE("FUTEX_WAKE wakes a waiting thread and returns 1");
  atomic_store(&word_a, 0);
  pthread_t thread;
  CHECK_EQ(pthread_create(&thread, NULL, wait_while_zero, NULL), 0);
  long woken = 0;
  /* The thread goes back to sleep after a wake while the word is still 0, so
   * this loop only observes that a sleeper was there to be woken. */
  for (int i = 0; i < 5000 && woken == 0; i++) {
    woken = futex(&word_a, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    if (woken == 0) usleep(1000);
  }
  CHECK_EQ(woken, 1);
  atomic_store(&word_a, 1);
  futex(&word_a, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
  CHECK_EQ(pthread_join(thread, NULL), 0);
}

static void test_requeue(void) {
  CASE("FUTEX_CMP_REQUEUE moves all waiters and FUTEX_WAKE wakes exactly n");
  atomic_store(&word_a, 0);
  atomic_store(&word_b, 0);
  pthread_t threads[3];
  for (int i = 0; i < 3; i++)
    CHECK_EQ(pthread_create(&threads[i], NULL, wait_while_zero, NULL), 0);
  long moved = 0;
  for (int i = 0; i < 5000 && moved < 3; i++) {
    long result = futex(&word_a, FUTEX_CMP_REQUEUE_PRIVATE, 0,
                        (void*)(long)INT_MAX, &word_b, 0);
    CHECK(result >= 0);
    if (result > 0) moved += result;
    if (moved < 3) usleep(1000);
  }
  CHECK_EQ(moved, 3);
  atomic_store(&word_a, 1);
  CHECK_EQ(futex(&word_b, FUTEX_WAKE_PRIVATE, 2, NULL, NULL, 0), 2);
  CHECK_EQ(futex(&word_b, FUTEX_WAKE_PRIVATE, 2, NULL, NULL, 0), 1);
  CHECK_EQ(futex(&word_b, FUTEX_WAKE_PRIVATE, 2, NULL, NULL, 0), 0);
  for (int i = 0; i < 3; i++) pthread_join(threads[i], NULL);

  CASE("FUTEX_CMP_REQUEUE with a different value fails with EAGAIN");
  CHECK_ERR(futex(&word_a, FUTEX_CMP_REQUEUE_PRIVATE, 1, (void*)1L, &word_b, 0),
            EAGAIN);
}

static _Atomic uint32_t bitset_word;
static _Atomic int bitset_done;

static void* wait_bitset(void* argument) {
  futex(&bitset_word, FUTEX_WAIT_BITSET_PRIVATE, 0, NULL, NULL, 0x1);
  atomic_store(&bitset_done, 1);
  return NULL;
}

static void test_bitset(void) {
  CASE("FUTEX_WAKE_BITSET with a disjoint bitset wakes nobody");
  atomic_store(&bitset_word, 0);
  atomic_store(&bitset_done, 0);
  pthread_t thread;
  CHECK_EQ(pthread_create(&thread, NULL, wait_bitset, NULL), 0);
  long woken = 0;
  for (int i = 0; i < 5000 && woken == 0; i++) {
    CHECK_EQ(futex(&bitset_word, FUTEX_WAKE_BITSET_PRIVATE, 1, NULL, NULL, 0x2),
             0);
    woken = futex(&bitset_word, FUTEX_WAKE_BITSET_PRIVATE, 1, NULL, NULL, 0x1);
    if (woken == 0) usleep(1000);
  }
  CASE("FUTEX_WAKE_BITSET with a matching bitset wakes the waiter");
  CHECK_EQ(woken, 1);
  pthread_join(thread, NULL);
  CHECK_EQ(atomic_load(&bitset_done), 1);
}

static void test_shared(void) {
  CASE("shared futex wakes a waiter in another process");
  _Atomic uint32_t* word = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                                MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  CHECK(word != MAP_FAILED);
  atomic_store(word, 0);
  pid_t pid = fork();
  if (pid == 0) {
    while (atomic_load(word) == 0) futex(word, FUTEX_WAIT, 0, NULL, NULL, 0);
    _exit(atomic_load(word) == 7 ? 0 : 1);
  }
  long woken = 0;
  for (int i = 0; i < 5000 && woken == 0; i++) {
    woken = futex(word, FUTEX_WAKE, 1, NULL, NULL, 0);
    if (woken == 0) usleep(1000);
  }
  CHECK_EQ(woken, 1);
  atomic_store(word, 7);
  futex(word, FUTEX_WAKE, 1, NULL, NULL, 0);
  CHECK_CHILD_EXIT(pid, 0);
  munmap((void*)word, 4096);
}

int main(void) {
  test_wait_errors();
  test_wake_thread();
  test_requeue();
  test_bitset();
  test_shared();
  return check_finish();
}
