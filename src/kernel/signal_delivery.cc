// Signal delivery, following Linux kernel/signal.c and
// arch/x86/kernel/signal.c.
#include "kernel/signal_delivery.h"

#include <sys/syscall.h>

#include <cstring>

#include "kernel/kernel.h"
#include "util/log.h"

namespace moat {
namespace {

// struct sigcontext of x86-64 as the kernel writes it.
struct SigContext {
  uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
  uint64_t rdi, rsi, rbp, rbx, rdx, rax, rcx, rsp, rip, eflags;
  uint16_t cs, gs, fs, ss;
  uint64_t err, trapno, oldmask, cr2;
  uint64_t fpstate;
  uint64_t reserved[8];
};

struct KernelStack {
  uint64_t sp;
  int32_t flags;
  int32_t pad;
  uint64_t size;
};

struct UContext {
  uint64_t flags;
  uint64_t link;
  KernelStack stack;
  SigContext mcontext;
  SignalSet sigmask;
};

struct RtSigframe {
  uint64_t pretcode;
  UContext uc;
  siginfo_t info;
};
static_assert(sizeof(siginfo_t) == 128);

constexpr uint64_t kUcFpXstate = 1;
constexpr uint64_t kUcSigcontextSs = 2;
constexpr uint64_t kUcStrictRestoreSs = 4;
constexpr uint32_t kFpXstateMagic1 = 0x46505853;
constexpr uint32_t kFpXstateMagic2 = 0x46505845;
// eflags bits a signal handler may change on return (Linux FIX_EFLAGS).
constexpr uint64_t kFixEflags = 0x40dd5;

// The XSAVE image of a freshly reset FPU: default x87 control word and
// MXCSR, empty registers, and every extended component in its initial
// state (XSTATE_BV of 0).
FpState InitialFpState(const FpState& like) {
  FpState s(like.size(), 0);
  uint16_t fcw = 0x37f;
  uint32_t mxcsr = 0x1f80, mxcsr_mask = 0;
  memcpy(&mxcsr_mask, like.data() + 28, 4);
  memcpy(s.data(), &fcw, 2);
  memcpy(s.data() + 24, &mxcsr, 4);
  memcpy(s.data() + 28, &mxcsr_mask, 4);
  // Keep XCOMP_BV, the format word of the header.
  if (like.size() >= 576) memcpy(s.data() + 520, like.data() + 520, 8);
  return s;
}

bool OnAltStack(const Task& t, uint64_t sp) {
  auto base = reinterpret_cast<uint64_t>(t.altstack.ss_sp);
  return !(t.altstack.ss_flags & SS_DISABLE) && sp > base &&
         sp - base <= t.altstack.ss_size;
}

void SaveRegs(const Registers& r, SigContext& c) {
  c.r8 = r.r8; c.r9 = r.r9; c.r10 = r.r10; c.r11 = r.r11;
  c.r12 = r.r12; c.r13 = r.r13; c.r14 = r.r14; c.r15 = r.r15;
  c.rdi = r.rdi; c.rsi = r.rsi; c.rbp = r.rbp; c.rbx = r.rbx;
  c.rdx = r.rdx; c.rax = r.rax; c.rcx = r.rcx; c.rsp = r.rsp;
  c.rip = r.rip; c.eflags = r.eflags;
  c.cs = r.cs; c.ss = r.ss;
}

void RestoreRegs(const SigContext& c, Registers& r) {
  r.r8 = c.r8; r.r9 = c.r9; r.r10 = c.r10; r.r11 = c.r11;
  r.r12 = c.r12; r.r13 = c.r13; r.r14 = c.r14; r.r15 = c.r15;
  r.rdi = c.rdi; r.rsi = c.rsi; r.rbp = c.rbp; r.rbx = c.rbx;
  r.rdx = c.rdx; r.rax = c.rax; r.rcx = c.rcx; r.rsp = c.rsp;
  r.rip = c.rip;
  r.eflags = (r.eflags & ~kFixEflags) | (c.eflags & kFixEflags);
  r.orig_rax = -1;
}

// Builds the handler frame for `info`. Returns false if the stack cannot
// take it, in which case the caller kills the task with SIGSEGV.
bool SetupFrame(Task& t, const KernelSigaction& act, const siginfo_t& info) {
  uint64_t sp = t.regs.rsp;
  bool on_alt = OnAltStack(t, sp);
  if ((act.flags & SA_ONSTACK) && !(t.altstack.ss_flags & SS_DISABLE) &&
      !on_alt) {
    sp = reinterpret_cast<uint64_t>(t.altstack.ss_sp) + t.altstack.ss_size;
  } else {
    sp -= 128;  // the red zone of the interrupted code
  }

  auto fp = t.context().GetFpState();
  if (!fp.ok()) return false;
  FpState& state = fp.value();
  uint64_t fp_size = state.size();
  sp -= fp_size + 4;
  sp &= ~uint64_t(63);
  uint64_t fp_addr = sp;
  // The software-reserved bytes of the FXSAVE area tell a reader how big
  // the XSAVE area is.
  uint32_t sw[6] = {kFpXstateMagic1, uint32_t(fp_size + 4), 0, 0,
                    uint32_t(fp_size), 0};
  uint64_t xfeatures = 0;
  memcpy(&xfeatures, state.data() + 512, 8);
  memcpy(&sw[2], &xfeatures, 8);
  memcpy(state.data() + 464, sw, sizeof(sw));

  sp -= sizeof(RtSigframe);
  sp = ((sp + 8) & ~uint64_t(15)) - 8;  // as if reached by a call

  RtSigframe frame = {};
  frame.pretcode = act.restorer;
  frame.uc.flags = kUcFpXstate | kUcSigcontextSs | kUcStrictRestoreSs;
  frame.uc.stack.sp = reinterpret_cast<uint64_t>(t.altstack.ss_sp);
  frame.uc.stack.flags = on_alt ? SS_ONSTACK : t.altstack.ss_flags;
  frame.uc.stack.size = t.altstack.ss_size;
  SaveRegs(t.regs, frame.uc.mcontext);
  frame.uc.mcontext.fpstate = fp_addr;
  frame.uc.mcontext.oldmask = t.blocked;
  // Every frame shows the task's last fault, whatever the signal, as in
  // Linux arch/x86/kernel/signal_64.c.
  frame.uc.mcontext.trapno = t.trap.trap_number;
  frame.uc.mcontext.err = t.trap.error_code;
  frame.uc.mcontext.cr2 = t.trap.address;
  frame.uc.sigmask = t.saved_mask ? *t.saved_mask : t.blocked;
  frame.info = info;

  MemoryManager& mm = t.mm();
  if (!mm.CopyOut(fp_addr, state.data(), fp_size).ok()) return false;
  if (!mm.Write<uint32_t>(fp_addr + fp_size, kFpXstateMagic2).ok())
    return false;
  if (!mm.CopyOut(sp, &frame, sizeof(frame)).ok()) return false;
  (void)t.context().SetFpState(InitialFpState(state));

  t.regs.rsp = sp;
  t.regs.rip = act.handler;
  t.regs.rdi = info.si_signo;
  t.regs.rsi = sp + offsetof(RtSigframe, info);
  t.regs.rdx = sp + offsetof(RtSigframe, uc);
  t.regs.rax = 0;
  t.regs.eflags &= ~(0x100ull | 0x400ull);  // clear TF and DF
  t.saved_mask.reset();
  return true;
}

// Adjusts the registers of a syscall that returned a restart code, now
// that the signal (if any) is known.
void HandleRestart(Task& t, const KernelSigaction* act) {
  int64_t rax = static_cast<int64_t>(t.regs.rax);
  if (t.regs.orig_rax == uint64_t(-1)) return;
  bool restart;
  switch (rax) {
    case kERestartNoHand:
    case kERestartBlock:
      restart = act == nullptr;
      break;
    case kERestartSys:
      restart = act == nullptr || (act->flags & SA_RESTART);
      break;
    case kERestartNoIntr:
      restart = true;
      break;
    default:
      return;
  }
  if (!restart) {
    t.regs.rax = static_cast<uint64_t>(-EINTR);
    return;
  }
  t.regs.rip -= 2;  // back onto the syscall instruction
  t.regs.rax = rax == kERestartBlock ? SYS_restart_syscall : t.regs.orig_rax;
}

void StopGroup(Task& t, int sig) {
  ThreadGroup& tg = t.tg();
  if (tg.stopped) return;
  tg.stopped = true;
  tg.stop_signal = sig;
  tg.stop_reported = false;
  for (auto& other : tg.tasks) other->Interrupt();
  NotifyParent(tg, CLD_STOPPED, sig);
}

// Returns whether `info` is a signal that a process of the sandbox sent to
// init, which init got only because it blocked it. With no handler, init
// then drops it, as Linux's get_signal drops all but SIGKILL and SIGSTOP
// for a pid namespace's init (SIGNAL_UNKILLABLE).
// NOTE: Linux drops signals from the host and the terminal there too, but
// `moat do` lets them end init, so only those from inside are dropped.
bool SentInsideToInit(Task& t, const siginfo_t& info) {
  int sig = info.si_signo;
  return &t.tg() == t.kernel().init().get() && info.si_pid != 0 &&
         info.si_code <= 0 && sig != SIGKILL && sig != SIGSTOP;
}

}  // namespace

siginfo_t MakeSigInfo(int sig, int code, int pid, uint32_t uid) {
  siginfo_t info = {};
  info.si_signo = sig;
  info.si_code = code;
  info.si_pid = pid;
  info.si_uid = uid;
  return info;
}

bool DeliverPendingSignals(Task& t) {
  ThreadGroup& tg = t.tg();
  for (;;) {
    if (t.exiting || tg.group_exiting) {
      t.exiting = true;
      return false;
    }
    siginfo_t info;
    if (!t.pending.Dequeue(t.blocked, &info) &&
        !tg.shared_pending.Dequeue(t.blocked, &info)) {
      HandleRestart(t, nullptr);
      if (t.saved_mask) {  // sigsuspend returned with no handler to run
        t.blocked = *t.saved_mask;
        t.saved_mask.reset();
      }
      return true;
    }
    int sig = info.si_signo;
    KernelSigaction& act = t.handlers->actions[sig];
    if (act.handler == uint64_t(SIG_IGN)) continue;
    if (act.handler == uint64_t(SIG_DFL) && SentInsideToInit(t, info))
      continue;
    if (act.handler == uint64_t(SIG_DFL)) {
      switch (DefaultActionOf(sig)) {
        case DefaultAction::kIgnore:
        case DefaultAction::kContinue:
          continue;
        case DefaultAction::kStop:
          StopGroup(t, sig);
          HandleRestart(t, nullptr);
          return true;
        case DefaultAction::kCoreDump:
          t.kernel().ExitGroup(tg, sig | 0x80);
          return false;
        case DefaultAction::kTerminate:
          t.kernel().ExitGroup(tg, sig);
          return false;
      }
    }
    KernelSigaction copy = act;
    HandleRestart(t, &copy);
    if (!SetupFrame(t, copy, info)) {
      SPDLOG_DEBUG("[{}] cannot write signal frame; killing with SIGSEGV",
                   t.tid);
      t.kernel().ExitGroup(tg, SIGSEGV | 0x80);
      return false;
    }
    t.blocked |= copy.mask;
    if (!(copy.flags & SA_NODEFER)) t.blocked |= SigBit(sig);
    t.blocked &= ~kUnblockable;
    if (copy.flags & SA_RESETHAND) act = KernelSigaction{};
  }
}

void ForceSignal(Task& t, siginfo_t info) {
  int sig = info.si_signo;
  KernelSigaction& act = t.handlers->actions[sig];
  if ((t.blocked & SigBit(sig)) || act.handler == uint64_t(SIG_IGN)) {
    t.blocked &= ~SigBit(sig);
    act = KernelSigaction{};
  }
  t.pending.Enqueue(info);
}

Status SendTaskSignal(Task& t, const siginfo_t& info, bool from_inside) {
  int sig = info.si_signo;
  if (sig == 0) return Ok();
  ThreadGroup& tg = t.tg();
  if (tg.zombie || t.exited) return Ok();
  KernelSigaction& act = t.handlers->actions[sig];
  // The init of a pid namespace gets only the signals it handles, unless
  // they come from outside the namespace.
  if (from_inside && &tg == t.kernel().init().get() &&
      act.handler == uint64_t(SIG_DFL) &&
      !((t.blocked | t.real_blocked) & SigBit(sig)))
    return Ok();
  if (sig == SIGKILL) {
    t.kernel().ExitGroup(tg, SIGKILL);
    return Ok();
  }
  if (sig == SIGCONT) {
    for (int s : {SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU}) {
      tg.shared_pending.Discard(s);
      for (auto& other : tg.tasks) other->pending.Discard(s);
    }
    if (tg.stopped) {
      tg.stopped = false;
      tg.continue_reported = false;
      NotifyParent(tg, CLD_CONTINUED, SIGCONT);
      for (auto& other : tg.tasks) other->Wake();
    }
  } else if (DefaultActionOf(sig) == DefaultAction::kStop) {
    tg.shared_pending.Discard(SIGCONT);
  }
  // Ignored signals are dropped at once, as Linux does.
  bool ignored = act.handler == uint64_t(SIG_IGN) ||
                 (act.handler == uint64_t(SIG_DFL) &&
                  (DefaultActionOf(sig) == DefaultAction::kIgnore ||
                   DefaultActionOf(sig) == DefaultAction::kContinue));
  if (ignored && !(t.blocked & SigBit(sig))) return Ok();
  t.pending.Enqueue(info);
  tg.signal_events.Notify(kEventIn);
  t.Interrupt();
  return Ok();
}

Status SendGroupSignal(ThreadGroup& tg, const siginfo_t& info,
                       bool from_inside) {
  if (tg.zombie || tg.tasks.empty()) return Ok();
  int sig = info.si_signo;
  if (sig == 0) return Ok();
  // Queue on the group and wake a thread that does not block it.
  Task* target = nullptr;
  for (auto& t : tg.tasks)
    if (!(t->blocked & SigBit(sig))) {
      target = t.get();
      break;
    }
  if (target == nullptr) target = tg.tasks.front().get();
  if (sig == SIGKILL || sig == SIGCONT || target->blocked & SigBit(sig))
    return SendTaskSignal(*target, info, from_inside);
  KernelSigaction& act = target->handlers->actions[sig];
  if (from_inside && &tg == target->kernel().init().get() &&
      act.handler == uint64_t(SIG_DFL) &&
      !((target->blocked | target->real_blocked) & SigBit(sig)))
    return Ok();
  if (DefaultActionOf(sig) == DefaultAction::kStop)
    tg.shared_pending.Discard(SIGCONT);
  bool ignored = act.handler == uint64_t(SIG_IGN) ||
                 (act.handler == uint64_t(SIG_DFL) &&
                  DefaultActionOf(sig) == DefaultAction::kIgnore);
  if (ignored) return Ok();
  tg.shared_pending.Enqueue(info);
  tg.signal_events.Notify(kEventIn);
  target->Interrupt();
  return Ok();
}

int64_t SignalReturn(Task& t) {
  uint64_t frame_addr = t.regs.rsp - 8;  // the handler's ret popped pretcode
  MemoryManager& mm = t.mm();
  auto frame = mm.Read<RtSigframe>(frame_addr);
  if (!frame.ok()) {
    ForceSignal(t, MakeSigInfo(SIGSEGV, SI_KERNEL));
    return kNoReturnValue;
  }
  UContext& uc = frame->uc;
  RestoreRegs(uc.mcontext, t.regs);
  t.blocked = uc.sigmask & ~kUnblockable;
  // sigaltstack settings come back from the frame too.
  if (!OnAltStack(t, t.regs.rsp)) {
    t.altstack.ss_sp = reinterpret_cast<void*>(uc.stack.sp);
    t.altstack.ss_size = uc.stack.size;
    t.altstack.ss_flags = uc.stack.flags & SS_DISABLE;
  }
  if (uc.mcontext.fpstate != 0) {
    auto current = t.context().GetFpState();
    if (current.ok()) {
      FpState state(current->size());
      if (mm.CopyIn(uc.mcontext.fpstate, state.data(), state.size()).ok()) {
        // Keep the XSAVE header sane: an application may not enable
        // features the CPU state does not have.
        memcpy(state.data() + 512 + 8, current->data() + 512 + 8, 56);
        (void)t.context().SetFpState(state);
      }
    }
  }
  return kNoReturnValue;
}

void NotifyParent(ThreadGroup& child, int code, int status) {
  auto parent = child.parent.lock();
  if (!parent) return;
  parent->child_events.Notify(kEventIn);
  auto leader = parent->Leader();
  if (!leader && !parent->tasks.empty()) leader = parent->tasks.front();
  if (!leader) return;
  KernelSigaction& act = leader->handlers->actions[SIGCHLD];
  if (code != CLD_EXITED && code != CLD_KILLED && code != CLD_DUMPED &&
      (act.flags & SA_NOCLDSTOP))
    return;
  siginfo_t info = MakeSigInfo(SIGCHLD, code, child.tgid, child.Uid());
  info.si_status = status;
  if (code == CLD_EXITED) info.si_status = (status >> 8) & 0xff;
  (void)SendGroupSignal(*parent, info, false);
}

}  // namespace moat
