// Facts about the host that the kernel reads once, before it confines
// itself and can no longer read them.
#pragma once

#include <sched.h>

namespace moat {

// The number of host CPUs online.
int HostCpuCount();

// The CPUs moat may run on: its affinity mask when it first asked, which
// `taskset` or a cgroup's cpuset may have narrowed. Empty when
// sched_getaffinity failed.
const cpu_set_t& MoatCpuSet();

// The number of CPUs visible in the sandbox through sysconf,
// sched_getaffinity, /proc/cpuinfo, /proc/stat and /sys/devices/system/cpu:
// the host's, unless --cpus set fewer.
int SandboxCpuCount();
void SetSandboxCpuCount(int count);

}  // namespace moat
