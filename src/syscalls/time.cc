// Clocks and sleeping: clock_gettime(2), nanosleep(2), alarm(2) and
// setitimer(2). moat has no vDSO, so programs make these as syscalls.
#include <sys/time.h>

#include "kernel/signal_delivery.h"
#include "syscalls/handlers.h"
#include "syscalls/util.h"

namespace moat {
namespace {

bool ValidClock(clockid_t id) {
  switch (id) {
    case CLOCK_REALTIME: case CLOCK_MONOTONIC: case CLOCK_PROCESS_CPUTIME_ID:
    case CLOCK_THREAD_CPUTIME_ID: case CLOCK_MONOTONIC_RAW:
    case CLOCK_REALTIME_COARSE: case CLOCK_MONOTONIC_COARSE:
    case CLOCK_BOOTTIME: case CLOCK_REALTIME_ALARM: case CLOCK_BOOTTIME_ALARM:
    case CLOCK_TAI:
      return true;
  }
  return false;
}

// A clock id below zero names the CPU clock of a process or thread:
// ~pid << 3, plus 4 for a thread, plus the kind in the low bits (Linux
// include/linux/posix-timers.h).
Result<struct timespec> ReadCpuClock(Task& t, clockid_t id) {
  int pid = ~(id >> 3);
  bool thread = id & 4;
  int kind = id & 3;
  if (kind == 3) return Err(EINVAL);
  Rusage r;
  if (thread) {
    auto task = pid == 0 ? t.shared_from_this() : t.kernel().TaskByTid(pid);
    if (!task || task->exited) return Err(EINVAL);
    r = task->rusage;
  } else {
    auto tg = pid == 0 ? t.tg_ptr() : t.kernel().GroupByTgid(pid);
    if (!tg || tg->zombie) return Err(EINVAL);
    r = tg->TotalRusage();
  }
  return NanosToTimespec(kind == 1 ? r.utime : r.utime + r.stime);
}

Result<struct timespec> ReadClock(Task& t, clockid_t id) {
  if (id < 0) return ReadCpuClock(t, id);
  if (!ValidClock(id)) return Err(EINVAL);
  if (id == CLOCK_PROCESS_CPUTIME_ID) {
    Rusage r = t.tg().TotalRusage();
    return NanosToTimespec(r.utime + r.stime);
  }
  if (id == CLOCK_THREAD_CPUTIME_ID)
    return NanosToTimespec(t.rusage.utime + t.rusage.stime);
  struct timespec ts;
  if (id == CLOCK_REALTIME_ALARM) id = CLOCK_REALTIME;
  if (id == CLOCK_BOOTTIME_ALARM) id = CLOCK_BOOTTIME;
  clock_gettime(id, &ts);
  return ts;
}

int64_t SleepFor(Task& t, Clock::time_point deadline, uint64_t rem_addr) {
  bool interrupted;
  if (SleepUntil(t, deadline, &interrupted)) return 0;
  if (rem_addr) {
    auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(
        deadline - Clock::now());
    if (left.count() < 0) left = std::chrono::nanoseconds(0);
    if (!t.mm().Write(rem_addr, NanosToTimespec(left)).ok()) return -EFAULT;
  }
  // A handler makes it EINTR; otherwise the sleep resumes to the same
  // deadline through restart_syscall.
  t.restart_block = [deadline, rem_addr](Task& task) {
    return SleepFor(task, deadline, rem_addr);
  };
  return kERestartBlock;
}

void ArmItimer(Task& t);

void FireItimer(Kernel& k, std::weak_ptr<ThreadGroup> weak, uint64_t gen) {
  auto tg = weak.lock();
  if (!tg || tg->zombie || tg->itimer_generation != gen) return;
  (void)SendGroupSignal(*tg, MakeSigInfo(SIGALRM, SI_TIMER), false);
  if (tg->itimer_real_interval.count() > 0) {
    // TODO: Linux rearms ITIMER_REAL only when SIGALRM is dequeued; here a
    // 1 us interval keeps the timer thread firing without pause.
    tg->itimer_real_deadline = Clock::now() + tg->itimer_real_interval;
    k.AddTimer(*tg->itimer_real_deadline,
               [&k, weak, gen] { FireItimer(k, weak, gen); });
  } else {
    tg->itimer_real_deadline.reset();
  }
}

void ArmItimer(Task& t) {
  ThreadGroup& tg = t.tg();
  uint64_t gen = ++tg.itimer_generation;
  if (!tg.itimer_real_deadline) return;
  Kernel& k = t.kernel();
  std::weak_ptr<ThreadGroup> weak = t.tg_ptr();
  k.AddTimer(*tg.itimer_real_deadline,
             [&k, weak, gen] { FireItimer(k, weak, gen); });
}

struct itimerval CurrentItimer(ThreadGroup& tg) {
  struct itimerval v = {};
  auto us = [](std::chrono::microseconds d) {
    return timeval{time_t(d.count() / 1000000), long(d.count() % 1000000)};
  };
  v.it_interval = us(tg.itimer_real_interval);
  if (tg.itimer_real_deadline) {
    auto left = std::chrono::duration_cast<std::chrono::microseconds>(
        *tg.itimer_real_deadline - Clock::now());
    if (left.count() <= 0) left = std::chrono::microseconds(1);
    v.it_value = us(left);
  }
  return v;
}

struct itimerval CpuItimer(ThreadGroup& tg, int which) {
  auto tv = [](std::chrono::nanoseconds d) {
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(d);
    if (us.count() < 0) us = std::chrono::microseconds(0);
    return timeval{time_t(us.count() / 1000000), long(us.count() % 1000000)};
  };
  struct itimerval v;
  bool virt = which == ITIMER_VIRTUAL;
  v.it_value = tv(virt ? tg.itimer_virtual_left : tg.itimer_prof_left);
  v.it_interval =
      tv(virt ? tg.itimer_virtual_interval : tg.itimer_prof_interval);
  return v;
}

}  // namespace

// Implements clock_gettime(2).
int64_t ClockGettime(Task& t, const SyscallArgs& args) {
  auto ts = ReadClock(t, clockid_t(args[0]));
  if (!ts.ok()) return -ts.error();
  return ToReturn(t.mm().Write(args[1], ts.value()));
}

// Implements clock_getres(2).
int64_t ClockGetres(Task& t, const SyscallArgs& args) {
  clockid_t id = clockid_t(args[0]);
  if (id < 0 && !ReadClock(t, id).ok()) return -EINVAL;
  if (id >= 0 && !ValidClock(id)) return -EINVAL;
  if (!args[1]) return 0;
  struct timespec res = {0, 1};
  if (args[0] == CLOCK_REALTIME_COARSE || args[0] == CLOCK_MONOTONIC_COARSE)
    res.tv_nsec = 4000000;
  return ToReturn(t.mm().Write(args[1], res));
}

// Implements gettimeofday(2).
int64_t Gettimeofday(Task& t, const SyscallArgs& args) {
  struct timeval tv;
  gettimeofday(&tv, nullptr);
  if (args[0] && !t.mm().Write(args[0], tv).ok()) return -EFAULT;
  if (args[1]) {
    struct timezone tz = {0, 0};
    if (!t.mm().Write(args[1], tz).ok()) return -EFAULT;
  }
  return 0;
}

// Implements time(2).
int64_t Time(Task& t, const SyscallArgs& args) {
  time_t now = ::time(nullptr);
  if (args[0] && !t.mm().Write(args[0], now).ok()) return -EFAULT;
  return now;
}

// Implements nanosleep(2).
int64_t Nanosleep(Task& t, const SyscallArgs& args) {
  auto ts = CopyInTimespec(t, args[0]);
  if (!ts.ok()) return -ts.error();
  return SleepFor(t, DeadlineFromTimespec(ts.value()), args[1]);
}

// Implements clock_nanosleep(2).
int64_t ClockNanosleep(Task& t, const SyscallArgs& args) {
  clockid_t id = clockid_t(args[0]);
  int flags = args.Int(1);
  if (id == CLOCK_THREAD_CPUTIME_ID) return -EOPNOTSUPP;
  if (!ValidClock(id)) return -EINVAL;
  if (flags & ~TIMER_ABSTIME) return -EINVAL;
  auto ts = CopyInTimespec(t, args[2]);
  if (!ts.ok()) return -ts.error();
  if (!(flags & TIMER_ABSTIME))
    return SleepFor(t, DeadlineFromTimespec(ts.value()), args[3]);
  auto now = ReadClock(t, id);
  if (!now.ok()) return -now.error();
  int64_t diff = (ts->tv_sec - now->tv_sec) * 1000000000ll +
                 (ts->tv_nsec - now->tv_nsec);
  auto deadline = Clock::now() + std::chrono::nanoseconds(std::max<int64_t>(
                                     diff, 0));
  bool interrupted;
  if (SleepUntil(t, deadline, &interrupted)) return 0;
  return kERestartNoHand;
}

// Implements restart_syscall(2).
int64_t RestartSyscall(Task& t, const SyscallArgs&) {
  if (!t.restart_block) return -EINTR;
  auto fn = std::move(t.restart_block);
  t.restart_block = nullptr;
  return fn(t);
}

// Implements alarm(2).
int64_t Alarm(Task& t, const SyscallArgs& args) {
  ThreadGroup& tg = t.tg();
  struct itimerval old = CurrentItimer(tg);
  unsigned secs = unsigned(args[0]);
  tg.itimer_real_interval = std::chrono::microseconds(0);
  if (secs)
    tg.itimer_real_deadline = Clock::now() + std::chrono::seconds(secs);
  else
    tg.itimer_real_deadline.reset();
  ArmItimer(t);
  return old.it_value.tv_sec + (old.it_value.tv_usec >= 500000 ? 1 : 0) +
         (old.it_value.tv_sec == 0 && old.it_value.tv_usec > 0 &&
                  old.it_value.tv_usec < 500000
              ? 1
              : 0);
}

// Implements getitimer(2); only ITIMER_REAL counts time.
int64_t Getitimer(Task& t, const SyscallArgs& args) {
  int which = args.Int(0);
  if (which < ITIMER_REAL || which > ITIMER_PROF) return -EINVAL;
  struct itimerval v = {};
  if (which == ITIMER_REAL) v = CurrentItimer(t.tg());
  else v = CpuItimer(t.tg(), which);
  return ToReturn(t.mm().Write(args[1], v));
}

// Implements setitimer(2).
int64_t Setitimer(Task& t, const SyscallArgs& args) {
  int which = args.Int(0);
  if (which < ITIMER_REAL || which > ITIMER_PROF) return -EINVAL;
  struct itimerval next = {};
  if (args[1]) {
    auto v = t.mm().Read<struct itimerval>(args[1]);
    if (!v.ok()) return -EFAULT;
    next = v.value();
  }
  for (auto& tv : {next.it_value, next.it_interval})
    if (tv.tv_usec < 0 || tv.tv_usec >= 1000000 || tv.tv_sec < 0)
      return -EINVAL;
  ThreadGroup& tg = t.tg();
  struct itimerval old = {};
  if (which == ITIMER_REAL) old = CurrentItimer(tg);
  else old = CpuItimer(tg, which);
  if (args[2] && !t.mm().Write(args[2], old).ok()) return -EFAULT;
  auto us = [](const timeval& v) {
    return std::chrono::microseconds(v.tv_sec * 1000000ll + v.tv_usec);
  };
  if (which != ITIMER_REAL) {
    auto& left = which == ITIMER_VIRTUAL ? tg.itimer_virtual_left
                                         : tg.itimer_prof_left;
    auto& interval = which == ITIMER_VIRTUAL ? tg.itimer_virtual_interval
                                             : tg.itimer_prof_interval;
    left = us(next.it_value);
    interval = us(next.it_interval);
    if (left.count() > 0) t.kernel().EnsureCpuTick();
    return 0;
  }
  tg.itimer_real_interval = us(next.it_interval);
  if (us(next.it_value).count() > 0)
    tg.itimer_real_deadline = Clock::now() + us(next.it_value);
  else
    tg.itimer_real_deadline.reset();
  ArmItimer(t);
  return 0;
}

}  // namespace moat

