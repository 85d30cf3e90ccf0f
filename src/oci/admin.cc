// pause, resume, update, events and ps: the front end of the requests
// that src/oci/control_admin.cc serves in the kernel. Their output and
// errors are runc's, so that engines read them as they read runc's.
#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <thread>

#include "oci/cli.h"
#include "oci/state.h"
#include "sandbox/cgroup.h"
#include "util/log.h"

namespace moat::oci {
namespace {

using nlohmann::json;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Parses a Go duration as runc's --interval takes it: a number and a unit
// (ns, us, ms, s, m, h), such as 5s or 500ms. Returns 0 when it is invalid.
std::chrono::milliseconds ParseInterval(const std::string& text) {
  size_t end = 0;
  double value = 0;
  try {
    value = std::stod(text, &end);
  } catch (const std::exception&) {
    return {};
  }
  static const std::map<std::string, double> kMs = {{"ns", 1e-6}, {"us", 1e-3},
                                                    {"ms", 1},    {"s", 1e3},
                                                    {"m", 6e4},   {"h", 3.6e6}};
  auto unit = kMs.find(text.substr(end));
  if (unit == kMs.end() || value <= 0) return {};
  return std::chrono::milliseconds(std::max<int64_t>(1, value * unit->second));
}

// Returns a number field of linux.resources, or nullopt when it is missing.
std::optional<int64_t> Field(const json& r, const char* group,
                             const char* field) {
  if (!r.is_object() || !r.contains(group) || !r[group].is_object())
    return std::nullopt;
  const json& g = r[group];
  if (!g.contains(field) || !g[field].is_number()) return std::nullopt;
  return g[field].get<int64_t>();
}

// Builds the request for the kernel from linux.resources, as runc's
// `update --resources` reads it. As in runc, 0 or an absent field leaves
// a value as it is, and -1 removes the limit.
std::string UpdateRequest(const json& r, json* req, CgroupUpdate* cg) {
  *req = {{"op", "update"}};
  auto memory = Field(r, "memory", "limit");
  if (memory && *memory != 0) {
    if (*memory > 0 && *memory < (4 << 20))
      return fmt::format(
          "memory.limit {}: too small for any program; give "
          "at least 4M",
          *memory);
    (*req)["memory"] = std::max<int64_t>(*memory, 0);
    cg->memory = std::max<int64_t>(*memory, 0);
  }
  auto pids = Field(r, "pids", "limit");
  if (pids && *pids != 0) {
    (*req)["pids"] = std::max<int64_t>(*pids, 0);
    cg->pids = std::max<int64_t>(*pids, 0);
  }
  auto quota = Field(r, "cpu", "quota");
  auto period = Field(r, "cpu", "period");
  if (quota && *quota != 0) {
    int64_t p = period && *period > 0 ? *period : 100000;
    double cpus = *quota > 0 ? double(*quota) / double(p) : 0;
    (*req)["cpus"] = cpus;
    cg->cpus = cpus;
  }
  return "";
}

// Builds linux.resources from runc's update flags.
std::string ResourcesFromFlags(const UpdateOptions& o, json* r) {
  *r = json::object();
  if (!o.memory.empty()) {
    uint64_t bytes = 0;
    if (o.memory == "-1") {
      (*r)["memory"]["limit"] = -1;
    } else if (std::string e = ParseMemoryLimit(o.memory, &bytes); !e.empty()) {
      return e;
    } else {
      (*r)["memory"]["limit"] = bytes;
    }
  }
  if (o.pids_limit) (*r)["pids"]["limit"] = o.pids_limit;
  if (o.cpu_quota) (*r)["cpu"]["quota"] = o.cpu_quota;
  if (o.cpu_period) (*r)["cpu"]["period"] = o.cpu_period;
  return "";
}

// Loads the state. Returns "" or why the container takes no requests.
std::string Running(const Globals& g, const std::string& id, State* s) {
  if (std::string e = LoadState(g.root, id, s); !e.empty()) return e;
  if (CurrentStatus(*s) == "stopped")
    return fmt::format("container with id {} is not running", id);
  return "";
}

// Maps the pids of the processes in the kernel's pid namespace to host
// pids, through the NSpid line of their status (the last entry is the pid
// in that namespace).
std::map<int, int> HostPids(pid_t kernel) {
  std::map<int, int> out;
  char link[64] = {}, other[64] = {};
  std::string ns = fmt::format("/proc/{}/ns/pid", kernel);
  if (readlink(ns.c_str(), link, sizeof link - 1) <= 0) return out;
  DIR* d = opendir("/proc");
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    int pid = atoi(e->d_name);
    if (pid <= 0) continue;
    std::string p = fmt::format("/proc/{}/ns/pid", pid);
    ssize_t n = readlink(p.c_str(), other, sizeof other - 1);
    if (n <= 0 || std::string(other, n) != link) continue;
    std::istringstream status(ReadAll(fmt::format("/proc/{}/status", pid)));
    for (std::string line; std::getline(status, line);) {
      if (!line.starts_with("NSpid:")) continue;
      std::istringstream ids(line.substr(6));
      int inner = 0;
      for (int id; ids >> id;) inner = id;
      out[inner] = pid;
    }
  }
  closedir(d);
  return out;
}

// Formats STIME as ps(1) does: the time of day today, else month and day.
std::string StartTime(time_t start) {
  struct tm then, now;
  time_t t = time(nullptr);
  localtime_r(&start, &then);
  localtime_r(&t, &now);
  char buf[32];
  bool today = then.tm_yday == now.tm_yday && then.tm_year == now.tm_year;
  strftime(buf, sizeof buf, today ? "%H:%M" : "%b%d", &then);
  return buf;
}

// Formats TIME as ps(1) does: [DD-]HH:MM:SS of CPU time.
std::string CpuTime(uint64_t ns) {
  uint64_t s = ns / 1000000000;
  std::string days = s >= 86400 ? fmt::format("{}-", s / 86400) : "";
  return fmt::format("{}{:02}:{:02}:{:02}", days, s / 3600 % 24, s / 60 % 60,
                     s % 60);
}

// Formats one "stats" event as runc prints it.
std::string StatsEvent(const std::string& id, const json& reply) {
  json data = reply.value("stats", json::object());
  data["blkio"] = json::object();
  data["hugetlb"] = json::object();
  return json{{"type", "stats"}, {"id", id}, {"data", data}}.dump();
}

}  // namespace

