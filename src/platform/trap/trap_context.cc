// The kernel's side of the hand-off with a stub thread: everything the
// stub writes is read once into the context and checked before use.
#include <linux/futex.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <sys/ucontext.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstring>

#include "mm/memory_file.h"
#include "platform/trap/trap_platform.h"
#include "util/log.h"

namespace moat {
namespace {

constexpr uint64_t kControlSize = MOAT_TRAP_CONTROL_SIZE;
// Offsets in the frame's ucontext, which is the kernel's struct ucontext
// (glibc's ucontext_t has more after uc_sigmask's first word).
constexpr size_t kGregsOffset = offsetof(ucontext_t, uc_mcontext.gregs);
constexpr size_t kSigmaskOffset = offsetof(ucontext_t, uc_sigmask);
static_assert(kSigmaskOffset == 296);
// The kernel's struct ucontext ends with an 8-byte signal mask.
constexpr size_t kHostUcontextSize = kSigmaskOffset + 8;
// How long the kernel sleeps before it checks whether the stub still lives.
constexpr long kDeathCheckNs = 100'000'000;
// The delays before the kernel sends its interrupt again while the thread
// runs without trapping, doubling from the first to the longest. The stub
// drops an interrupt that lands in its hand-off code, as one sent just
// before the resume may. The thread leaves that code within microseconds.
constexpr long kFirstResendNs = 50'000;
constexpr long kLongestResendNs = 1'000'000;
// The flags a SIGSYS frame may resume with when the stub loads them with
// popfq. These are the flags rt_sigreturn takes from a frame (Linux
// arch/x86/kernel/signal_64.c, FIX_EFLAGS) plus IF and the reserved bit 1.
// TF and RF are left out because popfq would apply TF one instruction
// early and clears RF.
constexpr uint64_t kStubLoadableFlags = 0x1 | 0x4 | 0x10 | 0x40 | 0x80 |
                                        0x200 | 0x400 | 0x800 | 0x40000 |
                                        0x2;
// The end of the canonical lower half: a %rip above it makes the stub's
// jump fault inside the stub rather than at the program's address.
constexpr uint64_t kCanonicalEnd = 1ull << 47;
// How long a thread that runs application code may leave the kernel's
// interrupt signal without a trap, and how much CPU time it may use after
// that. A stub traps within microseconds of CPU time once it runs, so only
// a thread that blocked the signal through a forged rt_sigreturn frame
// uses more. One that the host does not run, because it is stopped or the
// host is overloaded, uses none.
constexpr int64_t kInterruptAnswerNs = 2'000'000'000;
constexpr int64_t kInterruptAnswerCpuNs = 100'000'000;

thread_local TrapContext* t_current = nullptr;

std::atomic<uint32_t>& Word(uint8_t* area, size_t offset) {
  return *reinterpret_cast<std::atomic<uint32_t>*>(area + offset);
}

// Copies `size` bytes, a multiple of 8, as 8-byte loads and stores.
void CopyWords(void* dst, const void* src, size_t size) {
  for (size_t i = 0; i < size; i += 8) {
    uint64_t word;
    memcpy(&word, static_cast<const uint8_t*>(src) + i, 8);
    memcpy(static_cast<uint8_t*>(dst) + i, &word, 8);
  }
}

uint64_t Load64(const uint8_t* area, size_t offset) {
  uint64_t v;
  memcpy(&v, area + offset, 8);
  return v;
}

void Store64(uint8_t* area, size_t offset, uint64_t v) {
  memcpy(area + offset, &v, 8);
}

long Futex(std::atomic<uint32_t>& word, int op, uint32_t value,
           const timespec* timeout) {
  return syscall(SYS_futex, &word, op, value, timeout, nullptr, 0);
}

// The CPU time that stub thread `tid` has used, in nanoseconds, or -1 if
// the host cannot tell. Each stub thread is a host process of its own (no
// CLONE_THREAD), whose process CPU clock any process may read.
int64_t ThreadCpuNs(pid_t tid) {
  // MAKE_PROCESS_CPUCLOCK(tid, CPUCLOCK_SCHED) in Linux's posix-timers
  // headers.
  clockid_t clock = clockid_t((~unsigned(tid) << 3) | 2);
  timespec ts;
  if (clock_gettime(clock, &ts) != 0) return -1;
  return int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// The first version of struct pidfd_info (linux/pidfd.h, Linux 6.15),
// which this host's headers predate.
struct PidfdInfo {
  uint64_t mask;
  uint64_t cgroupid;
  uint32_t ids[11];
  int32_t exit_code;
};
static_assert(sizeof(PidfdInfo) == 64);

// The signal that ended the process behind `pidfd`, or 0 if the host does
// not say (before Linux 6.15) or it exited by itself.
int DeathSignal(int pidfd) {
  PidfdInfo info = {};
  info.mask = kPidfdInfoExit;
  if (ioctl(pidfd, kPidfdGetInfo, &info) != 0) return 0;
  if ((info.mask & kPidfdInfoExit) == 0) return 0;
  return WIFSIGNALED(info.exit_code) ? WTERMSIG(info.exit_code) : 0;
}

}  // namespace

TrapContext*& CurrentTrapContext() { return t_current; }

TrapContext::TrapContext(TrapPlatform& platform)
    : platform_(platform),
      kernel_spin_(kKernelSpinNs),
      stub_spin_(platform.spin_iterations()) {}

TrapContext::~TrapContext() { ReleaseThread(false); }

void TrapContext::Release() {
  // The mappings queued for this thread's resume must reach the host
  // before another context runs the program on it.
  bool park = thread_ && started_ && as_ != nullptr;
  if (park && !queued_maps_.empty()) park = MapQueued().ok() && thread_;
  ReleaseThread(park);
}

void TrapContext::Park() {
  if (!thread_ || !started_) return;
  auto fp = GetFpState();
  if (!fp.ok()) return;
  initial_fp_ = std::move(fp.value());
  Release();
}

void TrapContext::ReleaseThread(bool park) {
  std::lock_guard lock(mu_);
  if (thread_) {
    uint8_t* area = thread_->area;
    uint32_t state = Word(area, MOAT_TC_STATE).load();
    park = park && (state == MOAT_TRAP_TRAPPED || state == MOAT_TRAP_DONE) &&
           !Exited(thread_->pidfd);
    // Parked, it sleeps in its handler until a context takes it.
    if (park) Word(area, MOAT_TC_KERNEL_BLOCKED).store(1);
    if (!park || !as_->ParkThread(*thread_)) {
      // A slot is reused only once its old thread can no longer write it.
      syscall(SYS_pidfd_send_signal, thread_->pidfd, SIGKILL, nullptr, 0);
      pollfd p = {thread_->pidfd, POLLIN, 0};
      bool gone = poll(&p, 1, 1000) == 1;
      close(thread_->pidfd);
      if (gone && as_ != nullptr) as_->ReturnSlot(thread_->slot);
    }
    thread_.reset();
  }
  interrupt_sent_ns_.store(0);  // the next thread never got the signal
  queued_maps_.clear();
  as_ = nullptr;
  as_id_ = 0;
  started_ = false;
  map_count_clear_ = false;
  have_trap_ = false;
  fp_saved_ = true;
  fp_changed_ = false;
  if (t_current == this) t_current = nullptr;
}

void TrapContext::Interrupt() {
  std::lock_guard lock(mu_);
  if (!thread_) return;
  // A new thread runs on its parent's signal stack until it sets its own,
  // just before its first trap, so a handler run earlier would overwrite
  // the parent's frame and control page. Switch reports the interrupt at
  // that first trap instead.
  if (!started_) {
    interrupted_before_start_.store(true);
    return;
  }
  syscall(SYS_pidfd_send_signal, thread_->pidfd, kTrapInterruptSignal,
          nullptr, 0);
  int64_t none = 0;
  interrupt_sent_ns_.compare_exchange_strong(none, NowNs());
  // Wakes a kernel that sleeps until the stub traps, so that it sleeps
  // again with the timeout that resends the interrupt.
  if (Word(thread_->area, MOAT_TC_KERNEL_SLEEPING).load() != 0)
    Futex(Word(thread_->area, MOAT_TC_STATE), FUTEX_WAKE, 1, nullptr);
}

// Kills the stub thread when it has left an interrupt unanswered for
// kInterruptAnswerNs while running application code, and has then run for
// kInterruptAnswerCpuNs more without a trap. A program can block the
// interrupt signal on the host by jumping to the stub's rt_sigreturn with
// a forged frame. Without this check, a group exit or a kill would wait
// for it forever. The task then ends as if killed with SIGKILL.
void TrapContext::KillIfInterruptIgnored() {
  int64_t sent = interrupt_sent_ns_.load();
  if (sent == 0 || NowNs() - sent < kInterruptAnswerNs) return;
  // A stalled VM or an overloaded host can keep a stub off the CPU for
  // seconds, so the wait counts the thread's own CPU time too.
  int64_t cpu = ThreadCpuNs(thread_->tid);
  if (ignored_sent_ns_ != sent) {
    ignored_sent_ns_ = sent;
    ignored_cpu_ns_ = cpu;
    return;
  }
  // Without a CPU clock reading, the wall-clock wait alone decides.
  bool known = cpu >= 0 && ignored_cpu_ns_ >= 0;
  if (known && cpu - ignored_cpu_ns_ < kInterruptAnswerCpuNs) return;
  // spdlog::debug, not SPDLOG_DEBUG, which the build compiles out.
  spdlog::debug(
      "trap: stub thread {} left the interrupt unanswered for {} ms and "
      "ran {} ms meanwhile (-1: unknown); killing it",
      thread_->tid, (NowNs() - sent) / 1'000'000,
      known ? (cpu - ignored_cpu_ns_) / 1'000'000 : -1);
  syscall(SYS_pidfd_send_signal, thread_->pidfd, SIGKILL, nullptr, 0);
  interrupt_sent_ns_.store(0);
}

bool TrapContext::Bind(AddressSpace& as) {
  auto& tas = static_cast<TrapAddressSpace&>(as);
  if (thread_ && as_id_ == tas.id()) return true;
  Release();
  auto t = tas.TakeSpareThread(&ahead_maps_);
  if (!t) {
    // A task whose thread another ran meanwhile (Park) may find none left
    // if that one died.
    if (!tas.PrepareThread().ok()) return false;
    t = tas.TakeSpareThread(&ahead_maps_);
    if (!t) return false;
  }
  {
    std::lock_guard lock(mu_);
    thread_ = *t;
    as_ = &tas;
    as_id_ = tas.id();
  }
  if (!t->started) return true;
  // A parked thread waits at the last trap of the context that ran it.
  {
    std::lock_guard lock(mu_);
    started_ = true;
  }
  if (!ReadFrame()) {
    ReleaseThread(false);
    return false;
  }
  if (initial_fp_) {
    (void)SetFpState(*initial_fp_);
    initial_fp_.reset();
  } else if (t->clean_fp) {
    (void)SetFpState(CleanFpState());
  }
  thread_->clean_fp = false;  // once: a later parking keeps the state
  return true;
}

// The FPU state of a new program: every component in its initial state,
// with the x87 control word and MXCSR a legacy loader reads as well.
FpState TrapContext::CleanFpState() const {
  FpState state(platform_.xstate_size(), 0);
  const uint16_t control = 0x37f;
  const uint32_t mxcsr = 0x1f80;
  memcpy(state.data(), &control, sizeof control);
  memcpy(state.data() + 24, &mxcsr, sizeof mxcsr);
  return state;
}

void TrapContext::Publish(uint32_t state) {
  uint8_t* area = thread_->area;
  bool blocked = Word(area, MOAT_TC_KERNEL_BLOCKED).load() != 0;
  if (blocked) Word(area, MOAT_TC_KERNEL_BLOCKED).store(0);
  Word(area, MOAT_TC_STATE).exchange(state);  // a full barrier
  woke_stub_ = Word(area, MOAT_TC_STUB_SLEEPING).load() != 0;
  if (woke_stub_) {
    // A stub that slept because the task blocked teaches the budget
    // nothing about the next call.
    if (!blocked) stub_spin_.Wasted();
    Futex(Word(area, MOAT_TC_STATE), FUTEX_WAKE, 1, nullptr);
  } else {
    stub_spin_.Paid();
  }
}

namespace {

// The CPU the calling kernel thread is bound to, or -1 if it may run on
// any of the platform's.
thread_local int t_bound_cpu = -1;

// Binds the calling thread to `cpu`, or to all of `cpus` if it is -1.
void BindToCpu(int cpu, const cpu_set_t& cpus) {
  if (cpu == t_bound_cpu) return;
  cpu_set_t single;
  CPU_ZERO(&single);
  if (cpu >= 0) CPU_SET(cpu, &single);
  if (sched_setaffinity(0, sizeof(cpu_set_t), cpu >= 0 ? &single : &cpus) == 0)
    t_bound_cpu = cpu;
}

// A trap this long after the resume would not have been caught by a
// spinning kernel.
constexpr int64_t kLongGapNs = TrapContext::kKernelSpinNs;
// Shorter gaps in a row after which the kernel thread spins again.
constexpr int kShortGapsToSpin = 4;
// Long gaps in a row after which the kernel thread sleeps on the stub's
// CPU.
constexpr int kLongGapsToFollow = 2;

}  // namespace

// Another kernel thread wakes this one when the task's wait ends, and the
// host should be free to put it on whichever CPU is idle then.
void TrapContext::Blocking() {
  std::lock_guard lock(mu_);
  if (thread_ && started_) Word(thread_->area, MOAT_TC_KERNEL_BLOCKED).store(1);
  BindToCpu(-1, platform_.cpus());
}

// A kernel thread that sleeps until its stub traps is woken by the stub
// and put by the host on an idle CPU if there is one. On the test VMs,
// waking a thread on an idle CPU took about 15 us (an interrupt to a
// halted virtual CPU), and waking one on the waker's own CPU about 2 us.
// So the kernel thread binds itself before it sleeps to the CPU its stub
// last ran on (MOAT_TC_CPU) in two cases: its program computed longer
// than the kernel's spin between calls twice in a row, or it runs on that
// CPU already while more threads run than there are CPUs, so that it may
// not spin. Its sleeping word then reads MOAT_TRAP_SLEEPING_HERE, and the
// stub yields its CPU to the kernel thread it woke instead of spinning. A
// call after a long computation then cost 4-8 us more than natively on
// the test VMs instead of about 30. After a few calls that a spin would
// have caught, the kernel thread unbinds itself and spins again. The
// program can write MOAT_TC_CPU, so only moat's own CPUs are accepted.
bool TrapContext::SleepOnStubCpu() {
  const cpu_set_t& cpus = platform_.cpus();
  if (woke_stub_) {
    // The stub slept and the host placed it anew, so its CPU is not known
    // until it traps.
    BindToCpu(-1, cpus);
    return false;
  }
  if (t_bound_cpu >= 0 && short_gaps_ >= kShortGapsToSpin &&
      platform_.KernelMaySpin()) {
    short_gaps_ = 0;
    long_gaps_ = 0;
    kernel_spin_.Paid();
    BindToCpu(-1, cpus);
    return false;
  }
  uint32_t cpu = Word(thread_->area, MOAT_TC_CPU).load() - 1;
  if (cpu >= CPU_SETSIZE || !CPU_ISSET(cpu, &cpus)) return t_bound_cpu >= 0;
  // Moving to another CPU costs the host a migration. So the thread moves
  // only for a program that computes long between calls. Otherwise it
  // binds itself only to the CPU it runs on, when it may not spin.
  if (t_bound_cpu < 0 && long_gaps_ < kLongGapsToFollow &&
      (platform_.KernelMaySpin() || sched_getcpu() != int(cpu)))
    return false;
  BindToCpu(int(cpu), cpus);
  return t_bound_cpu >= 0;
}

TrapContext::Wait TrapContext::WaitWhile(uint32_t published, bool may_spin) {
  uint8_t* area = thread_->area;
  auto& state = Word(area, MOAT_TC_STATE);
  auto& sleeping = Word(area, MOAT_TC_KERNEL_SLEEPING);
  // A kernel thread on its stub's CPU never spins, because the stub waits
  // for that CPU.
  bool on_stub_cpu = t_bound_cpu >= 0;
  uint32_t budget = may_spin && !on_stub_cpu && platform_.KernelMaySpin()
                        ? kernel_spin_.Get()
                        : 0;
  int64_t waited_from = 0;
  if (budget > 0) {
    waited_from = NowNs();
    int64_t until = waited_from + budget;
    for (int i = 1;; i++) {
      if (state.load(std::memory_order_acquire) != published) {
        kernel_spin_.Paid();
        long_gaps_ = 0;
        return Wait::kChanged;
      }
      __builtin_ia32_pause();
      if (i % 64 == 0 && NowNs() > until) break;
    }
    kernel_spin_.Wasted();
  }
  bool measure = published == MOAT_TRAP_RESUME && may_spin;
  if (measure) {
    on_stub_cpu = SleepOnStubCpu();
    if (on_stub_cpu || waited_from == 0) waited_from = NowNs();
  }
  uint32_t sleeping_value = on_stub_cpu ? MOAT_TRAP_SLEEPING_HERE : 1;
  long resend_ns = kFirstResendNs;
  for (;;) {
    sleeping.store(sleeping_value);
    if (state.load() != published) break;
    bool resend = published == MOAT_TRAP_RESUME &&
                  interrupt_sent_ns_.load() != 0;
    timespec timeout = {0, resend ? resend_ns : kDeathCheckNs};
    long r = Futex(state, FUTEX_WAIT, published, &timeout);
    if (r != 0 && errno == ETIMEDOUT && state.load() == published) {
      if (resend) {
        std::lock_guard lock(mu_);
        syscall(SYS_pidfd_send_signal, thread_->pidfd, kTrapInterruptSignal,
                nullptr, 0);
        resend_ns = std::min(2 * resend_ns, kLongestResendNs);
      }
      if (Exited(thread_->pidfd)) {
        sleeping.store(0);
        return Wait::kDied;
      }
      if (published == MOAT_TRAP_RESUME) KillIfInterruptIgnored();
    }
  }
  sleeping.store(0);
  if (measure) {
    int64_t gap = NowNs() - waited_from;
    short_gaps_ = on_stub_cpu && gap < kLongGapNs ? short_gaps_ + 1 : 0;
    long_gaps_ = gap > kLongGapNs ? long_gaps_ + 1 : 0;
  }
  return Wait::kChanged;
}

// Copies the trap the stub reported out of its slot. The pointers come
// from the stub and must point into the slot's signal stack.
bool TrapContext::ReadFrame() {
  const uint8_t* area = thread_->area;
  uint64_t base = thread_->slot_addr;
  uint64_t uc = Load64(area, MOAT_TC_UCONTEXT);
  uint64_t info = Load64(area, MOAT_TC_SIGINFO);
  fs_base_ = Load64(area, MOAT_TC_FS_BASE);
  gs_base_ = Load64(area, MOAT_TC_GS_BASE);
  // A thread without a GS base of its own runs with its slot's address as
  // GS base, so that a patched call can find its frame.
  if (gs_base_ == base) gs_base_ = 0;
  auto inside = [&](uint64_t p, uint64_t size) {
    return p >= base + kControlSize && p <= base + kTrapSlotSize - size;
  };
  if (!inside(uc, kHostUcontextSize) || !inside(info, sizeof(siginfo_t)))
    return false;
  uc_offset_ = uc - base;
  // Word by word: a string copy's start-up cost is most of the copy's
  // time here. The bytes past the host's ucontext stay zero from the start.
  CopyWords(&uc_, area + uc_offset_, kHostUcontextSize);
  CopyWords(&info_, area + (info - base), sizeof info_);
  auto fp = reinterpret_cast<uint64_t>(uc_.uc_mcontext.fpregs);
  fp_offset_ = inside(fp, platform_.xstate_size() + 4) ? fp - base : 0;
  // A patched call leaves the FPU state in the registers until the kernel
  // needs it (SaveFpState) or the stub sleeps (2).
  uint32_t patched = Word(thread_->area, MOAT_TC_PATCHED).load();
  fp_saved_ = patched != 1;
  if (patched != 0) fp_offset_ = MOAT_TRAP_PATCH_FP;
  have_trap_ = true;
  return true;
}

// Writes the registers the thread resumes with into its signal frame.
void TrapContext::WriteFrame(const Registers& regs) {
  greg_t g[NGREG];
  memcpy(g, uc_.uc_mcontext.gregs, sizeof g);  // keeps CSGSFS and the rest
  g[REG_R8] = regs.r8;
  g[REG_R9] = regs.r9;
  g[REG_R10] = regs.r10;
  g[REG_R11] = regs.r11;
  g[REG_R12] = regs.r12;
  g[REG_R13] = regs.r13;
  g[REG_R14] = regs.r14;
  g[REG_R15] = regs.r15;
  g[REG_RDI] = regs.rdi;
  g[REG_RSI] = regs.rsi;
  g[REG_RBP] = regs.rbp;
  g[REG_RBX] = regs.rbx;
  g[REG_RDX] = regs.rdx;
  g[REG_RAX] = regs.rax;
  g[REG_RCX] = regs.rcx;
  g[REG_RSP] = regs.rsp;
  g[REG_RIP] = regs.rip;
  g[REG_EFL] = regs.eflags;
  uint8_t* area = thread_->area;
  bool sigreturn = NeedsSigreturn(regs);
  // The stub loads %rax from NEW_RAX, except when it leaves through
  // rt_sigreturn: after a trap other than SIGSYS, whose handler returns
  // into the restorer, or when NeedsSigreturn requires it.
  bool frame_rax = sigreturn || info_.si_signo != SIGSYS;
  Store64(area, MOAT_TC_NEW_RAX, regs.rax);
  // Writes only the registers that changed, so the frame's other lines
  // stay in the stub's cache (trap_layout.h). uc_ is a copy of the frame.
  for (int i = 0; i < NGREG; i++) {
    if (g[i] == uc_.uc_mcontext.gregs[i]) continue;
    if (i == REG_RAX && !frame_rax) continue;
    Store64(area, uc_offset_ + kGregsOffset + 8 * i, uint64_t(g[i]));
  }
  // The stub runs application code with no host signal blocked.
  if (Load64(reinterpret_cast<const uint8_t*>(&uc_), kSigmaskOffset) != 0)
    Store64(area, uc_offset_ + kSigmaskOffset, 0);
  auto store_changed32 = [&](int offset, uint32_t value) {
    if (Word(area, offset).load(std::memory_order_relaxed) != value)
      Word(area, offset).store(value);
  };
  auto store_changed64 = [&](int offset, uint64_t value) {
    if (Load64(area, offset) != value) Store64(area, offset, value);
  };
  store_changed32(MOAT_TC_SIGRETURN, sigreturn ? 1 : 0);
  store_changed32(MOAT_TC_FP_RESTORE, fp_changed_ ? 1 : 0);
  fp_changed_ = false;
  store_changed64(MOAT_TC_NEW_FS_BASE, regs.fs_base);
  store_changed64(MOAT_TC_NEW_GS_BASE,
                  regs.gs_base != 0 ? regs.gs_base : thread_->slot_addr);
}

// Whether the stub must leave a SIGSYS frame through rt_sigreturn rather
// than load the registers itself. It must when the host blocked signals at
// the trap, which only a forged rt_sigreturn frame does. It must when the
// final jump cannot go through the slot's GS base, and for a %rip or flags
// that behave differently when the stub loads them.
bool TrapContext::NeedsSigreturn(const Registers& regs) const {
  uint64_t host_mask;
  memcpy(&host_mask, reinterpret_cast<const uint8_t*>(&uc_) + kSigmaskOffset,
         sizeof host_mask);
  return host_mask != 0 || regs.gs_base != 0 || regs.rip >= kCanonicalEnd ||
         (regs.eflags & ~kStubLoadableFlags) != 0;
}

SwitchReason TrapContext::Classify(Registers& regs, siginfo_t& info) {
  const greg_t* g = uc_.uc_mcontext.gregs;
  regs.r8 = g[REG_R8];
  regs.r9 = g[REG_R9];
  regs.r10 = g[REG_R10];
  regs.r11 = g[REG_R11];
  regs.r12 = g[REG_R12];
  regs.r13 = g[REG_R13];
  regs.r14 = g[REG_R14];
  regs.r15 = g[REG_R15];
  regs.rdi = g[REG_RDI];
  regs.rsi = g[REG_RSI];
  regs.rbp = g[REG_RBP];
  regs.rbx = g[REG_RBX];
  regs.rdx = g[REG_RDX];
  regs.rax = g[REG_RAX];
  regs.rcx = g[REG_RCX];
  regs.rsp = g[REG_RSP];
  regs.rip = g[REG_RIP];
  regs.eflags = g[REG_EFL];
  regs.cs = g[REG_CSGSFS] & 0xffff;
  regs.ss = (g[REG_CSGSFS] >> 48) & 0xffff;
  regs.fs_base = fs_base_;
  regs.gs_base = gs_base_;
  regs.orig_rax = -1;
  switch (info_.si_signo) {
    case SIGSYS:
      if (info_.si_code != 1) break;  // SYS_SECCOMP: the filter trapped
      regs.orig_rax = static_cast<uint32_t>(info_.si_syscall);
      regs.rax = static_cast<uint64_t>(-ENOSYS);
      if (IsVsyscallAddress(info_.si_call_addr)) {
        info = info_;
        return SwitchReason::kVsyscall;
      }
      return SwitchReason::kSyscall;
    case SIGSEGV:
    case SIGBUS:
    case SIGFPE:
    case SIGILL:
    case SIGTRAP:
      if (info_.si_code <= 0) break;  // sent, not raised by the CPU
      info = info_;
      fault_ = true;
      return SwitchReason::kFault;
  }
  return SwitchReason::kInterrupted;
}

SwitchReason TrapContext::Switch(AddressSpace& as, Registers& regs,
                                 siginfo_t& info) {
  fault_ = false;
  if (!Bind(as)) return SwitchReason::kDied;
  t_current = this;
  platform_.running++;
  struct Leave {
    std::atomic<int>& n;
    ~Leave() { n--; }
  } leave{platform_.running};
  uint8_t* area = thread_->area;
  auto die = [&] {
    memset(&info, 0, sizeof info);
    if (!thread_) return SwitchReason::kDied;  // a failed Request let it go
    info.si_signo = DeathSignal(thread_->pidfd);
    SPDLOG_DEBUG("trap: stub thread {} ended: state {} signal {}",
                 thread_->tid, Word(area, MOAT_TC_STATE).load(),
                 info.si_signo);
    ReleaseThread(false);
    return SwitchReason::kDied;
  };
  if (!started_) {
    // A new thread sets its signal stack and traps at moat_trap_first.
    if (WaitWhile(MOAT_TRAP_RUNNING, false) != Wait::kChanged) return die();
    if (Word(area, MOAT_TC_STATE).load() != MOAT_TRAP_TRAPPED ||
        !ReadFrame() || info_.si_signo != SIGTRAP ||
        uint64_t(uc_.uc_mcontext.gregs[REG_RIP]) !=
            TrapStubAddress(moat_trap_first) + 1)
      return die();
    {
      std::lock_guard lock(mu_);
      started_ = true;
    }
    if (initial_fp_) {
      (void)SetFpState(*initial_fp_);
      initial_fp_.reset();
    }
  }
  // An Interrupt that came while the thread had not started, this new one
  // or a parked one that Bind took, is reported before the thread runs.
  if (interrupted_before_start_.load(std::memory_order_relaxed) &&
      interrupted_before_start_.exchange(false))
    return SwitchReason::kInterrupted;
  if (!ahead_maps_.empty()) {
    // The address space's first run: the mappings made ahead go with the
    // resume, those past the queue's room by request first. One the host
    // rejected shows up as a fault at a page the kernel has as mapped.
    // In a space that ForkHost made, the changes keep their order.
    auto ahead = std::move(ahead_maps_);
    ahead_maps_.clear();
    size_t now = ahead.size() > MOAT_TRAP_MAX_MAPS
                     ? ahead.size() - MOAT_TRAP_MAX_MAPS
                     : 0;
    queued_maps_.assign(ahead.begin(), ahead.begin() + now);
    Status made = MapQueued();
    if (!made.ok() && made.error() == ESRCH) return die();
    queued_maps_.assign(ahead.begin() + now, ahead.end());
  }
  if (!as_->ClosePendingHostFiles(*this).ok()) return die();
  WriteFrame(regs);
  WriteQueued();
  Word(area, MOAT_TC_SPIN)
      .store(platform_.StubMaySpin() ? stub_spin_.Get() : 0);
  if (interrupt_sent_ns_.load() != 0) interrupt_sent_ns_.store(NowNs());
  Publish(MOAT_TRAP_RESUME);
  if (WaitWhile(MOAT_TRAP_RESUME, true) != Wait::kChanged) return die();
  interrupt_sent_ns_.store(0);  // any trap brings the task back to signals
  if (Word(area, MOAT_TC_STATE).load() != MOAT_TRAP_TRAPPED || !ReadFrame())
    return die();
  map_count_clear_ = true;
  return Classify(regs, info);
}

Result<int64_t> TrapContext::Request(int64_t nr,
                                     std::initializer_list<uint64_t> args) {
  if (!thread_ || !started_) return Err(ESRCH);
  TRY_STATUS(MapQueued());
  uint8_t* area = thread_->area;
  Store64(area, MOAT_TC_REQUEST, nr);
  size_t i = 1;
  for (uint64_t a : args) Store64(area, MOAT_TC_REQUEST + 8 * i++, a);
  for (; i <= 6; i++) Store64(area, MOAT_TC_REQUEST + 8 * i, 0);
  Publish(MOAT_TRAP_REQUEST);
  if (WaitWhile(MOAT_TRAP_REQUEST, true) != Wait::kChanged ||
      Word(area, MOAT_TC_STATE).load() != MOAT_TRAP_DONE) {
    ReleaseThread(false);
    return Err(ESRCH);
  }
  auto r = static_cast<int64_t>(Load64(area, MOAT_TC_RESULT));
  if (r < 0 && r > -4096) return Err(int(-r));
  return r;
}

Status TrapContext::InstallFd(int host_fd, int target) {
  if (!thread_ || !started_) return Err(ESRCH);
  uint64_t nonce;
  if (getrandom(&nonce, sizeof nonce, 0) != sizeof nonce) return Err(EAGAIN);
  uint8_t* area = thread_->area;
  Store64(area, MOAT_TC_REQUEST, SYS_dup);
  Store64(area, MOAT_TC_REQUEST + 8, nonce);
  for (size_t i = 2; i <= 6; i++) Store64(area, MOAT_TC_REQUEST + 8 * i, 0);
  Publish(MOAT_TRAP_REQUEST);
  Status vetted = platform_.VetInstallFd(thread_->tid, thread_->pidfd, nonce,
                                         host_fd, target);
  if (WaitWhile(MOAT_TRAP_REQUEST, true) != Wait::kChanged ||
      Word(area, MOAT_TC_STATE).load() != MOAT_TRAP_DONE) {
    ReleaseThread(false);
    return Err(ESRCH);
  }
  TRY_STATUS(vetted);
  auto r = static_cast<int64_t>(Load64(area, MOAT_TC_RESULT));
  if (r != target) return Err(r < 0 && r > -4096 ? int(-r) : EIO);
  return Ok();
}

bool Exited(int pidfd) {
  pollfd p = {pidfd, POLLIN, 0};
  return poll(&p, 1, 0) == 1;
}

bool WaitForStubState(uint8_t* area, uint32_t state, int pidfd) {
  auto& word = Word(area, MOAT_TC_STATE);
  auto& sleeping = Word(area, MOAT_TC_KERNEL_SLEEPING);
  for (;;) {
    sleeping.store(1);
    uint32_t now = word.load();
    if (now == state) break;
    timespec timeout = {0, 1'000'000};
    Futex(word, FUTEX_WAIT, now, &timeout);
    if (word.load() != state && Exited(pidfd)) return false;
  }
  sleeping.store(0);
  return true;
}

void TrapContext::WriteQueued() {
  uint8_t* area = thread_->area;
  for (size_t i = 0; i < queued_maps_.size(); i++)
    memcpy(area + MOAT_TC_MAPS + i * MOAT_TRAP_MAP_ENTRY_SIZE,
           queued_maps_[i].data(), MOAT_TRAP_MAP_ENTRY_SIZE);
  // The stub zeroes a count it worked through, so after one resume that
  // trapped again the count is known to be zero.
  if (!queued_maps_.empty() || !map_count_clear_)
    Word(area, MOAT_TC_MAP_COUNT).store(uint32_t(queued_maps_.size()));
  map_count_clear_ = false;
  queued_maps_.clear();
}

Result<pid_t> TrapContext::RequestSpawn(int64_t nr,
                                        std::initializer_list<uint64_t> args,
                                        uint64_t call_return,
                                        const std::function<void()>& before,
                                        bool* spawned) {
  if (spawned != nullptr) *spawned = false;
  if (!thread_ || !started_) return Err(ESRCH);
  uint8_t* area = thread_->area;
  if (nr == MOAT_TRAP_FORK_REQUEST) {
    // The stub makes the queued changes first, as when it resumes.
    WriteQueued();
  } else {
    TRY_STATUS(MapQueued());
  }
  // A stub thread of another process that sends a hello in the meantime
  // would have to read this from the control page first.
  uint64_t nonce;
  if (getrandom(&nonce, sizeof nonce, 0) != sizeof nonce) return Err(EAGAIN);
  Store64(area, MOAT_TC_REQUEST, nr);
  size_t i = 1;
  for (uint64_t a : args) Store64(area, MOAT_TC_REQUEST + 8 * i++, a);
  Store64(area, MOAT_TC_REQUEST + 8 * i++, nonce);
  for (; i <= 6; i++) Store64(area, MOAT_TC_REQUEST + 8 * i, 0);
  if (before) before();
  Publish(MOAT_TRAP_REQUEST);
  auto& state = Word(area, MOAT_TC_STATE);
  Result<pid_t> pid =
      platform_.VetSpawn(thread_->tid, thread_->pidfd, call_return, nonce, [&] {
        return state.load() == MOAT_TRAP_DONE &&
               static_cast<int64_t>(Load64(area, MOAT_TC_RESULT)) < 0;
      });
  if (WaitWhile(MOAT_TRAP_REQUEST, true) != Wait::kChanged ||
      state.load() != MOAT_TRAP_DONE) {
    // The clone may have run: keep what the child may use.
    if (spawned != nullptr) *spawned = true;
    ReleaseThread(false);
    return Err(ESRCH);
  }
  auto r = static_cast<int64_t>(Load64(area, MOAT_TC_RESULT));
  if (r < 0 && r > -4096) return Err(int(-r));
  if (spawned != nullptr) *spawned = true;
  return pid;
}

Status TrapContext::MapQueued() {
  auto maps = std::move(queued_maps_);
  queued_maps_.clear();
  for (const auto& [addr, length, word, frame] : maps) {
    uint64_t prot = word & 0xffffffff;
    switch (word >> MOAT_TRAP_OP_SHIFT) {
      case MOAT_TRAP_OP_MUNMAP:
        TRY(Request(SYS_munmap, {addr, length}));
        break;
      case MOAT_TRAP_OP_MPROTECT:
        TRY(Request(SYS_mprotect, {addr, length, prot}));
        break;
      default:
        TRY(Request(SYS_mmap, {addr, length, prot, MAP_SHARED | MAP_FIXED,
                               uint64_t(MemoryFile::Get().fd()), frame}));
    }
  }
  return Ok();
}

bool TrapContext::Queue(int op, uint64_t addr, uint64_t length, int prot,
                        uint64_t frame) {
  if (!thread_ || !started_ || queued_maps_.size() >= MOAT_TRAP_MAX_MAPS)
    return false;
  static_assert(sizeof(queued_maps_[0]) == MOAT_TRAP_MAP_ENTRY_SIZE);
  static_assert(MOAT_TC_MAPS + MOAT_TRAP_MAX_MAPS * MOAT_TRAP_MAP_ENTRY_SIZE <=
                MOAT_TRAP_CONTROL_SIZE);
  queued_maps_.push_back(
      {addr, length,
       uint64_t(uint32_t(prot)) | uint64_t(op) << MOAT_TRAP_OP_SHIFT, frame});
  return true;
}

Result<FpState> TrapContext::GetFpState() {
  // A context that has not run yet has the state it will start with.
  if (!thread_ || !started_) {
    if (initial_fp_) return *initial_fp_;
    return Err(ESRCH);
  }
  if (fp_offset_ == 0) return Err(EFAULT);
  TRY_STATUS(SaveFpState());
  FpState state(platform_.xstate_size());
  memcpy(state.data(), thread_->area + fp_offset_, state.size());
  return state;
}

Status TrapContext::SetFpState(const FpState& state) {
  if (!thread_ || !started_) {
    initial_fp_ = state;
    return Ok();
  }
  if (fp_offset_ == 0) return Err(EFAULT);
  // SetFpState keeps the frame's MXCSR mask and feature words, so the
  // frame must contain them first.
  TRY_STATUS(SaveFpState());
  fp_changed_ = true;
  uint8_t* dst = thread_->area + fp_offset_;
  size_t size = std::min<size_t>(state.size(), platform_.xstate_size());
  if (size < 576) return Err(EINVAL);
  // The host checks the frame on rt_sigreturn and kills a stub whose frame
  // it refuses: keep the host's own MXCSR mask, software bytes and feature
  // set, which say what this CPU can load.
  uint32_t mxcsr_mask;
  memcpy(&mxcsr_mask, dst + 28, 4);
  if (mxcsr_mask == 0) mxcsr_mask = 0xffbf;
  uint64_t host_features = Load64(dst, 464 + 8);
  memcpy(dst, state.data(), 464);
  memcpy(dst + 28, &mxcsr_mask, 4);
  memcpy(dst + 512, state.data() + 512, size - 512);
  uint32_t mxcsr;
  memcpy(&mxcsr, dst + 24, 4);
  mxcsr &= mxcsr_mask;
  memcpy(dst + 24, &mxcsr, 4);
  Store64(dst, 512, Load64(dst, 512) & host_features);
  memset(dst + 520, 0, 56);  // XCOMP_BV and the reserved header bytes
  return Ok();
}

Status TrapContext::SaveFpState() {
  if (fp_saved_) return Ok();
  if (Word(thread_->area, MOAT_TC_PATCHED).load() == 2) {
    fp_saved_ = true;  // the stub saved it before it slept
    return Ok();
  }
  TRY(Request(MOAT_TRAP_SAVE_FP_REQUEST, {}));
  fp_saved_ = true;
  return Ok();
}

Result<TrapInfo> TrapContext::ReadTrap() {
  if (!thread_ || !fault_) return Err(EAGAIN);
  const greg_t* g = uc_.uc_mcontext.gregs;
  return TrapInfo{uint64_t(g[REG_TRAPNO]), uint64_t(g[REG_ERR]),
                  uint64_t(g[REG_CR2])};
}

// ---- TrapAddressSpace's memory calls, made by the current context ----

bool TrapAddressSpace::ChangeableHere() const {
  TrapContext* ctx = CurrentTrapContext();
  if (ctx != nullptr && ctx->as_id() == id_ && ctx->started()) return true;
  std::lock_guard lock(mu_);
  return !ran_;
}

Status TrapAddressSpace::Request(int64_t nr,
                                 std::initializer_list<uint64_t> args) {
  TrapContext* ctx = CurrentTrapContext();
  if (ctx == nullptr || ctx->as_id() != id_ || !ctx->started()) {
    // No thread has run here yet: only the mappings made ahead are there
    // to change. A protection change drops them from its range, whose
    // pages then fault and are mapped as the kernel has them.
    std::lock_guard lock(mu_);
    MOAT_CHECK(!ran_, "trap: address space change from outside it");
    const uint64_t* a = args.begin();
    if (ordered_changes_) {
      // The host has mappings here already: every change counts.
      int op = nr == SYS_mmap     ? MOAT_TRAP_OP_MMAP
               : nr == SYS_munmap ? MOAT_TRAP_OP_MUNMAP
                                  : MOAT_TRAP_OP_MPROTECT;
      uint64_t prot = nr == SYS_munmap ? 0 : a[2];
      pending_changes_.push_back({a[0], a[1],
                                  prot | uint64_t(op) << MOAT_TRAP_OP_SHIFT,
                                  nr == SYS_mmap ? a[5] : 0});
      return Ok();
    }
    TrimAhead(a[0], a[1]);
    if (nr == SYS_mmap) ahead_[a[0]] = {a[1], a[5], a[2]};
    return Ok();
  }
  TRY(ctx->Request(nr, args));
  return Ok();
}

Status TrapAddressSpace::MapFile(uint64_t addr, uint64_t length,
                                 uint64_t frame, int prot) {
  return Request(SYS_mmap, {addr, length, uint64_t(prot),
                            MAP_SHARED | MAP_FIXED,
                            uint64_t(MemoryFile::Get().fd()), frame});
}

Status TrapAddressSpace::MapFileOnResume(uint64_t addr, uint64_t length,
                                         uint64_t frame, int prot) {
  if (MapFileIfQueued(addr, length, frame, prot)) return Ok();
  return MapFile(addr, length, frame, prot);
}

namespace {

// The maximum number of frames whose host pages one queued mapping looks
// up. Longer runs map as before.
constexpr uint64_t kMaxPopulatePages = 512;

}  // namespace

int TrapMapOp(uint64_t frame, uint64_t length) {
  uint64_t pages = length / kPageSize;
  if (pages < 2 || pages > kMaxPopulatePages) return MOAT_TRAP_OP_MMAP;
  uint8_t resident[kMaxPopulatePages];
  if (!MemoryFile::Get().Resident(frame, pages, resident).ok())
    return MOAT_TRAP_OP_MMAP;
  for (uint64_t i = 0; i < pages; i++)
    if (!resident[i]) return MOAT_TRAP_OP_MMAP;
  return MOAT_TRAP_OP_MMAP_POPULATE;
}

bool TrapAddressSpace::MapFileIfQueued(uint64_t addr, uint64_t length,
                                       uint64_t frame, int prot) {
  return QueueChange(TrapMapOp(frame, length), addr, length, prot, frame);
}

// Queues only where one thread was ever made. Then no other thread runs
// the program until this one resumes and makes the change, so none can
// reach a page through a mapping whose frame the kernel has freed.
bool TrapAddressSpace::QueueChange(int op, uint64_t addr, uint64_t length,
                                   int prot, uint64_t frame) {
  TrapContext* ctx = CurrentTrapContext();
  return ctx != nullptr && ctx->as_id() == id_ && one_thread_.load() &&
         ctx->Queue(op, addr, length, prot, frame);
}

bool TrapAddressSpace::MapFileAhead(uint64_t addr, uint64_t length,
                                    uint64_t frame, int prot) {
  std::lock_guard lock(mu_);
  if (ran_ || ahead_.size() + pending_changes_.size() >= kMaxAheadMaps)
    return false;
  if (ordered_changes_) {
    pending_changes_.push_back({addr, length, uint64_t(prot), frame});
    return true;
  }
  TrimAhead(addr, length);
  ahead_[addr] = {length, frame, uint64_t(prot)};
  return true;
}

void TrapAddressSpace::TrimAhead(uint64_t addr, uint64_t length) {
  uint64_t end = addr + length;
  auto it = ahead_.lower_bound(addr);
  if (it != ahead_.begin()) --it;
  while (it != ahead_.end() && it->first < end) {
    auto [start, m] = *it;
    uint64_t stop = start + m[0];
    if (stop <= addr) {
      ++it;
      continue;
    }
    it = ahead_.erase(it);
    if (start < addr) ahead_[start] = {addr - start, m[1], m[2]};
    if (stop > end) ahead_[end] = {stop - end, m[1] + (end - start), m[2]};
  }
}

Status TrapAddressSpace::MapHostFile(uint64_t addr, uint64_t length, int prot,
                                     const std::shared_ptr<void>& file, int fd,
                                     uint64_t offset) {
  TrapContext* ctx = CurrentTrapContext();
  if (ctx == nullptr || ctx->as_id() != id_ || !ctx->started() ||
      (prot & PROT_WRITE))
    return Err(ENOTSUP);
  int target = -1;
  bool install = false;
  {
    // A new file's number is taken at once, so that another thread of
    // this space cannot take it too. Until the descriptor is there, that
    // thread's mmap fails and it maps the MemoryFile's copies instead.
    std::lock_guard lock(mu_);
    auto it = host_fds_.find(file.get());
    if (it != host_fds_.end()) {
      target = it->second.first;
    } else {
      std::vector<bool> used(kTrapHostFdCount);
      for (auto& [key, entry] : host_fds_)
        used[entry.first - kTrapHostFdBase] = true;
      for (int i = 0; i < kTrapHostFdCount && target < 0; i++)
        if (!used[i]) target = kTrapHostFdBase + i;
      if (target < 0) return Err(ENOTSUP);
      host_fds_[file.get()] = {target, file};
      install = true;
    }
  }
  if (install) {
    Status installed = ctx->InstallFd(fd, target);
    if (!installed.ok()) {
      std::lock_guard lock(mu_);
      host_fds_.erase(file.get());
      return installed;
    }
  }
  TRY(ctx->Request(SYS_mmap,
                   {addr, length, uint64_t(prot), MAP_PRIVATE | MAP_FIXED,
                    uint64_t(target), offset}));
  return Ok();
}

Status TrapAddressSpace::DropHostFiles() {
  TrapContext* ctx = CurrentTrapContext();
  if (ctx == nullptr || ctx->as_id() != id_ || !ctx->started()) {
    drop_pending_.store(true);
    return Ok();
  }
  drop_pending_.store(false);
  return CloseHostFiles(*ctx);
}

Status TrapAddressSpace::ClosePendingHostFiles(TrapContext& ctx) {
  if (!drop_pending_.exchange(false)) return Ok();
  return CloseHostFiles(ctx);
}

Status TrapAddressSpace::CloseHostFiles(TrapContext& ctx) {
  std::map<const void*, std::pair<int, std::shared_ptr<void>>> dropped;
  {
    std::lock_guard lock(mu_);
    dropped.swap(host_fds_);
  }
  if (dropped.empty()) return Ok();
  // A descriptor that another thread of this process is putting in
  // meanwhile may land after the close. Its number is free again here, and
  // the next file put at that number replaces it.
  TRY(ctx.Request(
      SYS_close_range,
      {kTrapHostFdBase, kTrapHostFdBase + kTrapHostFdCount - 1, 0}));
  return Ok();
}

Status TrapAddressSpace::Unmap(uint64_t addr, uint64_t length) {
  if (QueueChange(MOAT_TRAP_OP_MUNMAP, addr, length, 0, 0)) return Ok();
  return Request(SYS_munmap, {addr, length});
}

Status TrapAddressSpace::Protect(uint64_t addr, uint64_t length, int prot) {
  if (QueueChange(MOAT_TRAP_OP_MPROTECT, addr, length, prot, 0)) return Ok();
  return Request(SYS_mprotect, {addr, length, uint64_t(prot)});
}

}  // namespace moat
