#include "kernel/kernel.h"

#include "kernel/signal_delivery.h"
#include "vfs/lock.h"
#include "syscalls/table.h"
#include "util/log.h"

namespace moat {

Kernel* Kernel::current = nullptr;

Kernel::Kernel(std::unique_ptr<Platform> platform, KernelConfig config)
    : platform_(std::move(platform)), config_(std::move(config)) {
  current = this;
  boot_time_ = Clock::now();
  timer_thread_ = std::thread([this] { TimerLoop(); });
}

Kernel::~Kernel() {
  {
    std::lock_guard lock(mu);
    stopping_ = true;
  }
  timer_cv_.notify_all();
  timer_thread_.join();
  current = nullptr;
}

int Kernel::AllocatePid() {
  // Pids are not reused before they wrap, which keeps a stale pid from
  // naming a new process soon after.
  for (;;) {
    int pid = next_pid_++;
    if (next_pid_ > 4194304) next_pid_ = 2;
    if (!tasks_.count(pid) && !groups_.count(pid)) return pid;
  }
}

std::shared_ptr<Task> Kernel::TaskByTid(int tid) const {
  auto it = tasks_.find(tid);
  return it == tasks_.end() ? nullptr : it->second.lock();
}

std::shared_ptr<ThreadGroup> Kernel::GroupByTgid(int tgid) const {
  auto it = groups_.find(tgid);
  return it == groups_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<ThreadGroup>> Kernel::Groups() const {
  std::vector<std::shared_ptr<ThreadGroup>> out;
  for (auto& [id, g] : groups_) out.push_back(g);
  return out;
}

std::shared_ptr<ProcessGroup> Kernel::GetProcessGroup(int pgid) const {
  auto it = pgroups_.find(pgid);
  return it == pgroups_.end() ? nullptr : it->second.lock();
}

void Kernel::RegisterTask(std::shared_ptr<Task> t) { tasks_[t->tid] = t; }

void Kernel::UnregisterTask(Task& t) {
  tasks_.erase(t.tid);
  if (tasks_.empty()) init_exited_.notify_all();
}

uint64_t Kernel::TaskCount() const {
  uint64_t zombies = 0;
  for (auto& [id, g] : groups_) zombies += g->tasks.empty();
  return tasks_.size() + zombies;
}

void Kernel::RegisterGroup(std::shared_ptr<ThreadGroup> tg) {
  groups_[tg->tgid] = tg;
}

void Kernel::UnregisterGroup(ThreadGroup& tg) { groups_.erase(tg.tgid); }

void Kernel::RegisterProcessGroup(std::shared_ptr<ProcessGroup> pg) {
  pgroups_[pg->pgid] = pg;
}

void Kernel::SignalGroup(ThreadGroup& tg, const siginfo_t& info) {
  (void)SendGroupSignal(tg, info, false);
}

void Kernel::SignalProcessGroup(int pgid, const siginfo_t& info) {
  for (auto& [id, g] : groups_)
    if (g->pgrp && g->pgrp->pgid == pgid && !g->zombie)
      (void)SendGroupSignal(*g, info, false);
}

void Kernel::ExitGroup(ThreadGroup& tg, int status) {
  if (!tg.group_exiting) {
    tg.group_exiting = true;
    tg.group_exit_status = status;
  }
  tg.stopped = false;
  for (auto& t : tg.tasks) {
    t->exiting = true;
    t->Interrupt();
  }
}

void Kernel::GroupExited(ThreadGroup& tg) {
  tg.zombie = true;
  SemExit(*ipc, tg.tgid);
  LockTable::Get().Release(nullptr, &tg);
  tg.exit_events.Notify(kEventIn);
  auto self = tg.shared_from_this();
  bool is_init = init_.get() == &tg;
  // Children that asked for it learn that their parent died
  // (PR_SET_PDEATHSIG).
  for (auto& child : tg.children) {
    for (auto& task : child->tasks)
      if (task->pdeath_signal)
        (void)SendTaskSignal(*task, MakeSigInfo(task->pdeath_signal,
                                                SI_USER, tg.tgid),
                             false);
  }
  // Orphans go to init, as in a pid namespace without subreapers.
  if (!is_init && init_) {
    for (auto& child : tg.children) {
      child->parent = init_;
      init_->children.push_back(child);
      if (child->zombie) init_->child_events.Notify(kEventIn);
    }
    tg.children.clear();
  }
  if (is_init) {
    // The namespace dies with its init.
    siginfo_t kill = MakeSigInfo(SIGKILL, SI_KERNEL);
    for (auto& [id, g] : groups_)
      if (g.get() != &tg) (void)SendGroupSignal(*g, kill, false);
    init_exited_.notify_all();
    return;
  }

  auto parent = tg.parent.lock();
  if (!parent) return;
  auto leader = parent->Leader();
  if (!leader && !parent->tasks.empty()) leader = parent->tasks.front();
  bool autoreap = false;
  if (leader && tg.exit_signal == SIGCHLD) {
    KernelSigaction& act = leader->handlers->actions[SIGCHLD];
    autoreap = act.handler == uint64_t(SIG_IGN) ||
               (act.flags & SA_NOCLDWAIT);
  }
  if (autoreap) {
    tg.reaped = true;
    parent->rusage_children.Add(tg.TotalRusage());
    std::erase_if(parent->children,
                  [&](auto& c) { return c.get() == &tg; });
    UnregisterGroup(tg);
    parent->child_events.Notify(kEventIn);
    return;
  }
  int status = tg.group_exit_status;
  int code = (status & 0x7f) == 0 ? CLD_EXITED
             : (status & 0x80)   ? CLD_DUMPED
                                 : CLD_KILLED;
  parent->child_events.Notify(kEventIn);
  if (tg.exit_signal > 0 && leader) {
    siginfo_t info = MakeSigInfo(tg.exit_signal, code, tg.tgid, tg.Uid());
    info.si_status = code == CLD_EXITED ? (status >> 8) & 0xff : status & 0x7f;
    (void)SendGroupSignal(*parent, info, false);
  }
}

int Kernel::WaitForInit() {
  std::unique_lock lock(mu);
  auto done = [&] { return init_ && init_->zombie && tasks_.empty(); };
  while (!done()) {
    if (init_exited_.wait_for(lock, std::chrono::seconds(2)) ==
            std::cv_status::timeout &&
        init_ && init_->zombie) {
      for (auto& [tid, weak] : tasks_) {
        auto t = weak.lock();
        spdlog::debug("init exited; waiting for task {} ({})", tid,
                      t ? t->comm : "gone");
      }
    }
  }
  return init_->group_exit_status;
}

void Kernel::ReportUnimplemented(Task& t, int64_t nr) {
  if (!unimplemented_.insert(nr).second) return;
  const SyscallInfo* info = LookupSyscall(nr);
  spdlog::warn("[{}:{}] unsupported syscall {} ({}): returning ENOSYS",
               t.tg().tgid, t.tid, info ? info->name : "unknown", nr);
}

namespace {

bool NeedsCpuTick(const ThreadGroup& tg) {
  return tg.itimer_virtual_left.count() > 0 ||
         tg.itimer_prof_left.count() > 0 ||
         tg.rlimits[RLIMIT_CPU].rlim_cur != RLIM_INFINITY;
}

}  // namespace

void Kernel::EnsureCpuTick() {
  if (cpu_tick_armed_) return;
  cpu_tick_armed_ = true;
  AddTimer(Clock::now() + std::chrono::milliseconds(10), [this] {
    cpu_tick_armed_ = false;
    bool needed = false;
    for (auto& [id, tg] : groups_) {
      if (tg->zombie || !NeedsCpuTick(*tg)) continue;
      needed = true;
      for (auto& t : tg->tasks) t->Interrupt();
    }
    if (needed) EnsureCpuTick();
  });
}

uint64_t Kernel::AddTimer(Clock::time_point when, std::function<void()> fn) {
  uint64_t id = next_timer_id_++;
  timers_.emplace(when, std::make_pair(id, std::move(fn)));
  timer_cv_.notify_all();
  return id;
}

void Kernel::CancelTimer(uint64_t id) {
  std::erase_if(timers_, [id](auto& e) { return e.second.first == id; });
}

void Kernel::TimerLoop() {
  std::unique_lock lock(mu);
  while (!stopping_) {
    if (timers_.empty()) {
      timer_cv_.wait(lock);
      continue;
    }
    auto first = timers_.begin();
    if (Clock::now() < first->first) {
      timer_cv_.wait_until(lock, first->first);
      continue;
    }
    auto fn = std::move(first->second.second);
    timers_.erase(first);
    fn();
    // Let task threads take the lock between callbacks: timers that are
    // always due would otherwise hold it for good.
    lock.unlock();
    std::this_thread::yield();
    lock.lock();
  }
}

}  // namespace moat
