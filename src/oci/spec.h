// The OCI bundle's config.json (runtime-spec 1.x), parsed into what moat
// honours. docs/OCI.md lists what becomes of every field.
#pragma once

#include <sys/resource.h>

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "oci/seccomp_profile.h"

namespace moat::oci {

struct Rlimit {
  int resource = 0;
  uint64_t soft = 0;
  uint64_t hard = 0;
};

// process: what runs, as whom, with what.
struct Process {
  std::vector<std::string> args;
  std::vector<std::string> env;  // exactly the program's environment
  std::string cwd = "/";
  bool terminal = false;
  uint32_t rows = 0, cols = 0;  // consoleSize
  uint32_t uid = 0, gid = 0;
  std::vector<uint32_t> additional_gids;
  int umask = -1;  // -1: the default, 022
  std::vector<Rlimit> rlimits;
  bool no_new_privileges = false;
  bool has_capabilities = false;
  uint64_t cap_effective = 0, cap_permitted = 0, cap_inheritable = 0,
           cap_bounding = 0;
};

// One entry of mounts, as moat will make it inside the sandbox.
struct MountSpec {
  std::string destination;
  // bind, file (a bind of a regular file, copied in), tmpfs, proc, sysfs,
  // devpts, mqueue, cgroup, dev (a tmpfs on /dev: moat's own devices).
  std::string kind;
  std::string source;  // host path of a bind
  bool read_only = false, nosuid = false, nodev = false, noexec = false;
  uint32_t mode = 01777;  // tmpfs mode=
  int gofer_root = -1;    // the gofer root that serves a directory bind
  std::string contents;   // a file bind's contents
};

// One hook: a host program that runs with the container's state on its
// standard input.
struct Hook {
  std::string path;
  std::vector<std::string> args;
  std::vector<std::string> env;
  int timeout = 0;  // seconds; 0 is none
};

struct Spec {
  std::string bundle;  // absolute
  Process process;
  std::string root_path;  // absolute host path
  bool root_readonly = false;
  std::string hostname, domainname;
  std::vector<MountSpec> mounts;
  std::vector<std::string> masked_paths, readonly_paths;
  std::map<std::string, std::string> annotations;
  nlohmann::json resources;  // linux.resources, for the limits code
  nlohmann::json hooks;      // run on the host by the front end
  // linux.seccomp, compiled; no instructions when the config has none.
  SeccompProgram seccomp;
};

// The hooks of one kind ("prestart", "poststop", ...) in `hooks`.
std::vector<Hook> HooksOf(const nlohmann::json& hooks, const std::string& kind);
// The hooks of BUNDLE/config.json; null when there are none or it is gone.
nlohmann::json BundleHooks(const std::string& bundle);
// Runs `hooks` in order with `state` on their standard input. Returns ""
// or an error naming the hook that failed.
std::string RunHooks(const std::vector<Hook>& hooks,
                     const nlohmann::json& state);

// Reads BUNDLE/config.json. Returns "" or a one-line error that names the
// field and what to do.
std::string LoadBundle(const std::string& bundle, Spec* out);

// Parses an OCI process object (config.json's, or exec --process's).
std::string ParseProcess(const nlohmann::json& j, Process* out);

// Fills in each file bind's contents and gives each directory bind a
// gofer root, numbered from 1 (0 is the root filesystem).
std::string ResolveMounts(Spec* spec);

// Under a read-only root, makes the mountpoints that the root lacks in
// root.path on the host, as runc does; never through a symlink.
void MakeMountPoints(const Spec& spec);

// The default config.json of `moat spec`, like runc's.
nlohmann::json DefaultSpec();

// Signal names and numbers, "TERM", "SIGTERM" or "15". 0 if unknown.
int ParseSignal(const std::string& s);

// What the front end hands the kernel, and back.
nlohmann::json ToJson(const Spec& s);
Spec SpecFromJson(const nlohmann::json& j);
nlohmann::json ToJson(const Process& p);
Process ProcessFromJson(const nlohmann::json& j);

}  // namespace moat::oci
