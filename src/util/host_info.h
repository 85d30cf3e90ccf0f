// Facts about the host that the kernel reads once, before it confines
// itself and can no longer read them.
#pragma once

namespace moat {

// The number of host CPUs online.
int HostCpuCount();

// The number of CPUs the sandbox sees: sysconf, sched_getaffinity,
// /proc/cpuinfo, /proc/stat, /sys/devices/system/cpu. The host's, unless
// --cpus set fewer.
int SandboxCpuCount();
void SetSandboxCpuCount(int count);

}  // namespace moat
