#include "oci/cli.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "oci/state.h"
#include "util/log.h"

namespace moat::oci {
namespace {

using nlohmann::json;

// The values of the commands' own flags, filled in by CLI11.
struct Parsed {
  LaunchOptions create, run;
  ExecOptions exec;
  std::string id;
  std::string signal = "SIGTERM";
  bool all = false;
  bool force = false;
  std::string format = "table";
  bool quiet = false;
  std::string spec_bundle = ".";
  std::vector<std::string> ps_args;
  UpdateOptions update;
  EventsOptions events;
} p;

void AddLaunchFlags(CLI::App* c, LaunchOptions& o, bool run) {
  c->add_option("-b,--bundle", o.bundle, "the bundle directory");
  c->add_option("--pid-file", o.pid_file, "write the host pid here");
  c->add_option("--console-socket", o.console_socket,
                "unix socket to send the terminal's master to");
  c->add_flag("--no-pivot", o.no_pivot, "accepted; moat never pivots");
  c->add_flag("--no-new-keyring", o.no_new_keyring, "accepted");
  c->add_option("--preserve-fds", o.preserve_fds, "extra descriptors");
  if (run) {
    c->add_flag("-d,--detach", o.detach, "return once it runs");
    static bool keep;
    c->add_flag("--keep", keep, "accepted")->group("");
  }
  c->add_option("id", o.id, "container id")->required();
}

void AddExecFlags(CLI::App* c, ExecOptions& o) {
  c->add_option("-p,--process", o.process_file, "process.json to run");
  c->add_flag("-d,--detach", o.launch.detach, "return once it runs");
  c->add_option("--pid-file", o.launch.pid_file, "write the host pid here");
  c->add_option("--console-socket", o.launch.console_socket,
                "unix socket to send the terminal's master to");
  c->add_flag("-t,--tty", o.tty, "give the process a terminal");
  c->add_option("--cwd", o.cwd, "working directory inside");
  c->add_option("-e,--env", o.env, "K=V");
  c->add_option("-u,--user", o.user, "UID[:GID]");
  c->add_option("-g,--additional-gids", o.additional_gids, "more groups");
  c->add_option("--preserve-fds", o.launch.preserve_fds, "extra descriptors");
  c->add_option("--process-label,--apparmor,-c,--cap", "accepted");
  static bool no_new_privs;
  c->add_flag("--no-new-privs", no_new_privs, "accepted")->group("");
  c->add_option("id", o.launch.id, "container id")->required();
  c->add_option("command", o.args, "program and arguments");
  c->positionals_at_end();
}

int WriteSpec(const std::string& bundle) {
  std::string path = bundle + "/config.json";
  if (access(path.c_str(), F_OK) == 0)
    return Fail(path + ": already exists; remove it first");
  std::ofstream out(path);
  out << DefaultSpec().dump(2) << "\n";
  if (!out) return Fail(path + ": cannot be written");
  return 0;
}

int PrintState(const Globals& g, const std::string& id) {
  State s;
  if (std::string e = LoadState(g.root, id, &s); !e.empty()) return Fail(e);
  printf("%s\n", RuntimeState(s).dump(2).c_str());
  return 0;
}

int Kill(const Globals& g, const std::string& id, const std::string& name,
         bool all) {
  State s;
  if (std::string e = LoadState(g.root, id, &s); !e.empty()) return Fail(e);
  int sig = ParseSignal(name);
  if (sig == 0)
    return Fail("signal \"" + name + "\": unknown; use a name such as "
                "SIGTERM or KILL, or a number");
  // runc's words: the containerd shim takes "container not running" for a
  // kill with nothing left to do, and CRI kills every container again once
  // it has exited.
  if (CurrentStatus(s) == "stopped")
    return Fail("container " + id + ": container not running");
  json reply;
  std::string e = RequestFor(
      g.root, s, {{"op", "kill"}, {"signal", sig}, {"all", all}}, &reply);
  // SIGKILL also ends a kernel that does not reply, unless a pod's other
  // containers share it: then the monitor's end ends the container.
  if (sig == SIGKILL && s.sandbox.empty() && s.kernel_pid > 0)
    kill(s.kernel_pid, SIGKILL);
  if (sig == SIGKILL && !s.sandbox.empty() && !e.empty())
    kill(s.pid, SIGKILL);
  if (!e.empty() && sig != SIGKILL) return Fail(e);
  return 0;
}

// Waits up to `limit` for a process that is not our child to be gone.
bool WaitGone(const State& s, std::chrono::milliseconds limit) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (ProcessStartTime(s.pid) == s.pid_start && s.pid_start != 0) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

int Delete(const Globals& g, const std::string& id, bool force) {
  std::string dir = StateDir(g.root, id);
  State s;
  if (std::string e = LoadState(g.root, id, &s); !e.empty()) {
    if (!force || !ValidateId(id).empty()) return Fail(e);
    // Stale or damaged state after a crash: --force removes what is left.
    std::filesystem::remove_all(dir);
    return 0;
  }
  std::string status = CurrentStatus(s);
  if ((status == "running" || status == "paused") && !force)
    return Fail("container " + id + " is " + status + "; stop it first or "
                "use delete --force");
  if (status != "stopped") {
    if (s.sandbox.empty() && s.kernel_pid > 0) kill(s.kernel_pid, SIGKILL);
    kill(s.pid, SIGKILL);
    WaitGone(s, std::chrono::seconds(5));
  }
  // A poststop hook that fails is logged only, as the spec says.
  std::string e = RunHooks(HooksOf(BundleHooks(s.bundle), "poststop"),
                           HookState(s, "stopped"));
  if (!e.empty()) spdlog::warn("container {}: {}", id, e);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  if (ec) return Fail(dir + ": " + ec.message());
  return 0;
}

int List(const Globals& g, const std::string& format, bool quiet) {
  json all = json::array();
  for (const std::string& id : ListIds(g.root)) {
    State s;
    if (LoadState(g.root, id, &s).empty()) all.push_back(RuntimeState(s));
  }
  if (quiet) {
    for (auto& s : all) printf("%s\n", s["id"].get<std::string>().c_str());
  } else if (format == "json") {
    printf("%s\n", all.dump().c_str());
  } else {
    printf("%-24s %-8s %-10s %-40s %s\n", "ID", "PID", "STATUS", "BUNDLE",
           "CREATED");
    for (auto& s : all)
      printf("%-24s %-8d %-10s %-40s %s\n",
             s["id"].get<std::string>().c_str(), s["pid"].get<int>(),
             s["status"].get<std::string>().c_str(),
             s["bundle"].get<std::string>().c_str(),
             s["created"].get<std::string>().c_str());
  }
  return 0;
}

int Features() {
  json f = {
      {"ociVersionMin", "1.0.0"},
      {"ociVersionMax", "1.1.0"},
      {"hooks", json::array()},
      {"mountOptions", {"ro", "rw", "bind", "rbind", "nosuid", "nodev",
                        "noexec", "mode"}},
      {"linux",
       {{"namespaces", {"pid", "network", "ipc", "uts", "mount", "user",
                        "cgroup"}},
        {"capabilities", {"CAP_CHOWN", "CAP_KILL", "CAP_SETUID",
                          "CAP_SETGID", "CAP_NET_BIND_SERVICE"}},
        {"cgroup", {{"v1", false}, {"v2", false}, {"systemd", false}}},
        {"seccomp", SeccompFeatures()},
        {"apparmor", {{"enabled", false}}},
        {"selinux", {{"enabled", false}}}}},
      {"annotations", {{"org.opencontainers.runc.version", "none"},
                       {"dev.moat.runtime", "moat"}}}};
  printf("%s\n", f.dump(2).c_str());
  return 0;
}

}  // namespace

int Fail(const std::string& message) {
  spdlog::error("{}", message);
  // Engines read the log file; a person reads stderr.
  if (!LogPath().empty()) fprintf(stderr, "moat: %s\n", message.c_str());
  return 1;
}

bool WriteFileAtomic(const std::string& path, const std::string& text) {
  std::string tmp = path + ".moat-tmp";
  {
    std::ofstream out(tmp);
    out << text;
    if (!out) return false;
  }
  return rename(tmp.c_str(), path.c_str()) == 0;
}

void AddCommands(CLI::App& app, Globals& g, SandboxOptions& sandbox) {
  app.add_option("--root", g.root, "directory of container state");
  app.add_option("--log-format", g.log_format, "text or json")
      ->check(CLI::IsMember({"text", "json"}));
  app.add_flag("--systemd-cgroup", g.systemd_cgroup,
               "accepted; moat makes no cgroups");
  app.add_option("--rootless", g.rootless,
                 "auto, true or false: where state goes by default")
      ->check(CLI::IsMember({"auto", "true", "false"}));
  app.add_option("--platform", sandbox.platform, "auto, trap or ptrace")
      ->check(CLI::IsMember({"auto", "trap", "ptrace"}));
  app.add_option_function<std::string>(
         "--syscall-patching",
         [&sandbox](const std::string& v) {
           sandbox.syscall_patching = v == "on";
         },
         "on or off: trap platform call-site patching")
      ->check(CLI::IsMember({"on", "off"}));
  app.add_option("--network", sandbox.network, "none or host")
      ->check(CLI::IsMember({"none", "host"}));
  app.add_flag("--strace", sandbox.strace, "trace system calls");

  AddLaunchFlags(app.add_subcommand("create", "create a container"),
                 p.create, false);
  AddLaunchFlags(app.add_subcommand("run", "create and start a container"),
                 p.run, true);
  AddExecFlags(app.add_subcommand("exec", "run a process in a container"),
               p.exec);
  for (const char* name : {"start", "state"})
    app.add_subcommand(name, name == std::string("start")
                                 ? "start a created container"
                                 : "print a container's state as JSON")
        ->add_option("id", p.id, "container id")
        ->required();
  CLI::App* k = app.add_subcommand("kill", "send a signal to a container");
  k->add_flag("-a,--all", p.all, "signal every process");
  k->add_option("id", p.id, "container id")->required();
  k->add_option("signal", p.signal, "name or number (default SIGTERM)");
  CLI::App* d = app.add_subcommand("delete", "remove a container");
  d->add_flag("-f,--force", p.force, "also a running one");
  d->add_option("id", p.id, "container id")->required();
  CLI::App* l = app.add_subcommand("list", "list containers");
  l->add_option("-f,--format", p.format, "table or json");
  l->add_flag("-q,--quiet", p.quiet, "ids only");
  for (const char* name : {"pause", "resume"})
    app.add_subcommand(name, name == std::string("pause")
                                 ? "freeze every process of a container"
                                 : "thaw a paused container")
        ->add_option("id", p.id, "container id")
        ->required();
  CLI::App* u = app.add_subcommand("update", "change a container's limits");
  u->add_option("-r,--resources", p.update.resources,
                "linux.resources JSON file, or - for stdin");
  u->add_option("--memory", p.update.memory, "memory limit in bytes");
  u->add_option("--pids-limit", p.update.pids_limit, "most tasks");
  u->add_option("--cpu-quota", p.update.cpu_quota, "CPU time per period, us");
  u->add_option("--cpu-period", p.update.cpu_period, "CFS period, us");
  u->add_option("id", p.update.id, "container id")->required();
  CLI::App* ev = app.add_subcommand("events", "a container's stats and OOMs");
  ev->add_flag("--stats", p.events.stats, "print the stats once and exit");
  ev->add_option("--interval", p.events.interval, "stats interval (5s)");
  ev->add_option("id", p.events.id, "container id")->required();
  CLI::App* ps = app.add_subcommand("ps", "a container's processes");
  ps->add_option("-f,--format", p.format, "table or json");
  ps->add_option("id", p.id, "container id")->required();
  ps->add_option("ps-args", p.ps_args, "ignored");
  app.add_subcommand("features", "what this runtime supports, as JSON");
  app.add_subcommand("spec", "write a default config.json")
      ->add_option("-b,--bundle", p.spec_bundle, "the bundle directory");
}

// The state directory when --root is not given: /run/moat, or for a
// rootless runtime (--rootless true, or auto when the caller is not root)
// $XDG_RUNTIME_DIR/moat, as runc picks $XDG_RUNTIME_DIR/runc. "" after
// printing why when there is none.
std::string DefaultRoot(const Globals& g) {
  bool rootless = g.rootless == "true" || (g.rootless == "auto" && geteuid());
  if (!rootless) return g.root;
  const char* runtime_dir = getenv("XDG_RUNTIME_DIR");
  if (runtime_dir != nullptr && runtime_dir[0] == '/')
    return std::string(runtime_dir) + "/moat";
  Fail("rootless: XDG_RUNTIME_DIR is not set; give --root DIR, a directory "
       "this user may write");
  return "";
}

std::optional<int> RunCommand(CLI::App& app, const Globals& given,
                              const SandboxOptions& sandbox) {
  auto parsed = [&](const char* name) {
    return app.get_subcommand(name)->parsed();
  };
  Globals g = given;
  if (app.get_option("--root")->count() == 0 && !parsed("features") &&
      !parsed("spec")) {
    g.root = DefaultRoot(given);
    if (g.root.empty()) return 1;
  }
  if (g.systemd_cgroup)
    spdlog::debug("--systemd-cgroup ignored: moat makes no cgroups");
  if (parsed("create")) return Create(g, sandbox, p.create);
  if (parsed("run")) return Run(g, sandbox, p.run);
  if (parsed("exec")) return Exec(g, p.exec);
  if (parsed("start")) return Start(g, p.id);
  if (parsed("state")) return PrintState(g, p.id);
  if (parsed("kill")) return Kill(g, p.id, p.signal, p.all);
  if (parsed("delete")) return Delete(g, p.id, p.force);
  if (parsed("list")) return List(g, p.format, p.quiet);
  if (parsed("ps")) return Ps(g, p.id, p.format);
  if (parsed("pause")) return Pause(g, p.id, true);
  if (parsed("resume")) return Pause(g, p.id, false);
  if (parsed("update")) return Update(g, p.update);
  if (parsed("events")) return Events(g, p.events);
  if (parsed("features")) return Features();
  if (parsed("spec")) return WriteSpec(p.spec_bundle);
  return std::nullopt;
}

}  // namespace moat::oci
