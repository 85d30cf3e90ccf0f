// timerfd_create(2): a timer whose expirations are read as a count.
#pragma once

#include <time.h>

#include <chrono>

#include "kernel/task.h"
#include "vfs/inode.h"

namespace moat {

class Kernel;

class TimerFd : public FileDescription {
 public:
  TimerFd(Kernel& kernel, clockid_t clock);
  ~TimerFd() override;
  Result<size_t> Read(Task& t, void* buf, size_t len) override;
  Result<size_t> PRead(Task&, void*, size_t, uint64_t) override {
    return Err(ESPIPE);
  }
  Result<uint64_t> Seek(int64_t, int) override { return Err(ESPIPE); }
  uint32_t Readiness(uint32_t mask) override;
  WaitQueue* Queue() override { return &queue_; }
  std::string Name() override { return "anon_inode:[timerfd]"; }

  // timerfd_settime(2) and timerfd_gettime(2). Values are in the timer's
  // clock; `absolute` is TFD_TIMER_ABSTIME.
  Status Set(const struct itimerspec& value, bool absolute);
  struct itimerspec Get() const;

 private:
  void Arm();
  void Fire(uint64_t generation);

  Kernel& kernel_;
  clockid_t clock_;
  bool armed_ = false;
  Clock::time_point deadline_;
  Clock::duration interval_{0};
  uint64_t expirations_ = 0;
  uint64_t timer_id_ = 0;
  uint64_t generation_ = 0;
  WaitQueue queue_;
};

// The current value of a timerfd clock, as clock_gettime shows it.
struct timespec TimerClockNow(Kernel& kernel, clockid_t clock);

}  // namespace moat
