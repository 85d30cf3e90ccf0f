#include "platform/trap/trap_platform.h"

#include <cpuid.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/futex.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/auxv.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/rseq.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>

#include "mm/memory_file.h"
#include "platform/stub_filter.h"
#include "platform/stub_process.h"
#include "util/host_info.h"
#include "util/log.h"

namespace moat {
namespace {

constexpr uint64_t kCodeSize = MOAT_TRAP_CODE_SIZE;
constexpr uint64_t kSlotPages = kTrapSlotSize / 4096;
// x86-64 signal delivery needs a restorer (asm/signal.h).
constexpr uint64_t kSaRestorer = 0x04000000;
constexpr unsigned kHwcap2Fsgsbase = 1u << 1;
constexpr uint64_t kThreadCloneFlags = CLONE_VM | CLONE_FS | CLONE_FILES |
                                       CLONE_SIGHAND | CLONE_SYSVSEM | SIGCHLD;
static_assert(kThreadCloneFlags == MOAT_TRAP_THREAD_CLONE_FLAGS);
// How long a vetted spawn waits for the new process's hello.
constexpr auto kHelloTimeout = std::chrono::seconds(5);

// The argument of rt_sigaction(2) as the x86-64 kernel reads it.
struct HostSigaction {
  uint64_t handler;
  uint64_t flags;
  uint64_t restorer;
  uint64_t mask;
};

// Every signal the stub takes goes to its handler on the slot's signal
// stack. All signals but SIGSYS block every signal until the handler
// returns. SIGSYS leaves the host's signal mask alone (SA_NODEFER and an
// empty mask), so the handler can return to the program without
// rt_sigreturn, which costs about 0.7 us. The kernel's interrupt may then
// land in the handler, which drops it (see trap_stub.S).
void InstallTrapHandler() {
  HostSigaction action = {TrapStubAddress(moat_trap_handler),
                          SA_SIGINFO | SA_ONSTACK | kSaRestorer,
                          TrapStubAddress(moat_trap_restorer), ~0ull};
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP,
                  kTrapInterruptSignal})
    syscall(SYS_rt_sigaction, sig, &action, nullptr, sizeof(action.mask));
  action.flags |= SA_NODEFER;
  action.mask = 0;
  syscall(SYS_rt_sigaction, SIGSYS, &action, nullptr, sizeof(action.mask));
}

// Runs in the child of fork(): becomes the master stub and never returns.
[[noreturn]] void BecomeTrapStub(int memory_fd,
                                 const std::vector<sock_filter>& filter) {
  ShedInheritedState(memory_fd);
  // A descriptor open just past the host files' numbers sizes the
  // descriptor table for them now, in this process of one thread and so in
  // every stub copied from it. Growing a table that threads share waits
  // for an RCU grace period: 19 ms for the first host file on the test VMs.
  dup2(memory_fd, kTrapHostFdBase + kTrapHostFdCount);
  InstallTrapHandler();
  // The interrupt signal waits until a thread has its signal stack: the
  // kernel unblocks it in the first frame it resumes.
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, kTrapInterruptSignal);
  sigprocmask(SIG_SETMASK, &mask, nullptr);

  void* code = mmap(reinterpret_cast<void*>(kTrapBase), kCodeSize,
                    PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  if (code == MAP_FAILED) _exit(120);
  memcpy(code, moat_trap_begin, moat_trap_end - moat_trap_begin);
  mprotect(code, kCodeSize, PROT_READ | PROT_EXEC);
  // The filter program, which the stub code installs once it has unmapped
  // everything else.
  auto* page = static_cast<uint8_t*>(
      mmap(reinterpret_cast<void*>(kTrapBase + kCodeSize), 4096,
           PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
           -1, 0));
  if (page == MAP_FAILED) _exit(122);
  sock_fprog prog = {static_cast<unsigned short>(filter.size()),
                     reinterpret_cast<sock_filter*>(kTrapBase + kCodeSize +
                                                    sizeof(sock_fprog))};
  memcpy(page, &prog, sizeof prog);
  memcpy(page + sizeof prog, filter.data(), filter.size() * sizeof(filter[0]));
  mprotect(page, 4096, PROT_READ);
  reinterpret_cast<void (*)()>(code)();
  _exit(121);
}

