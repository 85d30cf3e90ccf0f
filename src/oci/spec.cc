#include "oci/spec.h"

#include <signal.h>
#include <sys/stat.h>

#include <cstring>
#include <fstream>
#include <fmt/format.h>

#include "util/log.h"

namespace moat::oci {
namespace {

using nlohmann::json;

// Capability names in bit order (linux/capability.h).
constexpr const char* kCapNames[] = {
    "CHOWN",           "DAC_OVERRIDE",    "DAC_READ_SEARCH", "FOWNER",
    "FSETID",          "KILL",            "SETGID",          "SETUID",
    "SETPCAP",         "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST",
    "NET_ADMIN",       "NET_RAW",         "IPC_LOCK",        "IPC_OWNER",
    "SYS_MODULE",      "SYS_RAWIO",       "SYS_CHROOT",      "SYS_PTRACE",
    "SYS_PACCT",       "SYS_ADMIN",       "SYS_BOOT",        "SYS_NICE",
    "SYS_RESOURCE",    "SYS_TIME",        "SYS_TTY_CONFIG",  "MKNOD",
    "LEASE",           "AUDIT_WRITE",     "AUDIT_CONTROL",   "SETFCAP",
    "MAC_OVERRIDE",    "MAC_ADMIN",       "SYSLOG",          "WAKE_ALARM",
    "BLOCK_SUSPEND",   "AUDIT_READ",      "PERFMON",         "BPF",
    "CHECKPOINT_RESTORE"};

constexpr std::pair<const char*, int> kRlimits[] = {
    {"CPU", RLIMIT_CPU},         {"FSIZE", RLIMIT_FSIZE},
    {"DATA", RLIMIT_DATA},       {"STACK", RLIMIT_STACK},
    {"CORE", RLIMIT_CORE},       {"RSS", RLIMIT_RSS},
    {"NPROC", RLIMIT_NPROC},     {"NOFILE", RLIMIT_NOFILE},
    {"MEMLOCK", RLIMIT_MEMLOCK}, {"AS", RLIMIT_AS},
    {"LOCKS", RLIMIT_LOCKS},     {"SIGPENDING", RLIMIT_SIGPENDING},
    {"MSGQUEUE", RLIMIT_MSGQUEUE}, {"NICE", RLIMIT_NICE},
    {"RTPRIO", RLIMIT_RTPRIO},   {"RTTIME", RLIMIT_RTTIME}};

// The largest file bind that is copied in.
constexpr size_t kMaxFileBind = 1 << 20;

std::string CapMask(const json& j, const std::string& field, uint64_t* out) {
  *out = 0;
  if (!j.contains(field)) return "";
  for (const auto& v : j[field]) {
    std::string name = v.get<std::string>();
    std::string bare = name.starts_with("CAP_") ? name.substr(4) : name;
    bool found = false;
    for (size_t i = 0; i < std::size(kCapNames); i++) {
      if (bare != kCapNames[i]) continue;
      *out |= 1ull << i;
      found = true;
    }
    if (!found)
      return fmt::format("process.capabilities.{}: unknown capability {}; "
                         "use names such as CAP_CHOWN",
                         field, name);
  }
  return "";
}

std::string ParseRlimit(const json& r, Rlimit* out) {
  std::string type = r.value("type", "");
  std::string bare = type.starts_with("RLIMIT_") ? type.substr(7) : type;
  for (auto& [name, res] : kRlimits) {
    if (bare != name) continue;
    out->resource = res;
    out->soft = r.value("soft", uint64_t(0));
    out->hard = r.value("hard", uint64_t(0));
    if (out->soft > out->hard)
      return fmt::format("process.rlimits {}: soft {} is above hard {}", type,
                         out->soft, out->hard);
    return "";
  }
  return fmt::format("process.rlimits: unknown type \"{}\"; use names "
                     "such as RLIMIT_NOFILE",
                     type);
}

bool Has(const std::vector<std::string>& v, const char* s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// Reads one entry of mounts. `i` is its index, for errors.
std::string ParseMount(const json& m, size_t i, MountSpec* out) {
  out->destination = m.value("destination", "");
  if (out->destination.empty() || out->destination[0] != '/')
    return fmt::format("mounts[{}].destination \"{}\": must be an absolute "
                       "path inside the container",
                       i, out->destination);
  std::string type = m.value("type", "");
  std::vector<std::string> opts =
      m.value("options", std::vector<std::string>{});
  out->source = m.value("source", "");
  out->read_only = Has(opts, "ro");
  out->nosuid = Has(opts, "nosuid");
  out->nodev = Has(opts, "nodev");
  out->noexec = Has(opts, "noexec");
  for (const auto& o : opts)
    if (o.starts_with("mode=")) out->mode = std::stoul(o.substr(5), 0, 8);
  if (type == "bind" || Has(opts, "bind") || Has(opts, "rbind")) {
    out->kind = "bind";
  } else if (type == "tmpfs") {
    out->kind = out->destination == "/dev" ? "dev" : "tmpfs";
  } else if (type == "proc" || type == "sysfs" || type == "devpts" ||
             type == "mqueue") {
    out->kind = type;
  } else if (type == "cgroup" || type == "cgroup2") {
    out->kind = "cgroup";
  } else {
    return fmt::format("mounts[{}] ({}): type \"{}\" is not supported; moat "
                       "mounts bind, tmpfs, proc, sysfs, devpts, mqueue "
                       "and cgroup",
                       i, out->destination, type);
  }
  return "";
}

std::string ParseMounts(const json& j, Spec* out) {
  if (!j.contains("mounts")) return "";
  size_t i = 0;
  for (const auto& m : j["mounts"]) {
    MountSpec ms;
    if (std::string e = ParseMount(m, i++, &ms); !e.empty()) return e;
    if (ms.kind == "bind" && ms.source.size() && ms.source[0] != '/')
      ms.source = out->bundle + "/" + ms.source;
    out->mounts.push_back(ms);
  }
  return "";
}

// Fields that would change the host or the sandbox's confinement in ways
// moat does not do: refused by name rather than ignored.
std::string RefuseUnsupported(const json& j) {
  if (j.contains("hooks")) {
    // Hooks of these kinds run inside the container's namespaces, where
    // moat has no host programs to run.
    for (auto& [kind, list] : j["hooks"].items())
      if (!list.empty() && kind != "prestart" && kind != "createRuntime" &&
          kind != "poststart" && kind != "poststop")
        return fmt::format("hooks.{}: moat runs prestart, createRuntime, "
                           "poststart and poststop hooks only; remove it "
                           "from config.json",
                           kind);
  }
  if (!j.contains("linux")) return "";
  const json& l = j["linux"];
  if (l.contains("devices")) {
    for (const auto& d : l["devices"]) {
      std::string path = d.value("path", "");
      static const char* kOwn[] = {"/dev/null", "/dev/zero",   "/dev/full",
                                   "/dev/random", "/dev/urandom",
                                   "/dev/tty", "/dev/ptmx"};
      bool own = false;
      for (const char* p : kOwn) own = own || path == p;
      if (!own)
        return fmt::format("linux.devices {}: host devices cannot be passed "
                           "into moat; remove it (moat provides /dev/null, "
                           "zero, full, random, urandom, tty, ptmx)",
                           path);
    }
  }
  if (l.contains("namespaces")) {
    for (const auto& n : l["namespaces"]) {
      std::string type = n.value("type", "");
      if (type == "user" || type == "cgroup" || type == "network" ||
          type == "pid" || type == "ipc" || type == "uts" ||
          type == "mount" || type == "time")
        continue;
      return fmt::format("linux.namespaces: unknown type \"{}\"", type);
    }
  }
  return "";
}

// Logs each field moat ignores (docs/OCI.md says why that is safe), so
// that a --debug log shows what a config asked for and did not get.
void LogIgnored(const json& j) {
  static const std::pair<const char*, const char*> kIgnored[] = {
      {"/process/apparmorProfile", "host LSM profile; moat confines itself"},
      {"/process/selinuxLabel", "host LSM label; moat confines itself"},
      {"/process/oomScoreAdj", "host OOM score"},
      {"/linux/sysctl", "not applied inside yet"},
      {"/linux/cgroupsPath", "moat makes no cgroups"},
      {"/linux/uidMappings", "the kernel has its own user namespace"},
      {"/linux/gidMappings", "the kernel has its own user namespace"},
      {"/linux/rootfsPropagation", "the kernel's mounts are its own"},
      {"/linux/mountLabel", "host LSM label"},
      {"/linux/resources/blockIO", "no block devices inside"},
      {"/linux/resources/hugepageLimits", "no huge pages inside"},
      {"/linux/resources/network", "no network classes inside"},
      {"/linux/resources/rdma", "no RDMA inside"},
      {"/linux/resources/devices", "moat's /dev has its own fixed devices"},
  };
  for (auto& [pointer, why] : kIgnored)
    if (j.contains(json::json_pointer(pointer)))
      spdlog::debug("config.json {} ignored: {}", pointer, why);
  if (!j.contains("linux") || !j["linux"].contains("namespaces")) return;
  for (const auto& n : j["linux"]["namespaces"])
    if (n.contains("path"))
      spdlog::debug("linux.namespaces {} path {} ignored: the sandbox gets "
                    "new namespaces of its own",
                    n.value("type", ""), n.value("path", ""));
}

std::string ParseLinux(const json& j, Spec* out) {
  if (!j.contains("linux")) return "";
  const json& l = j["linux"];
  out->masked_paths = l.value("maskedPaths", std::vector<std::string>{});
  out->readonly_paths = l.value("readonlyPaths", std::vector<std::string>{});
  if (l.contains("resources")) out->resources = l["resources"];
  if (l.contains("seccomp") && !l["seccomp"].is_null())
    return CompileSeccompProfile(l["seccomp"], &out->seccomp);
  return "";
}

}  // namespace

std::string ParseProcess(const json& j, Process* out) {
  out->args = j.value("args", std::vector<std::string>{});
  if (out->args.empty())
    return "process.args: empty; name the program to run";
  out->env = j.value("env", std::vector<std::string>{});
  out->cwd = j.value("cwd", "/");
  if (out->cwd.empty() || out->cwd[0] != '/')
    return fmt::format("process.cwd \"{}\": must be an absolute path",
                       out->cwd);
  out->terminal = j.value("terminal", false);
  if (j.contains("consoleSize")) {
    out->rows = j["consoleSize"].value("height", 0u);
    out->cols = j["consoleSize"].value("width", 0u);
  }
  if (j.contains("user")) {
    const json& u = j["user"];
    out->uid = u.value("uid", 0u);
    out->gid = u.value("gid", 0u);
    out->additional_gids =
        u.value("additionalGids", std::vector<uint32_t>{});
    if (u.contains("umask")) out->umask = u["umask"].get<int>();
  }
  out->no_new_privileges = j.value("noNewPrivileges", false);
  if (j.contains("rlimits")) {
    for (const auto& r : j["rlimits"]) {
      Rlimit rl;
      if (std::string e = ParseRlimit(r, &rl); !e.empty()) return e;
      out->rlimits.push_back(rl);
    }
  }
  if (j.contains("capabilities")) {
    const json& c = j["capabilities"];
    out->has_capabilities = true;
    for (auto [name, field] :
         {std::pair{"effective", &out->cap_effective},
          {"permitted", &out->cap_permitted},
          {"inheritable", &out->cap_inheritable},
          {"bounding", &out->cap_bounding}})
      if (std::string e = CapMask(c, name, field); !e.empty()) return e;
  }
  return "";
}

std::string LoadBundle(const std::string& bundle, Spec* out) {
  char real[PATH_MAX];
  if (realpath(bundle.c_str(), real) == nullptr)
    return fmt::format("--bundle {}: {}; give the bundle directory, which "
                       "holds config.json",
                       bundle, strerror(errno));
  out->bundle = real;
  std::string path = out->bundle + "/config.json";
  std::ifstream in(path);
  if (!in)
    return fmt::format("{}: cannot be read; create one with `moat spec` in "
                       "the bundle",
                       path);
  json j = json::parse(in, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return fmt::format("{}: not valid JSON", path);
  try {
    std::string version = j.value("ociVersion", "");
    if (!version.starts_with("1."))
      return fmt::format("{}: ociVersion \"{}\": moat supports 1.x", path,
                         version);
    if (!j.contains("process"))
      return fmt::format("{}: no process: say what to run", path);
    if (std::string e = ParseProcess(j["process"], &out->process); !e.empty())
      return e;
    if (!j.contains("root") || !j["root"].contains("path"))
      return fmt::format("{}: no root.path: name the root filesystem", path);
    out->root_path = j["root"]["path"].get<std::string>();
    if (out->root_path.empty() || out->root_path[0] != '/')
      out->root_path = out->bundle + "/" + out->root_path;
    out->root_readonly = j["root"].value("readonly", false);
    struct stat st;
    if (stat(out->root_path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
      return fmt::format("root.path {}: not a directory", out->root_path);
    out->hostname = j.value("hostname", "");
    out->domainname = j.value("domainname", "");
    out->annotations =
        j.value("annotations", std::map<std::string, std::string>{});
    if (j.contains("hooks")) out->hooks = j["hooks"];
    LogIgnored(j);
    for (auto f : {RefuseUnsupported(j), ParseMounts(j, out),
                   ParseLinux(j, out)})
      if (!f.empty()) return f;
  } catch (const json::exception& e) {
    return fmt::format("{}: a field has the wrong type: {}", path, e.what());
  }
  return "";
}

std::string ResolveMounts(Spec* spec) {
  int next_root = 1;
  for (MountSpec& m : spec->mounts) {
    if (m.kind != "bind") continue;
    struct stat st;
    if (stat(m.source.c_str(), &st) != 0)
      return fmt::format("mounts ({}): source {}: {}", m.destination,
                         m.source, strerror(errno));
    if (S_ISDIR(st.st_mode)) {
      m.gofer_root = next_root++;
      continue;
    }
    if (!S_ISREG(st.st_mode) || size_t(st.st_size) > kMaxFileBind)
      return fmt::format("mounts ({}): source {}: moat binds directories and "
                         "regular files up to 1 MiB only",
                         m.destination, m.source);
    // A file bind is copied in: the gofer serves directories only.
    std::ifstream in(m.source, std::ios::binary);
    m.contents.assign(std::istreambuf_iterator<char>(in), {});
    m.kind = "file";
  }
  return "";
}

int ParseSignal(const std::string& s) {
  if (s.empty()) return 0;
  if (isdigit(static_cast<unsigned char>(s[0]))) {
    int n = atoi(s.c_str());
    return n > 0 && n < NSIG ? n : 0;
  }
  std::string name = s.starts_with("SIG") ? s.substr(3) : s;
  for (int n = 1; n < NSIG; n++) {
    const char* abbrev = sigabbrev_np(n);
    if (abbrev && name == abbrev) return n;
  }
  return 0;
}

}  // namespace moat::oci
