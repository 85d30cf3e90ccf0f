/* nanosleep() and clock_nanosleep(): duration, interruption with remaining
 * time, absolute deadlines and errors. */
#include "check.h"

#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>

static long elapsed_ms(const struct timespec* start) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (now.tv_sec - start->tv_sec) * 1000 +
         (now.tv_nsec - start->tv_nsec) / 1000000;
}

static void on_alarm(int signo) {}

int main(void) {
  struct timespec start;

  CASE("nanosleep sleeps at least the requested time");
  clock_gettime(CLOCK_MONOTONIC, &start);
  struct timespec request = {0, 50 * 1000 * 1000};
  CHECK_EQ(nanosleep(&request, NULL), 0);
  CHECK(elapsed_ms(&start) >= 50);

  CASE("zero duration returns at once");
  request = (struct timespec){0, 0};
  CHECK_EQ(nanosleep(&request, NULL), 0);

  CASE("tv_nsec of one billion fails with EINVAL");
  request = (struct timespec){0, 1000000000};
  CHECK_ERR(nanosleep(&request, NULL), EINVAL);

  CASE("negative tv_nsec fails with EINVAL");
  request = (struct timespec){0, -1};
  CHECK_ERR(nanosleep(&request, NULL), EINVAL);

  CASE("negative tv_sec fails with EINVAL");
  request = (struct timespec){-1, 0};
  CHECK_ERR(nanosleep(&request, NULL), EINVAL);

  CASE("bad request pointer fails with EFAULT");
  CHECK_ERR(syscall(SYS_nanosleep, (void*)8, NULL), EFAULT);

  CASE("signal interrupts the sleep with EINTR and the remaining time");
  struct sigaction action = {0};
  action.sa_handler = on_alarm;
  action.sa_flags = SA_RESTART;
  sigaction(SIGALRM, &action, NULL);
  struct itimerval timer = {{0, 0}, {0, 50000}};
  setitimer(ITIMER_REAL, &timer, NULL);
  request = (struct timespec){2, 0};
  struct timespec remaining = {-1, -1};
  clock_gettime(CLOCK_MONOTONIC, &start);
  CHECK_ERR(nanosleep(&request, &remaining), EINTR);
  long slept = elapsed_ms(&start);
  CHECK(slept >= 40);
  CHECK(slept < 1900);
  CHECK(remaining.tv_sec >= 0);
  CHECK(remaining.tv_sec <= 1);
  CHECK(remaining.tv_nsec >= 0);
  CHECK(remaining.tv_nsec < 1000000000);
  CHECK(remaining.tv_sec * 1000 + remaining.tv_nsec / 1000000 > 1000);

  CASE("clock_nanosleep with a relative time sleeps");
  clock_gettime(CLOCK_MONOTONIC, &start);
  request = (struct timespec){0, 20 * 1000 * 1000};
  CHECK_EQ(clock_nanosleep(CLOCK_REALTIME, 0, &request, NULL), 0);
  CHECK(elapsed_ms(&start) >= 20);

  CASE("clock_nanosleep with an absolute deadline wakes at the deadline");
  struct timespec deadline;
  clock_gettime(CLOCK_MONOTONIC, &deadline);
  start = deadline;
  deadline.tv_nsec += 30 * 1000 * 1000;
  if (deadline.tv_nsec >= 1000000000) {
    deadline.tv_sec++;
    deadline.tv_nsec -= 1000000000;
  }
  CHECK_EQ(clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &deadline, NULL), 0);
  CHECK(elapsed_ms(&start) >= 30);

  CASE("absolute deadline in the past returns at once");
  /* A sandbox may start CLOCK_MONOTONIC near zero, and a negative deadline
   * is invalid, so the past deadline is clamped at zero. */
  deadline.tv_sec = deadline.tv_sec > 10 ? deadline.tv_sec - 10 : 0;
  deadline.tv_nsec = 0;
  clock_gettime(CLOCK_MONOTONIC, &start);
  CHECK_EQ(clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &deadline, NULL), 0);
  CHECK(elapsed_ms(&start) < 1000);

  CASE("clock_nanosleep returns error numbers instead of setting errno");
  request = (struct timespec){0, 1000};
  CHECK_EQ(clock_nanosleep(12345, 0, &request, NULL), EINVAL);
  CHECK_EQ(clock_nanosleep(CLOCK_THREAD_CPUTIME_ID, 0, &request, NULL), EINVAL);
  request = (struct timespec){0, 1000000000};
  CHECK_EQ(clock_nanosleep(CLOCK_MONOTONIC, 0, &request, NULL), EINVAL);

  CASE("clock_nanosleep interrupted returns EINTR and the remaining time");
  setitimer(ITIMER_REAL, &timer, NULL);
  request = (struct timespec){2, 0};
  remaining = (struct timespec){-1, -1};
  CHECK_EQ(clock_nanosleep(CLOCK_MONOTONIC, 0, &request, &remaining), EINTR);
  CHECK(remaining.tv_sec * 1000 + remaining.tv_nsec / 1000000 > 1000);
  return check_finish();
}
