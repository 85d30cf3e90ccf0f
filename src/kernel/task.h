// Tasks and thread groups. One host thread runs each task: it switches into
// the application through the platform and serves whatever stopped it.
//
// Locking: every field here is guarded by the kernel lock (Kernel::mu)
// unless its comment says otherwise.
#pragma once

#include <sys/resource.h>

#include <array>
#include <map>
#include <mutex>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "kernel/signal.h"
#include "kernel/wait_queue.h"
#include "mm/memory_manager.h"
#include "platform/platform.h"
#include "vfs/vfs.h"

namespace moat {

class Kernel;
class ThreadGroup;
class FdTable;
class ProcessGroup;
class Session;
struct SeccompFilter;
struct SyscallArgs;
using Clock = std::chrono::steady_clock;

struct Rusage {
  std::chrono::nanoseconds utime{0}, stime{0};
  uint64_t minflt = 0, majflt = 0, nvcsw = 0, nivcsw = 0;
  uint64_t maxrss_kb = 0;
  void Add(const Rusage& o) {
    utime += o.utime;
    stime += o.stime;
    minflt += o.minflt;
    majflt += o.majflt;
    nvcsw += o.nvcsw;
    nivcsw += o.nivcsw;
    maxrss_kb = std::max(maxrss_kb, o.maxrss_kb);
  }
};

// Outcome of Task::Block.
enum class BlockResult { kWoken, kInterrupted, kTimedOut };

// Restart codes a handler may return; signal delivery turns them into
// EINTR or a restart.
inline constexpr int64_t kERestartSys = -512;
inline constexpr int64_t kERestartNoIntr = -513;
inline constexpr int64_t kERestartNoHand = -514;
inline constexpr int64_t kERestartBlock = -516;
// A handler that set the registers itself (execve, rt_sigreturn).
inline constexpr int64_t kNoReturnValue = INT64_MIN;

class Task : public std::enable_shared_from_this<Task> {
 public:
  Task(Kernel& kernel, std::shared_ptr<ThreadGroup> tg);
  ~Task();

  Kernel& kernel() { return kernel_; }
  ThreadGroup& tg() { return *tg_; }
  std::shared_ptr<ThreadGroup> tg_ptr() { return tg_; }
  MemoryManager& mm() { return *mm_; }

  // Starts the host thread that runs this task.
  // Makes the host thread that will run the task, which waits for Start.
  // EAGAIN when the host gives no thread (its pids limit, say), so that
  // clone fails instead of the kernel.
  Status CreateThread();
  // Lets the task's thread run it, making the thread first if need be.
  void Start();

  // Blocks until Wake, an interrupting signal, or `deadline`. Must be called
  // with the kernel lock held by this task's thread; releases it meanwhile.
  BlockResult Block(std::optional<Clock::time_point> deadline = {});
  // Same, but ignores signals (for uninterruptible waits like vfork).
  BlockResult BlockUninterruptible(
      std::optional<Clock::time_point> deadline = {});
  void Wake();
  // Lets other tasks have the kernel lock for a moment (50 us) in a long
  // operation (Linux cond_resched). Kernel state may change meanwhile.
  void Reschedule();
  // Makes the task notice new signals or an exit request soon: wakes it if
  // blocked, interrupts the application if it runs.
  void Interrupt();

  // Whether a signal or exit request should end a blocking wait.
  bool HasInterrupt() const;
  // Whether the task is about to die: it is exiting, or an unblocked signal
  // whose action ends the process is pending. Linux's fatal_signal_pending
  // (complete_signal turns such a signal into SIGKILL at once), which long
  // copies check between steps.
  bool FatalSignalPending() const;
  // Releases the kernel lock for a moment between the steps of a long
  // operation, so that other tasks and host signals are not held up by it
  // (Linux's cond_resched). The caller must hold no reference it cannot
  // lose to another task meanwhile.
  void YieldKernel();

  // Signals.
  void SendSignal(const siginfo_t& info);  // thread-directed
  SignalSet PendingSet() const;

  // Terminates the task: exit(2) for one thread.
  void Exit(int status);

  // ---- identity ----
  int tid = 0;                  // in the root pid namespace
  std::string comm;
  Credentials creds;

  // ---- state used by handlers ----
  Registers regs{};
  std::shared_ptr<MemoryManager> mm_;
  std::shared_ptr<FdTable> fds;
  std::shared_ptr<FsContext> fs;
  // The mount namespace the task resolves paths in: the sandbox's, or its
  // container's in a pod.
  std::shared_ptr<MountNamespace> mount_ns;
  std::shared_ptr<SignalHandlers> handlers;
  SignalSet blocked = 0;
  // The mask from before rt_sigtimedwait(2) opened it; a signal blocked
  // here is queued even for init.
  SignalSet real_blocked = 0;
  std::optional<SignalSet> saved_mask;  // restored after a handler runs
  PendingSignals pending;
  stack_t altstack = {nullptr, SS_DISABLE, 0};
  uint64_t clear_child_tid = 0;
  uint64_t robust_list = 0;
  uint64_t robust_list_len = 0;
  std::function<int64_t(Task&)> restart_block;  // for restart_syscall
  std::optional<FpState> initial_fp_state;      // set on first switch
  // The trap information of the last fault that raised a signal, which
  // every signal frame shows, as in Linux.
  TrapInfo trap;
  Rusage rusage;
  Clock::time_point start_time;
  uint64_t nice = 0;
  int sched_policy = 0;           // SCHED_OTHER
  bool no_new_privs = false;      // inherited, never cleared
  // seccomp(2): SECCOMP_MODE_DISABLED, _STRICT or _FILTER, and in filter
  // mode the newest filter, which links to the older ones. Inherited by
  // clone, kept by execve.
  int seccomp_mode = 0;
  std::shared_ptr<const SeccompFilter> seccomp_filter;
  uint64_t timer_slack_ns = 50000;
  int pdeath_signal = 0;          // sent when the parent exits
  std::array<uint64_t, 32> sched_affinity{};

