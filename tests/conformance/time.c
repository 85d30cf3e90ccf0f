/* Time of day and process timers: time(), gettimeofday(), times(),
 * setitimer()/getitimer(), alarm(), POSIX timers, adjtimex() in read-only
 * mode, and rejected settimeofday() calls. */
#include "check.h"

#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/times.h>
#include <sys/timex.h>
#include <time.h>

static volatile sig_atomic_t alarm_count;
static volatile sig_atomic_t vtalarm_count;
static siginfo_t timer_info;
static volatile sig_atomic_t timer_count;

static void on_alarm(int signo) { alarm_count++; }

static void on_vtalarm(int signo) { vtalarm_count++; }

static void on_timer(int signo, siginfo_t* info, void* context) {
  timer_info = *info;
  timer_count++;
}

static void burn_cpu_ms(long milliseconds) {
  struct timespec start, now;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &start);
  do {
    for (volatile int i = 0; i < 10000; i++) {
    }
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
  } while ((now.tv_sec - start.tv_sec) * 1000 +
               (now.tv_nsec - start.tv_nsec) / 1000000 <
           milliseconds);
}

int main(void) {
  CASE("time, gettimeofday and CLOCK_REALTIME agree");
  time_t stored = 0;
  time_t returned = time(&stored);
  CHECK_EQ(returned, stored);
  struct timeval now;
  CHECK_EQ(gettimeofday(&now, NULL), 0);
  CHECK(now.tv_usec >= 0);
  CHECK(now.tv_usec < 1000000);
  CHECK(now.tv_sec - returned <= 1);
  CHECK(now.tv_sec >= returned);

  CASE("raw time and gettimeofday agree with the vDSO versions");
  CHECK(syscall(SYS_time, NULL) - returned <= 1);
  struct timeval raw;
  CHECK_EQ(syscall(SYS_gettimeofday, &raw, NULL), 0);
  CHECK(raw.tv_sec - now.tv_sec <= 1);

  CASE("clock ticks are 100 per second");
  CHECK_EQ(sysconf(_SC_CLK_TCK), 100);

  CASE("times reports user time after burning CPU");
  struct tms before, after;
  clock_t start_ticks = times(&before);
  CHECK(start_ticks != (clock_t)-1);
  burn_cpu_ms(50);
  clock_t end_ticks = times(&after);
  CHECK(end_ticks >= start_ticks);
  CHECK(after.tms_utime + after.tms_stime >=
        before.tms_utime + before.tms_stime + 3);

  CASE("times reports reaped children");
  pid_t pid = fork();
  if (pid == 0) {
    burn_cpu_ms(50);
    _exit(0);
  }
  CHECK_CHILD_EXIT(pid, 0);
  times(&after);
  CHECK(after.tms_cutime + after.tms_cstime >= 3);

  CASE("ITIMER_REAL delivers SIGALRM and getitimer shows the remaining time");
  signal(SIGALRM, on_alarm);
  struct itimerval timer = {{0, 0}, {0, 300000}};
  CHECK_EQ(setitimer(ITIMER_REAL, &timer, NULL), 0);
  struct itimerval remaining;
  CHECK_EQ(getitimer(ITIMER_REAL, &remaining), 0);
  CHECK(remaining.it_value.tv_usec > 0);
  CHECK(remaining.it_value.tv_usec <= 300000);
  while (alarm_count == 0) pause();
  CHECK_EQ(alarm_count, 1);

  CASE("ITIMER_VIRTUAL fires after user CPU time");
  signal(SIGVTALRM, on_vtalarm);
  timer = (struct itimerval){{0, 0}, {0, 20000}};
  CHECK_EQ(setitimer(ITIMER_VIRTUAL, &timer, NULL), 0);
  for (int i = 0; i < 100 && vtalarm_count == 0; i++) burn_cpu_ms(10);
  CHECK_EQ(vtalarm_count, 1);

  CASE("alarm returns the seconds left on the previous alarm");
  CHECK_EQ(alarm(100), 0);
  unsigned left = alarm(0);
  CHECK(left >= 99);
  CHECK(left <= 100);

  CASE("setitimer with an invalid timer fails with EINVAL");
  CHECK_ERR(setitimer(12345, &timer, NULL), EINVAL);

  CASE("setitimer with an invalid microsecond value fails with EINVAL");
  timer = (struct itimerval){{0, 0}, {0, 1000000}};
  CHECK_ERR(setitimer(ITIMER_REAL, &timer, NULL), EINVAL);

  CASE("POSIX timer delivers its signal with SI_TIMER and the value");
  struct sigaction action = {0};
  action.sa_sigaction = on_timer;
  action.sa_flags = SA_SIGINFO;
  sigaction(SIGRTMIN, &action, NULL);
  struct sigevent event = {0};
  event.sigev_notify = SIGEV_SIGNAL;
  event.sigev_signo = SIGRTMIN;
  event.sigev_value.sival_int = 4321;
  timer_t timer_id;
  CHECK_EQ(timer_create(CLOCK_MONOTONIC, &event, &timer_id), 0);
  struct itimerspec setting = {{0, 0}, {0, 20 * 1000 * 1000}};
  CHECK_EQ(timer_settime(timer_id, 0, &setting, NULL), 0);
  while (timer_count == 0) pause();
  CHECK_EQ(timer_info.si_code, SI_TIMER);
  CHECK_EQ(timer_info.si_value.sival_int, 4321);
  CHECK_EQ(timer_getoverrun(timer_id), 0);

  CASE("disarmed POSIX timer reports zero time left");
  struct itimerspec current;
  CHECK_EQ(timer_gettime(timer_id, &current), 0);
  CHECK_EQ(current.it_value.tv_sec, 0);
  CHECK_EQ(current.it_value.tv_nsec, 0);
  CHECK_EQ(timer_delete(timer_id), 0);

  CASE("deleted timer id fails with EINVAL");
  CHECK_ERR(timer_gettime(timer_id, &current), EINVAL);

  CASE("timer_create with an unknown clock fails with EINVAL");
  CHECK_ERR(timer_create(12345, &event, &timer_id), EINVAL);

  CASE("adjtimex in read-only mode returns the clock state");
  struct timex status = {0};
  int state = adjtimex(&status);
  CHECK(state >= TIME_OK);
  CHECK(state <= TIME_ERROR);

  CASE("settimeofday with invalid microseconds fails with EINVAL");
  struct timeval invalid = {now.tv_sec, 2000000};
  CHECK_ERR(settimeofday(&invalid, NULL), EINVAL);

  CASE("unprivileged settimeofday fails with EPERM");
  pid = fork();
  if (pid == 0) {
    if (setuid(65534) != 0) _exit(90);
    struct timeval current_time;
    gettimeofday(&current_time, NULL);
    CHECK_ERR(settimeofday(&current_time, NULL), EPERM);
    check_child_done();
  }
  CHECK_CHILD_EXIT(pid, 0);
  return check_finish();
}