int Pause(const Globals& g, const std::string& id, bool pause) {
  State s;
  if (std::string e = LoadState(g.root, id, &s); !e.empty()) return Fail(e);
  std::string status = CurrentStatus(s);
  // runc's libcontainer errors ErrNotRunning and ErrNotPaused.
  if (pause && status != "running" && status != "created")
    return Fail("container not running");
  if (!pause && status != "paused") return Fail("container not paused");
  json reply;
  std::string e =
      RequestFor(g.root, s, {{"op", pause ? "pause" : "resume"}}, &reply);
  if (!e.empty()) return Fail(e);
  if (pause)
    s.status = "paused";
  else
    s.status = reply.value("started", true) ? "running" : "created";
  if (std::string e = SaveState(g.root, s); !e.empty()) return Fail(e);
  return 0;
}

int Update(const Globals& g, const UpdateOptions& o) {
  State s;
  if (std::string e = Running(g, o.id, &s); !e.empty()) return Fail(e);
  json resources;
  if (o.resources == "-") {
    resources = json::parse(std::cin, nullptr, false);
  } else if (!o.resources.empty()) {
    std::ifstream in(o.resources);
    resources = json::parse(in, nullptr, false);
  } else if (std::string e = ResourcesFromFlags(o, &resources); !e.empty()) {
    return Fail(e);
  }
  if (resources.is_discarded() || !resources.is_object())
    return Fail(
        fmt::format("--resources {}: not a JSON object of "
                    "linux.resources",
                    o.resources));

  json req, reply;
  CgroupUpdate cg;
  if (std::string e = UpdateRequest(resources, &req, &cg); !e.empty())
    return Fail(e);
  // A pod shares one kernel, whose limits are the pod sandbox's: the
  // containers that joined it have none of their own to change.
  if (!s.sandbox.empty()) {
    spdlog::debug("container {}: update ignored: its limits are pod {}'s",
                  o.id, s.sandbox);
    return 0;
  }
  std::string e = Request(StateDir(g.root, o.id), req, &reply);
  if (!e.empty()) return Fail(e);

  if (int kills = reply.value("oom_kills", 0); kills > 0)
    spdlog::warn(
        "container {}: the new memory limit is below what was in "
        "use; the OOM killer ended {} process(es)",
        o.id, kills);
  // The host cgroup backstop follows. Without one, which is the case when
  // create had no limits, only the kernel's own accounting applies.
  e = UpdateHostCgroup(s.kernel_pid, fmt::format("moat-{}", s.pid), cg);
  if (!e.empty()) spdlog::debug("container {}: {}", o.id, e);
  return 0;
}

