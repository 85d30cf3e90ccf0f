// Facts about the host that the kernel reads once, before it confines
// itself and can no longer read them.
#pragma once

namespace moat {

// The number of host CPUs online.
int HostCpuCount();

// The number of CPUs visible in the sandbox through sysconf,
// sched_getaffinity, /proc/cpuinfo, /proc/stat and /sys/devices/system/cpu:
// the host's, unless --cpus set fewer.
int SandboxCpuCount();
void SetSandboxCpuCount(int count);

}  // namespace moat
