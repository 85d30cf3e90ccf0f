// Confining the kernel process: what `moat boot` does to itself before it
// runs any program, so that a program which takes the kernel over still
// cannot reach the host.
#pragma once

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
// bounding) and sets no_new_privs. Called before any thread exists, since
// capabilities are per thread.
Status DropPrivileges();

// Installs the kernel's seccomp allow-list on every thread. A call outside
// it stops the kernel with a message naming the call. With `audit`, the
// call fails with ENOSYS instead and is named once in the log, which is how
// the list is checked against a workload.
Status InstallKernelFilter(bool audit);

}  // namespace moat