// The calls the stub's code makes, each at its own address. The program can
// jump to any of them with registers of its choosing, so each is allowed
// only with the arguments pinned as docs/SECURITY.md explains. The
// factory's injections get SECCOMP_RET_TRACE: they run only in a traced
// process, where the factory checks them, and fail with ENOSYS elsewhere.
std::vector<StubCall> TrapStubCalls(int memory_fd) {
  auto at = [](const char* label) { return TrapStubAddress(label); };
  const uint64_t area_mask = MOAT_TRAP_STUB_AREA_MASK;  // slots and code
  const uint64_t fd = static_cast<uint32_t>(memory_fd);
  const uint64_t low_half = 0xffffffff;  // the host reads an int
  // clang-format off
  std::vector<StubCall> calls = {
      {at(moat_trap_idle_end), SYS_pause, {}},
      {at(moat_trap_first), SYS_sigaltstack, {}},
      {at(moat_trap_yield_return), SYS_sched_yield, {}},
      {at(moat_trap_wake_return), SYS_futex,
       {{1, low_half, FUTEX_WAKE}, {0, area_mask, MOAT_TRAP_SLOT_BASE}}},
      {at(moat_trap_wait_return), SYS_futex,
       {{1, low_half, FUTEX_WAIT},
        {0, area_mask, MOAT_TRAP_SLOT_BASE},
        {3, ~0ull, 0}}},
      {at(moat_trap_request_return), SYS_mmap,
       {{3, ~0ull, MAP_SHARED | MAP_FIXED}, {4, low_half, fd}}, kUserEnd},
      {at(moat_trap_map_return), SYS_mmap,
       {{3, ~uint64_t{MAP_POPULATE}, MAP_SHARED | MAP_FIXED},
        {4, low_half, fd}},
       kUserEnd},
      {at(moat_trap_request_return), SYS_munmap, {}, kUserEnd},
      {at(moat_trap_request_return), SYS_mprotect, {}, kUserEnd},
      {at(moat_trap_map_return), SYS_munmap, {}, kUserEnd},
      {at(moat_trap_map_return), SYS_mprotect, {}, kUserEnd},
      {at(moat_trap_sigreturn_return), SYS_rt_sigreturn, {}},
      // The stub's own processes and threads, on the kernel's request: the
      // kernel's listener lets through only the requested call
      // (TrapPlatform::VetSpawn), and the new process sends a hello.
      {at(moat_trap_fork_return), SYS_clone,
       {{0, ~0ull, SIGCHLD}, {1, ~0ull, 0}, {2, ~0ull, 0}, {3, ~0ull, 0},
        {4, ~0ull, 0}}, 0, SECCOMP_RET_USER_NOTIF},
      {at(moat_trap_thread_return), SYS_clone,
       {{0, ~0ull, kThreadCloneFlags}, {1, ~0ull, 0}, {2, ~0ull, 0},
        {3, ~0ull, 0}, {4, ~0ull, 0}}, 0, SECCOMP_RET_USER_NOTIF},
      {at(moat_trap_hello_return), SYS_getpid, {}, 0, SECCOMP_RET_USER_NOTIF},
      // A host file's descriptor, on the kernel's request: the listener
      // completes only the requested call, which carries the request's
      // nonce (TrapPlatform::VetInstallFd).
      {at(moat_trap_request_return), SYS_dup, {}, 0, SECCOMP_RET_USER_NOTIF},
      // A host file mapped private and never writable, from a descriptor
      // the kernel put in the process.
      {at(moat_trap_request_return), SYS_mmap,
       {{2, PROT_WRITE, 0}, {3, ~0ull, MAP_PRIVATE | MAP_FIXED},
        {4, low_half & ~uint64_t(kTrapHostFdCount - 1), kTrapHostFdBase}},
       kUserEnd},
      // The host files' descriptors all at once, when a task's credentials
      // or root change (TrapAddressSpace::DropHostFiles).
      {at(moat_trap_request_return), SYS_close_range,
       {{0, ~0ull, kTrapHostFdBase},
        {1, ~0ull, kTrapHostFdBase + kTrapHostFdCount - 1},
        {2, ~0ull, 0}}},
      // A slot over a slot, which only the stub's own threads use.
      {at(moat_trap_slot_return), SYS_mmap,
       {{0, area_mask, MOAT_TRAP_SLOT_BASE}, {1, ~0ull, kTrapSlotSize},
        {2, ~0ull, PROT_READ | PROT_WRITE}, {3, ~0ull, MAP_SHARED | MAP_FIXED},
        {4, low_half, fd}}, MOAT_TRAP_BASE},
      {at(moat_trap_exit_return), SYS_exit, {}},
      {at(moat_trap_syscall) + 2, SYS_mmap, {}, 0, SECCOMP_RET_TRACE},
      {at(moat_trap_syscall) + 2, SYS_close, {}, 0, SECCOMP_RET_TRACE},
      {at(moat_trap_fork) + 2, SYS_clone, {{0, ~0ull, SIGCHLD}}, 0,
       SECCOMP_RET_TRACE},
      {at(moat_trap_clone) + 2, SYS_clone, {{0, ~0ull, kThreadCloneFlags}}, 0,
       SECCOMP_RET_TRACE},
  };
  // clang-format on
  return calls;
}

int PidfdOpen(pid_t pid) { return syscall(SYS_pidfd_open, pid, 0); }

// Kills the process behind `pidfd` and waits up to a second for it to be
// gone. Returns whether it is.
bool KillAndWait(int pidfd) {
  syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0);
  pollfd p = {pidfd, POLLIN, 0};
  return poll(&p, 1, 1000) == 1;
}

// Returns the pause iterations that take about `ns` nanoseconds on this
// CPU. It times a few short rounds and keeps the fastest, which no
// preemption has stretched. Each sandbox start runs this, so it is short:
// one round of 20,000 pauses took 0.56 ms on these VMs.
uint32_t CalibratePause(uint64_t ns) {
  constexpr int kRounds = 4;
  constexpr int kPauses = 500;
  int64_t fastest = 0;
  for (int round = 0; round < kRounds; round++) {
    auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < kPauses; i++) __builtin_ia32_pause();
    int64_t took = std::chrono::duration_cast<std::chrono::nanoseconds>(
                       std::chrono::steady_clock::now() - start)
                       .count();
    if (round == 0 || took < fastest) fastest = took;
  }
  if (fastest <= 0) fastest = 1;
  return static_cast<uint32_t>(std::min<uint64_t>(
      1000000, ns * kPauses / static_cast<uint64_t>(fastest) + 1));
}

}  // namespace

