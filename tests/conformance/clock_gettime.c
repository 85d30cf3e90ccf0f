/* clock_gettime() and clock_getres() through the vDSO and the raw system
 * call: every clock, monotonicity, resolution, CPU clocks and errors. */
#include "check.h"

#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>

static long long to_ns(struct timespec value) {
  return (long long)value.tv_sec * 1000000000LL + value.tv_nsec;
}

static void burn_cpu(long long nanoseconds) {
  struct timespec start, now;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &start);
  do {
    for (volatile int i = 0; i < 10000; i++) {
    }
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  } while (to_ns(now) - to_ns(start) < nanoseconds);
}

int main(void) {
  clockid_t clocks[] = {
      CLOCK_REALTIME,          CLOCK_MONOTONIC,     CLOCK_PROCESS_CPUTIME_ID,
      CLOCK_THREAD_CPUTIME_ID, CLOCK_MONOTONIC_RAW, CLOCK_REALTIME_COARSE,
      CLOCK_MONOTONIC_COARSE,  CLOCK_BOOTTIME,      CLOCK_TAI};

  CASE("every clock reads through libc and the raw system call");
  for (size_t i = 0; i < sizeof clocks / sizeof clocks[0]; i++) {
    struct timespec value = {-1, -1};
    CHECK_EQ(clock_gettime(clocks[i], &value), 0);
    CHECK(value.tv_sec >= 0);
    CHECK(value.tv_nsec >= 0);
    CHECK(value.tv_nsec < 1000000000);
    value = (struct timespec){-1, -1};
    CHECK_EQ(syscall(SYS_clock_gettime, clocks[i], &value), 0);
    CHECK(value.tv_nsec >= 0);
    CHECK(value.tv_nsec < 1000000000);
  }

  CASE("CLOCK_MONOTONIC never goes backwards");
  struct timespec previous, current;
  clock_gettime(CLOCK_MONOTONIC, &previous);
  int backwards = 0;
  for (int i = 0; i < 10000; i++) {
    clock_gettime(CLOCK_MONOTONIC, &current);
    if (to_ns(current) < to_ns(previous)) backwards++;
    previous = current;
  }
  CHECK_EQ(backwards, 0);

  CASE("libc and raw CLOCK_MONOTONIC agree and stay ordered");
  struct timespec library_time, raw_time;
  clock_gettime(CLOCK_MONOTONIC, &library_time);
  syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &raw_time);
  CHECK(to_ns(raw_time) >= to_ns(library_time));
  CHECK(to_ns(raw_time) - to_ns(library_time) < 1000000000LL);

  CASE("CLOCK_REALTIME agrees with gettimeofday and time");
  struct timespec realtime;
  clock_gettime(CLOCK_REALTIME, &realtime);
  struct timeval timeval_now;
  gettimeofday(&timeval_now, NULL);
  time_t seconds = time(NULL);
  CHECK(timeval_now.tv_sec - realtime.tv_sec <= 1);
  CHECK(timeval_now.tv_sec >= realtime.tv_sec);
  CHECK(seconds - realtime.tv_sec <= 1);
  CHECK(realtime.tv_sec > 1600000000);

  CASE("CLOCK_BOOTTIME is at least CLOCK_MONOTONIC");
  struct timespec monotonic, boottime;
  clock_gettime(CLOCK_MONOTONIC, &monotonic);
  clock_gettime(CLOCK_BOOTTIME, &boottime);
  CHECK(to_ns(boottime) >= to_ns(monotonic));

  CASE("high-resolution clocks report 1 ns resolution");
  struct timespec resolution;
  CHECK_EQ(clock_getres(CLOCK_MONOTONIC, &resolution), 0);
  CHECK_EQ(resolution.tv_sec, 0);
  CHECK_EQ(resolution.tv_nsec, 1);
  CHECK_EQ(clock_getres(CLOCK_REALTIME, &resolution), 0);
  CHECK_EQ(resolution.tv_nsec, 1);

  CASE("coarse clocks report a resolution of at most one second");
  CHECK_EQ(clock_getres(CLOCK_MONOTONIC_COARSE, &resolution), 0);
  CHECK(resolution.tv_nsec > 1);
  CHECK_EQ(resolution.tv_sec, 0);

  CASE("clock_getres with NULL succeeds");
  CHECK_EQ(clock_getres(CLOCK_MONOTONIC, NULL), 0);

  CASE("CPU clocks advance while burning CPU");
  struct timespec thread_before, thread_after, process_after;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &thread_before);
  burn_cpu(20 * 1000 * 1000);
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &thread_after);
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &process_after);
  CHECK(to_ns(thread_after) - to_ns(thread_before) >= 20 * 1000 * 1000);
  CHECK(to_ns(process_after) >= to_ns(thread_after));

  CASE("a child's CPU clock is readable through clock_getcpuclockid");
  int fds[2];
  CHECK_OK(pipe(fds));
  pid_t pid = fork();
  if (pid == 0) {
    burn_cpu(10 * 1000 * 1000);
    char byte;
    read(fds[0], &byte, 1);
    _exit(0);
  }
  clockid_t child_clock;
  CHECK_EQ(clock_getcpuclockid(pid, &child_clock), 0);
  struct timespec child_time = {0, 0};
  for (int i = 0; i < 500 && to_ns(child_time) < 10 * 1000 * 1000; i++) {
    CHECK_EQ(clock_gettime(child_clock, &child_time), 0);
    usleep(2000);
  }
  CHECK(to_ns(child_time) >= 10 * 1000 * 1000);
  write(fds[1], "x", 1);
  CHECK_CHILD_EXIT(pid, 0);
  close(fds[0]);
  close(fds[1]);

  CASE("unknown clock fails with EINVAL");
  struct timespec value;
  CHECK_ERR(clock_gettime(12345, &value), EINVAL);
  CHECK_ERR(syscall(SYS_clock_gettime, 12345, &value), EINVAL);
  CHECK_ERR(clock_getres(12345, &value), EINVAL);

  CASE("bad pointer in the raw system call fails with EFAULT");
  CHECK_ERR(syscall(SYS_clock_gettime, CLOCK_MONOTONIC, (void*)8), EFAULT);

  CASE("setting CLOCK_MONOTONIC fails with EINVAL");
  clock_gettime(CLOCK_MONOTONIC, &value);
  CHECK_ERR(clock_settime(CLOCK_MONOTONIC, &value), EINVAL);
  return check_finish();
}
