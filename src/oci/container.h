// The kernel's side of an OCI container: the bundle's root and mounts, the
// first process's identity, and the control socket on which `moat start`,
// `kill`, `ps` and `exec` reach the running kernel.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>

#include "gofer/client.h"
#include "kernel/kernel.h"
#include "oci/spec.h"

namespace moat {
class Console;
}  // namespace moat

namespace moat::oci {

// The first mount of each directory bind a sandbox serves, by host path
// and read-only flag. In a pod, a bind of a host directory that the
// sandbox already serves is the same filesystem in every container that
// mounts it, as two binds of one directory are on Linux: what one
// container writes (in an emptyDir volume, in the pod's /dev/shm) the
// other reads at once, through one dentry cache, and a FIFO or a lock there
// is one object.
using SharedBinds =
    std::map<std::pair<std::string, bool>, std::shared_ptr<Mount>>;

// Builds a new mount namespace for `init`, which is a container's first
// process: the root from `root` (gofer root 0 of `client`), the spec's
// mounts, masked and read-only paths. Kernel lock held.
Status BuildMounts(Kernel& k, Task& init, const Spec& spec, InodePtr root,
                   const std::shared_ptr<gofer::Client>& client,
                   SharedBinds& binds);

// A container that joined the sandbox (src/oci/pod.cc). Its first process
// is loaded at `create` and runs from `start`; the connection thread of
// `create` serves it until that process exits.
struct PodMember {
  std::string id;
  Spec spec;
  std::shared_ptr<Task> init;
  std::shared_ptr<MountNamespace> mounts;
  // Written to wake the connection thread: 's' for start, 'k' for a kill
  // before start.
  int wake[2] = {-1, -1};
  bool started = false;  // guarded by Container::mu_
  int early_exit = -1;   // a kill's status before start; Container::mu_

  ~PodMember() {
    for (int fd : wake)
      if (fd >= 0) close(fd);
  }
};

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
  nlohmann::json StartFirst();
  bool Started() {
    std::lock_guard lock(mu_);
    return started_;
  }
  nlohmann::json Kill(Kernel& k, int sig, bool all);
  void Exec(Kernel& k, int fd, const nlohmann::json& req, std::vector<int> fds,
            const std::shared_ptr<PodMember>& member);

  // Pods (src/oci/pod.cc): containers that join this sandbox.
  // The member a request names in "container", or null for this
  // sandbox's own container. Sets *error when it names none.
  std::shared_ptr<PodMember> Addressed(const nlohmann::json& req,
                                       std::string* error);
  // Serves a member from `create` until its first process exits.
  void CreateMember(Kernel& k, int fd, const nlohmann::json& req,
                    std::vector<int> fds);
  nlohmann::json StartMember(PodMember& m);
  nlohmann::json KillMember(Kernel& k, PodMember& m, int sig, bool all);
  // The first process of `m`, or of this sandbox's container when `m` is
  // null, if it still runs. Kernel lock held.
  std::shared_ptr<Task> FirstProcess(Kernel& k, PodMember* m);
  // The live processes that see `mounts`. Kernel lock held.
  std::vector<std::shared_ptr<ThreadGroup>> GroupsIn(
      Kernel& k, const MountNamespace* mounts);

  Spec spec_;
  int control_fd_ = -1;
  std::mutex mu_;  // guards the four below; taken after Kernel::mu
  std::condition_variable cv_;
  bool started_ = false;
  int early_exit_ = -1;  // the status of a kill before start
  std::map<std::string, std::shared_ptr<PodMember>> members_;
  SharedBinds binds_;  // guarded by Kernel::mu
};

// Builds a new process for `p`, with the host descriptors `fds` as its
// stdio (taken: those it keeps become -1), or `console`'s pty when it is
// given, in a session of its own and with no parent, like a process that
// entered the container from outside.
// `place` gives it its root, mounts and starting credentials. It is not
// registered or started. Kernel lock held.
Result<std::shared_ptr<Task>> NewProcess(
    Kernel& k, const Process& p, const SeccompProgram& seccomp,
    std::vector<int>& fds, Console* console,
    const std::function<Status(Task&)>& place);
// Registers `task`, which NewProcess built, and lets it run. Kernel lock
// held.
void StartProcess(Kernel& k, const std::shared_ptr<Task>& task);
// Passes the signals that the host process on control connection `fd`
// sends on to `tg` until `tg` exits, then reaps it and returns its wait
// status. A SIGWINCH goes to `console`, if given, which passes the new
// size on. `on_lost`, if set, runs when the host process goes away.
int RelayUntilExit(Kernel& k, int fd, const std::shared_ptr<ThreadGroup>& tg,
                   Console* console,
                   const std::function<void()>& on_lost);

// Whether a signal's default action ends the process.
inline bool Terminates(int sig) {
  switch (sig) {
    case SIGCHLD: case SIGCONT: case SIGURG: case SIGWINCH:
    case SIGSTOP: case SIGTSTP: case SIGTTIN: case SIGTTOU:
      return false;
    default:
      return sig > 0 && sig < NSIG;
  }
}

// The status a host process exits with for a wait status.
inline int ExitCode(int status) {
  return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

// Applies an OCI process's identity and limits to a new task.
void ApplyProcess(const Process& p, Task& t);
// Attaches the container's seccomp filter, if it has one, to a new task.
// Kernel lock held.
Status ApplySeccomp(const SeccompProgram& seccomp, Task& t);

}  // namespace moat::oci