Result<XsaveLayout> HostXsaveLayout() {
  constexpr int kArchGetXcompPerm = 0x1022;
  unsigned eax, ebx, ecx, edx;
  // Leaf 0xd describes each component's place in the XSAVE area.
  if (!__get_cpuid_count(0xd, 0, &eax, &ebx, &ecx, &edx)) return Err(ENOTSUP);
  XsaveLayout layout;
  uint32_t xcr0_low, xcr0_high;
  asm volatile("xgetbv" : "=a"(xcr0_low), "=d"(xcr0_high) : "c"(0));
  layout.features = (uint64_t{xcr0_high} << 32) | xcr0_low;
  uint64_t permitted = 0;
  if (syscall(SYS_arch_prctl, kArchGetXcompPerm, &permitted) == 0)
    layout.features &= permitted;
  layout.size = 576;  // the legacy area and the XSAVE header
  for (int i = 2; i < 64; i++) {
    if ((layout.features & (uint64_t{1} << i)) == 0) continue;
    if (!__get_cpuid_count(0xd, unsigned(i), &eax, &ebx, &ecx, &edx))
      return Err(ENOTSUP);
    layout.size = std::max(layout.size, ebx + eax);  // offset + size
  }
  return layout;
}

uint64_t TrapStubAddress(const void* symbol) {
  return kTrapBase + (static_cast<const char*>(symbol) - moat_trap_begin);
}

// ---- TrapAddressSpace ----

TrapAddressSpace::TrapAddressSpace(TrapPlatform& platform, pid_t process)
    : platform_(platform), process_(process) {
  static std::atomic<uint64_t> next_id{1};
  id_ = next_id++;
}

TrapAddressSpace::~TrapAddressSpace() {
  // Contexts released their threads before the memory manager let go of
  // this space: each thread either ended or waits in its handler as a
  // spare. So no thread runs the program here any more, and the processes
  // can go without the kernel waiting: the factory ends them, and only then
  // lets go of the slots' frames, which no stub thread can write after
  // that.
  // The kills go out at once, so that the processes die meanwhile and the
  // factory, whose ptrace stops make new address spaces, only waits.
  std::vector<int> spare_fds;
  for (TrapThread& t : spare_) {
    syscall(SYS_pidfd_send_signal, t.pidfd, SIGKILL, nullptr, 0);
    spare_fds.push_back(t.pidfd);
  }
  // A space that ForkHost made has no process of its own beyond its
  // threads.
  pid_t process = forked_ ? 0 : process_;
  if (process > 0) kill(process, SIGKILL);
  platform_.PostToFactory(
      [&platform = platform_, process, spare_fds, frames = slot_frames_] {
        for (int fd : spare_fds) {
          KillAndWait(fd);
          close(fd);
        }
        if (process > 0) platform.KillProcess(process);
        for (uint64_t frame : frames)
          if (frame != 0) MemoryFile::Get().DecRefRunLater(frame, kSlotPages);
      });
}

std::optional<TrapThread> TrapAddressSpace::TakeSpareThread(
    std::vector<std::array<uint64_t, 4>>* ahead) {
  std::lock_guard lock(mu_);
  if (spare_.empty()) return std::nullopt;
  TrapThread t = spare_.back();
  spare_.pop_back();
  if (promised_ > 0) promised_--;
  ran_ = true;
  for (const auto& [addr, m] : ahead_)
    ahead->push_back({addr, m[0], m[2], m[1]});
  ahead_.clear();
  ahead->insert(ahead->end(), pending_changes_.begin(), pending_changes_.end());
  pending_changes_.clear();
  return t;
}

bool TrapAddressSpace::ParkThread(TrapThread t) {
  std::lock_guard lock(mu_);
  if (spare_.size() >= promised_ + kMaxParked) return false;
  t.started = true;
  spare_.push_back(t);
  return true;
}

void TrapAddressSpace::ReturnSlot(int slot) {
  std::lock_guard lock(mu_);
  free_slots_.push_back(slot);
}

Status TrapAddressSpace::PrepareThread() {
  int slot;
  uint64_t frame;
  bool map = false;
  {
    std::lock_guard lock(mu_);
    // A parked thread that no other task was promised serves this one, as
    // a vfork parent's serves its child. No thread is added then, and the
    // parent does not run until its child has let go of the thread.
    if (spare_.size() > promised_) {
      promised_++;
      return Ok();
    }
    // A second thread: from now on the kernel maps at once (see
    // one_thread_), and what it queued for the caller's resume goes first.
    if (next_slot_ > 1 || !free_slots_.empty()) one_thread_.store(false);
  }
  if (TrapContext* ctx = CurrentTrapContext();
      ctx != nullptr && ctx->as_id() == id_)
    TRY_STATUS(ctx->MapQueued());
  {
    std::lock_guard lock(mu_);
    // A parked thread that no other task was promised serves this one.
    if (spare_.size() > promised_) {
      promised_++;
      return Ok();
    }
    if (!free_slots_.empty()) {
      slot = free_slots_.back();
      free_slots_.pop_back();
    } else if (next_slot_ <= MOAT_TRAP_MAX_SLOT) {
      slot_frames_.push_back(TRY(MemoryFile::Get().Allocate(kSlotPages)));
      slot = next_slot_++;
      map = true;
    } else {
      return Err(EAGAIN);  // 65,408 threads in one address space
    }
    frame = slot_frames_[slot];
  }
  TRY_STATUS(StartThread(slot, frame, map, /*on_factory=*/false));
  std::lock_guard lock(mu_);
  promised_++;
  return Ok();
}

