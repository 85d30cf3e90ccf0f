/* timerfd: one-shot and periodic expirations, absolute times, disarming,
 * readiness and errors. */
#include "check.h"

#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <sys/timerfd.h>
#include <time.h>

static long elapsed_ms(const struct timespec* start) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (now.tv_sec - start->tv_sec) * 1000 +
         (now.tv_nsec - start->tv_nsec) / 1000000;
}

int main(void) {
  CASE("one-shot timer blocks the read until it expires once");
  int fd = timerfd_create(CLOCK_MONOTONIC, 0);
  CHECK(fd >= 0);
  struct itimerspec setting = {{0, 0}, {0, 50 * 1000 * 1000}};
  struct timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  CHECK_EQ(timerfd_settime(fd, 0, &setting, NULL), 0);
  uint64_t expirations = 0;
  CHECK_EQ(read(fd, &expirations, sizeof expirations), 8);
  CHECK_EQ(expirations, 1);
  CHECK(elapsed_ms(&start) >= 50);

  CASE("expired one-shot timer reads as disarmed");
  struct itimerspec current;
  CHECK_EQ(timerfd_gettime(fd, &current), 0);
  CHECK_EQ(current.it_value.tv_sec, 0);
  CHECK_EQ(current.it_value.tv_nsec, 0);
  close(fd);

  CASE("timerfd_gettime reports the remaining time and interval");
  fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
  setting = (struct itimerspec){{1, 0}, {10, 0}};
  CHECK_EQ(timerfd_settime(fd, 0, &setting, NULL), 0);
  CHECK_EQ(timerfd_gettime(fd, &current), 0);
  CHECK(current.it_value.tv_sec <= 10);
  CHECK(current.it_value.tv_sec >= 9);
  CHECK_EQ(current.it_interval.tv_sec, 1);

  CASE("non-blocking read of an unexpired timer fails with EAGAIN");
  CHECK_ERR(read(fd, &expirations, sizeof expirations), EAGAIN);

  CASE("settime returns the previous setting in old_value");
  struct itimerspec old;
  setting = (struct itimerspec){{0, 0}, {0, 0}};
  CHECK_EQ(timerfd_settime(fd, 0, &setting, &old), 0);
  CHECK(old.it_value.tv_sec >= 9);
  CHECK_EQ(old.it_interval.tv_sec, 1);

  CASE("zero it_value disarms the timer");
  CHECK_EQ(timerfd_gettime(fd, &current), 0);
  CHECK_EQ(current.it_value.tv_sec, 0);
  CHECK_EQ(current.it_value.tv_nsec, 0);

  CASE("periodic timer counts every expiration since the last read");
  setting = (struct itimerspec){{0, 10 * 1000 * 1000}, {0, 10 * 1000 * 1000}};
  CHECK_EQ(timerfd_settime(fd, 0, &setting, NULL), 0);
  usleep(65000);
  expirations = 0;
  CHECK_EQ(read(fd, &expirations, sizeof expirations), 8);
  CHECK(expirations >= 5);
  CHECK(expirations <= 100);

  CASE("poll reports POLLIN once the timer expired");
  struct pollfd entry = {fd, POLLIN, 0};
  CHECK_EQ(poll(&entry, 1, 1000), 1);
  CHECK_EQ(entry.revents, POLLIN);
  close(fd);

  CASE("absolute time in the past expires at once");
  fd = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC);
  CHECK_EQ(fcntl(fd, F_GETFD), FD_CLOEXEC);
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  setting = (struct itimerspec){{0, 0}, {now.tv_sec - 10, 0}};
  CHECK_EQ(timerfd_settime(fd, TFD_TIMER_ABSTIME, &setting, NULL), 0);
  entry = (struct pollfd){fd, POLLIN, 0};
  CHECK_EQ(poll(&entry, 1, 1000), 1);
  CHECK_EQ(read(fd, &expirations, sizeof expirations), 8);
  CHECK_EQ(expirations, 1);

  CASE("read with a buffer shorter than 8 bytes fails with EINVAL");
  uint32_t small;
  CHECK_ERR(read(fd, &small, sizeof small), EINVAL);

  CASE("invalid tv_nsec fails with EINVAL");
  setting = (struct itimerspec){{0, 0}, {0, 1000000000}};
  CHECK_ERR(timerfd_settime(fd, 0, &setting, NULL), EINVAL);

  CASE("unknown settime flags fail with EINVAL");
  setting = (struct itimerspec){{0, 0}, {1, 0}};
  CHECK_ERR(timerfd_settime(fd, 0x10, &setting, NULL), EINVAL);
  close(fd);

  CASE("unknown clock fails with EINVAL");
  CHECK_ERR(timerfd_create(12345, 0), EINVAL);

  CASE("unknown create flags fail with EINVAL");
  CHECK_ERR(timerfd_create(CLOCK_MONOTONIC, 0x10), EINVAL);

  CASE("timerfd_settime on a non-timerfd descriptor fails with EINVAL");
  int fds[2];
  CHECK_OK(pipe(fds));
  CHECK_ERR(timerfd_settime(fds[0], 0, &setting, NULL), EINVAL);
  close(fds[0]);
  close(fds[1]);
  return check_finish();
}
