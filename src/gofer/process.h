// Starting the gofer as its own process, and the process's main loop.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "gofer/client.h"
#include "gofer/server.h"
#include "util/result.h"

namespace moat::gofer {

struct Process {
  pid_t pid = -1;
  int sock = -1;  // the kernel's end of the connection, until handed over

  // Closes the connection if it is still here and waits for the gofer,
  // which ends once no process holds the kernel's end.
  void Stop();
};

// Starts `moat gofer` serving `roots`. The gofer ends when the kernel's end
// of the connection closes, or when its parent dies unless
// `outlive_parent`: a pod member's gofer serves the files that member
// shares with the pod for as long as the kernel uses them. When `sock` is
// given, the gofer serves it: the gofer's end of a close-on-exec
// SOCK_SEQPACKET pair whose other end the kernel has. The caller then
// closes it, and the Process has no socket. Otherwise Start makes the
// pair and returns the kernel's end.
Result<Process> Start(const std::vector<Root>& roots,
                      bool outlive_parent = false, int sock = -1);

// Parses a --root argument, "PATH" or "PATH:ro" / "PATH:rw".
bool ParseRoot(const std::string& arg, Root* out);

// The body of `moat gofer`: serves the kernel on `sock`, logging as
// InitLogging(log_path, debug) does.
int Main(int sock, std::vector<Root> roots, const std::string& log_path,
         bool debug, bool outlive_parent);

}  // namespace moat::gofer