bool TrapAddressSpace::OnlyOneThreadEverMade() const {
  std::lock_guard lock(mu_);
  return one_thread_.load() && next_slot_ == 2 && free_slots_.empty();
}

Result<std::shared_ptr<AddressSpace>> TrapAddressSpace::ForkHost() {
  TrapContext* ctx = CurrentTrapContext();
  if (ctx == nullptr || ctx->as_id() != id_ || !ctx->started())
    return Err(ENOTSUP);
  if (!OnlyOneThreadEverMade()) return Err(ENOTSUP);
  const TrapThread& parent = ctx->thread();
  MemoryFile& mf = MemoryFile::Get();
  uint64_t frame = TRY(mf.Allocate(kSlotPages));
  uint8_t* copy = mf.Map(frame);
  bool forked = false;
  Result<pid_t> pid = ctx->RequestSpawn(
      MOAT_TRAP_FORK_REQUEST, {frame}, TrapStubAddress(moat_trap_fork_return),
      [&] {
        memcpy(copy, parent.area, kTrapSlotSize);
        // The child did not make the parent's queued changes, and sleeps
        // until its task first runs instead of spinning for it.
        // Its report wakes the kernel (WaitForStubState), which finds the
        // request's state until then, whatever the parent's state was.
        const uint32_t none = 0, yes = 1, request = MOAT_TRAP_REQUEST;
        memcpy(copy + MOAT_TC_STATE, &request, sizeof request);
        memcpy(copy + MOAT_TC_MAP_COUNT, &none, sizeof none);
        memcpy(copy + MOAT_TC_KERNEL_BLOCKED, &yes, sizeof yes);
        memcpy(copy + MOAT_TC_KERNEL_SLEEPING, &yes, sizeof yes);
      },
      &forked);
  // A child that may still map the frame keeps it.
  if (!forked) mf.DecRefRunLater(frame, kSlotPages);
  if (!pid.ok()) return Err(pid.error());
  TrapThread t;
  t.tid = pid.value();
  t.pidfd = PidfdOpen(t.tid);
  t.slot = parent.slot;
  t.slot_addr = parent.slot_addr;
  t.area = copy;
  t.started = true;  // waits at the parent's trap, reported DONE
  auto child = std::make_shared<TrapAddressSpace>(platform_, t.tid);
  child->forked_ = true;
  child->ordered_changes_ = true;
  child->slot_frames_.push_back(frame);
  child->next_slot_ = 2;
  {
    std::lock_guard lock(mu_);
    child->host_fds_ = host_fds_;  // the host copied the descriptors
  }
  child->drop_pending_.store(drop_pending_.load());
  if (t.pidfd < 0) {
    int error = errno;
    kill(t.tid, SIGKILL);  // the host named it: the pid is the child's
    return Err(error);
  }
  child->spare_.push_back(t);  // ends with `child` from here on
  // The child reports the request done from its own slot, after the
  // parent did: only then may its task resume it.
  if (!WaitForStubState(copy, MOAT_TRAP_DONE, t.pidfd)) return Err(EAGAIN);
  return std::shared_ptr<AddressSpace>(child);
}

Result<std::shared_ptr<AddressSpace>> TrapAddressSpace::ForkForExec() {
  auto forked = TRY(ForkHost());
  auto& child = static_cast<TrapAddressSpace&>(*forked);
  std::lock_guard lock(child.mu_);
  // The parent's memory goes first, and the new program starts with the
  // FPU's initial state.
  child.pending_changes_.insert(
      child.pending_changes_.begin(),
      {0, kUserEnd, uint64_t(MOAT_TRAP_OP_MUNMAP) << MOAT_TRAP_OP_SHIFT, 0});
  for (TrapThread& t : child.spare_) t.clean_fp = true;
  return forked;
}

Result<std::shared_ptr<AddressSpace>> TrapAddressSpace::PrepareReuse() {
  if (!OnlyOneThreadEverMade()) return Err(ENOTSUP);
  // Nothing to end until TakeOver gives it a process.
  auto fresh = std::make_shared<TrapAddressSpace>(platform_, 0);
  fresh->forked_ = true;
  fresh->ordered_changes_ = true;
  // The old program's memory goes first.
  fresh->pending_changes_.push_back(
      {0, kUserEnd, uint64_t(MOAT_TRAP_OP_MUNMAP) << MOAT_TRAP_OP_SHIFT, 0});
  return std::shared_ptr<AddressSpace>(fresh);
}

