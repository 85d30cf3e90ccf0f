#include "sandbox/cgroup.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>
#include <utility>

#include <fmt/format.h>

#include "util/log.h"

namespace moat {
namespace {

using Values = std::vector<std::pair<std::string, std::string>>;

// The CFS period of --cpus: the kernel's default, which docker uses too.
constexpr uint64_t kCpuPeriodUs = 100000;
// Linux refuses quotas below 1 ms (kernel/sched/core.c:min_cfs_quota_period).
constexpr uint64_t kMinCpuQuotaUs = 1000;
// How long removing a cgroup waits for what is left in it to die.
constexpr int kRemoveTries = 100;
constexpr useconds_t kRemoveWaitUs = 20000;

std::string ReadText(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) out.append(buf, size_t(n));
  close(fd);
  return out;
}

bool WriteText(const std::string& path, const std::string& text) {
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = write(fd, text.data(), text.size()) == ssize_t(text.size());
  close(fd);
  return ok;
}

std::vector<std::string> Words(const std::string& text) {
  std::istringstream in(text);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

bool Contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

bool IsFs(const std::string& path, long magic) {
  struct statfs s;
  return statfs(path.c_str(), &s) == 0 && s.f_type == magic;
}

// This process's cgroup in each hierarchy, from /proc/self/cgroup: the v2
// one under "", the v1 ones under each of their controllers' names.
std::map<std::string, std::string> OwnCgroups() {
  std::map<std::string, std::string> out;
  std::istringstream in(ReadText("/proc/self/cgroup"));
  for (std::string line; std::getline(in, line);) {
    size_t a = line.find(':'), b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    std::string controllers = line.substr(a + 1, b - a - 1);
    std::string path = line.substr(b + 1);
    if (path == "/") path = "";
    std::istringstream names(controllers);
    if (controllers.empty()) out[""] = path;
    for (std::string c; std::getline(names, c, ',');) out[c] = path;
  }
  return out;
}

// The controllers that `limits` needs.
std::vector<std::string> NeededControllers(const SandboxLimits& limits) {
  std::vector<std::string> out;
  if (limits.memory) out.push_back("memory");
  if (limits.pids) out.push_back("pids");
  if (limits.cpus > 0) out.push_back("cpu");
  return out;
}

uint64_t CpuQuotaUs(double cpus) {
  return std::max<uint64_t>(kMinCpuQuotaUs, llround(cpus * kCpuPeriodUs));
}

// The files of `controller` and what they are set to, on v2 or v1.
Values ControllerValues(const std::string& controller,
                        const SandboxLimits& limits, bool v2) {
  if (controller == "memory") {
    std::string bytes = std::to_string(BackstopMemory(limits.memory));
    return {{v2 ? "memory.max" : "memory.limit_in_bytes", bytes}};
  }
  if (controller == "pids")
    return {{"pids.max", std::to_string(BackstopPids(limits.pids))}};
  uint64_t quota = CpuQuotaUs(limits.cpus);
  if (v2) return {{"cpu.max", fmt::format("{} {}", quota, kCpuPeriodUs)}};
  return {{"cpu.cfs_period_us", std::to_string(kCpuPeriodUs)},
          {"cpu.cfs_quota_us", std::to_string(quota)}};
}

// Makes `dir` unless it is there (left by an earlier moat of this pid).
bool MakeDir(const std::string& dir) {
  if (mkdir(dir.c_str(), 0755) == 0 || errno == EEXIST) return true;
  SPDLOG_DEBUG("host cgroup {}: {}", dir, strerror(errno));
  return false;
}

bool WriteValues(const std::string& dir, const Values& values) {
  for (auto& [file, value] : values) {
    if (!WriteText(dir + "/" + file, value)) {
      spdlog::debug("host cgroup {}: setting {} to {} failed: {}", dir,
                    file, value, strerror(errno));
      return false;
    }
    spdlog::debug("host cgroup {}: {} = {}", dir, file, value);
  }
  return true;
}

// Removes `dir`, killing the processes still in it: stubs that have not
// yet died with their tracer, the kernel.
void RemoveDir(const std::string& dir) {
  for (int i = 0; i < kRemoveTries; i++) {
    if (rmdir(dir.c_str()) == 0 || errno == ENOENT) return;
    if (errno != EBUSY) break;
    (void)WriteText(dir + "/cgroup.kill", "1");  // v2 only
    for (const std::string& pid : Words(ReadText(dir + "/cgroup.procs"))) {
      pid_t p = static_cast<pid_t>(atoi(pid.c_str()));
      if (p > 0) kill(p, SIGKILL);
    }
    usleep(kRemoveWaitUs);
  }
  spdlog::warn("removing host cgroup {} failed: {}", dir, strerror(errno));
}

}  // namespace

std::unique_ptr<HostCgroup> HostCgroup::Create(const std::string& name,
                                               const SandboxLimits& limits) {
  std::unique_ptr<HostCgroup> cg(new HostCgroup());
  std::vector<std::string> done;
  cg->AddV2(name, limits, &done);
  for (const std::string& c : NeededControllers(limits))
    if (!Contains(done, c) && cg->AddV1(c, name, limits)) done.push_back(c);
  if (limits.cpus > 0 && !Contains(done, "cpu")) {
    spdlog::warn("--cpus: no host cgroup with a cpu controller is usable, "
                 "so the sandbox's CPU time is not limited");
  }
  if (cg->dirs_.empty()) {
    spdlog::debug("no host cgroup is usable; the kernel's own accounting "
                  "enforces --memory and --pids");
    return nullptr;
  }
  return cg;
}

bool HostCgroup::AddV2(const std::string& name, const SandboxLimits& limits,
                       std::vector<std::string>* done) {
  std::string root = IsFs("/sys/fs/cgroup", CGROUP2_SUPER_MAGIC)
                         ? "/sys/fs/cgroup"
                         : "/sys/fs/cgroup/unified";
  auto own = OwnCgroups();
  if (!IsFs(root, CGROUP2_SUPER_MAGIC) || !own.count("")) return false;
  std::string parent = root + own[""];
  auto available = Words(ReadText(parent + "/cgroup.controllers"));
  std::vector<std::string> usable;
  for (const std::string& c : NeededControllers(limits)) {
    if (!Contains(available, c)) continue;
    // A controller reaches the new cgroup only if the parent hands it on,
    // which it cannot if it has processes of its own, unless it is the
    // root (the "no internal processes" rule).
    // NOTE: untested on a host with cgroup v2 alone, where moat's own
    // cgroup usually has processes. There only the kernel's accounting
    // applies, unless that cgroup already enables the controllers.
    auto enabled = Words(ReadText(parent + "/cgroup.subtree_control"));
    if (Contains(enabled, c) ||
        WriteText(parent + "/cgroup.subtree_control", "+" + c))
      usable.push_back(c);
  }
  if (usable.empty()) return false;
  std::string dir = parent + "/" + name;
  if (!MakeDir(dir)) return false;
  dirs_.push_back(dir);
  for (const std::string& c : usable)
    if (WriteValues(dir, ControllerValues(c, limits, true))) done->push_back(c);
  return true;
}

bool HostCgroup::AddV1(const std::string& controller, const std::string& name,
                       const SandboxLimits& limits) {
  std::string mount = "/sys/fs/cgroup/" + controller;
  auto own = OwnCgroups();
  if (!IsFs(mount, CGROUP_SUPER_MAGIC) || !own.count(controller))
    return false;
  std::string dir = mount + own[controller] + "/" + name;
  bool exists = Contains(dirs_, dir);
  if (!exists && !MakeDir(dir)) return false;
  if (!exists) dirs_.push_back(dir);
  return WriteValues(dir, ControllerValues(controller, limits, false));
}

HostCgroup::~HostCgroup() {
  for (auto it = dirs_.rbegin(); it != dirs_.rend(); ++it) RemoveDir(*it);
}

bool HostCgroup::Add(pid_t pid) {
  bool ok = true;
  for (const std::string& dir : dirs_) {
    if (!WriteText(dir + "/cgroup.procs", std::to_string(pid))) {
      spdlog::warn("moving process {} into host cgroup {} failed: {}", pid,
                   dir, strerror(errno));
      ok = false;
    }
  }
  return ok;
}

namespace {

// Returns the files and values of `update` for one controller, on v2 or
// v1.
Values UpdateValues(const std::string& controller, const CgroupUpdate& u,
                    bool v2) {
  std::string none = v2 ? "max" : "-1";
  if (controller == "memory" && u.memory) {
    std::string bytes =
        *u.memory ? std::to_string(BackstopMemory(*u.memory)) : none;
    return {{v2 ? "memory.max" : "memory.limit_in_bytes", bytes}};
  }
  if (controller == "pids" && u.pids)
    return {{"pids.max", *u.pids ? std::to_string(BackstopPids(*u.pids))
                                 : std::string("max")}};
  if (controller != "cpu" || !u.cpus) return {};
  std::string quota =
      *u.cpus > 0 ? std::to_string(CpuQuotaUs(*u.cpus)) : none;
  if (v2) return {{"cpu.max", fmt::format("{} {}", quota, kCpuPeriodUs)}};
  return {{"cpu.cfs_quota_us", quota}};
}

}  // namespace

std::string UpdateHostCgroup(pid_t member, const std::string& name,
                             const CgroupUpdate& update) {
  std::istringstream in(ReadText(fmt::format("/proc/{}/cgroup", member)));
  std::string root = IsFs("/sys/fs/cgroup", CGROUP2_SUPER_MAGIC)
                         ? "/sys/fs/cgroup"
                         : "/sys/fs/cgroup/unified";
  bool found = false;
  for (std::string line; std::getline(in, line);) {
    size_t a = line.find(':'), b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    std::string controllers = line.substr(a + 1, b - a - 1);
    std::string path = line.substr(b + 1);
    if (path.substr(path.rfind('/') + 1) != name) continue;
    found = true;
    std::vector<std::string> names;
    std::istringstream list(controllers);
    for (std::string c; std::getline(list, c, ',');) names.push_back(c);
    bool v2 = controllers.empty();
    if (v2) names = Words(ReadText(root + path + "/cgroup.controllers"));
    for (const std::string& c : names) {
      std::string dir = v2 ? root + path : "/sys/fs/cgroup/" + c + path;
      if (!WriteValues(dir, UpdateValues(c, update, v2)))
        return fmt::format("host cgroup {}: {}", dir, strerror(errno));
    }
  }
  return found ? "" : fmt::format("no host cgroup {}", name);
}

}  // namespace moat
