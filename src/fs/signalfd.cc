#include "fs/signalfd.h"

#include <sys/signalfd.h>

#include <cstring>

#include "fs/anon_inode.h"
#include "kernel/kernel.h"

namespace moat {
namespace {

struct signalfd_siginfo ToSignalfdInfo(const siginfo_t& info) {
  struct signalfd_siginfo s = {};
  s.ssi_signo = info.si_signo;
  s.ssi_errno = info.si_errno;
  s.ssi_code = info.si_code;
  s.ssi_pid = info.si_pid;
  s.ssi_uid = info.si_uid;
  if (info.si_signo == SIGCHLD) {
    s.ssi_status = info.si_status;
    s.ssi_utime = info.si_utime;
    s.ssi_stime = info.si_stime;
  } else if (info.si_signo == SIGSEGV || info.si_signo == SIGBUS ||
             info.si_signo == SIGILL || info.si_signo == SIGFPE) {
    s.ssi_addr = reinterpret_cast<uint64_t>(info.si_addr);
  } else if (info.si_code == SI_TIMER) {
    s.ssi_tid = info.si_timerid;
    s.ssi_overrun = info.si_overrun;
    s.ssi_int = info.si_int;
    s.ssi_ptr = reinterpret_cast<uint64_t>(info.si_ptr);
  } else {
    s.ssi_int = info.si_int;
    s.ssi_ptr = reinterpret_cast<uint64_t>(info.si_ptr);
  }
  return s;
}

}  // namespace

SignalFd::SignalFd(SignalSet mask_in, std::weak_ptr<ThreadGroup> creator)
    : mask(mask_in), creator_(std::move(creator)) {
  inode = NewAnonInode(S_IRUSR | S_IWUSR);
}

Result<size_t> SignalFd::Read(Task& t, void* buf, size_t len) {
  constexpr size_t kSize = sizeof(struct signalfd_siginfo);
  if (len < kSize) return Err(EINVAL);
  size_t done = 0;
  siginfo_t info;
  while (len - done >= kSize) {
    if (!t.pending.Dequeue(~mask, &info) &&
        !t.tg().shared_pending.Dequeue(~mask, &info))
      break;
    struct signalfd_siginfo s = ToSignalfdInfo(info);
    memcpy(static_cast<char*>(buf) + done, &s, kSize);
    done += kSize;
  }
  if (done == 0) return Err(EAGAIN);
  return done;
}

uint32_t SignalFd::Readiness(uint32_t events) {
  Task* t = CurrentTask();
  SignalSet pending = 0;
  if (t) {
    pending = t->PendingSet();
  } else if (auto tg = creator_.lock()) {
    pending = tg->shared_pending.set();
    for (auto& task : tg->tasks) pending |= task->pending.set();
  }
  return (pending & mask) ? (events & kEventIn) : 0;
}

WaitQueue* SignalFd::Queue() {
  if (Task* t = CurrentTask()) return &t->tg().signal_events;
  auto tg = creator_.lock();
  return tg ? &tg->signal_events : nullptr;
}

}  // namespace moat
