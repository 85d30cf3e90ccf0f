// Setting up a sandbox: the kernel, its mounts and its first process.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "gofer/server.h"
#include "kernel/kernel.h"
#include "sandbox/limits.h"

namespace moat {

struct SandboxOptions {
  // "auto" is trap, or ptrace where the trap platform cannot run.
  std::string platform = "auto";
  // Whether the trap platform rewrites hot system call sites to enter the
  // kernel without a signal.
  bool syscall_patching = true;
  std::string rootfs = "/";  // host directory shown read-only as the root
  std::string cwd;           // inside; empty: the caller's, if it exists
  std::vector<std::string> env;  // K=V overrides
  std::string hostname = "moat";
  std::vector<std::string> argv;
  bool strace = false;
  std::string network = "none";  // "none" or "host"
  SandboxLimits limits;

  // Set by the front end for `moat boot`: the gofer connection, and the
  // host user the sandbox's first process runs as.
  int gofer_fd = -1;
  std::string default_cwd;  // used when cwd is empty and exists inside
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::vector<uint32_t> groups;  // supplementary groups

  // An OCI container (src/oci/): the descriptors of its spec and of its
  // listening control socket, kept open across the exec of `moat boot`.
  int oci_spec_fd = -1;
  int control_fd = -1;
};

// `moat do`: starts the gofer and the kernel process, passes host signals
// on, and returns the sandbox's exit status: the program's own, or 128+N if
// signal N killed it.
int RunFrontEnd(const SandboxOptions& opts);
// The same with the gofer serving `roots` (0 is the root filesystem);
// `started`, if set, learns the kernel's pid once it runs.
int RunFrontEnd(const SandboxOptions& opts,
                const std::vector<gofer::Root>& roots,
                const std::function<void(pid_t kernel)>& started);

// `moat boot`: confines this process and runs the kernel with argv as the
// first program. Returns the exit status RunFrontEnd returns.
int RunSandbox(const SandboxOptions& opts);

// The command line that makes `moat boot` run with `opts`.
std::vector<std::string> BootArguments(const SandboxOptions& opts);

// Finds `cmd` on the PATH of `env` inside the sandbox, as execvp(3) would.
std::string FindProgram(Task& t, const std::string& cmd,
                        const std::vector<std::string>& env);

// Waits for the child `pid` and returns its wait status, passing on the
// signals a user or a supervisor sends to this process meanwhile (SIGINT,
// SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT). Signals
// from the terminal (SI_KERNEL) reach the child's group directly.
int WaitPassingSignals(pid_t pid);

}  // namespace moat