int Events(const Globals& g, const EventsOptions& o) {
  State s;
  if (std::string e = Running(g, o.id, &s); !e.empty()) return Fail(e);
  auto interval = ParseInterval(o.interval);
  if (interval.count() == 0)
    return Fail("--interval " + o.interval +
                ": expected a duration such "
                "as 5s or 500ms");
  uint64_t oom_kills = 0;
  bool first = true;
  auto next = std::chrono::steady_clock::now();
  // OOM kills are looked for more often than stats are printed.
  auto poll = std::min(interval, std::chrono::milliseconds(200));
  for (;;) {
    json reply;
    std::string e = RequestFor(g.root, s, {{"op", "stats"}}, &reply);
    if (!e.empty()) return first ? Fail(e) : 0;  // the container ended
    uint64_t kills = reply.value("oom_kills", uint64_t(0));
    if (!first && kills > oom_kills)
      printf("%s\n", json{{"type", "oom"}, {"id", o.id}}.dump().c_str());
    oom_kills = kills;
    first = false;
    auto now = std::chrono::steady_clock::now();
    if (o.stats || now >= next) {
      printf("%s\n", StatsEvent(o.id, reply).c_str());
      next = now + interval;
    }
    fflush(stdout);
    if (o.stats) return 0;
    std::this_thread::sleep_for(poll);
  }
}

int Ps(const Globals& g, const std::string& id, const std::string& format) {
  State s;
  if (std::string e = Running(g, id, &s); !e.empty()) return Fail(e);
  json reply;
  std::string e = RequestFor(g.root, s, {{"op", "processes"}}, &reply);
  if (!e.empty()) return Fail(e);
  json list = reply.value("processes", json::array());
  if (format == "json") {
    // What engines pass to the host's ps: the host processes that contain
    // the processes' memory, one for each address space.
    std::map<int, int> host = HostPids(s.kernel_pid);
    std::vector<int> pids;
    for (const json& p : list) {
      auto it = host.find(p.value("stub", 0));
      if (it != host.end() &&
          std::find(pids.begin(), pids.end(), it->second) == pids.end())
        pids.push_back(it->second);
    }
    printf("%s\n", json(pids).dump().c_str());
    return 0;
  }
  if (format != "table")
    return Fail("--format " + format + ": use table or json");
  printf("%-8s %-7s %-7s %-5s %-10s %s\n", "UID", "PID", "PPID", "STIME",
         "TIME", "CMD");
  for (const json& p : list)
    printf("%-8u %-7d %-7d %-5s %-10s %s\n", p.value("uid", 0u),
           p.value("pid", 0), p.value("ppid", 0),
           StartTime(p.value("start", time_t(0))).c_str(),
           CpuTime(p.value("cpu_ns", uint64_t(0))).c_str(),
           p.value("cmd", std::string()).c_str());
  return 0;
}

}  // namespace moat::oci
