#include "platform/ptrace/ptrace_platform.h"

#include <elf.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/rseq.h>
#include <sys/syscall.h>
#include <sys/ucontext.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstring>
#include <vector>

#include "mm/memory_file.h"
#include "platform/stub_filter.h"
#include "platform/stub_process.h"
#include "util/host_info.h"
#include "util/log.h"

namespace moat {
namespace {

// The host signal that interrupts a stub thread. The stub ignores it when no
// tracer is attached, but a tracer is still told of it.
constexpr int kInterruptSignal = SIGURG;

constexpr uint64_t kStubCodeSize = MOAT_STUB_CODE_SIZE;
static_assert(offsetof(ucontext_t, uc_mcontext.gregs[REG_ERR]) == MOAT_UC_ERR);
static_assert(offsetof(ucontext_t, uc_mcontext.gregs[REG_TRAPNO]) ==
              MOAT_UC_TRAPNO);
static_assert(offsetof(ucontext_t, uc_mcontext.gregs[REG_CR2]) == MOAT_UC_CR2);
// x86-64 signal delivery needs a restorer (asm/signal.h), which glibc's
// <signal.h> does not define.
constexpr uint64_t kSaRestorer = 0x04000000;

// The argument of rt_sigaction(2) as the x86-64 kernel reads it.
struct HostSigaction {
  uint64_t handler;
  uint64_t flags;
  uint64_t restorer;
  uint64_t mask;
};

int PidfdOpen(pid_t pid) { return syscall(SYS_pidfd_open, pid, 0); }

// Makes the stub's fault handler the handler of the signals the CPU raises.
// SA_NODEFER leaves the host's signal mask alone, so that nothing needs
// to be restored after the handler stops.
void InstallFaultHandler() {
  HostSigaction action = {StubAddress(moat_stub_fault),
                          SA_SIGINFO | SA_NODEFER | kSaRestorer,
                          StubAddress(moat_stub_fault_stop), 0};
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL})
    syscall(SYS_rt_sigaction, sig, &action, nullptr, sizeof(action.mask));
}

// The clone flags of a new thread in an address space; PrepareThread
// injects them.
constexpr uint64_t kStubThreadFlags = CLONE_VM | CLONE_FS | CLONE_FILES |
                                      CLONE_SIGHAND | CLONE_SYSVSEM | SIGCHLD;

// Builds the stub's filter: the calls the stub's code makes, each from its
// own place. Under PTRACE_SYSEMU no call of the application reaches the
// filter. Only the calls the kernel injects reach it, and calls through
// the vsyscall page, which the host emulates after running the filter.
// Those trap, and the kernel serves them like any other call.
std::vector<sock_filter> StubProgram(int memory_fd) {
  const uint64_t all = ~uint64_t{0};
  auto at = [](const char* label) { return StubAddress(label); };
  std::vector<StubCall> calls = {
      {at(moat_stub_unmap_low_return), SYS_munmap,
       {{0, all, 0}, {1, all, kStubBase}}},
      {at(moat_stub_unmap_high_return), SYS_munmap,
       {{0, all, MOAT_STUB_END}, {1, all, MOAT_TASK_SIZE - MOAT_STUB_END}}},
      {at(moat_stub_wait_return), SYS_pause, {}},
      // Memory comes only from the MemoryFile, shared, at a fixed place.
      {at(moat_stub_syscall_return), SYS_mmap,
       {{3, all, MAP_SHARED | MAP_FIXED}, {4, all, uint64_t(memory_fd)}}},
      {at(moat_stub_syscall_return), SYS_munmap, {}},
      {at(moat_stub_syscall_return), SYS_mprotect, {}},
      // A new address space from the master, or a thread in one.
      {at(moat_stub_clone_return), SYS_clone, {{0, all, SIGCHLD}, {1, all, 0}}},
      {at(moat_stub_clone_return), SYS_clone,
       {{0, all, kStubThreadFlags}, {1, all, 0}}},
  };
  return BuildStubFilter(calls, SECCOMP_RET_TRAP);
}

