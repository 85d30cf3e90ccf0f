// The OOM killer of --memory: which process goes when the sandbox's memory
// is at its limit.
#pragma once

#include <cstdint>
#include <vector>

namespace moat {

class ThreadGroup;

struct OomCandidate {
  ThreadGroup* group;
  uint64_t pages;  // resident pages and page tables
  int adj;         // oom_score_adj
};

// The candidate with the highest badness (Linux mm/oom_kill.c:oom_badness):
// its pages, plus oom_score_adj thousandths of `total_pages`. One with
// -1000 is never chosen. Null when none can be.
ThreadGroup* ChooseOomVictim(const std::vector<OomCandidate>& candidates,
                             uint64_t total_pages);

}  // namespace moat
