#include "kernel/task.h"

#include <linux/futex.h>
#include <linux/seccomp.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <system_error>

#include "kernel/kernel.h"
#include "kernel/seccomp.h"
#include "kernel/signal_delivery.h"
#include "mm/memory_file.h"
#include "syscalls/table.h"
#include "util/log.h"
#include "vfs/fd_table.h"
#include "util/host_info.h"

namespace moat {
namespace {

// The kernel lock as held by the current task thread, for Block.
thread_local std::unique_lock<std::mutex>* t_lock = nullptr;

}  // namespace

Task*& CurrentTask() {
  thread_local Task* current = nullptr;
  return current;
}

Task::Task(Kernel& kernel, std::shared_ptr<ThreadGroup> tg)
    : kernel_(kernel), tg_(std::move(tg)) {
  start_time = Clock::now();
  // Every CPU of the sandbox, as a fresh Linux task has.
  long cpus = SandboxCpuCount();
  for (long i = 0; i < cpus && i < 32 * 64; i++)
    sched_affinity[i / 64] |= 1ull << (i % 64);
}

Task::~Task() {
  if (!launch_) return;
  std::lock_guard lock(launch_->mu);
  if (launch_->state == Launch::kWaiting) {
    launch_->state = Launch::kAbandoned;
    launch_->cv.notify_one();
  }
}

Status Task::CreateThread() {
  auto launch = std::make_shared<Launch>();
  std::weak_ptr<Task> weak = shared_from_this();
  try {
    std::thread([launch, weak] {
      {
        std::unique_lock lock(launch->mu);
        launch->cv.wait(lock,
                        [&] { return launch->state != Launch::kWaiting; });
        if (launch->state == Launch::kAbandoned) return;
      }
      if (auto self = weak.lock()) self->Run();
    }).detach();
  } catch (const std::system_error& e) {
    spdlog::warn("[{}] the host gave no thread for a new task: {}", tid,
                 e.what());
    return Err(EAGAIN);
  }
  launch_ = std::move(launch);
  return Ok();
}

void Task::Start() {
  if (!launch_ && !CreateThread().ok()) {
    // Only the first task gets here; without a thread it cannot run.
    MOAT_CHECK(false, "no host thread for task {}", tid);
  }
  std::lock_guard lock(launch_->mu);
  launch_->state = Launch::kRun;
  launch_->cv.notify_one();
}

void Task::Run() {
  CurrentTask() = this;
  ctx_ = kernel_.platform().NewContext();
  std::unique_lock lock(kernel_.mu);
  if (initial_fp_state) {
    ctx_->SetInitialFpState(std::move(*initial_fp_state));
    initial_fp_state.reset();
  }
  t_lock = &lock;
  RunLoop();
  ReleaseResources();
  t_lock = nullptr;
  CurrentTask() = nullptr;
  // The last reference to this task may go with the lambda that ran it,
  // which happens after the lock is released.
}

bool Task::HasInterrupt() const {
  if (exiting || tg_->group_exiting) return true;
  SignalSet deliverable =
      (pending.set() | tg_->shared_pending.set()) & ~blocked;
  return deliverable != 0 || (tg_->stopped);
}

bool Task::FatalSignalPending() const {
  if (exiting || tg_->group_exiting) return true;
  SignalSet deliverable =
      (pending.set() | tg_->shared_pending.set()) & ~blocked;
  for (int sig = 1; sig <= kMaxSignal && deliverable != 0; sig++) {
    if ((deliverable & SigBit(sig)) == 0) continue;
    deliverable &= ~SigBit(sig);
    if (sig == SIGKILL) return true;
    if (handlers->actions[sig].handler != 0) continue;  // caught or ignored
    DefaultAction action = DefaultActionOf(sig);
    if (action == DefaultAction::kTerminate ||
        action == DefaultAction::kCoreDump)
      return true;
  }
  return false;
}

void Task::YieldKernel() {
  MOAT_CHECK(t_lock != nullptr && CurrentTask() == this,
             "[{}] YieldKernel called off the task's thread", tid);
  t_lock->unlock();
  // A waiter that was woken needs a moment to take the lock; relocking at
  // once would usually win the race again.
  std::this_thread::sleep_for(std::chrono::microseconds(10));
  t_lock->lock();
}

BlockResult Task::Block(std::optional<Clock::time_point> deadline) {
  MOAT_CHECK(t_lock != nullptr && CurrentTask() == this,
             "[{}] Block called off the task's thread", tid);
  blocked_ = true;
  if (!woken_ && ctx_) ctx_->Blocking();
  BlockResult result = BlockResult::kWoken;
  while (!woken_) {
    if (HasInterrupt()) {
      result = BlockResult::kInterrupted;
      break;
    }
    if (deadline) {
      if (cv_.wait_until(*t_lock, *deadline) == std::cv_status::timeout &&
          !woken_) {
        result = HasInterrupt() ? BlockResult::kInterrupted
                                : BlockResult::kTimedOut;
        break;
      }
    } else {
      cv_.wait(*t_lock);
    }
  }
  woken_ = false;
  blocked_ = false;
  return result;
}

void Task::Reschedule() {
  MOAT_CHECK(t_lock != nullptr && CurrentTask() == this,
             "[{}] Reschedule called off the task's thread", tid);
  t_lock->unlock();
  // A yield alone hands the lock back to this thread before a waiter on
  // the other CPU has woken up.
  std::this_thread::sleep_for(std::chrono::microseconds(50));
  t_lock->lock();
}

BlockResult Task::BlockUninterruptible(
    std::optional<Clock::time_point> deadline) {
  blocked_ = true;
  if (!woken_ && ctx_) ctx_->Blocking();
  BlockResult result = BlockResult::kWoken;
  while (!woken_ && !exiting && !tg_->group_exiting) {
    if (deadline) {
      if (cv_.wait_until(*t_lock, *deadline) == std::cv_status::timeout) {
        result = BlockResult::kTimedOut;
        break;
      }
    } else {
      cv_.wait(*t_lock);
    }
  }
  woken_ = false;
  blocked_ = false;
  return result;
}

void Task::Wake() {
  woken_ = true;
  cv_.notify_one();
}

void Task::Interrupt() {
  cv_.notify_one();
  if (in_app_ && ctx_) ctx_->Interrupt();
}

SignalSet Task::PendingSet() const {
  return pending.set() | tg_->shared_pending.set();
}

void Task::Exit(int status) {
  exiting = true;
  exit_status = status;
}

void Task::RunLoop() {
  siginfo_t info;
  for (;;) {
    if (!DeliverSignals() || exiting) return;
    if (tg_->stopped) {
      // Group stop: wait for SIGCONT or SIGKILL. Not through Block, which
      // counts the stop itself as an interrupt and would spin here with
      // the kernel lock held.
      while (tg_->stopped && !exiting && !tg_->group_exiting)
        cv_.wait(*t_lock);
      woken_ = false;
      continue;
    }
    if (tg_->frozen) {
      // Frozen: like a group stop, but invisible inside and left only by a
      // thaw or SIGKILL, as with Linux's cgroup freezer. Other signals
      // stay pending until the thaw.
      while (tg_->frozen && !exiting && !tg_->group_exiting)
        cv_.wait(*t_lock);
      continue;
    }
    in_app_ = true;
    auto app_start = Clock::now();
    t_lock->unlock();
    SwitchReason reason = ctx_->Switch(mm_->address_space(), regs, info);
    t_lock->lock();
    in_app_ = false;
    auto kernel_start = Clock::now();
    rusage.utime += kernel_start - app_start;
    ChargeItimers(kernel_start - app_start);

    switch (reason) {
      case SwitchReason::kSyscall:
        HandleSyscall();
        break;
      case SwitchReason::kVsyscall:
        HandleVsyscall(info);
        break;
      case SwitchReason::kFault:
        HandleFault(info);
        break;
      case SwitchReason::kInterrupted:
        break;
      case SwitchReason::kDied:
        SPDLOG_DEBUG("[{}] stub thread died", tid);
        // The host's reason, such as the SIGSYS of a stub filter's kill,
        // tells the parent more than SIGKILL.
        kernel_.ExitGroup(*tg_, info.si_signo > 0 && info.si_signo < 32
                                    ? info.si_signo
                                    : SIGKILL);
        break;
    }
    rusage.stime += Clock::now() - kernel_start;
  }
}

void Task::HandleSyscall(bool vsyscall) {
  int64_t nr = static_cast<int64_t>(regs.orig_rax);
  SyscallArgs args{{regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8,
                    regs.r9}};
  bool int80 = !vsyscall && ctx_->SyscallMayBeInt80() && EnteredThroughInt80();
  current_syscall = nr;
  // An exec replaces the memory its arguments are in, so --strace formats
  // them before the call.
  std::string traced_call;
  if (kernel_.config().strace && (nr == SYS_execve || nr == SYS_execveat))
    traced_call = FormatSyscall(*this, nr, args);
  // The only cost of seccomp for a task without filters is this branch.
  std::optional<int64_t> ret;
  if (seccomp_mode != SECCOMP_MODE_DISABLED) [[unlikely]]
    ret = CheckSeccomp(*this, int80);
  if (!ret) ret = RunHandler(nr, args, int80);
  current_syscall = -1;
  if (kernel_.config().strace) TraceSyscall(*this, nr, args, *ret, traced_call);
  if (*ret != kNoReturnValue) regs.rax = static_cast<uint64_t>(*ret);
}

int64_t Task::RunHandler(int64_t nr, const SyscallArgs& args, bool int80) {
  if (int80) {
    // The i386 entry carries i386 call numbers, which moat does not serve.
    // Running the x86-64 call of the same number would be the wrong call.
    static bool reported = false;  // once per sandbox, under the kernel lock
    if (!reported) {
      spdlog::warn("[{}:{}] int $0x80 (i386 call {}) is not supported: "
                   "returning ENOSYS", tg().tgid, tid, nr);
      reported = true;
    }
    return -ENOSYS;
  }
  const SyscallInfo* info = LookupSyscall(nr);
  if (info == nullptr || info->handler == nullptr) {
    kernel_.ReportUnimplemented(*this, nr);
    return -ENOSYS;
  }
  MemoryManager* mm = mm_.get();
  if (mm) mm->MaybePatchSyscall(regs.rip, uint64_t(nr));
  uint64_t before = mm ? mm->populated_pages : 0;
  int64_t ret = info->handler(*this, args);
  if (mm && mm == mm_.get()) rusage.minflt += mm->populated_pages - before;
  return ret;
}

// Serves a call through the vsyscall page. The host has checked its
// pointers against the user address range and emulated the return to the
// caller. A pointer that faults raises SIGSEGV at the vsyscall entry, with
// the return undone and rax still -ENOSYS, as Linux does in
// arch/x86/entry/vsyscall/vsyscall_64.c:emulate_vsyscall.
void Task::HandleVsyscall(const siginfo_t& info) {
  HandleSyscall(/*vsyscall=*/true);
  if (static_cast<int64_t>(regs.rax) != -EFAULT) return;
  regs.rip = reinterpret_cast<uint64_t>(info.si_call_addr);
  regs.rsp -= 8;  // back onto the return address that the host popped
  regs.rax = static_cast<uint64_t>(-ENOSYS);
  ForceSignal(*this, MakeSigInfo(SIGSEGV, SI_KERNEL));
}

bool Task::EnteredThroughInt80() {
  // The stop leaves rip after the instruction: `int $0x80` is cd 80, where
  // `syscall` is 0f 05. The bytes are read from the kernel's own copy of
  // the program's memory; a program that rewrites them from another thread
  // only confuses its own call.
  if (!mm_ || regs.rip < 2) return false;
  auto bytes = mm_->Read<uint16_t>(regs.rip - 2);
  return bytes.ok() && bytes.value() == 0x80cd;
}

void Task::HandleFault(const siginfo_t& info) {
  uint64_t addr = reinterpret_cast<uint64_t>(info.si_addr);
  if (info.si_signo == SIGSEGV && info.si_code != SI_KERNEL) {
    uint64_t before = mm_->populated_pages;
    FaultResult r = mm_->HandleFault(addr, info.si_code == SEGV_ACCERR,
                                     addr == regs.rip);
    rusage.minflt += std::max<uint64_t>(1, mm_->populated_pages - before);
    if (r == FaultResult::kHandled) return;
    if (r == FaultResult::kOutOfMemory) {
      if (WaitForMemory()) return;
      r = FaultResult::kBusError;
    }
    siginfo_t si = {};
    si.si_signo = r == FaultResult::kBusError ? SIGBUS : SIGSEGV;
    si.si_code = r == FaultResult::kMapError    ? SEGV_MAPERR
                 : r == FaultResult::kBusError ? BUS_ADRERR
                                               : SEGV_ACCERR;
    si.si_addr = info.si_addr;
    SPDLOG_DEBUG("[{}] fault at {:#x} rip {:#x}: signal {}", tid, addr,
                 regs.rip, si.si_signo);
    RecordTrap(info);
    ForceSignal(*this, si);
    return;
  }
  // SIGFPE, SIGILL, SIGBUS, SIGTRAP from the CPU go to the program as the
  // host raised them.
  if (info.si_signo != SIGTRAP) RecordTrap(info);
  siginfo_t si = info;
  ForceSignal(*this, si);
}

// After the memory limit refused a page: the OOM killer has a victim
// exiting (maybe this task), and the access runs again once it is gone, as
// Linux mm/oom_kill.c:pagefault_out_of_memory retries the fault. Returns
// false when there is no limit, for a fault that is then a SIGBUS.
bool Task::WaitForMemory() {
  if (MemoryFile::Get().LimitBytes() == 0) return false;
  if (!exiting && !tg_->group_exiting)
    Block(Clock::now() + std::chrono::milliseconds(5));
  return true;
}

// Keeps the trap number, error code and address of a fault that raises a
// signal, for the signal frames that follow.
void Task::RecordTrap(const siginfo_t& info) {
  auto read = ctx_->ReadTrap();
  if (!read.ok()) {
    // Without the platform's report, assume that a SIGSEGV or SIGBUS with an
    // address comes from a page fault by user code, on a mapped page if the
    // host reported SEGV_ACCERR. NOTE: the write and fetch bits stay unset.
    if (info.si_signo != SIGSEGV && info.si_signo != SIGBUS) return;
    if (info.si_code == SI_KERNEL) return;
    trap.trap_number = 14;
    trap.error_code = 4 | (info.si_code == SEGV_ACCERR ? 1 : 0);
    trap.address = reinterpret_cast<uint64_t>(info.si_addr);
    return;
  }
  uint64_t address = trap.address;
  trap = read.value();
  // Only a page fault sets the address: the host's is stale otherwise.
  if (trap.trap_number != 14) trap.address = address;
}

bool Task::DeliverSignals() { return DeliverPendingSignals(*this); }

// Counts `used` of CPU time against ITIMER_VIRTUAL and ITIMER_PROF, and
// raises their signals when they run out. Kernel time is not charged to
// ITIMER_PROF, an approximation.
void Task::ChargeItimers(Clock::duration used) {
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(used);
  auto charge = [&](std::chrono::nanoseconds& left,
                    std::chrono::nanoseconds interval, int sig) {
    if (left.count() <= 0) return;
    left -= ns;
    if (left.count() > 0) return;
    left = interval;
    (void)SendGroupSignal(*tg_, MakeSigInfo(sig, SI_KERNEL), false);
  };
  charge(tg_->itimer_virtual_left, tg_->itimer_virtual_interval, SIGVTALRM);
  charge(tg_->itimer_prof_left, tg_->itimer_prof_interval, SIGPROF);

  // RLIMIT_CPU: SIGXCPU at the soft limit and every second after it,
  // SIGKILL at the hard limit (Linux kernel/time/posix-cpu-timers.c).
  const struct rlimit& cpu = tg_->rlimits[RLIMIT_CPU];
  if (cpu.rlim_cur == RLIM_INFINITY) return;
  Rusage total = tg_->TotalRusage();
  uint64_t secs = std::chrono::duration_cast<std::chrono::seconds>(
                      total.utime + total.stime)
                      .count();
  if (cpu.rlim_max != RLIM_INFINITY && secs >= cpu.rlim_max) {
    kernel_.ExitGroup(*tg_, SIGKILL);
  } else if (secs >= cpu.rlim_cur && secs > tg_->last_xcpu_second) {
    tg_->last_xcpu_second = secs;
    (void)SendGroupSignal(*tg_, MakeSigInfo(SIGXCPU, SI_KERNEL), false);
  }
}

void Task::ReleaseResources() {
  // CLONE_CHILD_CLEARTID: zero the word and wake one waiter (pthread_join).
  if (clear_child_tid != 0 && mm_) {
    if (mm_->Write<uint32_t>(clear_child_tid, 0).ok())
      FutexWakeAddress(*this, clear_child_tid, 1);
  }
  ExitRobustList(*this);
  if (vfork_parent) {
    vfork_parent->vfork_done = true;
    vfork_parent->Wake();
    vfork_parent.reset();
  }
  ctx_->Release();
  exited = true;

  auto& tasks = tg_->tasks;
  std::erase_if(tasks, [this](auto& t) { return t.get() == this; });
  if (tg_->Leader().get() == this || (tasks.empty() && !tg_->Leader()))
    tg_->exit_uid = creds.ruid;
  if (!tg_->group_exiting) tg_->group_exit_status = exit_status;
  if (mm_)
    rusage.maxrss_kb = std::max<uint64_t>(
        rusage.maxrss_kb, mm_->PeakResidentPages() * kPageSize / 1024);
  tg_->rusage_dead_threads.Add(rusage);
  kernel_.UnregisterTask(*this);
  fds.reset();
  fs.reset();
  mm_.reset();
  if (tasks.empty()) kernel_.GroupExited(*tg_);
}

uint32_t ThreadGroup::Uid() const {
  auto l = leader.lock();
  return l && !l->exited ? l->creds.ruid : exit_uid;
}

std::string ThreadGroup::comm() const {
  auto l = leader.lock();
  return l ? l->comm : "";
}

Rusage ThreadGroup::TotalRusage() const {
  Rusage r = rusage_dead_threads;
  for (auto& t : tasks) r.Add(t->rusage);
  return r;
}

}  // namespace moat
