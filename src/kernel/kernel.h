// The Kernel: the state of one sandbox and the lock that guards it.
//
// Lock order: Kernel::mu first; a file's own mutex, the MemoryFile and the
// platform's internal locks after it. Task threads hold Kernel::mu while
// they run kernel code and release it while they run application code or
// block.
#pragma once

#include <sys/utsname.h>

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "ipc/ipc.h"
#include "kernel/task.h"
#include "platform/platform.h"
#include "vfs/vfs.h"

namespace moat {

// Identifies a futex word: by address space and address for private
// mappings, by MemoryFile frame for shared ones (so two processes agree).
struct FutexKey {
  const void* space;
  uint64_t offset;
  auto operator<=>(const FutexKey&) const = default;
};

struct FutexWaiter {
  Task* task;
  FutexKey key;
  uint32_t bitset;
  bool woken = false;
};

struct KernelConfig {
  std::string hostname = "moat";
  std::string domainname = "(none)";
  uint32_t uid = 0;
  uint32_t gid = 0;
  bool strace = false;
  // --pids: the most tasks that may exist at once; 0 for no limit.
  uint64_t max_tasks = 0;
};

// The release string that uname(2) and /proc show.
inline constexpr const char* kKernelRelease = "6.1.0-moat";
inline constexpr const char* kKernelVersion = "#1 SMP moat";

class Kernel {
 public:
  Kernel(std::unique_ptr<Platform> platform, KernelConfig config);
  ~Kernel();

  static Kernel* current;  // the one kernel of this process

  std::mutex mu;  // the kernel lock

  Platform& platform() { return *platform_; }
  KernelConfig& config() { return config_; }

  // Pid namespace.
  int AllocatePid();
  std::shared_ptr<Task> TaskByTid(int tid) const;
  std::shared_ptr<ThreadGroup> GroupByTgid(int tgid) const;
  std::vector<std::shared_ptr<ThreadGroup>> Groups() const;
  std::shared_ptr<ProcessGroup> GetProcessGroup(int pgid) const;
  void RegisterTask(std::shared_ptr<Task> t);
  void UnregisterTask(Task& t);
  void RegisterGroup(std::shared_ptr<ThreadGroup> tg);
  void UnregisterGroup(ThreadGroup& tg);
  void RegisterProcessGroup(std::shared_ptr<ProcessGroup> pg);
  // The tasks that count against --pids: live ones and the zombies not yet
  // reaped, as Linux's pids cgroup counts them until release_task.
  uint64_t TaskCount() const;

  // Called when an allocation finds the sandbox's memory at its limit:
  // kills the process Linux's OOM killer would, unless one killed before is
  // still exiting (kernel/oom.cc).
  void OutOfMemory();
  // How many processes the OOM killer chose, for `moat events`.
  uint64_t oom_kills = 0;

  // Mounts seen by every task (one mount namespace per sandbox for now).
  std::shared_ptr<MountNamespace> mounts;
  // System V IPC objects, one namespace per sandbox.
  std::shared_ptr<IpcNamespace> ipc = std::make_shared<IpcNamespace>();

  // Futexes.
  std::multimap<FutexKey, FutexWaiter*> futex_waiters;

  // Signals sent by the kernel to a whole thread group.
  void SignalGroup(ThreadGroup& tg, const siginfo_t& info);
  void SignalProcessGroup(int pgid, const siginfo_t& info);
  // Ends every task of `tg` with wait status `status`.
  void ExitGroup(ThreadGroup& tg, int status);

  // Called when a thread group's last task has exited.
  void GroupExited(ThreadGroup& tg);

  // Blocks the caller until init exits; returns init's wait status.
  int WaitForInit();
  void SetInit(std::shared_ptr<ThreadGroup> init) { init_ = init; }
  std::shared_ptr<ThreadGroup> init() const { return init_; }

  // Logs an unimplemented syscall once per sandbox.
  void ReportUnimplemented(Task& t, int64_t nr);

  Clock::time_point boot_time() const { return boot_time_; }

  // Starts a 10 ms tick that stops running tasks of groups with a CPU-time
  // limit or timer, so their CPU time is charged even in a busy loop.
  void EnsureCpuTick();

  // Timers: callbacks run on the timer thread with the kernel lock held.
  uint64_t AddTimer(Clock::time_point when, std::function<void()> fn);
  void CancelTimer(uint64_t id);

 private:
  void TimerLoop();

  std::unique_ptr<Platform> platform_;
  KernelConfig config_;
  int next_pid_ = 1;
  std::map<int, std::weak_ptr<Task>> tasks_;
  std::map<int, std::shared_ptr<ThreadGroup>> groups_;
  std::map<int, std::weak_ptr<ProcessGroup>> pgroups_;
  std::shared_ptr<ThreadGroup> init_;
  std::condition_variable init_exited_;
  std::set<int64_t> unimplemented_;
  Clock::time_point boot_time_;

  std::thread timer_thread_;
  std::condition_variable timer_cv_;
  std::multimap<Clock::time_point, std::pair<uint64_t, std::function<void()>>>
      timers_;
  uint64_t next_timer_id_ = 1;
  bool cpu_tick_armed_ = false;
  Clock::time_point last_oom_kill_;
  bool stopping_ = false;
};

// The task whose host thread is running; null on other threads.
Task*& CurrentTask();

}  // namespace moat
