// seccomp(2) for the programs in the sandbox: the filters a task carries,
// and the check that runs them at every system call entry before the
// handler. Linux kernel/seccomp.c is the model.
#pragma once

#include <linux/filter.h>
#include <linux/seccomp.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "kernel/task.h"

namespace moat {

// One attached filter. Filters are immutable once attached, so threads
// and forked children share them. Each links to the one attached before it.
struct SeccompFilter {
  std::vector<sock_filter> program;
  std::shared_ptr<const SeccompFilter> prev;
  // Filters in the chain up to this one, for /proc/PID/status.
  int count = 1;
  // Instructions in the chain up to this one plus 4 per filter, for
  // Linux's cap of MAX_INSNS_PER_PATH (32768) on a new filter's chain.
  size_t path_length = 0;
  bool log = false;  // SECCOMP_FILTER_FLAG_LOG
};

// Runs strict mode or the task's filters on the call in t.regs and carries
// out the action. Returns nullopt when the call is to run, or the
// value it returns instead: -errno, or kNoReturnValue when the task dies or
// takes a SIGSYS. `int80` marks a call through `int $0x80`, which the
// filters see as AUDIT_ARCH_I386.
std::optional<int64_t> CheckSeccomp(Task& t, bool int80);

// The action (SECCOMP_RET_* with its data) the task's filters take on a
// call with `data`, without carrying it out: ALLOW when it has none.
uint32_t SeccompVerdict(const Task& t, const seccomp_data& data);

// Attaches `program` on top of the task's filters with the
// SECCOMP_FILTER_FLAG_* `flags` (TSYNC, LOG, SPEC_ALLOW, TSYNC_ESRCH), as
// seccomp(SECCOMP_SET_MODE_FILTER) does once the program has been copied
// in and checked. Returns 0, -EINVAL in strict mode, -ENOMEM past the
// instruction limit, or for TSYNC the tid of a thread that cannot take the
// filter (-ESRCH with TSYNC_ESRCH).
int64_t AttachSeccompFilter(Task& t, std::vector<sock_filter> program,
                            uint32_t flags);

}  // namespace moat