void TrapAddressSpace::TakeOver(AddressSpace& old_space) {
  auto& old = static_cast<TrapAddressSpace&>(old_space);
  std::scoped_lock lock(mu_, old.mu_);
  process_ = old.process_;
  forked_ = old.forked_;
  spare_ = std::move(old.spare_);
  for (TrapThread& t : spare_) t.clean_fp = true;
  promised_ = old.promised_;
  slot_frames_ = std::move(old.slot_frames_);
  free_slots_ = std::move(old.free_slots_);
  next_slot_ = old.next_slot_;
  host_fds_ = std::move(old.host_fds_);
  if (old.drop_pending_.load()) drop_pending_.store(true);
  one_thread_.store(old.one_thread_.load());
  old.spare_.clear();
  old.promised_ = 0;
  old.slot_frames_.assign(1, 0);
  old.free_slots_.clear();
  old.forked_ = true;  // its destructor ends nothing
  old.process_ = 0;
}

Status TrapAddressSpace::PrepareFirstThread(uint64_t frame) {
  {
    std::lock_guard lock(mu_);
    MOAT_CHECK(next_slot_ == 1, "trap: first thread made twice");
    slot_frames_.push_back(frame);
    next_slot_ = 2;
  }
  return StartThread(1, frame, true, /*on_factory=*/true);
}

Status TrapAddressSpace::StartThread(int slot, uint64_t frame, bool map,
                                     bool on_factory) {
  TrapThread t;
  t.slot = slot;
  t.slot_addr = MOAT_TRAP_SLOT_BASE + (slot - 1) * kTrapSlotSize;
  t.area = MemoryFile::Get().Map(frame);
  memset(t.area, 0, MOAT_TRAP_CONTROL_SIZE);
  uint64_t xfeatures = platform_.xfeatures();
  memcpy(t.area + MOAT_TC_XFEATURES, &xfeatures, sizeof xfeatures);
  uint32_t memory_fd = MemoryFile::Get().fd();
  memcpy(t.area + MOAT_TC_MEMORY_FD, &memory_fd, sizeof memory_fd);
  stack_t altstack = {};
  altstack.ss_sp = reinterpret_cast<void*>(t.slot_addr +
                                           MOAT_TRAP_CONTROL_SIZE);
  altstack.ss_size = kTrapSlotSize - MOAT_TRAP_CONTROL_SIZE;
  memcpy(t.area + MOAT_TC_ALTSTACK, &altstack, sizeof altstack);

  Result<pid_t> tid = Err(EAGAIN);
  auto clone = [&] {
    tid = platform_.CloneThread(process_, t.slot_addr, frame, map);
  };
  TrapContext* ctx = CurrentTrapContext();
  if (on_factory) {
    clone();
  } else if (ctx != nullptr && ctx->as_id() == id_ && ctx->started()) {
    // The caller's own stub thread makes it, without the factory's stops.
    tid = ctx->RequestSpawn(MOAT_TRAP_THREAD_REQUEST, {t.slot_addr, frame},
                            TrapStubAddress(moat_trap_thread_return));
  } else if (!forked_) {
    platform_.RunOnFactory(clone);
  }
  if (!tid.ok()) {
    SPDLOG_WARN("trap: cannot make a stub thread: errno {}", tid.error());
    if (!map) ReturnSlot(slot);  // a new slot may be half mapped
    return Err(tid.error());
  }
  t.tid = tid.value();
  t.pidfd = PidfdOpen(t.tid);
  if (t.pidfd < 0) return Err(errno);
  std::lock_guard lock(mu_);
  spare_.push_back(t);
  return Ok();
}

uint64_t TrapAddressSpace::PatchedSyscallEntry() const {
  return platform_.patching() ? TrapStubAddress(moat_trap_patched) : 0;
}

// ---- TrapPlatform ----

Result<std::unique_ptr<TrapPlatform>> TrapPlatform::Create(bool patching) {
  if ((getauxval(AT_HWCAP2) & kHwcap2Fsgsbase) == 0) {
    spdlog::error("the trap platform needs the FSGSBASE instructions, which "
                  "this host does not enable");
    return Err(ENOTSUP);
  }
  std::unique_ptr<TrapPlatform> p(new TrapPlatform());
  XsaveLayout xsave = TRY(HostXsaveLayout());
  p->xstate_size_ = xsave.size;
  p->xfeatures_ = xsave.features;
  // The signal frame must fit the slot's stack with room to spare. The
  // host's AT_MINSIGSTKSZ also counts components the stubs have no
  // permission for, so it is not used.
  uint64_t need = uint64_t{xsave.size} + 1024;
  if (need + 1024 > kTrapSlotSize - MOAT_TRAP_CONTROL_SIZE) {
    spdlog::error("the trap platform's signal stacks are too small for this "
                  "CPU's signal frames ({} bytes)", need);
    return Err(ENOTSUP);
  }
  // A patched call's frame keeps the FPU state above the ucontext, and an
  // interrupt's signal frame must fit below it.
  p->patching_ = patching &&
                 xsave.size + 4 <= kTrapSlotSize - MOAT_TRAP_PATCH_FP &&
                 need + 512 <= MOAT_TRAP_PATCH_UC - MOAT_TRAP_CONTROL_SIZE;
  if (patching && !p->patching_)
    SPDLOG_INFO("trap: this CPU's FPU state is too large to patch calls");
  p->cpus_ = std::max<long>(1, HostCpuCount());
  p->spin_iterations_ = CalibratePause(kStubSpinNs);

  int memory_fd = MemoryFile::Get().fd();
  std::vector<sock_filter> filter =
      BuildStubFilter(TrapStubCalls(memory_fd), SECCOMP_RET_TRAP);
  pid_t pid = fork();
  if (pid < 0) return Err(errno);
  if (pid == 0) BecomeTrapStub(memory_fd, filter);
  p->master_ = pid;
  // The program's first address space is made while the kernel confines
  // itself and mounts the root, which it would otherwise wait for.
  if (auto frame = MemoryFile::Get().Allocate(kSlotPages); frame.ok())
    p->refill_frames_.push_back(frame.value());
  p->factory_ = std::thread([raw = p.get()] { raw->FactoryLoop(); });
  return p;
}