// Whether `info` is the SIGSYS of a call through the vsyscall page. Only
// seccomp raises SIGSYS with SYS_SECCOMP, and under PTRACE_SYSEMU only the
// host's vsyscall emulation runs the filter for application code.
bool IsVsyscallTrap(const siginfo_t& info) {
  constexpr int kSysSeccomp = 1;  // asm-generic/siginfo.h, not in glibc
  return info.si_code == kSysSeccomp && IsVsyscallAddress(info.si_call_addr);
}

// Runs in the child of fork(): becomes the master stub and never returns.
// `filter` is built before the fork, which leaves the child nothing to
// allocate.
[[noreturn]] void BecomeStub(int memory_fd,
                             const std::vector<sock_filter>& filter) {
  ShedInheritedState(memory_fd);
  struct sigaction sa = {};
  sa.sa_handler = SIG_IGN;
  sigaction(kInterruptSignal, &sa, nullptr);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);

  void* code = mmap(reinterpret_cast<void*>(kStubBase), kStubCodeSize,
                    PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  if (code == MAP_FAILED) _exit(120);
  memcpy(code, moat_stub_begin, moat_stub_end - moat_stub_begin);
  mprotect(code, kStubCodeSize, PROT_READ | PROT_EXEC);
  void* scratch = mmap(reinterpret_cast<void*>(kStubBase + kStubCodeSize),
                       MOAT_STUB_SCRATCH_SIZE, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  if (scratch == MAP_FAILED) _exit(122);
  InstallFaultHandler();
  // Last, since from here on only the stub's code can make calls.
  if (InstallStubFilter(filter) != 0) _exit(123);
  reinterpret_cast<void (*)()>(code)();
  _exit(121);
}

}  // namespace

uint64_t StubAddress(const void* symbol) {
  return kStubBase + (static_cast<const char*>(symbol) - moat_stub_begin);
}

PtraceContext*& CurrentPtraceContext() {
  thread_local PtraceContext* current = nullptr;
  return current;
}

// ---- StubThread ----

Result<std::unique_ptr<StubThread>> StubThread::Seize(pid_t tid) {
  std::unique_ptr<StubThread> t(new StubThread(tid));
  long options = PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL;
  if (ptrace(PTRACE_SEIZE, tid, 0, options) != 0) return Err(errno);
  t->pidfd_ = PidfdOpen(tid);
  // A freshly forked master may still be in moat's own code on its way
  // into the stub; injecting there would run moat code. Stop it until it
  // is idling in the stub.
  for (int attempt = 0;; attempt++) {
    if (ptrace(PTRACE_INTERRUPT, tid, 0, 0) != 0) return Err(errno);
    for (;;) {
      int status;
      if (waitpid(tid, &status, __WALL) < 0) {
        if (errno == EINTR) continue;
        return Err(errno);
      }
      if (!WIFSTOPPED(status)) return Err(ESRCH);
      if ((status >> 16) == PTRACE_EVENT_STOP) break;
      // A signal reached the idle stub first; drop it and wait for the stop.
      ptrace(PTRACE_CONT, tid, 0, 0);
    }
    if (ptrace(PTRACE_GETREGS, tid, 0, &t->template_regs_) != 0)
      return Err(errno);
    uint64_t rip = t->template_regs_.rip;
    if (rip >= kStubBase && rip < kStubBase + kStubCodeSize) break;
    if (attempt > 10000) return Err(ETIMEDOUT);
    ptrace(PTRACE_CONT, tid, 0, 0);
    usleep(100);
  }
  return t;
}

StubThread::~StubThread() {
  Kill();
  if (pidfd_ >= 0) close(pidfd_);
}

