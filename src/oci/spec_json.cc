// The parsed spec as JSON, for the kernel process, and `moat spec`.
#include "oci/spec.h"

namespace moat::oci {

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(Rlimit, resource, soft, hard)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(
    Process, args, env, cwd, terminal, rows, cols, uid, gid, additional_gids,
    umask, rlimits, no_new_privileges, has_capabilities, cap_effective,
    cap_permitted, cap_inheritable, cap_bounding)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(MountSpec, destination, kind,
                                                source, read_only, nosuid,
                                                nodev, noexec, mode,
                                                gofer_root, contents)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(SeccompProgram,
                                                instructions, flags)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(Spec, bundle, process,
                                                root_path, root_readonly,
                                                hostname, domainname, mounts,
                                                masked_paths, readonly_paths,
                                                annotations, resources,
                                                hooks, seccomp)

nlohmann::json ToJson(const Spec& s) { return s; }
Spec SpecFromJson(const nlohmann::json& j) { return j.get<Spec>(); }
nlohmann::json ToJson(const Process& p) { return p; }
Process ProcessFromJson(const nlohmann::json& j) { return j.get<Process>(); }

nlohmann::json DefaultSpec() {
  using nlohmann::json;
  std::vector<std::string> caps = {"CAP_AUDIT_WRITE", "CAP_KILL",
                                   "CAP_NET_BIND_SERVICE"};
  json process = {
      {"terminal", true},
      {"user", {{"uid", 0}, {"gid", 0}}},
      {"args", {"sh"}},
      {"env", {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:"
               "/sbin:/bin",
               "TERM=xterm"}},
      {"cwd", "/"},
      {"capabilities",
       {{"bounding", caps}, {"effective", caps}, {"permitted", caps}}},
      {"rlimits",
       {{{"type", "RLIMIT_NOFILE"}, {"hard", 1024}, {"soft", 1024}}}},
      {"noNewPrivileges", true}};
  auto mount = [](const char* dest, const char* type, const char* src,
                  std::vector<std::string> opts) {
    return json{{"destination", dest}, {"type", type}, {"source", src},
                {"options", opts}};
  };
  json mounts = json::array(
      {mount("/proc", "proc", "proc", {}),
       mount("/dev", "tmpfs", "tmpfs",
             {"nosuid", "strictatime", "mode=755", "size=65536k"}),
       mount("/dev/pts", "devpts", "devpts",
             {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620",
              "gid=5"}),
       mount("/dev/shm", "tmpfs", "shm",
             {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}),
       mount("/dev/mqueue", "mqueue", "mqueue", {"nosuid", "noexec", "nodev"}),
       mount("/sys", "sysfs", "sysfs", {"nosuid", "noexec", "nodev", "ro"}),
       mount("/sys/fs/cgroup", "cgroup", "cgroup",
             {"nosuid", "noexec", "nodev", "relatime", "ro"})});
  json linux_part = {
      {"resources", {{"devices", {{{"allow", false}, {"access", "rwm"}}}}}},
      {"namespaces",
       {{{"type", "pid"}}, {{"type", "network"}}, {{"type", "ipc"}},
        {{"type", "uts"}}, {{"type", "mount"}}}},
      {"maskedPaths",
       {"/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
        "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
        "/sys/firmware", "/proc/scsi"}},
      {"readonlyPaths",
       {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
        "/proc/sysrq-trigger"}}};
  return {{"ociVersion", "1.0.2"}, {"process", process},
          {"root", {{"path", "rootfs"}, {"readonly", true}}},
          {"hostname", "moat"}, {"mounts", mounts}, {"linux", linux_part}};
}

}  // namespace moat::oci