TrapPlatform::~TrapPlatform() {
  std::vector<std::shared_ptr<TrapAddressSpace>> pool;
  {
    std::lock_guard lock(mu_);
    refills_failed_ = true;
    pool.swap(pool_);
  }
  pool.clear();  // queues their kills, which the factory runs before it stops
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (factory_.joinable()) factory_.join();
  if (listener_ >= 0) close(listener_);
}

bool TrapPlatform::StubMaySpin() const {
  return running.load(std::memory_order_relaxed) <= cpus_;
}

bool TrapPlatform::KernelMaySpin() const {
  return running.load(std::memory_order_relaxed) * 2 <= cpus_;
}

void TrapPlatform::FactoryLoop() {
  Status seized = Seize(master_);
  MOAT_CHECK(seized.ok(), "cannot trace the trap master stub: errno {}",
             seized.ok() ? 0 : seized.error());
  // Every stub is forked from the master, so none may inherit this.
  Status listener_taken = TakeListener();
  MOAT_CHECK(listener_taken.ok(),
             "cannot take the trap stub filter's listener: errno {}",
             listener_taken.ok() ? 0 : listener_taken.error());
  for (;;) {
    std::function<void()> request;
    uint64_t refill_frame = 0;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] {
        return stopping_ || !requests_.empty() ||
               (!refill_frames_.empty() && !refills_failed_);
      });
      if (!requests_.empty()) {
        request = std::move(requests_.front());
        requests_.pop_front();
      } else if (stopping_) {
        return;
      } else {
        refill_frame = refill_frames_.front();
      }
    }
    if (request) {
      request();
      continue;
    }
    // A refill, only when no request waits: those come first.
    auto refill = MakeAddressSpace(refill_frame);
    std::lock_guard lock(mu_);
    pool_cv_.notify_all();
    refill_frames_.pop_front();
    if (refill.ok()) {
      pool_.push_back(std::move(refill.value()));
    } else {
      spdlog::warn(
          "trap: failed to make an address space ahead (errno {}); "
          "making each on demand from now on",
          refill.error());
      refills_failed_ = true;
      for (uint64_t frame : refill_frames_)
        MemoryFile::Get().DecRefRunLater(frame, kSlotPages);
      refill_frames_.clear();
    }
  }
}

void TrapPlatform::RunOnFactory(std::function<void()> request) {
  std::mutex done_mu;
  std::condition_variable done_cv;
  bool done = false;
  {
    std::lock_guard lock(mu_);
    requests_.push_back([&] {
      request();
      std::lock_guard l(done_mu);
      done = true;
      done_cv.notify_one();
    });
  }
  cv_.notify_one();
  std::unique_lock l(done_mu);
  done_cv.wait(l, [&] { return done; });
}

void TrapPlatform::PostToFactory(std::function<void()> request) {
  {
    std::lock_guard lock(mu_);
    requests_.push_back(std::move(request));
  }
  cv_.notify_one();
}

Status TrapPlatform::Seize(pid_t pid) {
  long options =
      PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL | PTRACE_O_TRACESECCOMP;
  if (ptrace(PTRACE_SEIZE, pid, 0, options) != 0) return Err(errno);
  // Injections must wait until the process idles in the stub, past the
  // filter's installation: a call injected earlier would run unfiltered.
  for (int attempt = 0;; attempt++) {
    if (ptrace(PTRACE_INTERRUPT, pid, 0, 0) != 0) return Err(errno);
    for (;;) {
      int status;
      if (waitpid(pid, &status, __WALL) < 0) {
        if (errno == EINTR) continue;
        return Err(errno);
      }
      if (!WIFSTOPPED(status)) return Err(ESRCH);
      if ((status >> 16) == PTRACE_EVENT_STOP) break;
      ptrace(PTRACE_CONT, pid, 0, 0);
    }
    Registers regs;
    if (ptrace(PTRACE_GETREGS, pid, 0, &regs) != 0) return Err(errno);
    if (regs.rip >= TrapStubAddress(moat_trap_idle) &&
        regs.rip <= TrapStubAddress(moat_trap_idle_end))
      return Ok();
    if (attempt > 10000) return Err(ETIMEDOUT);
    ptrace(PTRACE_CONT, pid, 0, 0);
    usleep(100);
  }
}

Status TrapPlatform::TakeListener() {
  Registers regs;
  if (ptrace(PTRACE_GETREGS, master_, 0, &regs) != 0) return Err(errno);
  int fd = static_cast<int>(regs.r15);  // moat_trap_begin left it there
  int pidfd = PidfdOpen(master_);
  if (pidfd < 0) return Err(errno);
  int listener = static_cast<int>(syscall(SYS_pidfd_getfd, pidfd, fd, 0));
  int error = errno;
  close(pidfd);
  if (listener < 0) return Err(error);
  fcntl(listener, F_SETFD, FD_CLOEXEC);
  TRY(Inject(master_, TrapStubAddress(moat_trap_syscall), SYS_close,
             {uint64_t(fd)}));
  listener_ = listener;
  return Ok();
}

