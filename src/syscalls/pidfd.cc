// pidfd_open(2), pidfd_send_signal(2) and pidfd_getfd(2): descriptors that
// name a process, immune to pid reuse.
#include <fcntl.h>
#include <poll.h>

#include "fs/anon_inode.h"
#include "kernel/signal_delivery.h"
#include "syscalls/handlers.h"
#include "syscalls/util.h"

namespace moat {
namespace {

// <linux/pidfd.h> clashes with glibc's <fcntl.h>.
constexpr unsigned PIDFD_NONBLOCK = O_NONBLOCK;

// Readable once the process has exited (pidfd_open(2)).
class PidFile : public FileDescription {
 public:
  explicit PidFile(std::shared_ptr<ThreadGroup> tg) : tg_(tg) {}
  std::shared_ptr<ThreadGroup> group() { return tg_.lock(); }
  uint32_t Readiness(uint32_t mask) override {
    auto tg = tg_.lock();
    if (!tg || tg->zombie || tg->reaped) return mask & kEventIn;
    return 0;
  }
  WaitQueue* Queue() override {
    auto tg = tg_.lock();
    return tg ? &tg->exit_events : nullptr;
  }
  Result<size_t> Read(Task&, void*, size_t) override { return Err(EINVAL); }
  std::string Name() override { return "anon_inode:[pidfd]"; }

 private:
  std::weak_ptr<ThreadGroup> tg_;
};

}  // namespace

std::shared_ptr<ThreadGroup> PidfdGroup(Task& t, int fd, int* error) {
  FilePtr f = GetFile(t, fd);
  if (!f) {
    *error = EBADF;
    return nullptr;
  }
  auto* pf = dynamic_cast<PidFile*>(f.get());
  if (pf == nullptr) {
    *error = EBADF;
    return nullptr;
  }
  auto tg = pf->group();
  if (!tg) *error = ESRCH;
  return tg;
}

Result<int> InstallPidfd(Task& t, std::shared_ptr<ThreadGroup> tg,
                         unsigned flags) {
  auto f = std::make_shared<PidFile>(tg);
  f->inode = NewAnonInode(0600);
  f->flags = O_RDWR | (flags & PIDFD_NONBLOCK ? O_NONBLOCK : 0);
  // pidfds are always close-on-exec.
  return InstallFd(t, f, true);
}

// Implements pidfd_open(2).
int64_t PidfdOpen(Task& t, const SyscallArgs& args) {
  int pid = args.Int(0);
  unsigned flags = args[1];
  if (flags & ~unsigned(PIDFD_NONBLOCK)) return -EINVAL;
  if (pid <= 0) return -EINVAL;
  auto tg = t.kernel().GroupByTgid(pid);
  if (!tg || tg->reaped) return -ESRCH;
  return ToReturn(InstallPidfd(t, tg, flags));
}

// Implements pidfd_send_signal(2).
int64_t PidfdSendSignal(Task& t, const SyscallArgs& args) {
  int sig = args.Int(1);
  if (args[3] != 0) return -EINVAL;
  if (sig < 0 || sig > kMaxSignal) return -EINVAL;
  int error = 0;
  auto tg = PidfdGroup(t, args.Int(0), &error);
  if (!tg) return -error;
  if (tg->zombie) return -ESRCH;
  siginfo_t info = MakeSigInfo(sig, SI_USER, t.tg().tgid, t.creds.ruid);
  if (args[2]) {
    auto given = t.mm().Read<siginfo_t>(args[2]);
    if (!given.ok()) return -EFAULT;
    if (given->si_signo != sig) return -EINVAL;
    if ((given->si_code >= 0 || given->si_code == SI_TKILL) &&
        tg.get() != &t.tg())
      return -EPERM;
    info = given.value();
  }
  return ToReturn(SendGroupSignal(*tg, info, true));
}

// Implements pidfd_getfd(2).
int64_t PidfdGetfd(Task& t, const SyscallArgs& args) {
  if (args[2] != 0) return -EINVAL;
  int error = 0;
  auto tg = PidfdGroup(t, args.Int(0), &error);
  if (!tg) return -error;
  if (tg->tasks.empty()) return -ESRCH;
  FilePtr f = tg->tasks.front()->fds->Get(args.Int(1));
  if (!f) return -EBADF;
  return ToReturn(InstallFd(t, f, true));
}

}  // namespace moat
