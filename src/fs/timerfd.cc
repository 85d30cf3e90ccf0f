#include "fs/timerfd.h"

#include <cstring>

#include "fs/anon_inode.h"
#include "kernel/kernel.h"

namespace moat {
namespace {

std::chrono::nanoseconds ToNanos(const struct timespec& ts) {
  return std::chrono::seconds(ts.tv_sec) +
         std::chrono::nanoseconds(ts.tv_nsec);
}

struct timespec FromDuration(Clock::duration d) {
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
  if (ns < 0) ns = 0;
  return {time_t(ns / 1000000000), long(ns % 1000000000)};
}

}  // namespace

struct timespec TimerClockNow(Kernel& kernel, clockid_t clock) {
  if (clock == CLOCK_REALTIME || clock == CLOCK_REALTIME_ALARM) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts;
  }
  // The sandbox's monotonic clocks start at its boot (syscalls/time.cc).
  return FromDuration(Clock::now() - kernel.boot_time());
}

TimerFd::TimerFd(Kernel& kernel, clockid_t clock)
    : kernel_(kernel), clock_(clock) {
  inode = NewAnonInode(S_IRUSR | S_IWUSR);
}

TimerFd::~TimerFd() {
  if (timer_id_) kernel_.CancelTimer(timer_id_);
}

Result<size_t> TimerFd::Read(Task&, void* buf, size_t len) {
  if (len < sizeof(uint64_t)) return Err(EINVAL);
  if (expirations_ == 0) return Err(EAGAIN);
  memcpy(buf, &expirations_, sizeof(expirations_));
  expirations_ = 0;
  return sizeof(uint64_t);
}

uint32_t TimerFd::Readiness(uint32_t mask) {
  return expirations_ ? (mask & kEventIn) : 0;
}

Status TimerFd::Set(const struct itimerspec& value, bool absolute) {
  if (timer_id_) kernel_.CancelTimer(timer_id_);
  timer_id_ = 0;
  generation_++;
  expirations_ = 0;
  interval_ = std::chrono::duration_cast<Clock::duration>(
      ToNanos(value.it_interval));
  armed_ = value.it_value.tv_sec != 0 || value.it_value.tv_nsec != 0;
  if (!armed_) return Ok();
  auto when = ToNanos(value.it_value);
  if (absolute) when -= ToNanos(TimerClockNow(kernel_, clock_));
  deadline_ = Clock::now() + std::chrono::duration_cast<Clock::duration>(when);
  Arm();
  return Ok();
}

struct itimerspec TimerFd::Get() const {
  struct itimerspec v = {};
  v.it_interval = FromDuration(interval_);
  if (armed_) {
    v.it_value = FromDuration(deadline_ - Clock::now());
    // An armed timer never shows zero, which would mean disarmed.
    if (v.it_value.tv_sec == 0 && v.it_value.tv_nsec == 0)
      v.it_value.tv_nsec = 1;
  }
  return v;
}

void TimerFd::Arm() {
  std::weak_ptr<FileDescription> weak = weak_from_this();
  uint64_t gen = generation_;
  timer_id_ = kernel_.AddTimer(deadline_, [weak, gen] {
    auto self = std::static_pointer_cast<TimerFd>(weak.lock());
    if (self) self->Fire(gen);
  });
}

// Runs on the timer thread with the kernel lock held.
void TimerFd::Fire(uint64_t generation) {
  if (generation != generation_ || !armed_) return;
  timer_id_ = 0;
  uint64_t count = 1;
  if (interval_.count() > 0) {
    // Expirations missed while the timer thread was late count too.
    auto late = Clock::now() - deadline_;
    if (late > interval_) count += late / interval_;
    deadline_ += interval_ * count;
    Arm();
  } else {
    armed_ = false;
  }
  expirations_ += count;
  queue_.Notify(kEventIn);
}

}  // namespace moat