void StubThread::Kill() {
  if (!alive_) return;
  alive_ = false;
  syscall(SYS_pidfd_send_signal, pidfd_, SIGKILL, nullptr, 0);
  int status;
  while (waitpid(tid_, &status, __WALL) >= 0) {
    if (WIFEXITED(status) || WIFSIGNALED(status)) break;
  }
}

Result<int> StubThread::WaitStop() {
  for (;;) {
    int status;
    if (waitpid(tid_, &status, __WALL) < 0) {
      if (errno == EINTR) continue;
      return Err(errno);
    }
    if (WIFEXITED(status) || WIFSIGNALED(status)) {
      alive_ = false;
      return Err(ESRCH);
    }
    return status;
  }
}

Result<int64_t> StubThread::Inject(uint64_t entry, int64_t nr,
                                   std::initializer_list<uint64_t> args) {
  Registers regs = template_regs_;
  regs.rip = entry;
  regs.rax = nr;
  regs.orig_rax = -1;
  unsigned long long* slots[] = {&regs.rdi, &regs.rsi, &regs.rdx,
                                 &regs.r10, &regs.r8,  &regs.r9};
  int i = 0;
  for (uint64_t a : args) *slots[i++] = a;
  if (ptrace(PTRACE_SETREGS, tid_, 0, &regs) != 0) return Err(errno);
  if (ptrace(PTRACE_CONT, tid_, 0, 0) != 0) return Err(errno);
  for (;;) {
    int status = TRY(WaitStop());
    int sig = WSTOPSIG(status);
    if (sig == SIGTRAP && (status >> 16) == 0) break;
    // The stub's own code faulted: with the registers the kernel chose,
    // that is a kernel bug, and retrying would fault forever.
    if (sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE)
      return Err(EFAULT);
    // Anything else (an interrupt, a host signal) is remembered and the
    // injected call is allowed to finish.
    interrupted_ = true;
    if (ptrace(PTRACE_CONT, tid_, 0, 0) != 0) return Err(errno);
  }
  if (ptrace(PTRACE_GETREGS, tid_, 0, &regs) != 0) return Err(errno);
  return static_cast<int64_t>(regs.rax);
}

Result<TrapInfo> StubThread::DeliverFaultToStub(int sig, Registers regs) {
  // The host writes the signal frame below the stack pointer. The
  // application's stack may be unmapped in the host, or be what faulted.
  regs.rsp = MOAT_STUB_END;
  regs.orig_rax = -1;
  if (ptrace(PTRACE_SETREGS, tid_, 0, &regs) != 0) return Err(errno);
  // PTRACE_SYSEMU rather than PTRACE_CONT: other application threads can
  // write the scratch area, and must not be able to make this thread run
  // a host system call.
  if (ptrace(PTRACE_SYSEMU, tid_, 0, sig) != 0) return Err(errno);
  for (;;) {
    int status = TRY(WaitStop());
    int stop = WSTOPSIG(status);
    if (stop == SIGTRAP && (status >> 16) == 0) break;
    if (stop == (SIGTRAP | 0x80) || stop == SIGSEGV || stop == SIGBUS ||
        stop == SIGILL || stop == SIGFPE) {
      SPDLOG_WARN("stub {} stopped with signal {} in its fault handler", tid_,
                  stop);
      return Err(EFAULT);
    }
    // As in Inject, another signal is remembered and the handler goes on.
    interrupted_ = true;
    if (ptrace(PTRACE_SYSEMU, tid_, 0, 0) != 0) return Err(errno);
  }
  if (ptrace(PTRACE_GETREGS, tid_, 0, &regs) != 0) return Err(errno);
  if (regs.rip != StubAddress(moat_stub_fault_stop) + 1) return Err(EFAULT);
  // See moat_stub_fault in stub.S for the registers.
  return TrapInfo{regs.rbx, regs.rax, regs.rcx};
}

// ---- PtraceAddressSpace ----

