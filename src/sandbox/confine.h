// Confining the kernel process: what `moat boot` does to itself before it
// runs any program, so that a program which takes the kernel over still
// cannot reach the host.
#pragma once

#include <cstdint>
#include <string>

#include "util/result.h"

namespace moat {

// Namespaces the front end creates the kernel process in. The network
// namespace is the host's only with --network=host.
int KernelNamespaceFlags(bool host_network);

// Checks that the process is uid and gid 0 of the kernel's user namespace,
// which the front end mapped to an unprivileged host user, and keeps the
// process's stubs traceable.
Status BecomeNamespaceRoot();

// Replaces the root with an empty, read-only tmpfs and detaches the host's
// mounts, so that no host path can be opened.
Status EnterEmptyRoot();

// Drops every capability (effective, permitted, inheritable, ambient and
// bounding) but those in `keep`, a mask of 1 << CAP_*, and sets
// no_new_privs. Called before any thread exists, since capabilities are
// per thread.
Status DropPrivileges(uint64_t keep = 0);

// Installs the kernel's seccomp allow-list on every thread. A call outside
// it stops the kernel with a message naming the call. With `audit`, the
// call fails with ENOSYS instead and is named once in the log, which is how
// the list is checked against a workload.
Status InstallKernelFilter(bool audit);

// Makes SIGSYS from a seccomp filter that returns SECCOMP_RET_TRAP stop the
// process with "moat: WHO stopped: ..." naming the call, or, with `audit`,
// fail the call with ENOSYS and name it once in the log. `who` must live
// for ever.
void HandleForbiddenCalls(const char* who, bool audit);

}  // namespace moat
