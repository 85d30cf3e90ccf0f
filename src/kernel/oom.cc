// The sandbox's own OOM killer. With --memory, every MemoryFile frame is
// charged against the limit. An allocation that does not fit calls
// Kernel::OutOfMemory, which kills one process as Linux's memory cgroup
// would. Page faults then wait for the memory to come back, and calls that
// can fail, such as a write to tmpfs, fail with ENOMEM.
#include "kernel/oom.h"

#include <algorithm>

#include "kernel/kernel.h"
#include "mm/memory_file.h"
#include "mm/memory_object.h"
#include "util/log.h"

namespace moat {
namespace {

constexpr int kOomScoreAdjMin = -1000;
// A victim that has not exited by then is passed over, as Linux's oom
// reaper gives up on one (mm/oom_kill.c:oom_reap_task, MMF_OOM_SKIP).
constexpr auto kVictimGrace = std::chrono::seconds(1);

MemoryManager* GroupMm(ThreadGroup& g) {
  for (auto& t : g.tasks)
    if (t->mm_) return t->mm_.get();
  return nullptr;
}

// The memory of a process: each page its address space maps, and a page
// table page for each 512 of them.
uint64_t GroupPages(ThreadGroup& g) {
  MemoryManager* mm = GroupMm(g);
  uint64_t pages = mm ? mm->ResidentPages() : 0;
  return pages + pages / 512;
}

}  // namespace

ThreadGroup* ChooseOomVictim(const std::vector<OomCandidate>& candidates,
                             uint64_t total_pages) {
  ThreadGroup* victim = nullptr;
  int64_t worst = INT64_MIN;
  for (const OomCandidate& c : candidates) {
    if (c.adj <= kOomScoreAdjMin) continue;
    int64_t points = int64_t(c.pages) + int64_t(c.adj) *
                                            int64_t(total_pages / 1000);
    // Ties go to the later process, the newer one, as Linux's walk of
    // the task list does.
    if (points >= worst) {
      worst = points;
      victim = c.group;
    }
  }
  return victim;
}

void Kernel::OutOfMemory() {
  // Clean file pages that no mapping uses go first, as Linux reclaims
  // page cache before it kills; the fault then runs again.
  MemoryFile& file = MemoryFile::Get();
  uint64_t used = file.UsedBytes();
  HostFileObject::DropRetained();
  if (file.UsedBytes() < used) return;
  auto now = Clock::now();
  std::vector<OomCandidate> candidates;
  for (auto& [tgid, g] : groups_) {
    if (g->tasks.empty()) continue;  // a zombie has no memory
    // A victim that is still exiting frees its memory soon, so no second
    // one is chosen yet.
    if (g->oom_killed && now - last_oom_kill_ < kVictimGrace) return;
    if (g->group_exiting) continue;
    candidates.push_back({g.get(), GroupPages(*g), g->oom_score_adj});
  }
  MemoryFile& mf = MemoryFile::Get();
  ThreadGroup* victim =
      ChooseOomVictim(candidates, mf.LimitBytes() / kPageSize);
  if (!victim) return;
  spdlog::warn("out of memory: the sandbox uses {} kB of its {} kB; killed "
               "process {} ({}) with {} kB", mf.UsedBytes() / 1024,
               mf.LimitBytes() / 1024, victim->tgid, victim->comm(),
               GroupPages(*victim) * kPageSize / 1024);
  last_oom_kill_ = now;
  oom_kills++;
  // Processes that share the victim's memory (after vfork or CLONE_VM)
  // would keep it: they go too (Linux mm/oom_kill.c:__oom_kill_process).
  MemoryManager* mm = GroupMm(*victim);
  for (auto& [tgid, g] : groups_) {
    if (g.get() != victim && (!mm || GroupMm(*g) != mm)) continue;
    g->oom_killed = true;
    ExitGroup(*g, SIGKILL);
  }
}

}  // namespace moat