PtraceAddressSpace::PtraceAddressSpace(pid_t first_thread)
    : first_thread_(first_thread) {
  static std::atomic<uint64_t> next_id{1};
  id_ = next_id++;
  spare_threads_.push_back(first_thread);
}

PtraceAddressSpace::~PtraceAddressSpace() {
  // Threads never taken by a context are idle and untraced.
  for (pid_t t : spare_threads_) kill(t, SIGKILL);
}

pid_t PtraceAddressSpace::TakeSpareThread() {
  std::lock_guard lock(mu_);
  if (spare_threads_.empty()) return 0;
  pid_t t = spare_threads_.back();
  spare_threads_.pop_back();
  return t;
}

bool PtraceAddressSpace::ChangeableHere() const {
  PtraceContext* ctx = CurrentPtraceContext();
  if (ctx != nullptr && ctx->as_id_ == id_ && ctx->thread_) return true;
  std::lock_guard lock(mu_);
  return !spare_threads_.empty() && spare_threads_.front() == first_thread_;
}

Result<int64_t> PtraceAddressSpace::InjectHere(
    uint64_t entry, int64_t nr, std::initializer_list<uint64_t> args) {
  PtraceContext* ctx = CurrentPtraceContext();
  if (ctx == nullptr || ctx->as_id_ != id_ || !ctx->thread_) {
    // No thread of ours runs here yet, so nothing is mapped to change.
    std::lock_guard lock(mu_);
    MOAT_CHECK(!spare_threads_.empty() &&
                   spare_threads_.front() == first_thread_,
               "address space change from a thread outside it");
    return 0;
  }
  ctx->at_fault_stop_ = false;  // the injected call leaves the fault stop
  int64_t r = TRY(ctx->thread_->Inject(entry, nr, args));
  if (r < 0 && r > -4096) return Err(-r);
  return r;
}

Status PtraceAddressSpace::MapFile(uint64_t addr, uint64_t length,
                                   uint64_t frame, int prot) {
  int64_t r = TRY(InjectHere(StubAddress(moat_stub_syscall), SYS_mmap,
                             {addr, length, uint64_t(prot),
                              MAP_SHARED | MAP_FIXED,
                              uint64_t(MemoryFile::Get().fd()), frame}));
  (void)r;
  return Ok();
}

Status PtraceAddressSpace::Unmap(uint64_t addr, uint64_t length) {
  TRY(InjectHere(StubAddress(moat_stub_syscall), SYS_munmap,
                 {addr, length}));
  return Ok();
}

Status PtraceAddressSpace::Protect(uint64_t addr, uint64_t length, int prot) {
  TRY(InjectHere(StubAddress(moat_stub_syscall), SYS_mprotect,
                 {addr, length, uint64_t(prot)}));
  return Ok();
}

Status PtraceAddressSpace::PrepareThread() {
  int64_t tid = TRY(InjectHere(StubAddress(moat_stub_clone), SYS_clone,
                               {kStubThreadFlags, 0, 0, 0, 0}));
  MOAT_CHECK(tid > 0, "stub clone returned {}", tid);
  std::lock_guard lock(mu_);
  spare_threads_.push_back(pid_t(tid));
  return Ok();
}

// ---- PtraceContext ----

// Puts the calling task thread and the stub thread it traces on the same
// CPU, so that a ptrace stop hands over within one CPU. Across CPUs the
// hand-over needs a wake-up by interrupt, which made getppid up to seven
// times slower on 2-CPU VMs. Pairs are spread round-robin over the CPUs
// moat may run on, which `taskset` or a cpuset may have narrowed.
void PinToOneCpu(pid_t stub_tid) {
  static std::atomic<unsigned> next{0};
  static const std::vector<int> cpus = [] {
    std::vector<int> allowed;
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
      if (CPU_ISSET(cpu, &MoatCpuSet())) allowed.push_back(cpu);
    return allowed;
  }();
  if (cpus.size() <= 1) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpus[next++ % cpus.size()], &set);
  sched_setaffinity(0, sizeof(set), &set);
  sched_setaffinity(stub_tid, sizeof(set), &set);
}

