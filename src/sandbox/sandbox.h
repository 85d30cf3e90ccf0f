// Setting up a sandbox: the kernel, its mounts and its first process.
#pragma once

#include <string>
#include <vector>

#include "kernel/kernel.h"

namespace moat {

struct SandboxOptions {
  std::string platform = "ptrace";
  std::string rootfs = "/";  // host directory shown read-only as the root
  std::string cwd;           // inside; empty: the caller's, if it exists
  std::vector<std::string> env;  // K=V overrides
  std::string hostname = "moat";
  std::vector<std::string> argv;
  bool strace = false;
};

// Runs argv in a new sandbox and returns moat's exit status: the program's
// own, or 128+N if signal N killed it.
int RunSandbox(const SandboxOptions& opts);

}  // namespace moat
