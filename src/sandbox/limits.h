// The sandbox-wide resource limits of `moat do --memory/--pids/--cpus`:
// their parsing, and the host cgroup values that back them up.
#pragma once

#include <cstdint>
#include <string>

namespace moat {

struct SandboxLimits {
  uint64_t memory = 0;  // bytes of application memory; 0: no limit
  uint64_t pids = 0;    // tasks (threads count); 0: no limit
  double cpus = 0;      // host CPUs' worth of time; 0: no limit

  bool any() const { return memory || pids || cpus > 0; }
};

// Each parser sets *out and returns "" when `text` is valid, or else a
// one-line message that names the value and gives the fix.
// A size is a number of bytes with an optional K, M, G or T suffix (powers
// of 1024, either case), as in 256M.
std::string ParseMemoryLimit(const std::string& text, uint64_t* out);
std::string ParsePidsLimit(const std::string& text, uint64_t* out);
// `host_cpus` is the most that is accepted.
std::string ParseCpusLimit(const std::string& text, int host_cpus,
                           double* out);

// Returns the number of CPUs visible in a sandbox with --cpus `cpus`:
// ceil(cpus), at most `host_cpus`.
int VisibleCpus(double cpus, int host_cpus);

// The host cgroup values, set above moat's own limits: the kernel enforces
// those, and the host only stops a moat that failed to.
uint64_t BackstopMemory(uint64_t memory);
uint64_t BackstopPids(uint64_t pids);

}  // namespace moat
