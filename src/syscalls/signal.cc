// Signal calls: rt_sigaction(2), rt_sigprocmask(2), kill(2) and friends.
#include "kernel/signal_delivery.h"
#include "syscalls/handlers.h"
#include "syscalls/util.h"

namespace moat {
namespace {

bool ValidSignal(int sig) { return sig >= 1 && sig <= kMaxSignal; }

// Linux's permission check for sending a signal (kernel/signal.c:
// kill_ok_by_cred).
bool MaySignal(Task& sender, Task& target) {
  const Credentials& s = sender.creds;
  const Credentials& r = target.creds;
  if (s.HasCapability(5)) return true;  // CAP_KILL
  return s.euid == r.suid || s.euid == r.ruid || s.ruid == r.suid ||
         s.ruid == r.ruid;
}

siginfo_t UserSigInfo(Task& t, int sig) {
  return MakeSigInfo(sig, SI_USER, t.tg().tgid, t.creds.ruid);
}

int64_t KillGroup(Task& t, ThreadGroup& tg, int sig, const siginfo_t& info) {
  auto target = tg.Leader();
  if (!target && !tg.tasks.empty()) target = tg.tasks.front();
  if (!target || tg.zombie) return 0;
  if (!MaySignal(t, *target)) return -EPERM;
  return ToReturn(SendGroupSignal(tg, info, true));
}

}  // namespace

// Implements rt_sigaction(2).
int64_t RtSigaction(Task& t, const SyscallArgs& args) {
  int sig = args.Int(0);
  if (args[3] != sizeof(SignalSet)) return -EINVAL;
  if (!ValidSignal(sig)) return -EINVAL;
  KernelSigaction& act = t.handlers->actions[sig];
  KernelSigaction old = act;
  if (args[1]) {
    if (sig == SIGKILL || sig == SIGSTOP) return -EINVAL;
    auto next = t.mm().Read<KernelSigaction>(args[1]);
    if (!next.ok()) return -EFAULT;
    if (args[2] && !t.mm().Write(args[2], old).ok()) return -EFAULT;
    next->mask &= ~kUnblockable;
    // Linux keeps only the flags it defines (kernel/signal.c:do_sigaction).
    next->flags &= SA_NOCLDSTOP | SA_NOCLDWAIT | SA_SIGINFO | SA_ONSTACK |
                   SA_RESTART | SA_NODEFER | SA_RESETHAND | 0x04000000 /* SA_RESTORER */ |
                   0x800 /* SA_EXPOSE_TAGBITS */;
    act = next.value();
    // Setting SIG_IGN, or SIG_DFL for an ignored signal, discards pending
    // instances (POSIX).
    bool ignored = act.handler == uint64_t(SIG_IGN) ||
                   (act.handler == uint64_t(SIG_DFL) &&
                    DefaultActionOf(sig) == DefaultAction::kIgnore);
    if (ignored) {
      t.tg().shared_pending.Discard(sig);
      for (auto& other : t.tg().tasks) other->pending.Discard(sig);
    }
    return 0;
  }
  if (args[2] && !t.mm().Write(args[2], old).ok()) return -EFAULT;
  return 0;
}

// Implements rt_sigprocmask(2).
int64_t RtSigprocmask(Task& t, const SyscallArgs& args) {
  int how = args.Int(0);
  if (args[3] != sizeof(SignalSet)) return -EINVAL;
  SignalSet old = t.blocked;
  if (args[1]) {
    auto set = t.mm().Read<SignalSet>(args[1]);
    if (!set.ok()) return -EFAULT;
    switch (how) {
      case SIG_BLOCK: t.blocked |= set.value(); break;
      case SIG_UNBLOCK: t.blocked &= ~set.value(); break;
      case SIG_SETMASK: t.blocked = set.value(); break;
      default: return -EINVAL;
    }
    t.blocked &= ~kUnblockable;
  }
  if (args[2] && !t.mm().Write(args[2], old).ok()) {
    t.blocked = old;
    return -EFAULT;
  }
  return 0;
}

// Implements rt_sigreturn(2).
int64_t RtSigreturn(Task& t, const SyscallArgs&) { return SignalReturn(t); }

// Implements rt_sigpending(2).
int64_t RtSigpending(Task& t, const SyscallArgs& args) {
  if (args[1] > sizeof(SignalSet)) return -EINVAL;
  SignalSet pending = t.PendingSet() & t.blocked;
  return ToReturn(t.mm().CopyOut(args[0], &pending, args[1]));
}

// Implements rt_sigsuspend(2).
int64_t RtSigsuspend(Task& t, const SyscallArgs& args) {
  if (args[1] != sizeof(SignalSet)) return -EINVAL;
  auto mask = t.mm().Read<SignalSet>(args[0]);
  if (!mask.ok()) return -EFAULT;
  t.saved_mask = t.blocked;
  t.blocked = mask.value() & ~kUnblockable;
  while (t.Block() != BlockResult::kInterrupted) {
  }
  return kERestartNoHand;
}

// Implements pause(2).
int64_t Pause(Task& t, const SyscallArgs&) {
  while (t.Block() != BlockResult::kInterrupted) {
  }
  return kERestartNoHand;
}

// Implements rt_sigtimedwait(2).
int64_t RtSigtimedwait(Task& t, const SyscallArgs& args) {
  if (args[3] != sizeof(SignalSet)) return -EINVAL;
  auto set = t.mm().Read<SignalSet>(args[0]);
  if (!set.ok()) return -EFAULT;
  SignalSet wanted = set.value() & ~kUnblockable;
  std::optional<Clock::time_point> deadline;
  if (args[2]) {
    auto ts = CopyInTimespec(t, args[2]);
    if (!ts.ok()) return -ts.error();
    deadline = DeadlineFromTimespec(ts.value());
  }
  // While waiting, the wanted signals count as unblocked so they wake us.
  SignalSet saved = t.blocked;
  t.real_blocked = saved;
  t.blocked &= ~wanted;
  siginfo_t info;
  int64_t result = -EAGAIN;
  for (;;) {
    if (t.pending.Dequeue(~wanted, &info) ||
        t.tg().shared_pending.Dequeue(~wanted, &info)) {
      result = info.si_signo;
      break;
    }
    if (deadline && Clock::now() >= *deadline) break;
    BlockResult r = t.Block(deadline);
    if (r == BlockResult::kTimedOut) break;
    if (r == BlockResult::kInterrupted &&
        !((t.PendingSet() & wanted)) ) {
      result = -EINTR;
      break;
    }
  }
  t.blocked = saved;
  t.real_blocked = 0;
  if (result > 0 && args[1] && !t.mm().Write(args[1], info).ok())
    return -EFAULT;
  return result;
}

// Implements sigaltstack(2).
int64_t Sigaltstack(Task& t, const SyscallArgs& args) {
  stack_t old = t.altstack;
  uint64_t sp = t.regs.rsp;
  auto base = reinterpret_cast<uint64_t>(old.ss_sp);
  bool on_stack = !(old.ss_flags & SS_DISABLE) && sp > base &&
                  sp - base <= old.ss_size;
  if (on_stack) old.ss_flags = SS_ONSTACK;
  if (args[0]) {
    auto next = t.mm().Read<stack_t>(args[0]);
    if (!next.ok()) return -EFAULT;
    if (on_stack) return -EPERM;
    int flags = next->ss_flags & ~(1 << 31);  // SS_AUTODISARM
    if (flags != 0 && flags != SS_DISABLE && flags != SS_ONSTACK)
      return -EINVAL;
    if (flags == SS_DISABLE) {
      t.altstack = {nullptr, SS_DISABLE, 0};
    } else {
      if (next->ss_size < MINSIGSTKSZ) return -ENOMEM;
      t.altstack = next.value();
      t.altstack.ss_flags = 0;
    }
  }
  if (args[1] && !t.mm().Write(args[1], old).ok()) return -EFAULT;
  return 0;
}

// Implements kill(2).
int64_t Kill(Task& t, const SyscallArgs& args) {
  int pid = args.Int(0), sig = args.Int(1);
  if (sig < 0 || sig > kMaxSignal) return -EINVAL;
  Kernel& k = t.kernel();
  siginfo_t info = UserSigInfo(t, sig);
  if (pid > 0) {
    auto tg = k.GroupByTgid(pid);
    if (!tg || tg->zombie) return -ESRCH;
    return KillGroup(t, *tg, sig, info);
  }
  int pgid = pid == 0 ? (t.tg().pgrp ? t.tg().pgrp->pgid : 0) : -pid;
  if (pid == INT32_MIN) return -ESRCH;
  bool found = false;
  int64_t err = 0;
  for (auto& tg : k.Groups()) {
    if (tg->zombie || tg->tasks.empty()) continue;
    if (pid == -1) {
      // Everyone but init and the caller.
      if (tg.get() == k.init().get() || tg.get() == &t.tg()) continue;
    } else if (!tg->pgrp || tg->pgrp->pgid != pgid) {
      continue;
    }
    found = true;
    int64_t r = KillGroup(t, *tg, sig, info);
    if (r < 0) err = r;
  }
  if (!found) return -ESRCH;
  return err;
}

int64_t SignalThread(Task& t, int tgid, int tid, int sig) {
  if (tid <= 0 || (tgid != -1 && tgid <= 0)) return -EINVAL;
  if (sig < 0 || sig > kMaxSignal) return -EINVAL;
  auto target = t.kernel().TaskByTid(tid);
  if (!target || target->exited) return -ESRCH;
  if (tgid != -1 && target->tg().tgid != tgid) return -ESRCH;
  if (!MaySignal(t, *target)) return -EPERM;
  siginfo_t info = MakeSigInfo(sig, SI_TKILL, t.tg().tgid, t.creds.ruid);
  return ToReturn(SendTaskSignal(*target, info, true));
}

// Implements tgkill(2).
int64_t Tgkill(Task& t, const SyscallArgs& args) {
  // -1 means "any group" inside SignalThread; from the caller it is
  // just an invalid id.
  if (args.Int(0) <= 0) return -EINVAL;
  return SignalThread(t, args.Int(0), args.Int(1), args.Int(2));
}

// Implements tkill(2).
int64_t Tkill(Task& t, const SyscallArgs& args) {
  return SignalThread(t, -1, args.Int(0), args.Int(1));
}

// Implements rt_sigqueueinfo(2).
int64_t RtSigqueueinfo(Task& t, const SyscallArgs& args) {
  int pid = args.Int(0), sig = args.Int(1);
  if (!ValidSignal(sig)) return -EINVAL;
  auto info = t.mm().Read<siginfo_t>(args[2]);
  if (!info.ok()) return -EFAULT;
  // Only the kernel may claim SI_USER or a positive code for another task.
  if ((info->si_code >= 0 || info->si_code == SI_TKILL) &&
      pid != t.tg().tgid)
    return -EPERM;
  info->si_signo = sig;
  auto tg = t.kernel().GroupByTgid(pid);
  if (!tg || tg->zombie) return -ESRCH;
  return KillGroup(t, *tg, sig, info.value());
}

}  // namespace moat