PtraceContext::~PtraceContext() { Release(); }

void PtraceContext::Release() {
  std::lock_guard lock(mu_);
  thread_.reset();
  as_ = nullptr;
  as_id_ = 0;
  if (interrupt_pidfd_ >= 0) close(interrupt_pidfd_);
  interrupt_pidfd_ = -1;
  if (CurrentPtraceContext() == this) CurrentPtraceContext() = nullptr;
}

void PtraceContext::Interrupt() {
  std::lock_guard lock(mu_);
  if (interrupt_pidfd_ >= 0)
    syscall(SYS_pidfd_send_signal, interrupt_pidfd_, kInterruptSignal,
            nullptr, 0);
}

SwitchReason PtraceContext::Switch(AddressSpace& as, Registers& regs,
                                   siginfo_t& info) {
  CurrentPtraceContext() = this;
  auto& pas = static_cast<PtraceAddressSpace&>(as);
  if (as_id_ != pas.id() || !thread_) {
    pid_t tid = pas.TakeSpareThread();
    MOAT_CHECK(tid > 0, "no stub thread prepared for a new context");
    auto t = StubThread::Seize(tid);
    if (!t.ok()) return SwitchReason::kDied;
    std::lock_guard lock(mu_);
    thread_ = std::move(t.value());  // kills the thread of the old space
    as_ = &pas;
    as_id_ = pas.id();
    if (interrupt_pidfd_ >= 0) close(interrupt_pidfd_);
    interrupt_pidfd_ = PidfdOpen(tid);
    if (initial_fp_) {
      (void)SetFpState(*initial_fp_);
      initial_fp_.reset();
    }
    PinToOneCpu(tid);
  }
  pid_t tid = thread_->tid();
  at_fault_stop_ = false;
  if (thread_->interrupted()) {
    thread_->clear_interrupted();
    return SwitchReason::kInterrupted;
  }

  Registers r = regs;
  r.orig_rax = -1;  // keep the host from restarting a call on resume
  if (ptrace(PTRACE_SETREGS, tid, 0, &r) != 0) return SwitchReason::kDied;
  if (ptrace(PTRACE_SYSEMU, tid, 0, 0) != 0) return SwitchReason::kDied;

  auto status_or = thread_->WaitStop();
  if (!status_or.ok()) return SwitchReason::kDied;
  int status = status_or.value();
  if (ptrace(PTRACE_GETREGS, tid, 0, &regs) != 0) return SwitchReason::kDied;

  int sig = WSTOPSIG(status);
  if (sig == (SIGTRAP | 0x80)) return SwitchReason::kSyscall;
  if ((status >> 16) != 0) return SwitchReason::kInterrupted;
  switch (sig) {
    case SIGSYS:
      if (ptrace(PTRACE_GETSIGINFO, tid, 0, &info) != 0)
        return SwitchReason::kDied;
      // A call through the vsyscall page, trapped by the stub's filter.
      // The host has already emulated the return to the caller; the call
      // itself is the kernel's to serve.
      if (IsVsyscallTrap(info)) {
        regs.orig_rax = static_cast<uint64_t>(info.si_syscall);
        return SwitchReason::kVsyscall;
      }
      return SwitchReason::kInterrupted;
    case SIGSEGV:
    case SIGBUS:
    case SIGFPE:
    case SIGILL:
    case SIGTRAP:
      if (ptrace(PTRACE_GETSIGINFO, tid, 0, &info) != 0)
        return SwitchReason::kDied;
      // A signal sent with kill() from the host is not a fault.
      if (info.si_code <= 0) return SwitchReason::kInterrupted;
      at_fault_stop_ = true;
      fault_signal_ = sig;
      fault_regs_ = regs;
      return SwitchReason::kFault;
    default:
      return SwitchReason::kInterrupted;
  }
}

