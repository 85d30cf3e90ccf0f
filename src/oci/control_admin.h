// The kernel's side of `moat pause`, `resume`, `update`, `events` and
// `ps`, and of the signals `moat kill` sends: requests on the control
// socket that act on the thread groups of a container.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

#include "kernel/kernel.h"

namespace moat::oci {

using Groups = std::vector<std::shared_ptr<ThreadGroup>>;

// The thread groups that a request acts on: every one of the sandbox that
// has not been reaped, or in a pod those that see `scope`, the mounts of
// the container the request names. Kernel lock held.
Groups RequestGroups(Kernel& k, const MountNamespace* scope);

// Freezes or thaws `groups`, as a write to cgroup.freeze does. Kernel
// lock held.
void FreezeGroups(const Groups& groups, bool frozen);

// Sends `sig` to `tg` as a process of an ancestor pid namespace does. Init
// gets only the signals it handles, and SIGKILL and SIGSTOP (Linux
// kernel/signal.c:sig_task_ignored). Kernel lock held.
void SignalFromHost(Kernel& k, ThreadGroup& tg, int sig);

// Serves "pause", "resume", "update", "stats" and "processes" for the
// processes RequestGroups(k, scope) gives. `started` is whether the
// container's first process has been started. Returns nullopt for any
// other op. Takes the kernel lock itself.
std::optional<nlohmann::json> HandleAdminRequest(
    Kernel& k, const nlohmann::json& req, bool started,
    const MountNamespace* scope);

}  // namespace moat::oci
