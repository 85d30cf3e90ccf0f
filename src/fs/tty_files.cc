// The two sides of a pty as files, job control, hangup and the terminal
// ioctls. The rules for which process may do what follow Linux
// drivers/tty/tty_io.c and tty_jobctrl.c.
#include <linux/capability.h>
#include <sys/resource.h>
#include <termios.h>

#include "fs/devpts.h"
#include "fs/tty.h"
#include "kernel/kernel.h"
#include "kernel/signal_delivery.h"
#include "vfs/fd_table.h"

namespace moat {
namespace {

constexpr int kErrRestartSys = 512;

// struct termios2: termios with the speeds as numbers.
struct KernelTermios2 {
  KernelTermios t;
  uint32_t c_ispeed;
  uint32_t c_ospeed;
};
constexpr uint64_t kTcGets2 = _IOR('T', 0x2A, KernelTermios2);
constexpr uint64_t kTcSets2 = _IOW('T', 0x2B, KernelTermios2);
constexpr uint64_t kTcSetsW2 = _IOW('T', 0x2C, KernelTermios2);
constexpr uint64_t kTcSetsF2 = _IOW('T', 0x2D, KernelTermios2);

// A process group is orphaned when no member has a parent in another group
// of the same session (POSIX; Linux will_become_orphaned_pgrp).
bool IsOrphaned(Kernel& k, const ProcessGroup& pg) {
  for (auto& g : k.Groups()) {
    if (g->zombie || !g->pgrp || g->pgrp->pgid != pg.pgid) continue;
    auto parent = g->parent.lock();
    if (parent && !parent->zombie && parent->pgrp &&
        parent->pgrp->pgid != pg.pgid &&
        parent->pgrp->session == g->pgrp->session)
      return false;
  }
  return true;
}

std::shared_ptr<Session> SessionOf(Task& t) {
  return t.tg().pgrp ? t.tg().pgrp->session : nullptr;
}

void SignalGroupOf(Kernel& k, int pgid, int sig) {
  if (pgid > 0) k.SignalProcessGroup(pgid, MakeSigInfo(sig, SI_KERNEL));
}

}  // namespace

std::shared_ptr<Tty> ControllingTty(Task& t) {
  auto s = SessionOf(t);
  if (!s || !s->controlling_tty) return nullptr;
  auto* f = dynamic_cast<TtyFile*>(s->controlling_tty.get());
  return f ? f->tty() : nullptr;
}

Status Tty::CheckJobControl(Task& t, int sig) {
  if (ControllingTty(t).get() != this) return Ok();
  auto pg = t.tg().pgrp;
  if (!pg || fg_pgrp == 0 || pg->pgid == fg_pgrp) return Ok();
  const KernelSigaction& act = t.handlers->actions[sig];
  bool ignored =
      act.handler == uint64_t(SIG_IGN) || (t.blocked & SigBit(sig));
  if (sig == SIGTTOU && ignored) return Ok();
  if (ignored || IsOrphaned(t.kernel(), *pg)) return Err(EIO);
  SignalGroupOf(t.kernel(), pg->pgid, sig);
  return Err(kErrRestartSys);
}

void Tty::AttachSession(Task& t) {
  auto s = SessionOf(t);
  if (!s) return;
  s->controlling_tty = std::make_shared<TtyFile>(shared_from_this(), false);
  session = s;
  fg_pgrp = t.tg().pgrp->pgid;
}

void Tty::DetachSession() {
  if (auto s = session.lock()) {
    auto* f = dynamic_cast<TtyFile*>(s->controlling_tty.get());
    if (f && f->tty().get() == this) s->controlling_tty.reset();
  }
  session.reset();
  fg_pgrp = 0;
}

void Tty::Hangup(Kernel& k) {
  if (hung_up_) return;
  hung_up_ = true;
  FlushInput();
  FlushOutput();
  // The controlling process and the foreground job learn that the
  // terminal is gone (Linux tty_signal_session_leader).
  if (auto s = session.lock()) {
    if (auto leader = s->leader.lock(); leader && !leader->zombie) {
      k.SignalGroup(*leader, MakeSigInfo(SIGHUP, SI_KERNEL));
      k.SignalGroup(*leader, MakeSigInfo(SIGCONT, SI_KERNEL));
    }
    SignalGroupOf(k, fg_pgrp, SIGHUP);
    SignalGroupOf(k, fg_pgrp, SIGCONT);
  }
  DetachSession();
  slave_queue.Notify(kEventIn | kEventOut | kEventHup | kEventErr);
}

// ---- the slave side ----

TtyFile::TtyFile(std::shared_ptr<Tty> tty, bool counted)
    : tty_(std::move(tty)), counted_(counted) {
  if (!counted_) return;
  tty_->slave_opens++;
  tty_->slave_opened = true;
}

TtyFile::~TtyFile() {
  if (counted_ && --tty_->slave_opens == 0)
    tty_->master_queue.Notify(kEventIn | kEventHup);
}

Result<size_t> TtyFile::Read(Task& t, void* buf, size_t len) {
  TRY_STATUS(tty_->CheckJobControl(t, SIGTTIN));
  return tty_->ReadInput(t, static_cast<char*>(buf), len,
                         flags & O_NONBLOCK);
}

Result<size_t> TtyFile::Write(Task& t, const void* buf, size_t len) {
  if (tty_->hung_up()) return Err(EIO);
  if (tty_->termios().c_lflag & TOSTOP)
    TRY_STATUS(tty_->CheckJobControl(t, SIGTTOU));
  if (len == 0) return size_t(0);
  size_t n = tty_->Write(static_cast<const char*>(buf), len);
  if (n == 0) return Err(EAGAIN);
  return n;
}

uint32_t TtyFile::Readiness(uint32_t mask) {
  uint32_t r = 0;
  if (tty_->hung_up()) return kEventIn | kEventOut | kEventHup | kEventErr;
  if (tty_->InputReady()) r |= kEventIn;
  if (tty_->OutputQueued() < kTtyOutputMax) r |= kEventOut;
  return r & mask;
}

std::string TtyFile::Name() {
  return "/dev/pts/" + std::to_string(tty_->index());
}

Result<int64_t> TtyFile::Ioctl(Task& t, uint64_t cmd, uint64_t arg) {
  if (tty_->hung_up()) return Err(cmd == TIOCSPGRP ? ENOTTY : EIO);
  return TtyIoctl(t, *tty_, false, cmd, arg);
}

// ---- the master side ----

PtyMasterFile::~PtyMasterFile() {
  if (Kernel::current) tty_->Hangup(*Kernel::current);
  ForgetPty(tty_->index());
}

Result<size_t> PtyMasterFile::Read(Task&, void* buf, size_t len) {
  size_t n = tty_->ReadOutput(static_cast<char*>(buf), len);
  if (n > 0 || len == 0) return n;
  // Once every slave is closed, the master reads EIO, as on Linux.
  if (tty_->slave_opened && tty_->slave_opens == 0) return Err(EIO);
  return Err(EAGAIN);
}

Result<size_t> PtyMasterFile::Write(Task& t, const void* buf, size_t len) {
  if (len == 0) return size_t(0);
  size_t n = tty_->Receive(t.kernel(), static_cast<const char*>(buf), len);
  if (n == 0) return Err(EAGAIN);
  return n;
}

uint32_t PtyMasterFile::Readiness(uint32_t mask) {
  uint32_t r = 0;
  if (tty_->OutputReady()) r |= kEventIn;
  if (tty_->InputRoom()) r |= kEventOut;
  if (tty_->slave_opened && tty_->slave_opens == 0) r |= kEventHup;
  return r & (mask | kEventHup);
}

Result<int64_t> PtyMasterFile::Ioctl(Task& t, uint64_t cmd, uint64_t arg) {
  return TtyIoctl(t, *tty_, true, cmd, arg);
}

// ---- ioctls ----

namespace {

Result<int64_t> SetAttr(Task& t, Tty& tty, bool master, uint64_t cmd,
                        uint64_t arg) {
  if (!master) TRY_STATUS(tty.CheckJobControl(t, SIGTTOU));
  bool v2 = cmd == kTcSets2 || cmd == kTcSetsW2 || cmd == kTcSetsF2;
  KernelTermios tio = TRY(t.mm().Read<KernelTermios>(arg));
  if (v2) tio = TRY(t.mm().Read<KernelTermios2>(arg)).t;
  // TODO: TCSETSW does not wait for the output to drain.
  if (cmd == TCSETSF || cmd == kTcSetsF2) tty.FlushInput();
  tty.SetTermios(tio);
  return 0;
}

Result<int64_t> Flush(Tty& tty, bool master, uint64_t arg) {
  // The master's input is the slave's output.
  bool in = arg == TCIFLUSH || arg == TCIOFLUSH;
  bool out = arg == TCOFLUSH || arg == TCIOFLUSH;
  if (!in && !out) return Err(EINVAL);
  if (master) std::swap(in, out);
  if (in) tty.FlushInput();
  if (out) tty.FlushOutput();
  return 0;
}

Result<int64_t> FlowControl(Tty& tty, uint64_t arg) {
  char c;
  switch (arg) {
    case TCOOFF: tty.SetStopped(true); return 0;
    case TCOON: tty.SetStopped(false); return 0;
    case TCIOFF: c = tty.termios().c_cc[VSTOP]; break;
    case TCION: c = tty.termios().c_cc[VSTART]; break;
    default: return Err(EINVAL);
  }
  if (c) (void)tty.Write(&c, 1);
  return 0;
}

Result<int64_t> SetForeground(Task& t, Tty& tty, uint64_t arg) {
  auto checked = tty.CheckJobControl(t, SIGTTOU);
  if (!checked.ok()) return Err(checked.error() == EIO ? ENOTTY
                                                        : checked.error());
  auto s = tty.session.lock();
  if (ControllingTty(t).get() != &tty || !s || s != SessionOf(t))
    return Err(ENOTTY);
  int pgid = TRY(t.mm().Read<int>(arg));
  if (pgid < 0) return Err(EINVAL);
  auto pg = t.kernel().GetProcessGroup(pgid);
  if (!pg) return Err(ESRCH);
  if (pg->session != s) return Err(EPERM);
  tty.fg_pgrp = pgid;
  return 0;
}

Result<int64_t> SetControlling(Task& t, Tty& tty, uint64_t arg) {
  auto mine = SessionOf(t);
  if (!mine) return Err(EPERM);
  if (ControllingTty(t).get() == &tty && mine->sid == t.tg().tgid) return 0;
  if (mine->sid != t.tg().tgid || mine->controlling_tty) return Err(EPERM);
  if (auto other = tty.session.lock()) {
    // Stealing a terminal from another session takes CAP_SYS_ADMIN.
    if (arg != 1 || !t.creds.HasCapability(CAP_SYS_ADMIN)) return Err(EPERM);
    tty.DetachSession();
  }
  tty.AttachSession(t);
  return 0;
}

Result<int64_t> DropControlling(Task& t, Tty& tty) {
  if (ControllingTty(t).get() != &tty) return Err(ENOTTY);
  auto s = SessionOf(t);
  if (s->sid == t.tg().tgid) {
    SignalGroupOf(t.kernel(), tty.fg_pgrp, SIGHUP);
    SignalGroupOf(t.kernel(), tty.fg_pgrp, SIGCONT);
    tty.DetachSession();
  }
  // TODO: moat keeps the controlling terminal per session, so a process
  // other than the leader cannot drop it alone.
  return 0;
}

Result<int64_t> OpenPeer(Task& t, Tty& tty, uint64_t arg) {
  int flags = int(arg);
  if (flags & ~(O_ACCMODE | O_NOCTTY | O_NONBLOCK | O_CLOEXEC))
    return Err(EINVAL);
  FilePtr f = TRY(OpenPtySlave(&t, tty.shared_from_this(),
                               flags & ~O_CLOEXEC));
  return TRY(t.fds->Add(f, flags & O_CLOEXEC, 0,
                        t.tg().rlimits[RLIMIT_NOFILE].rlim_cur));
}

Result<int64_t> MasterIoctl(Task& t, Tty& tty, uint64_t cmd, uint64_t arg) {
  MemoryManager& mm = t.mm();
  switch (cmd) {
    case TIOCGPTN:
      TRY_STATUS(mm.Write<unsigned>(arg, tty.index()));
      return 0;
    case TIOCSPTLCK:
      tty.locked = TRY(mm.Read<int>(arg)) != 0;
      return 0;
    case TIOCGPTLCK:
      TRY_STATUS(mm.Write<int>(arg, tty.locked));
      return 0;
    case TIOCGPTPEER:
      return OpenPeer(t, tty, arg);
    case TIOCSIG:
      if (arg == 0 || arg > kMaxSignal) return Err(EINVAL);
      SignalGroupOf(t.kernel(), tty.fg_pgrp, int(arg));
      return 0;
    case TIOCPKT:
      // TODO: packet mode is not supported.
      if (TRY(mm.Read<int>(arg)) != 0) return Err(EINVAL);
      return 0;
  }
  return Err(ENOTTY);
}

}  // namespace

Result<int64_t> TtyIoctl(Task& t, Tty& tty, bool master, uint64_t cmd,
                         uint64_t arg) {
  MemoryManager& mm = t.mm();
  bool own_ctty = master || ControllingTty(t).get() == &tty;
  switch (cmd) {
    case TCGETS:
      TRY_STATUS(mm.Write(arg, tty.termios()));
      return 0;
    case kTcGets2:
      TRY_STATUS(mm.Write(arg, KernelTermios2{tty.termios(), 38400, 38400}));
      return 0;
    case TCSETS: case TCSETSW: case TCSETSF:
    case kTcSets2: case kTcSetsW2: case kTcSetsF2:
      return SetAttr(t, tty, master, cmd, arg);
    case TIOCGWINSZ:
      TRY_STATUS(mm.Write(arg, tty.window_size()));
      return 0;
    case TIOCSWINSZ:
      tty.SetWindowSize(t.kernel(), TRY(mm.Read<struct winsize>(arg)));
      return 0;
    case FIONREAD:
      TRY_STATUS(mm.Write<int>(
          arg, master ? tty.OutputQueued() : tty.InputAvailable()));
      return 0;
    case TIOCOUTQ:
      TRY_STATUS(mm.Write<int>(
          arg, master ? tty.InputAvailable() : tty.OutputQueued()));
      return 0;
    case TCFLSH:
      if (!master) TRY_STATUS(tty.CheckJobControl(t, SIGTTOU));
      return Flush(tty, master, arg);
    case TCXONC:
      if (!master) TRY_STATUS(tty.CheckJobControl(t, SIGTTOU));
      return FlowControl(tty, arg);
    case TCSBRK: case TCSBRKP:
      if (!master) TRY_STATUS(tty.CheckJobControl(t, SIGTTOU));
      return 0;
    case TIOCSBRK: case TIOCCBRK: case TIOCEXCL: case TIOCNXCL:
      return 0;
    case TIOCGEXCL: case TIOCGETD:
      TRY_STATUS(mm.Write<int>(arg, 0));
      return 0;
    case TIOCGPGRP:
      if (!own_ctty) return Err(ENOTTY);
      TRY_STATUS(mm.Write<int>(arg, tty.fg_pgrp));
      return 0;
    case TIOCSPGRP:
      return SetForeground(t, tty, arg);
    case TIOCGSID: {
      auto s = tty.session.lock();
      if (!own_ctty || !s) return Err(ENOTTY);
      TRY_STATUS(mm.Write<int>(arg, s->sid));
      return 0;
    }
    case TIOCSTI: {
      if (!own_ctty && !t.creds.HasCapability(CAP_SYS_ADMIN))
        return Err(EPERM);
      char c = TRY(mm.Read<char>(arg));
      (void)tty.Receive(t.kernel(), &c, 1);
      return 0;
    }
  }
  if (master) return MasterIoctl(t, tty, cmd, arg);
  switch (cmd) {
    case TIOCSCTTY:
      return SetControlling(t, tty, arg);
    case TIOCNOTTY:
      return DropControlling(t, tty);
  }
  return Err(ENOTTY);
}

}  // namespace moat