namespace moat {

// Implements clock_settime(2): the sandbox cannot change the host's clock,
// so CLOCK_REALTIME is refused as if CAP_SYS_TIME were missing.
int64_t ClockSettime(Task& t, const SyscallArgs& args) {
  clockid_t id = clockid_t(args[0]);
  if (id != CLOCK_REALTIME) return -EINVAL;
  auto ts = CopyInTimespec(t, args[1]);
  if (!ts.ok()) return -ts.error();
  return -EPERM;
}

// Implements settimeofday(2), refused like clock_settime(2).
int64_t Settimeofday(Task& t, const SyscallArgs& args) {
  if (args[0]) {
    auto tv = t.mm().Read<struct timeval>(args[0]);
    if (!tv.ok()) return -EFAULT;
    if (tv->tv_usec < 0 || tv->tv_usec >= 1000000) return -EINVAL;
  }
  return -EPERM;
}

}  // namespace moat

#include <sys/timex.h>

namespace moat {

// Implements adjtimex(2): reading the clock state is allowed and comes
// from the host; changing it is refused like clock_settime(2).
int64_t Adjtimex(Task& t, const SyscallArgs& args) {
  auto tx = t.mm().Read<struct timex>(args[0]);
  if (!tx.ok()) return -EFAULT;
  if (tx->modes != 0 && tx->modes != ADJ_OFFSET_SS_READ) return -EPERM;
  struct timex host = {};
  int state = ::adjtimex(&host);
  if (state < 0) return -errno;
  if (!t.mm().Write(args[0], host).ok()) return -EFAULT;
  return state;
}

// Implements clock_adjtime(2) for CLOCK_REALTIME, as adjtimex(2).
int64_t ClockAdjtime(Task& t, const SyscallArgs& args) {
  if (clockid_t(args[0]) != CLOCK_REALTIME) return -EOPNOTSUPP;
  return Adjtimex(t, SyscallArgs{{args[1], 0, 0, 0, 0, 0}});
}

}  // namespace moat