Result<seccomp_notif> TrapPlatform::NextVettedCall(
    const std::function<Status()>& idle) {
  for (;;) {
    pollfd p = {listener_, POLLIN, 0};
    int n = poll(&p, 1, 10);
    if (n < 0 && errno != EINTR) return Err(errno);
    if (n <= 0) {
      TRY_STATUS(idle());
      continue;
    }
    seccomp_notif req;
    memset(&req, 0, sizeof req);  // RECV insists
    if (ioctl(listener_, SECCOMP_IOCTL_NOTIF_RECV, &req) != 0) {
      if (errno == EINTR || errno == ENOENT) continue;  // ENOENT: it died
      return Err(errno);
    }
    return req;
  }
}

void TrapPlatform::ReplyToVettedCall(uint64_t id, int error, uint32_t flags) {
  seccomp_notif_resp resp;
  memset(&resp, 0, sizeof resp);
  resp.id = id;
  resp.error = -error;
  resp.flags = flags;
  ioctl(listener_, SECCOMP_IOCTL_NOTIF_SEND, &resp);
}

Result<pid_t> TrapPlatform::VetSpawn(pid_t caller, int caller_pidfd,
                                     uint64_t call_return, uint64_t nonce,
                                     const std::function<bool()>& failed) {
  std::lock_guard lock(vet_mu_);
  if (listener_ < 0) return Err(ENOTSUP);
  const uint64_t hello = TrapStubAddress(moat_trap_hello_return);
  const auto deadline = std::chrono::steady_clock::now() + kHelloTimeout;
  bool allowed = false;
  auto idle = [&]() -> Status {
    if (!allowed && Exited(caller_pidfd)) return Err(ESRCH);
    if (allowed && failed()) return Err(EAGAIN);
    if (std::chrono::steady_clock::now() > deadline) return Err(ETIMEDOUT);
    return Ok();
  };
  for (;;) {
    seccomp_notif req = TRY(NextVettedCall(idle));
    if (!allowed && req.pid == uint32_t(caller) &&
        req.data.instruction_pointer == call_return) {
      // The filter pinned the number and the arguments.
      ReplyToVettedCall(req.id, 0, SECCOMP_USER_NOTIF_FLAG_CONTINUE);
      allowed = true;
    } else if (allowed && req.data.instruction_pointer == hello &&
               req.data.args[0] == nonce) {
      ReplyToVettedCall(req.id, 0);
      return pid_t(req.pid);
    } else {
      // A program that jumped to one of these calls itself.
      ReplyToVettedCall(req.id, ENOSYS);
    }
  }
}

Status TrapPlatform::VetInstallFd(pid_t caller, int caller_pidfd,
                                  uint64_t nonce, int host_fd, int target) {
  std::lock_guard lock(vet_mu_);
  if (listener_ < 0) return Err(ENOTSUP);
  const uint64_t site = TrapStubAddress(moat_trap_request_return);
  const auto deadline = std::chrono::steady_clock::now() + kHelloTimeout;
  auto idle = [&]() -> Status {
    if (Exited(caller_pidfd)) return Err(ESRCH);
    if (std::chrono::steady_clock::now() > deadline) return Err(ETIMEDOUT);
    return Ok();
  };
  for (;;) {
    seccomp_notif req = TRY(NextVettedCall(idle));
    if (req.pid != uint32_t(caller) || req.data.nr != SYS_dup ||
        req.data.instruction_pointer != site || req.data.args[0] != nonce) {
      // A program that jumped to one of these calls itself.
      ReplyToVettedCall(req.id, ENOSYS);
      continue;
    }
    seccomp_notif_addfd add;
    memset(&add, 0, sizeof add);
    add.id = req.id;
    add.flags = SECCOMP_ADDFD_FLAG_SETFD | SECCOMP_ADDFD_FLAG_SEND;
    add.srcfd = uint32_t(host_fd);
    add.newfd = uint32_t(target);
    add.newfd_flags = O_CLOEXEC;
    if (ioctl(listener_, SECCOMP_IOCTL_NOTIF_ADDFD, &add) >= 0) return Ok();
    int error = errno;
    ReplyToVettedCall(req.id, error);
    return Err(error);
  }
}

