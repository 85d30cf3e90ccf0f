// The kernel's side of an OCI container: the bundle's root and mounts, the
// first process's identity, and the control socket on which `moat start`,
// `kill`, `ps` and `exec` reach the running kernel.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>

#include "gofer/client.h"
#include "kernel/kernel.h"
#include "oci/spec.h"

namespace moat::oci {

class Container {
 public:
  // Reads the spec the front end wrote to `spec_fd`. `control_fd` is the
  // listening control socket. Null, after logging why, on a bad spec.
  static std::unique_ptr<Container> Load(int spec_fd, int control_fd);

  const Spec& spec() const { return spec_; }

  // Builds the mount namespace: the bundle's root from gofer root 0 and
  // the config's mounts, masked and read-only paths. Kernel lock held.
  Status SetupMounts(Kernel& k, Task& init, InodePtr root,
                     std::shared_ptr<gofer::Client> client);
  // Gives init the process's user, groups, capabilities, rlimits, umask,
  // no_new_privs and the seccomp filter. Kernel lock held.
  Status SetupInit(Task& init);

  // Serves the control socket from now on, and waits for `start`.
  // Returns -1 to start init, or the exit status of a sandbox that was
  // killed before it started.
  int WaitForStart(Kernel& k);

 private:
  void ServeLoop(Kernel& k);
  void HandleConnection(Kernel& k, int fd);
  bool Started() {
    std::lock_guard lock(mu_);
    return started_;
  }
  nlohmann::json Kill(Kernel& k, int sig, bool all);
  void Exec(Kernel& k, int fd, const nlohmann::json& req,
            std::vector<int> fds);

  Spec spec_;
  int control_fd_ = -1;
  std::mutex mu_;  // guards the two below; taken after Kernel::mu
  std::condition_variable cv_;
  bool started_ = false;
  int early_exit_ = -1;  // the status of a kill before start
};

// Applies an OCI process's identity and limits to a new task.
void ApplyProcess(const Process& p, Task& t);
// Attaches the container's seccomp filter, if it has one, to a new task.
// Kernel lock held.
Status ApplySeccomp(const SeccompProgram& seccomp, Task& t);

}  // namespace moat::oci