Result<FpState> PtraceContext::GetFpState() {
  // A context that has not run yet (a new task, or one that just did
  // execve) has no stub thread: its state is the one it will start with.
  if (!thread_) {
    if (initial_fp_) return *initial_fp_;
    return Err(ESRCH);
  }
  FpState state(16384);
  struct iovec iov = {state.data(), state.size()};
  if (ptrace(PTRACE_GETREGSET, thread_->tid(), NT_X86_XSTATE, &iov) != 0)
    return Err(errno);
  state.resize(iov.iov_len);
  return state;
}

Status PtraceContext::SetFpState(const FpState& state) {
  if (!thread_) {
    initial_fp_ = state;
    return Ok();
  }
  struct iovec iov = {const_cast<uint8_t*>(state.data()), state.size()};
  if (ptrace(PTRACE_SETREGSET, thread_->tid(), NT_X86_XSTATE, &iov) != 0)
    return Err(errno);
  return Ok();
}

Result<TrapInfo> PtraceContext::ReadTrap() {
  // ptrace does not report a fault's error code, but the host writes it
  // into the signal frame when it delivers the signal. So the signal goes
  // to the stub's handler, which stops at once.
  if (!thread_ || !at_fault_stop_) return Err(EAGAIN);
  at_fault_stop_ = false;
  FpState fp = TRY(GetFpState());
  auto trap = thread_->DeliverFaultToStub(fault_signal_, fault_regs_);
  // Signal delivery reset the FPU state for the handler.
  TRY_STATUS(SetFpState(fp));
  return trap;
}

// ---- PtracePlatform ----

Result<std::unique_ptr<PtracePlatform>> PtracePlatform::Create() {
  std::unique_ptr<PtracePlatform> p(new PtracePlatform());
  int memory_fd = MemoryFile::Get().fd();
  std::vector<sock_filter> filter = StubProgram(memory_fd);
  pid_t pid = fork();
  if (pid < 0) return Err(errno);
  if (pid == 0) BecomeStub(memory_fd, filter);
  p->master_ = pid;
  p->factory_ = std::thread([raw = p.get()] { raw->FactoryLoop(); });
  return p;
}

PtracePlatform::~PtracePlatform() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (factory_.joinable()) factory_.join();
}

void PtracePlatform::FactoryLoop() {
  auto master = StubThread::Seize(master_);
  MOAT_CHECK(master.ok(), "cannot trace the master stub: errno {}",
             master.ok() ? 0 : master.error());
  for (;;) {
    std::function<void(StubThread&)> request;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !requests_.empty(); });
      if (stopping_) return;
      request = std::move(requests_.front());
      requests_.pop_front();
    }
    request(*master.value());
  }
}

Result<std::shared_ptr<AddressSpace>> PtracePlatform::NewAddressSpace() {
  std::mutex done_mu;
  std::condition_variable done_cv;
  bool done = false;
  Result<int64_t> pid = Err(EAGAIN);
  {
    std::lock_guard lock(mu_);
    requests_.push_back([&](StubThread& master) {
      auto r = master.Inject(StubAddress(moat_stub_clone), SYS_clone,
                             {SIGCHLD, 0, 0, 0, 0});
      std::lock_guard l(done_mu);
      pid = r;
      done = true;
      done_cv.notify_one();
    });
  }
  cv_.notify_one();
  std::unique_lock l(done_mu);
  done_cv.wait(l, [&] { return done; });
  if (!pid.ok()) return Err(pid.error());
  if (pid.value() < 0) return Err(int(-pid.value()));
  return std::shared_ptr<AddressSpace>(
      std::make_shared<PtraceAddressSpace>(pid_t(pid.value())));
}

std::unique_ptr<Context> PtracePlatform::NewContext() {
  return std::make_unique<PtraceContext>();
}

}  // namespace moat
