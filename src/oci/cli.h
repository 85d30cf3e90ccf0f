// moat as an OCI runtime: the command line that container engines use
// with runc (create, start, state, kill, delete, run, exec, ...).
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "oci/spec.h"
#include "sandbox/sandbox.h"

namespace moat::oci {

// The flags engines put before the command.
struct Globals {
  std::string root = "/run/moat";  // container state
  std::string log_format = "text";
  bool systemd_cgroup = false;
  std::string rootless = "auto";
};

// The options of `create`, `run` and `exec`.
struct LaunchOptions {
  std::string id;
  std::string bundle = ".";
  std::string pid_file;
  std::string console_socket;
  bool detach = false;
  bool no_pivot = false;
  bool no_new_keyring = false;
  int preserve_fds = 0;
};

// Adds the global flags and the commands to `app`.
void AddCommands(CLI::App& app, Globals& g, SandboxOptions& sandbox);
// Runs the command that was parsed; nullopt when it was none of these.
std::optional<int> RunCommand(CLI::App& app, const Globals& g,
                              const SandboxOptions& sandbox);

// Implement create, run and start (src/oci/launch.cc). Each returns the
// exit status.
int Create(const Globals& g, const SandboxOptions& sandbox,
           const LaunchOptions& o);
int Run(const Globals& g, const SandboxOptions& sandbox,
        const LaunchOptions& o);
int Start(const Globals& g, const std::string& id);

// exec (src/oci/exec.cc).
struct ExecOptions {
  LaunchOptions launch;
  std::string process_file;
  std::vector<std::string> args;
  bool tty = false;
  std::string cwd;
  std::vector<std::string> env;
  std::string user;  // UID[:GID]
  std::vector<uint32_t> additional_gids;
};
int Exec(const Globals& g, const ExecOptions& o);

// The host process of a process inside (an exec, or the first process of
// a container that joined a pod): sends `request` with `fds` over the
// control socket in `dir`, then passes on the signals it receives until
// the process exits, and returns its exit status. `report`, if >= 0, gets
// "" once the kernel accepted the request, or the error.
int RelayProcess(const std::string& dir, const nlohmann::json& request,
                 const std::vector<int>& fds, int report);
// Forks a host process that runs `body` with the write end of a report
// pipe and waits for its report: nothing once what it runs has started,
// or an error. Returns the pid, or -1 with the error in *error.
pid_t ForkReporting(const std::function<void(int report)>& body,
                    std::string* error);

// pause, resume, update, events and ps (src/oci/admin.cc).
int Pause(const Globals& g, const std::string& id, bool pause);
struct UpdateOptions {
  std::string id;
  std::string resources;  // a linux.resources JSON file, or "-"
  std::string memory;     // bytes with an optional K, M or G suffix
  int64_t pids_limit = 0;
  int64_t cpu_quota = 0;
  int64_t cpu_period = 0;
};
int Update(const Globals& g, const UpdateOptions& o);
struct EventsOptions {
  std::string id;
  bool stats = false;
  std::string interval = "5s";
};
int Events(const Globals& g, const EventsOptions& o);
int Ps(const Globals& g, const std::string& id, const std::string& format);

// Writes `text` to `path` atomically (pid files).
bool WriteFileAtomic(const std::string& path, const std::string& text);
// Prints a one-line error as runc does and returns 1.
int Fail(const std::string& message);

}  // namespace moat::oci
