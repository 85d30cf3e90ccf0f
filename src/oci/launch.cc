// create, start and run: the sandbox of a container is started by a
// monitor process, which stays behind when `moat create` exits. The pid
// file names the monitor. It lives as long as the container's init, exits
// with its status and passes on the signals it receives. Engines (conmon,
// the containerd shim) wait on it and signal it as they do runc's init.
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ctime>
#include <filesystem>

#include "gofer/process.h"
#include "oci/cli.h"
#include "oci/state.h"
#include "oci/terminal.h"
#include "util/log.h"

namespace moat::oci {
namespace {

// The descriptors of the spec and the control socket sit this high in the
// monitor, clear of the fixed numbers `moat boot` uses.
constexpr int kHighFd = 100;

std::string Now3339() {
  char buf[64];
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  size_t n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf + n, sizeof buf - n, ".%09ldZ", ts.tv_nsec);
  return buf;
}

// A descriptor the kernel inherits across exec.
int Inheritable(int fd) {
  int high = fcntl(fd, F_DUPFD, kHighFd);
  close(fd);
  return high;
}

int SpecFd(const Spec& spec) {
  int fd = memfd_create("moat-oci-spec", MFD_CLOEXEC);
  if (fd < 0) return -1;
  std::string text = ToJson(spec).dump();
  for (size_t off = 0; off < text.size();) {
    ssize_t n = write(fd, text.data() + off, text.size() - off);
    if (n <= 0) {
      close(fd);
      return -1;
    }
    off += n;
  }
  return Inheritable(fd);
}

// The gofer's roots: the root filesystem, then each directory bind.
std::vector<gofer::Root> Roots(const Spec& spec) {
  std::vector<gofer::Root> roots = {{spec.root_path, spec.root_readonly}};
  for (const MountSpec& m : spec.mounts)
    if (m.gofer_root >= 0) roots.push_back({m.source, m.read_only});
  return roots;
}

// The sandbox-wide limits in linux.resources: memory.limit, pids.limit and
// cpu.quota over cpu.period, applied as --memory, --pids and --cpus are.
// A missing, zero or negative value means no limit, as in the spec.
SandboxLimits LimitsOf(const nlohmann::json& resources) {
  SandboxLimits limits;
  auto number = [&](const char* group, const char* field) -> int64_t {
    if (!resources.is_object() || !resources.contains(group)) return 0;
    const auto& g = resources[group];
    if (!g.is_object() || !g.contains(field) || !g[field].is_number()) return 0;
    return g[field].get<int64_t>();
  };
  if (int64_t memory = number("memory", "limit"); memory > 0)
    limits.memory = static_cast<uint64_t>(memory);
  if (int64_t pids = number("pids", "limit"); pids > 0)
    limits.pids = static_cast<uint64_t>(pids);
  int64_t quota = number("cpu", "quota");
  int64_t period = number("cpu", "period");
  if (quota > 0) limits.cpus = double(quota) / double(period > 0 ? period : 100000);
  return limits;
}

// The monitor: becomes the front end of the sandbox and exits with its
// status. `report` learns the kernel's pid.
[[noreturn]] void Monitor(SandboxOptions opts, const Spec& spec,
                          bool own_session, int slave, int report) {
  if (own_session) setsid();
  if (slave >= 0) {
    ioctl(slave, TIOCSCTTY, 0);
    for (int fd = 0; fd < 3; fd++) dup2(slave, fd);
    close(slave);
  }
  // opts.rootfs stays "/": the kernel, which cannot see the host, would
  // check a path given there; the gofer serves the bundle's root.
  opts.cwd = spec.process.cwd;
  // Without a hostname in the spec, a runc container's new UTS namespace
  // keeps the host's name, which is what it starts as.
  char host[HOST_NAME_MAX + 1] = {};
  if (!spec.hostname.empty()) {
    opts.hostname = spec.hostname;
  } else if (gethostname(host, sizeof host - 1) == 0) {
    opts.hostname = host;
  }
  opts.argv = spec.process.args;
  opts.limits = LimitsOf(spec.resources);
  int status = RunFrontEnd(opts, Roots(spec), [&](pid_t kernel) {
    // From here the kernel has the only copies.
    close(opts.oci_spec_fd);
    close(opts.control_fd);
    (void)!write(report, &kernel, sizeof kernel);
    close(report);
  });
  spdlog::default_logger()->flush();
  _exit(status);
}

// With process.terminal and --console-socket: sends the console socket a
// new pty's master and sets *slave to its slave.
std::string ConsoleFor(const Spec& spec, const LaunchOptions& o, int* slave) {
  if (!spec.process.terminal || o.console_socket.empty()) return "";
  return SendConsole(o.console_socket, spec.process.rows, spec.process.cols,
                     slave);
}

struct Launched {
  pid_t monitor = -1;
  pid_t kernel = -1;
};

// Starts the monitor and waits until the kernel serves its control
// socket, with init loaded and waiting for `start`.
std::string Launch(const SandboxOptions& sandbox, const Spec& spec,
                   const std::string& dir, const LaunchOptions& o,
                   bool own_session, Launched* out) {
  SandboxOptions opts = sandbox;
  opts.oci_spec_fd = SpecFd(spec);
  int control = ListenControl(dir);
  opts.control_fd = control >= 0 ? Inheritable(control) : -1;
  if (opts.oci_spec_fd < 0 || opts.control_fd < 0)
    return fmt::format("{}: cannot make the control socket: {}", dir,
                       strerror(errno));
  int slave = -1;
  if (std::string e = ConsoleFor(spec, o, &slave); !e.empty()) return e;
  int report[2];
  if (pipe2(report, O_CLOEXEC) != 0) return strerror(errno);
  fflush(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    close(report[0]);
    Monitor(opts, spec, own_session, slave, report[1]);
  }
  close(report[1]);
  close(opts.oci_spec_fd);
  close(opts.control_fd);
  if (slave >= 0) close(slave);
  if (pid < 0) return fmt::format("fork: {}", strerror(errno));
  out->monitor = pid;
  ssize_t n = read(report[0], &out->kernel, sizeof out->kernel);
  close(report[0]);
  nlohmann::json reply;
  std::string e = n == sizeof out->kernel
                      ? Request(dir, {{"op", "ping"}}, &reply)
                      : "the sandbox did not start";
  if (e.empty()) return "";
  int status = 0;
  waitpid(pid, &status, 0);
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  if (code == 127)
    return fmt::format("exec: \"{}\": executable file not found in $PATH "
                       "or no such file or directory",
                       spec.process.args[0]);
  return fmt::format("the sandbox ended before the container started (exit "
                     "status {}); see the log for why",
                     code);
}

// The pod sandbox a container joins: containerd's CRI and CRI-O mark each
// container of a pod but the first (the sandbox container, which starts the
// sandbox) with the first one's id. "" for a container that starts a
// sandbox of its own.
std::string PodSandboxOf(const Spec& spec, std::string* error) {
  auto get = [&](const char* key) {
    auto it = spec.annotations.find(key);
    return it == spec.annotations.end() ? std::string() : it->second;
  };
  for (auto [type, id] : {std::pair{"io.kubernetes.cri.container-type",
                                    "io.kubernetes.cri.sandbox-id"},
                          std::pair{"io.kubernetes.cri-o.ContainerType",
                                    "io.kubernetes.cri-o.SandboxID"}}) {
    if (get(type) != "container") continue;
    if (get(id).empty())
      *error = fmt::format(
          "annotation {} is \"container\" but {} is "
          "missing: name the pod's sandbox container",
          type, id);
    return get(id);
  }
  return "";
}

// The monitor of a container that joins a pod: starts the container's
// gofer, hands its connection and the stdio to the pod's kernel with the
// spec, and then stays as the container's host process, as `moat exec`'s
// does for an exec. `report` gets "" once the kernel took the container,
// or the error.
[[noreturn]] void MemberMonitor(const std::string& control,
                                const std::string& id, const Spec& spec,
                                bool own_session, int slave, int report) {
  if (own_session) setsid();
  auto gofer = gofer::Start(Roots(spec), true);
  if (!gofer.ok()) {
    std::string e =
        fmt::format("starting the gofer failed: {}", strerror(gofer.error()));
    (void)!write(report, e.data(), e.size());
    _exit(125);
  }
  std::vector<int> fds = {gofer->sock};
  for (int fd = 0; fd < 3; fd++) fds.push_back(slave >= 0 ? slave : fd);
  nlohmann::json request = {
      {"op", "create"}, {"container", id}, {"spec", ToJson(spec)}};
  int status = RelayProcess(control, request, fds, report);
  spdlog::default_logger()->flush();
  _exit(status);
}

// create for a container of a pod: its monitor joins the pod sandbox
// `sandbox`.
std::string JoinPod(const Globals& g, const std::string& sandbox,
                    const Spec& spec, const LaunchOptions& o, bool own_session,
                    Launched* out) {
  State pod;
  if (std::string e = LoadState(g.root, sandbox, &pod); !e.empty())
    return "the pod's sandbox: " + e;
  if (!pod.sandbox.empty())
    return fmt::format(
        "container {} is itself in pod {}: name the pod's "
        "sandbox container {} instead",
        sandbox, pod.sandbox, pod.sandbox);
  if (CurrentStatus(pod) == "stopped")
    return fmt::format("the pod's sandbox container {} has stopped", sandbox);
  int slave = -1;
  if (std::string e = ConsoleFor(spec, o, &slave); !e.empty()) return e;
  std::string error;
  pid_t pid = ForkReporting(
      [&](int report) {
        MemberMonitor(StateDir(g.root, sandbox), o.id, spec, own_session,
                      slave, report);
      },
      &error);
  if (slave >= 0) close(slave);
  if (pid < 0)
    return error.empty() ? "the pod's kernel did not take the container"
                         : error;
  out->monitor = pid;
  out->kernel = pod.kernel_pid;
  return "";
}

std::string Prepare(const Globals& g, const LaunchOptions& o, bool detached,
                    Spec* spec) {
  if (std::string e = ValidateId(o.id); !e.empty()) return e;
  if (std::string e = LoadBundle(o.bundle, spec); !e.empty()) return e;
  if (spec->process.terminal && o.console_socket.empty() && detached)
    return "process.terminal is true: give --console-socket to receive the "
           "terminal, or use `moat run` in the foreground";
  if (std::string e = ResolveMounts(spec); !e.empty()) return e;
  if (o.preserve_fds > 0)
    return "--preserve-fds: moat passes no extra descriptors yet";
  std::error_code ec;
  std::filesystem::create_directories(g.root, ec);
  if (ec) return fmt::format("--root {}: {}", g.root, ec.message());
  std::string dir = StateDir(g.root, o.id);
  if (mkdir(dir.c_str(), 0700) != 0)
    return errno == EEXIST
               ? fmt::format("container \"{}\" already exists", o.id)
               : fmt::format("{}: {}", dir, strerror(errno));
  MakeMountPoints(*spec);
  return "";
}

// create, and run's first half. `own_session` detaches the monitor from
// the caller's session.
int CreateContainer(const Globals& g, const SandboxOptions& sandbox,
                    const LaunchOptions& o, bool own_session,
                    pid_t* monitor) {
  Spec spec;
  if (std::string e = Prepare(g, o, own_session, &spec); !e.empty())
    return Fail(e);
  std::string dir = StateDir(g.root, o.id);
  Launched l;
  std::string e;
  std::string pod = PodSandboxOf(spec, &e);
  if (e.empty()) {
    e = pod.empty() ? Launch(sandbox, spec, dir, o, own_session, &l)
                    : JoinPod(g, pod, spec, o, own_session, &l);
  }
  State s;
  s.sandbox = pod;
  s.id = o.id;
  s.bundle = spec.bundle;
  s.pid = l.monitor;
  s.pid_start = ProcessStartTime(l.monitor);
  s.kernel_pid = l.kernel;
  s.created = Now3339();
  s.annotations = spec.annotations;
  if (e.empty()) e = SaveState(g.root, s);
  if (e.empty()) e = RunHooks(HooksOf(spec.hooks, "prestart"),
                              HookState(s, "created"));
  if (e.empty()) e = RunHooks(HooksOf(spec.hooks, "createRuntime"),
                              HookState(s, "creating"));
  if (e.empty() && !o.pid_file.empty() &&
      !WriteFileAtomic(o.pid_file, std::to_string(l.monitor)))
    e = o.pid_file + ": cannot be written";
  if (!e.empty()) {
    if (pod.empty() && l.kernel > 0) kill(l.kernel, SIGKILL);
    if (!pod.empty() && l.monitor > 0) kill(l.monitor, SIGKILL);
    if (l.monitor > 0) waitpid(l.monitor, nullptr, 0);
    std::filesystem::remove_all(dir);
    return Fail(e);
  }
  *monitor = l.monitor;
  return 0;
}

// Waits for the monitor, our child, passing on the signals we get.
int WaitMonitor(pid_t pid) {
  int status = WaitPassingSignals(pid);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace

int Create(const Globals& g, const SandboxOptions& sandbox,
           const LaunchOptions& o) {
  pid_t monitor;
  return CreateContainer(g, sandbox, o, true, &monitor);
}

int Start(const Globals& g, const std::string& id) {
  State s;
  if (std::string e = LoadState(g.root, id, &s); !e.empty()) return Fail(e);
  std::string status = CurrentStatus(s);
  if (status != "created")
    return Fail(fmt::format("container {} is {}, not created: it cannot be "
                            "started",
                            id, status));
  nlohmann::json reply;
  if (std::string e = RequestFor(g.root, s, {{"op", "start"}}, &reply);
      !e.empty())
    return Fail(e);
  s.status = "running";
  if (std::string e = SaveState(g.root, s); !e.empty()) return Fail(e);
  // A poststart hook that fails is logged only, as the spec says.
  std::string e = RunHooks(HooksOf(BundleHooks(s.bundle), "poststart"),
                           HookState(s, "running"));
  if (!e.empty()) spdlog::warn("container {}: {}", id, e);
  return 0;
}

int Run(const Globals& g, const SandboxOptions& sandbox,
        const LaunchOptions& o) {
  pid_t monitor;
  if (int rc = CreateContainer(g, sandbox, o, o.detach, &monitor); rc != 0)
    return rc;
  if (int rc = Start(g, o.id); rc != 0) {
    kill(monitor, SIGKILL);
    return rc;
  }
  if (o.detach) return 0;
  return WaitMonitor(monitor);
}

}  // namespace moat::oci