  // ---- lifecycle ----
  bool exiting = false;  // the task stops at its next kernel entry
  bool exited = false;
  int exit_status = 0;   // wait(2) status of this thread's exit

  // Number of the syscall being served, for logs.
  int64_t current_syscall = -1;
  // vfork(2): the parent waits until the child execs or exits.
  std::shared_ptr<Task> vfork_parent;
  bool vfork_done = false;

 private:
  friend class Kernel;
  void Run();
  void RunLoop();
  // Whether the current system call came through `int $0x80`.
  bool EnteredThroughInt80();
  // Serves the call in regs. `vsyscall` marks a call through the vsyscall
  // page, which skips the check for `int $0x80`.
  void HandleSyscall(bool vsyscall = false);
  void HandleVsyscall(const siginfo_t& info);
  // Serves the call after seccomp let it run: its return value or -errno.
  int64_t RunHandler(int64_t nr, const SyscallArgs& args, bool int80);
  void HandleFault(const siginfo_t& info);
  bool WaitForMemory();
  void RecordTrap(const siginfo_t& info);
  // Delivers one pending signal if any; returns false when the task must
  // stop running (it exited).
  bool DeliverSignals();
  void ChargeItimers(Clock::duration used);
  void ReleaseResources();

  Kernel& kernel_;
  std::shared_ptr<ThreadGroup> tg_;
  // Hands the thread that CreateThread made the go-ahead, or, when the
  // task is destroyed unstarted, tells it to end.
  struct Launch {
    std::mutex mu;
    std::condition_variable cv;
    enum { kWaiting, kRun, kAbandoned } state = kWaiting;
  };
  std::shared_ptr<Launch> launch_;
  std::unique_ptr<Context> ctx_;
  std::thread thread_;
  std::condition_variable cv_;
  bool woken_ = false;
  bool blocked_ = false;
  bool in_app_ = false;  // running application code; ctx_ may be interrupted

 public:
  Context& context() { return *ctx_; }
  // Whether the task waits in Block, for the state /proc shows.
  bool is_sleeping() const { return blocked_; }
  // Returns whether the task runs application code or is about to.
  bool in_app() const { return in_app_; }
};

class ThreadGroup : public std::enable_shared_from_this<ThreadGroup> {
 public:
  int tgid = 0;
  std::weak_ptr<Task> leader;
  std::vector<std::shared_ptr<Task>> tasks;  // live tasks
  std::weak_ptr<ThreadGroup> parent;
  std::vector<std::shared_ptr<ThreadGroup>> children;  // live and zombie
  std::shared_ptr<ProcessGroup> pgrp;
  PendingSignals shared_pending;

  int exit_signal = SIGCHLD;  // sent to the parent on exit
  bool did_exec = false;      // setpgid(2) on the child then fails
  bool dumpable = true;
  uint64_t last_xcpu_second = 0;  // RLIMIT_CPU's SIGXCPU, once a second
  bool child_subreaper = false;
  // /proc/PID/oom_score_adj, from -1000 (never killed) to 1000.
  int oom_score_adj = 0;
  bool oom_killed = false;  // chosen by the OOM killer
  bool group_exiting = false;  // exit_group or a fatal signal is under way
  int group_exit_status = 0;   // wait status
  // The leader's real uid as it exited, for wait(2) and SIGCHLD once no
  // task is left to ask (see Uid).
  uint32_t exit_uid = 0;
  bool zombie = false;         // exited, not yet reaped
  bool reaped = false;
  // Job control.
  bool stopped = false;
  int stop_signal = 0;
  bool stop_reported = true;    // waitpid(WUNTRACED) saw the stop
  bool continue_reported = true;
  // Frozen by `moat pause`, as by the cgroup freezer: no task of the group
  // returns to the application until it is thawed (oci/control_admin.cc).
  bool frozen = false;

  std::array<struct rlimit, RLIM_NLIMITS> rlimits{};
  Rusage rusage_dead_threads;
  Rusage rusage_children;
  // ITIMER_REAL and alarm(2).
  std::optional<Clock::time_point> itimer_real_deadline;
  std::chrono::microseconds itimer_real_interval{0};
  uint64_t itimer_generation = 0;

  // ITIMER_VIRTUAL and ITIMER_PROF: CPU time left and the reload value.
  std::chrono::nanoseconds itimer_virtual_left{0}, itimer_virtual_interval{0};
  std::chrono::nanoseconds itimer_prof_left{0}, itimer_prof_interval{0};
  // POSIX timers (timer_create(2)), by id.
  std::map<int, std::shared_ptr<struct PosixTimer>> posix_timers;
  int next_timer_id = 0;

  WaitQueue child_events;  // notified when a child changes state
  WaitQueue exit_events;   // notified when this group exits (pidfd)
  WaitQueue signal_events;  // notified when a signal is queued (signalfd)
  std::string comm() const;
  std::shared_ptr<Task> Leader() const { return leader.lock(); }
  // The real uid that wait(2) and SIGCHLD report for this group, as
  // Linux's task_uid() of the leader.
  uint32_t Uid() const;
  Rusage TotalRusage() const;
};

class Session {
 public:
  int sid = 0;
  std::weak_ptr<ThreadGroup> leader;
  std::shared_ptr<FileDescription> controlling_tty;
};

class ProcessGroup {
 public:
  int pgid = 0;
  std::shared_ptr<Session> session;
};

}  // namespace moat
