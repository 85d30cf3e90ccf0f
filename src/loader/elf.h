// The ELF loader: builds a new address space for execve(2) from a static
// or dynamically linked x86-64 executable, or a "#!" script.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "kernel/task.h"

namespace moat {

struct ExecImage {
  std::shared_ptr<MemoryManager> mm;
  // The new address space takes over the old one's host process at the
  // point of no return (AddressSpace::TakeOver).
  bool reuses_space = false;
  Registers regs{};
  std::string path;  // of the executable actually loaded, for /proc exe
  Path exe;
};

// Options of an execveat(2) call beyond the path itself.
struct ExecOptions {
  bool follow_final = true;  // false for AT_SYMLINK_NOFOLLOW
  // AT_EXECFN and the script argument of an interpreter. Empty means the path.
  std::string execfn;
  // The file was named through a close-on-exec descriptor, so a script's
  // interpreter could not open it by the /dev/fd path it is given (Linux
  // BINPRM_FLAGS_PATH_INACCESSIBLE).
  bool path_inaccessible = false;
};

// Loads `path` (resolved from the task's cwd, or `dir` for execveat) with
// `argv` and `envp` into a new address space. The task is not changed.
Result<ExecImage> LoadExecutable(Task& t, const Path& dir,
                                 const std::string& path,
                                 std::vector<std::string> argv,
                                 const std::vector<std::string>& envp,
                                 const ExecOptions& options = {});

// The parsed first line of a script, split as Linux does: the interpreter
// and at most one argument.
struct Shebang {
  std::string interpreter;
  std::string argument;  // empty when there is none
};
// Returns ENOEXEC when `head` does not start with "#!".
Result<Shebang> ParseShebang(const std::string& head);

}  // namespace moat
