// POSIX per-process timers: timer_create(2) and friends, on the kernel's
// timer thread.
#include <signal.h>
#include <time.h>

#include <algorithm>
#include <climits>

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
// How long a periodic timer whose signal is still queued waits before it
// fires (and counts overruns) again.
constexpr auto kQueuedRecheck = std::chrono::milliseconds(10);

void Arm(Kernel& k, std::weak_ptr<ThreadGroup> weak, int id);

// Adds to an overrun count, which stops at DELAYTIMER_MAX (INT_MAX) as in
// Linux.
int AddOverrun(int count, int64_t more) {
  return int(std::min<int64_t>(int64_t(count) + more, INT_MAX));
}

// The queued signal of timer `id`: in `task`'s queue for SIGEV_THREAD_ID,
// else in the group's queue or, when the signal was blocked, a thread's.
siginfo_t* FindQueued(ThreadGroup& tg, Task* task, int id) {
  if (task) return task->pending.FindTimer(id);
  if (siginfo_t* info = tg.shared_pending.FindTimer(id)) return info;
  for (auto& t : tg.tasks)
    if (siginfo_t* info = t->pending.FindTimer(id)) return info;
  return nullptr;
}

void Fire(Kernel& k, std::weak_ptr<ThreadGroup> weak, int id,
          uint64_t generation) {
  auto tg = weak.lock();
  if (!tg || tg->zombie) return;
  auto it = tg->posix_timers.find(id);
  if (it == tg->posix_timers.end()) return;
  PosixTimer& timer = *it->second;
  if (timer.generation != generation || !timer.deadline) return;
  bool still_queued = false;
  if (timer.notify != SIGEV_NONE) {
    auto task = timer.notify == SIGEV_THREAD_ID
                    ? k.TaskByTid(timer.target_tid)
                    : nullptr;
    // Like Linux, a timer has one signal queued at most: while it waits,
    // expirations add to its overrun count (kernel/signal.c:send_sigqueue).
    if (siginfo_t* queued = FindQueued(*tg, task.get(), timer.id)) {
      queued->si_overrun = AddOverrun(queued->si_overrun, timer.overrun + 1);
      timer.overrun = 0;
      still_queued = true;
    } else if (task || timer.notify != SIGEV_THREAD_ID) {
      siginfo_t info = MakeSigInfo(timer.signo, SI_TIMER);
      info.si_timerid = timer.id;
      info.si_overrun = timer.overrun;
      info.si_value = timer.value;
      timer.overrun = 0;
      if (task)
        (void)SendTaskSignal(*task, info, false);
      else
        (void)SendGroupSignal(*tg, info, false);
    }
  }
  if (timer.interval.count() > 0) {
    *timer.deadline += timer.interval;
    auto now = Clock::now();
    if (*timer.deadline <= now) {
      // Missed periods count as overruns; counted one by one, a tiny
      // interval kept the timer thread busy with the kernel lock held.
      int64_t missed = (now - *timer.deadline) / timer.interval + 1;
      *timer.deadline += missed * timer.interval;
      timer.overrun = AddOverrun(timer.overrun, missed);
    }
    // TODO: Linux rearms such a timer when its signal is dequeued; here it
    // looks again a little later, so that it does not fire without pause.
    if (still_queued && *timer.deadline < now + kQueuedRecheck) {
      auto late = now + kQueuedRecheck - *timer.deadline;
      int64_t skipped = late / timer.interval;
      *timer.deadline += skipped * timer.interval;
      timer.overrun = AddOverrun(timer.overrun, skipped);
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
