#include "util/host_info.h"

#include <unistd.h>

#include <algorithm>

namespace moat {

int HostCpuCount() {
  static const int count =
      std::max<int>(1, static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN)));
  return count;
}

const cpu_set_t& MoatCpuSet() {
  static const cpu_set_t set = [] {
    cpu_set_t s;
    if (sched_getaffinity(0, sizeof s, &s) != 0) CPU_ZERO(&s);
    return s;
  }();
  return set;
}

namespace {
int sandbox_cpus = 0;  // 0: the host's; set once, before any task runs
}  // namespace

int SandboxCpuCount() {
  return sandbox_cpus > 0 ? sandbox_cpus : HostCpuCount();
}

void SetSandboxCpuCount(int count) { sandbox_cpus = count; }

}  // namespace moat
