// Facts about the host that the kernel reads once, before it confines
// itself and can no longer read them.
#pragma once

namespace moat {

// The number of host CPUs online, which the sandbox sees as its own.
int HostCpuCount();

}  // namespace moat