Result<int64_t> TrapPlatform::Inject(pid_t pid, uint64_t entry, int64_t nr,
                                     std::initializer_list<uint64_t> args,
                                     uint64_t r12) {
  Registers regs;
  if (ptrace(PTRACE_GETREGS, pid, 0, &regs) != 0) return Err(errno);
  regs.rip = entry;
  regs.rax = nr;
  regs.orig_rax = -1;
  regs.r12 = r12;
  unsigned long long* slots[] = {&regs.rdi, &regs.rsi, &regs.rdx,
                                 &regs.r10, &regs.r8,  &regs.r9};
  int i = 0;
  for (uint64_t a : args) *slots[i++] = a;
  const Registers sent = regs;
  if (ptrace(PTRACE_SETREGS, pid, 0, &regs) != 0) return Err(errno);
  if (ptrace(PTRACE_CONT, pid, 0, 0) != 0) return Err(errno);
  for (;;) {
    int status;
    if (waitpid(pid, &status, __WALL) < 0) {
      if (errno == EINTR) continue;
      return Err(errno);
    }
    if (!WIFSTOPPED(status)) return Err(ESRCH);
    int sig = WSTOPSIG(status);
    int event = status >> 16;
    if (sig == SIGTRAP && event == PTRACE_EVENT_SECCOMP) {
      // The filter asks about every call from the stub's code that it does
      // not allow outright. Only the call injected here may go on.
      Registers at;
      if (ptrace(PTRACE_GETREGS, pid, 0, &at) != 0) return Err(errno);
      if (at.orig_rax != sent.rax || at.rip != entry + 2 ||
          at.rdi != sent.rdi || at.rsi != sent.rsi || at.rdx != sent.rdx ||
          at.r10 != sent.r10 || at.r8 != sent.r8 || at.r9 != sent.r9) {
        SPDLOG_WARN("trap: unexpected call {} from stub {}", at.orig_rax, pid);
        kill(pid, SIGKILL);
        return Err(EPERM);
      }
    } else if (sig == SIGTRAP && event == 0) {
      break;
    } else if (sig == SIGSEGV || sig == SIGBUS || sig == SIGILL ||
               sig == SIGFPE) {
      return Err(EFAULT);
    }
    if (ptrace(PTRACE_CONT, pid, 0, 0) != 0) return Err(errno);
  }
  if (ptrace(PTRACE_GETREGS, pid, 0, &regs) != 0) return Err(errno);
  int64_t r = static_cast<int64_t>(regs.rax);
  if (r < 0 && r > -4096) return Err(int(-r));
  return r;
}

Result<pid_t> TrapPlatform::CloneThread(pid_t process, uint64_t slot_addr,
                                        uint64_t frame, bool map) {
  if (map) {
    int64_t at = TRY(Inject(process, TrapStubAddress(moat_trap_syscall),
                            SYS_mmap,
                            {slot_addr, kTrapSlotSize,
                             PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
                             uint64_t(MemoryFile::Get().fd()), frame}));
    if (uint64_t(at) != slot_addr) return Err(EFAULT);
  }
  int64_t tid = TRY(Inject(process, TrapStubAddress(moat_trap_clone),
                           SYS_clone, {kThreadCloneFlags, 0, 0, 0, 0},
                           slot_addr));
  return pid_t(tid);
}

void TrapPlatform::KillProcess(pid_t process) {
  kill(process, SIGKILL);
  for (;;) {
    int status;
    if (waitpid(process, &status, __WALL) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (WIFEXITED(status) || WIFSIGNALED(status)) return;
  }
}

Result<std::shared_ptr<TrapAddressSpace>> TrapPlatform::MakeAddressSpace(
    uint64_t frame) {
  Result<int64_t> pid = Inject(master_, TrapStubAddress(moat_trap_fork),
                               SYS_clone, {SIGCHLD, 0, 0, 0, 0});
  Status seized = pid.ok() ? Seize(pid_t(pid.value())) : Err(pid.error());
  if (!seized.ok()) {
    if (pid.ok()) KillProcess(pid_t(pid.value()));
    MemoryFile::Get().DecRefRunLater(frame, kSlotPages);
    return Err(seized.error());
  }
  auto as = std::make_shared<TrapAddressSpace>(*this, pid_t(pid.value()));
  TRY_STATUS(as->PrepareFirstThread(frame));
  return as;
}

void TrapPlatform::RequestRefills() {
  MemoryFile& mf = MemoryFile::Get();
  {
    std::lock_guard lock(mu_);
    // Only from a sandbox's second address space on, and never at the
    // cost of memory that the program may need.
    if (++address_spaces_made_ < 2 || refills_failed_) return;
    while (pool_.size() + refill_frames_.size() < kPoolSize &&
           mf.HasRoom(kSlotPages * 64)) {
      auto frame = mf.Allocate(kSlotPages);
      if (!frame.ok()) break;
      refill_frames_.push_back(frame.value());
    }
  }
  cv_.notify_one();
}

Result<std::shared_ptr<AddressSpace>> TrapPlatform::NewAddressSpace() {
  std::shared_ptr<TrapAddressSpace> pooled;
  {
    std::unique_lock lock(mu_);
    // A request made now would run only after the queued refills, so
    // waiting for the first refill is faster.
    pool_cv_.wait(lock, [&] {
      return !pool_.empty() || refill_frames_.empty() || refills_failed_;
    });
    if (!pool_.empty()) {
      pooled = std::move(pool_.back());
      pool_.pop_back();
    }
  }
  RequestRefills();
  if (pooled) return std::shared_ptr<AddressSpace>(pooled);
  uint64_t frame = TRY(MemoryFile::Get().Allocate(kSlotPages));
  Result<std::shared_ptr<TrapAddressSpace>> created = Err(EAGAIN);
  RunOnFactory([&] { created = MakeAddressSpace(frame); });
  return std::shared_ptr<AddressSpace>(TRY(created));
}

std::unique_ptr<Context> TrapPlatform::NewContext() {
  return std::make_unique<TrapContext>(*this);
}

}  // namespace moat
