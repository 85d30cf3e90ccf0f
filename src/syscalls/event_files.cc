// eventfd(2), timerfd_create(2) and signalfd(2): files that turn events
// into reads.
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>

#include "fs/eventfd.h"
#include "fs/signalfd.h"
#include "fs/timerfd.h"
#include "syscalls/handlers.h"
#include "syscalls/util.h"

namespace moat {
namespace {

int64_t InstallNew(Task& t, FilePtr f, bool nonblock, bool cloexec) {
  f->flags = O_RDWR | (nonblock ? O_NONBLOCK : 0);
  return ToReturn(InstallFd(t, std::move(f), cloexec));
}

int64_t EventfdCommon(Task& t, uint64_t initval, int flags) {
  if (flags & ~(EFD_SEMAPHORE | EFD_NONBLOCK | EFD_CLOEXEC)) return -EINVAL;
  auto f = std::make_shared<EventFd>(uint32_t(initval), flags & EFD_SEMAPHORE);
  return InstallNew(t, f, flags & EFD_NONBLOCK, flags & EFD_CLOEXEC);
}

Result<std::shared_ptr<TimerFd>> GetTimerFd(Task& t, int fd) {
  FilePtr f = GetFile(t, fd);
  if (!f) return Err(EBADF);
  auto timer = std::dynamic_pointer_cast<TimerFd>(f);
  if (!timer) return Err(EINVAL);
  return timer;
}

bool ValidTimespec(const struct timespec& ts) {
  return ts.tv_sec >= 0 && ts.tv_nsec >= 0 && ts.tv_nsec < 1000000000;
}

int64_t SignalfdCommon(Task& t, int fd, uint64_t mask_addr, uint64_t size,
                       int flags) {
  if (flags & ~(SFD_NONBLOCK | SFD_CLOEXEC)) return -EINVAL;
  if (size != sizeof(SignalSet)) return -EINVAL;
  auto mask = t.mm().Read<SignalSet>(mask_addr);
  if (!mask.ok()) return -EFAULT;
  SignalSet requested = mask.value() & ~kUnblockable;
  if (fd != -1) {
    FilePtr f = GetFile(t, fd);
    if (!f) return -EBADF;
    auto sfd = std::dynamic_pointer_cast<SignalFd>(f);
    if (!sfd) return -EINVAL;
    sfd->mask = requested;
    return fd;
  }
  auto f = std::make_shared<SignalFd>(requested, t.tg_ptr());
  return InstallNew(t, f, flags & SFD_NONBLOCK, flags & SFD_CLOEXEC);
}

}  // namespace

// Implements eventfd2(2).
int64_t Eventfd2(Task& t, const SyscallArgs& args) {
  return EventfdCommon(t, args[0], args.Int(1));
}

// Implements eventfd(2).
int64_t Eventfd(Task& t, const SyscallArgs& args) {
  return EventfdCommon(t, args[0], 0);
}

// Implements timerfd_create(2).
int64_t TimerfdCreate(Task& t, const SyscallArgs& args) {
  clockid_t clock = clockid_t(args[0]);
  int flags = args.Int(1);
  if (flags & ~(TFD_NONBLOCK | TFD_CLOEXEC)) return -EINVAL;
  switch (clock) {
    case CLOCK_REALTIME: case CLOCK_MONOTONIC: case CLOCK_BOOTTIME:
    case CLOCK_REALTIME_ALARM: case CLOCK_BOOTTIME_ALARM:
      break;
    default:
      return -EINVAL;
  }
  auto f = std::make_shared<TimerFd>(t.kernel(), clock);
  return InstallNew(t, f, flags & TFD_NONBLOCK, flags & TFD_CLOEXEC);
}

// Implements timerfd_settime(2).
int64_t TimerfdSettime(Task& t, const SyscallArgs& args) {
  int flags = args.Int(1);
  if (flags & ~(TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET)) return -EINVAL;
  auto value = t.mm().Read<struct itimerspec>(args[2]);
  if (!value.ok()) return -EFAULT;
  if (!ValidTimespec(value->it_value) || !ValidTimespec(value->it_interval))
    return -EINVAL;
  auto timer = GetTimerFd(t, args.Int(0));
  if (!timer.ok()) return -timer.error();
  struct itimerspec old = (*timer)->Get();
  if (args[3] && !t.mm().Write(args[3], old).ok()) return -EFAULT;
  // TODO: TFD_TIMER_CANCEL_ON_SET is accepted, but setting the realtime
  // clock is not possible in the sandbox, so ECANCELED never happens.
  return ToReturn((*timer)->Set(value.value(), flags & TFD_TIMER_ABSTIME));
}

// Implements timerfd_gettime(2).
int64_t TimerfdGettime(Task& t, const SyscallArgs& args) {
  auto timer = GetTimerFd(t, args.Int(0));
  if (!timer.ok()) return -timer.error();
  return ToReturn(t.mm().Write(args[1], (*timer)->Get()));
}

// Implements signalfd4(2).
int64_t Signalfd4(Task& t, const SyscallArgs& args) {
  return SignalfdCommon(t, args.Int(0), args[1], args[2], args.Int(3));
}

// Implements signalfd(2).
int64_t Signalfd(Task& t, const SyscallArgs& args) {
  return SignalfdCommon(t, args.Int(0), args[1], args[2], 0);
}

}  // namespace moat
