// POSIX per-process timers: timer_create(2) and friends, on the kernel's
// timer thread.
#include <signal.h>
#include <time.h>

#include "kernel/signal_delivery.h"
#include "syscalls/handlers.h"
#include "syscalls/util.h"

namespace moat {

struct PosixTimer {
  int id = 0;
  clockid_t clock = CLOCK_MONOTONIC;
  int notify = SIGEV_SIGNAL;  // SIGEV_NONE, SIGEV_SIGNAL or SIGEV_THREAD_ID
  int signo = SIGALRM;
  sigval_t value{};
  int target_tid = 0;
  std::optional<Clock::time_point> deadline;
  std::chrono::nanoseconds interval{0};
  int overrun = 0;          // expirations merged into the pending signal
  uint64_t generation = 0;  // bumped on every change, so old firings stop
};

namespace {

constexpr int kMaxTimers = 1024;

void Arm(Kernel& k, std::weak_ptr<ThreadGroup> weak, int id);

void Fire(Kernel& k, std::weak_ptr<ThreadGroup> weak, int id,
          uint64_t generation) {
  auto tg = weak.lock();
  if (!tg || tg->zombie) return;
  auto it = tg->posix_timers.find(id);
  if (it == tg->posix_timers.end()) return;
  PosixTimer& timer = *it->second;
  if (timer.generation != generation || !timer.deadline) return;
  if (timer.notify != SIGEV_NONE) {
    siginfo_t info = MakeSigInfo(timer.signo, SI_TIMER);
    info.si_timerid = timer.id;
    info.si_overrun = timer.overrun;
    info.si_value = timer.value;
    timer.overrun = 0;
    if (timer.notify == SIGEV_THREAD_ID) {
      auto task = k.TaskByTid(timer.target_tid);
      if (task) (void)SendTaskSignal(*task, info, false);
    } else {
      (void)SendGroupSignal(*tg, info, false);
    }
  }
  if (timer.interval.count() > 0) {
    *timer.deadline += timer.interval;
    auto now = Clock::now();
    while (*timer.deadline <= now) {  // missed periods count as overruns
      *timer.deadline += timer.interval;
      timer.overrun++;
    }
    Arm(k, weak, id);
  } else {
    timer.deadline.reset();
  }
}

void Arm(Kernel& k, std::weak_ptr<ThreadGroup> weak, int id) {
  auto tg = weak.lock();
  PosixTimer& timer = *tg->posix_timers.at(id);
  uint64_t generation = timer.generation;
  k.AddTimer(*timer.deadline, [&k, weak, id, generation] {
    Fire(k, weak, id, generation);
  });
}

PosixTimer* FindTimer(Task& t, int id) {
  auto it = t.tg().posix_timers.find(id);
  return it == t.tg().posix_timers.end() ? nullptr : it->second.get();
}

struct itimerspec Current(const PosixTimer& timer) {
  struct itimerspec v = {};
  v.it_interval = NanosToTimespec(timer.interval);
  if (timer.deadline) {
    auto left = *timer.deadline - Clock::now();
    if (left.count() <= 0) left = std::chrono::nanoseconds(1);
    v.it_value = NanosToTimespec(
        std::chrono::duration_cast<std::chrono::nanoseconds>(left));
  }
  return v;
}

}  // namespace

// Implements timer_create(2). CPU-time clocks are not supported.
int64_t TimerCreate(Task& t, const SyscallArgs& args) {
  clockid_t clock = clockid_t(args[0]);
  if (clock != CLOCK_REALTIME && clock != CLOCK_MONOTONIC &&
      clock != CLOCK_BOOTTIME && clock != CLOCK_REALTIME_ALARM &&
      clock != CLOCK_BOOTTIME_ALARM && clock != CLOCK_TAI)
    return -EINVAL;
  ThreadGroup& tg = t.tg();
  if (tg.posix_timers.size() >= kMaxTimers) return -EAGAIN;

  auto timer = std::make_shared<PosixTimer>();
  timer->id = tg.next_timer_id;
  timer->clock = clock;
  timer->value.sival_int = timer->id;
  if (args[1]) {
    auto ev = t.mm().Read<struct sigevent>(args[1]);
    if (!ev.ok()) return -EFAULT;
    timer->notify = ev->sigev_notify;
    timer->signo = ev->sigev_signo;
    timer->value = ev->sigev_value;
    if (timer->notify == SIGEV_THREAD_ID) {
      timer->target_tid = ev->_sigev_un._tid;
      auto target = t.kernel().TaskByTid(timer->target_tid);
      if (!target || &target->tg() != &tg) return -EINVAL;
    } else if (timer->notify != SIGEV_SIGNAL && timer->notify != SIGEV_NONE) {
      return -EINVAL;
    }
    if (timer->notify != SIGEV_NONE &&
        (timer->signo < 1 || timer->signo > kMaxSignal))
      return -EINVAL;
  }

  if (!t.mm().Write<int>(args[2], timer->id).ok()) return -EFAULT;
  tg.posix_timers[timer->id] = timer;
  tg.next_timer_id++;
  return 0;
}

// Implements timer_settime(2).
int64_t TimerSettime(Task& t, const SyscallArgs& args) {
  PosixTimer* timer = FindTimer(t, args.Int(0));
  if (timer == nullptr) return -EINVAL;
  int flags = args.Int(1);
  if (flags & ~TIMER_ABSTIME) return -EINVAL;
  auto value = t.mm().Read<struct itimerspec>(args[2]);
  if (!value.ok()) return -EFAULT;
  for (auto& ts : {value->it_value, value->it_interval})
    if (ts.tv_sec < 0 || ts.tv_nsec < 0 || ts.tv_nsec >= 1000000000)
      return -EINVAL;
  if (args[3] && !t.mm().Write(args[3], Current(*timer)).ok()) return -EFAULT;

  timer->generation++;
  timer->overrun = 0;
  timer->interval = TimespecToNanos(value->it_interval);
  auto when = TimespecToNanos(value->it_value);
  if (when.count() == 0) {
    timer->deadline.reset();
    return 0;
  }
  if (flags & TIMER_ABSTIME) {
    struct timespec now;
    clock_gettime(timer->clock == CLOCK_REALTIME_ALARM ? CLOCK_REALTIME
                  : timer->clock == CLOCK_BOOTTIME_ALARM ? CLOCK_BOOTTIME
                                                          : timer->clock,
                  &now);
    when -= TimespecToNanos(now);
    if (when.count() < 0) when = std::chrono::nanoseconds(0);
  }

  timer->deadline = Clock::now() + when;
  Arm(t.kernel(), t.tg_ptr(), timer->id);
  return 0;
}

// Implements timer_gettime(2).
int64_t TimerGettime(Task& t, const SyscallArgs& args) {
  PosixTimer* timer = FindTimer(t, args.Int(0));
  if (timer == nullptr) return -EINVAL;
  return ToReturn(t.mm().Write(args[1], Current(*timer)));
}

// Implements timer_getoverrun(2).
int64_t TimerGetoverrun(Task& t, const SyscallArgs& args) {
  PosixTimer* timer = FindTimer(t, args.Int(0));
  if (timer == nullptr) return -EINVAL;
  return timer->overrun;
}

// Implements timer_delete(2).
int64_t TimerDelete(Task& t, const SyscallArgs& args) {
  auto& timers = t.tg().posix_timers;
  auto it = timers.find(args.Int(0));
  if (it == timers.end()) return -EINVAL;
  it->second->generation++;
  timers.erase(it);
  return 0;
}

}  // namespace moat
