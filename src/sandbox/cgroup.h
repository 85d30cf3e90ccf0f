// The host cgroup of one sandbox, the backstop of --memory, --pids and
// --cpus. The kernel enforces the first two itself, and the cgroup's values
// lie above its own, so the host stops a sandbox only if the kernel failed
// to. --cpus is enforced by the cgroup alone, as a CPU quota.
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sandbox/limits.h"

namespace moat {

class HostCgroup {
 public:
  // Makes cgroup `name` under this process's own cgroup, for each limit
  // set in `limits`: on cgroup v2 (at /sys/fs/cgroup, or the hybrid
  // layout's /sys/fs/cgroup/unified) where its controller is enabled, else
  // on the v1 hierarchy of that controller. Null when none is writable.
  static std::unique_ptr<HostCgroup> Create(const std::string& name,
                                            const SandboxLimits& limits);
  // Removes the cgroup, killing whatever is still in it.
  ~HostCgroup();

  HostCgroup(const HostCgroup&) = delete;
  HostCgroup& operator=(const HostCgroup&) = delete;

  // Moves process `pid`, and the processes it starts later, into the
  // cgroup in every hierarchy.
  bool Add(pid_t pid);

  const std::vector<std::string>& dirs() const { return dirs_; }

 private:
  HostCgroup() = default;
  bool AddV2(const std::string& name, const SandboxLimits& limits,
             std::vector<std::string>* done);
  bool AddV1(const std::string& controller, const std::string& name,
             const SandboxLimits& limits);

  std::vector<std::string> dirs_;
};

// New values for the host cgroup `name` that process `member` is in, one
// that HostCgroup::Create made: the backstop of `moat update`. Each of
// memory, pids and cpus that has a value is set, 0 meaning no limit.
// Returns "" or what failed; with no such cgroup, that there is none.
struct CgroupUpdate {
  std::optional<uint64_t> memory, pids;
  std::optional<double> cpus;
};
std::string UpdateHostCgroup(pid_t member, const std::string& name,
                             const CgroupUpdate& update);

}  // namespace moat
