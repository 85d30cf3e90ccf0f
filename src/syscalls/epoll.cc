// epoll_create(2), epoll_ctl(2) and epoll_wait(2).
#include "fs/epoll.h"

#include <climits>

#include "syscalls/handlers.h"
#include "syscalls/poll.h"
#include "syscalls/util.h"

namespace moat {
namespace {

// Options allowed with EPOLLEXCLUSIVE (Linux EPOLLEXCLUSIVE_OK_BITS).
constexpr uint32_t kExclusiveOk = EPOLLIN | EPOLLOUT | EPOLLRDNORM |
                                  EPOLLRDBAND | EPOLLWRNORM | EPOLLWRBAND |
                                  EPOLLERR | EPOLLHUP | EPOLLWAKEUP | EPOLLET |
                                  EPOLLEXCLUSIVE;

using Deadline = std::optional<Clock::time_point>;

int64_t CreateEpoll(Task& t, bool cloexec) {
  auto f = std::make_shared<EpollFile>();
  f->flags = O_RDWR;
  return ToReturn(InstallFd(t, f, cloexec));
}

// Checks the arguments in Linux's order (fs/eventpoll.c:do_epoll_ctl).
Status CheckCtl(const FilePtr& ep_file, EpollFile* ep, const FilePtr& target,
                int op, const struct epoll_event& ev) {
  if (!CanPoll(*target)) return Err(EPERM);
  if (ep_file == target || ep == nullptr) return Err(EINVAL);
  if (op != EPOLL_CTL_DEL && (ev.events & EPOLLEXCLUSIVE)) {
    if (op == EPOLL_CTL_MOD) return Err(EINVAL);
    if (dynamic_cast<EpollFile*>(target.get()) || (ev.events & ~kExclusiveOk))
      return Err(EINVAL);
  }
  return Ok();
}

int64_t EpollWaitCommon(Task& t, int epfd, uint64_t events_addr,
                        int maxevents, Deadline deadline) {
  if (maxevents <= 0 ||
      size_t(maxevents) > INT_MAX / sizeof(struct epoll_event))
    return -EINVAL;
  size_t bytes = size_t(maxevents) * sizeof(struct epoll_event);
  if (!t.mm().RangeAccessible(events_addr, bytes, PROT_WRITE)) return -EFAULT;
  FilePtr f = GetFile(t, epfd);
  if (!f) return -EBADF;
  auto* ep = dynamic_cast<EpollFile*>(f.get());
  if (!ep) return -EINVAL;
  Waiter waiter([&t](uint32_t) { t.Wake(); });
  WaitQueueEntry entry(ep->Queue(), &waiter);
  for (;;) {
    auto events = ep->Collect(maxevents);
    if (!events.empty()) {
      Status s = t.mm().CopyOut(events_addr, events.data(),
                                events.size() * sizeof(struct epoll_event));
      return s.ok() ? int64_t(events.size()) : -EFAULT;
    }
    if (deadline && Clock::now() >= *deadline) return 0;
    BlockResult r = t.Block(deadline);
    if (r == BlockResult::kInterrupted) return -EINTR;
    if (r == BlockResult::kTimedOut) deadline = Clock::now();
  }
}

Deadline DeadlineFromMillis(int timeout_ms) {
  if (timeout_ms < 0) return std::nullopt;
  return Clock::now() + std::chrono::milliseconds(timeout_ms);
}

}  // namespace

// Implements epoll_create(2).
int64_t EpollCreate(Task& t, const SyscallArgs& args) {
  if (args.Int(0) <= 0) return -EINVAL;
  return CreateEpoll(t, false);
}

// Implements epoll_create1(2).
int64_t EpollCreate1(Task& t, const SyscallArgs& args) {
  int flags = args.Int(0);
  if (flags & ~EPOLL_CLOEXEC) return -EINVAL;
  return CreateEpoll(t, flags & EPOLL_CLOEXEC);
}

// Implements epoll_ctl(2).
int64_t EpollCtl(Task& t, const SyscallArgs& args) {
  int op = args.Int(1), fd = args.Int(2);
  struct epoll_event ev = {};
  if (op != EPOLL_CTL_DEL) {
    auto in = t.mm().Read<struct epoll_event>(args[3]);
    if (!in.ok()) return -EFAULT;
    ev = in.value();
  }
  FilePtr ep_file = GetFile(t, args.Int(0));
  FilePtr target = GetFile(t, fd);
  if (!ep_file || !target) return -EBADF;
  auto* ep = dynamic_cast<EpollFile*>(ep_file.get());
  Status s = CheckCtl(ep_file, ep, target, op, ev);
  if (!s.ok()) return -s.error();
  ev.events |= EPOLLERR | EPOLLHUP;
  switch (op) {
    case EPOLL_CTL_ADD:
      if (auto* inner = dynamic_cast<EpollFile*>(target.get());
          inner && inner->Reaches(ep, 1))
        return -ELOOP;
      return ToReturn(ep->Add(target, fd, ev));
    case EPOLL_CTL_MOD:
      return ToReturn(ep->Modify(target.get(), fd, ev));
    case EPOLL_CTL_DEL:
      return ToReturn(ep->Remove(target.get(), fd));
  }
  return -EINVAL;
}

// Implements epoll_wait(2).
int64_t EpollWait(Task& t, const SyscallArgs& args) {
  return EpollWaitCommon(t, args.Int(0), args[1], args.Int(2),
                         DeadlineFromMillis(args.Int(3)));
}

// Implements epoll_pwait(2).
int64_t EpollPwait(Task& t, const SyscallArgs& args) {
  Status s = SetTemporarySigmask(t, args[4], args[5]);
  if (!s.ok()) return -s.error();
  int64_t ret = EpollWaitCommon(t, args.Int(0), args[1], args.Int(2),
                                DeadlineFromMillis(args.Int(3)));
  FinishTemporarySigmask(t, ret);
  return ret;
}

// Implements epoll_pwait2(2).
int64_t EpollPwait2(Task& t, const SyscallArgs& args) {
  Deadline deadline;
  if (args[3]) {
    auto ts = CopyInTimespec(t, args[3]);
    if (!ts.ok()) return -ts.error();
    deadline = DeadlineFromTimespec(ts.value());
  }
  Status s = SetTemporarySigmask(t, args[4], args[5]);
  if (!s.ok()) return -s.error();
  int64_t ret =
      EpollWaitCommon(t, args.Int(0), args[1], args.Int(2), deadline);
  FinishTemporarySigmask(t, ret);
  return ret;
}

}  // namespace moat
