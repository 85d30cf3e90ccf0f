// Administration of a running container: freezing (`moat pause`), new
// limits (`moat update`), statistics (`moat events`) and the process list
// (`moat ps`). Each helper acts on the thread groups a request names, so
// that a sandbox with several containers can act on one of them.
#include "oci/control_admin.h"

#include <signal.h>

#include <chrono>
#include <thread>

#include "kernel/signal_delivery.h"
#include "mm/memory_file.h"
#include "sandbox/limits.h"
#include "util/host_info.h"
#include "util/log.h"

namespace moat::oci {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

// How long `pause` waits for running tasks to leave the application, and
// a lowered memory limit for its OOM victims to go.
constexpr auto kFreezeWait = milliseconds(1000);
constexpr auto kShrinkWait = std::chrono::seconds(10);
constexpr auto kPoll = milliseconds(5);

// Waits, with the lock released between looks, until no task of `groups`
// runs application code, so that `pause` returns with the container
// stopped, as runc waits for cgroup.events to say "frozen 1".
void WaitFrozen(Kernel& k, std::unique_lock<std::mutex>& lock,
                const Groups& groups) {
  auto end = Clock::now() + kFreezeWait;
  for (;;) {
    bool running = false;
    for (auto& g : groups)
      for (auto& t : g->tasks) running = running || t->in_app();
    if (!running || Clock::now() > end) return;
    lock.unlock();
    std::this_thread::sleep_for(kPoll);
    lock.lock();
  }
}

// Returns whether a victim of the OOM killer has yet to exit.
bool VictimExiting(Kernel& k) {
  for (auto& g : k.Groups())
    if (g->oom_killed && !g->tasks.empty()) return true;
  return false;
}

// Sets a new memory limit. Below the usage, the OOM killer runs until the
// usage fits or nothing is left to kill, as a write to cgroup v2's
// memory.max does when reclaim cannot help (Linux
// mm/memcontrol.c:memory_max_write). The write still succeeds.
void SetMemoryLimit(Kernel& k, std::unique_lock<std::mutex>& lock,
                    uint64_t bytes) {
  MemoryFile& mf = MemoryFile::Get();
  mf.SetLimit(bytes);
  mf.SetLimitHandler([&k] { k.OutOfMemory(); });
  auto end = Clock::now() + kShrinkWait;
  while (bytes && mf.UsedBytes() > mf.LimitBytes() && Clock::now() < end) {
    uint64_t kills = k.oom_kills, used = mf.UsedBytes();
    k.OutOfMemory();
    if (k.oom_kills == kills && mf.UsedBytes() == used && !VictimExiting(k))
      return;  // nothing left that the OOM killer may choose
    lock.unlock();
    std::this_thread::sleep_for(kPoll);
    lock.lock();
  }
}

json Update(Kernel& k, const json& req) {
  std::unique_lock lock(k.mu);
  uint64_t kills = k.oom_kills;
  if (req.contains("pids")) {
    int64_t pids = req["pids"].get<int64_t>();
    k.config().max_tasks = pids > 0 ? uint64_t(pids) : 0;
  }
  if (req.contains("cpus")) {
    double cpus = req["cpus"].get<double>();
    SetSandboxCpuCount(VisibleCpus(cpus > 0 ? cpus : 0, HostCpuCount()));
  }
  if (req.contains("memory")) {
    int64_t bytes = req["memory"].get<int64_t>();
    SetMemoryLimit(k, lock, bytes > 0 ? uint64_t(bytes) : 0);
  }
  return {{"ok", true}, {"oom_kills", k.oom_kills - kills}};
}

std::chrono::nanoseconds::rep Nanos(Clock::duration d) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
}

// Returns the data of runc's "stats" event (runc's types.Stats) from the
// kernel's own accounting: the memory charged against the limit, the
// tasks counted against the pids limit, and the CPU time of the
// container's processes and of the children they waited for.
json Stats(Kernel& k, const json& req, const MountNamespace* scope) {
  std::lock_guard lock(k.mu);
  Rusage r;
  uint64_t tasks = 0;
  for (auto& g : RequestGroups(k, scope)) {
    r.Add(g->TotalRusage());
    r.Add(g->rusage_children);
    tasks += g->zombie ? 1 : g->tasks.size();
  }
  MemoryFile& mf = MemoryFile::Get();
  uint64_t limit = mf.LimitBytes() ? mf.LimitBytes() : UINT64_MAX;
  uint64_t pids_limit = k.config().max_tasks;
  json cpu = {{"usage",
               {{"total", Nanos(r.utime + r.stime)},
                {"user", Nanos(r.utime)},
                {"kernel", Nanos(r.stime)}}}};
  json memory = {
      {"usage", {{"usage", mf.UsedBytes()}, {"limit", limit}, {"failcnt", 0}}}};
  json pids = {{"current", tasks}};
  if (pids_limit) pids["limit"] = pids_limit;
  return {{"ok", true},
          {"stats", {{"cpu", cpu}, {"memory", memory}, {"pids", pids}}},
          {"oom_kills", k.oom_kills}};
}

