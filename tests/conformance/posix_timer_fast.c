/* A POSIX timer with a tiny interval queues one signal at a time and
 * counts the expirations in between as overruns. */
#include "check.h"

#include <signal.h>
#include <time.h>

int main(void) {
  CASE("a 1 ns periodic timer queues one signal and counts overruns");
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGRTMIN);
  CHECK_OK(sigprocmask(SIG_BLOCK, &set, NULL));
  struct sigevent ev = {0};
  ev.sigev_notify = SIGEV_SIGNAL;
  ev.sigev_signo = SIGRTMIN;
  timer_t id;
  CHECK_OK(timer_create(CLOCK_MONOTONIC, &ev, &id));
  struct itimerspec fast = {{0, 1}, {0, 1}};
  CHECK_OK(timer_settime(id, 0, &fast, NULL));
  usleep(200000);
  // The first signal carries the expirations that came while it waited.
  siginfo_t info;
  struct timespec zero = {0, 0};
  CHECK_EQ(sigtimedwait(&set, &info, &zero), SIGRTMIN);
  CHECK_EQ(info.si_code, SI_TIMER);
  CHECK(info.si_overrun > 0);
  CHECK_OK(timer_delete(id));
  return check_finish();
}