// Returns the command line of a process, or its comm in brackets when it
// has none, as ps(1) shows a process without arguments.
std::string CommandLine(ThreadGroup& g) {
  auto t = g.tasks.empty() ? nullptr : g.tasks.front();
  std::string args;
  if (t && t->mm_ && t->mm_->arg_end > t->mm_->arg_start) {
    args.resize(std::min<uint64_t>(t->mm_->arg_end - t->mm_->arg_start, 4096));
    if (!t->mm_->CopyIn(t->mm_->arg_start, args.data(), args.size()).ok())
      args.clear();
  }
  while (!args.empty() && args.back() == '\0') args.pop_back();
  for (char& c : args)
    if (c == '\0') c = ' ';
  std::string comm = g.comm();
  if (args.empty() && !comm.empty()) args = "[" + comm + "]";
  if (g.zombie) args += args.empty() ? "<defunct>" : " <defunct>";
  return args;
}

// Lists the processes with what `moat ps` prints, and the host process
// (in the kernel's pid namespace) that contains each one's memory.
json Processes(Kernel& k, const json& req,
               const MountNamespace* scope) {
  std::lock_guard lock(k.mu);
  json list = json::array();
  auto now = Clock::now();
  auto wall = std::chrono::system_clock::now();
  for (auto& g : RequestGroups(k, scope)) {
    auto parent = g->parent.lock();
    auto leader = g->Leader();
    auto t = g->tasks.empty() ? nullptr : g->tasks.front();
    auto started = wall - (now - (leader ? leader->start_time : now));
    Rusage r = g->TotalRusage();
    json p = {{"pid", g->tgid},
              {"ppid", parent ? parent->tgid : 0},
              {"uid", t ? t->creds.ruid : g->exit_uid},
              {"start", std::chrono::duration_cast<std::chrono::seconds>(
                            started.time_since_epoch())
                            .count()},
              {"cpu_ns", Nanos(r.utime + r.stime)},
              {"cmd", CommandLine(*g)},
              {"stub", t && t->mm_ && !g->group_exiting
                           ? t->mm_->address_space().HostPid()
                           : 0}};
    list.push_back(std::move(p));
  }
  return {{"ok", true}, {"processes", list}};
}

json Freeze(Kernel& k, const json& req, bool frozen,
            const MountNamespace* scope) {
  std::unique_lock lock(k.mu);
  auto init = k.init();
  if (!init || init->zombie) return {{"error", "container not running"}};
  Groups groups = RequestGroups(k, scope);
  FreezeGroups(groups, frozen);
  if (frozen) WaitFrozen(k, lock, groups);
  return {{"ok", true}};
}

}  // namespace

Groups RequestGroups(Kernel& k, const MountNamespace* scope) {
  Groups out;
  for (auto& g : k.Groups()) {
    if (g->reaped) continue;
    // A zombie has no tasks left to tell its mounts by; it goes with the
    // sandbox's own container.
    const MountNamespace* mounts =
        g->tasks.empty() ? k.mounts.get() : g->tasks.front()->mount_ns.get();
    if (!scope || mounts == scope) out.push_back(g);
  }
  return out;
}

void FreezeGroups(const Groups& groups, bool frozen) {
  for (auto& g : groups) {
    g->frozen = frozen;
    // A task in the application comes back into the kernel and waits
    // there. A blocked one goes on waiting, and a frozen one wakes.
    for (auto& t : g->tasks) t->Interrupt();
  }
}

void SignalFromHost(Kernel& k, ThreadGroup& tg, int sig) {
  if (&tg == k.init().get() && sig != SIGKILL && sig != SIGSTOP &&
      !tg.tasks.empty()) {
    Task& t = *tg.tasks.front();
    bool blocked = (t.blocked | t.real_blocked) & SigBit(sig);
    if (t.handlers->actions[sig].handler == uint64_t(SIG_DFL) && !blocked) {
      SPDLOG_DEBUG("signal {} to init dropped: it has no handler", sig);
      return;
    }
  }
  k.SignalGroup(tg, MakeSigInfo(sig, SI_USER));
}

std::optional<json> HandleAdminRequest(Kernel& k, const json& req,
                                       bool started,
                                       const MountNamespace* scope) {
  std::string op = req.value("op", "");
  if (op == "pause" || op == "resume") {
    json reply = Freeze(k, req, op == "pause", scope);
    reply["started"] = started;
    return reply;
  }
  if (op == "update") return Update(k, req);
  if (op == "stats") return Stats(k, req, scope);
  if (op == "processes") return Processes(k, req, scope);
  return std::nullopt;
}

}  // namespace moat::oci
