// `moat do`: the front end. It starts the gofer and the kernel process,
// each in its own process, passes host signals to the kernel, and reports
// how the sandbox ended.
#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "gofer/process.h"
#include "sandbox/cgroup.h"
#include "sandbox/confine.h"
#include "sandbox/sandbox.h"
#include "util/log.h"

extern char** environ;

namespace moat {
namespace {

// The descriptor numbers the kernel finds the gofer connection and the
// log file at.
constexpr int kGoferFd = 3;
constexpr int kLogFd = 4;

// The host user and group the kernel runs as when moat is started by root:
// nobody and nogroup, which own nothing.
constexpr uint32_t kUnprivilegedId = 65534;

bool WriteFile(const std::string& path, const std::string& text) {
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = write(fd, text.data(), text.size()) == ssize_t(text.size());
  close(fd);
  return ok;
}

// Maps uid and gid 0 of the kernel's user namespace to one host user.
bool MapIds(pid_t pid) {
  uint32_t uid = geteuid() == 0 ? kUnprivilegedId : geteuid();
  uint32_t gid = geteuid() == 0 ? kUnprivilegedId : getegid();
  std::string dir = fmt::format("/proc/{}/", pid);
  return WriteFile(dir + "setgroups", "deny") &&
         WriteFile(dir + "uid_map", fmt::format("0 {} 1", uid)) &&
         WriteFile(dir + "gid_map", fmt::format("0 {} 1", gid));
}

// Gives a pipe or terminal on stdio a description of its own, so that the
// kernel's O_NONBLOCK never reaches the caller's shell.
void ReopenStdio() {
  for (int fd = 0; fd < 3; fd++) {
    struct stat st;
    if (fstat(fd, &st) != 0) continue;
    if (!S_ISFIFO(st.st_mode) && !S_ISCHR(st.st_mode)) continue;
    int mode = fcntl(fd, F_GETFL);
    std::string self = fmt::format("/proc/self/fd/{}", fd);
    int fresh = open(self.c_str(), (mode & (O_ACCMODE | O_APPEND)) | O_NOCTTY);
    if (fresh < 0) continue;
    dup2(fresh, fd);
    close(fresh);
  }
}

// Returns whether this process runs a single thread. A forked copy can
// then run C++ code, because no other thread can hold a lock it needs.
bool IsSingleThreaded() {
  DIR* tasks = opendir("/proc/self/task");
  if (tasks == nullptr) return false;
  int count = 0;
  while (dirent* e = readdir(tasks)) count += e->d_name[0] != '.';
  closedir(tasks);
  return count == 1;
}

// Closes the descriptors marked close-on-exec, as an exec would.
void CloseOnExecDescriptors() {
  std::vector<int> marked;
  DIR* fds = opendir("/proc/self/fd");
  if (fds == nullptr) _exit(125);
  while (dirent* e = readdir(fds)) {
    if (e->d_name[0] == '.') continue;
    int fd = atoi(e->d_name);
    int flags = fcntl(fd, F_GETFD);
    if (fd != dirfd(fds) && flags >= 0 && (flags & FD_CLOEXEC))
      marked.push_back(fd);
  }
  closedir(fds);
  for (int fd : marked) close(fd);
}

// Runs the kernel in this process, a copy of a single-threaded front end,
// as `moat boot` would after its exec. This saves the exec, the C
// library's start and the command-line parsing, about 0.7 ms of each
// sandbox's start on the test VMs.
[[noreturn]] void RunBootInPlace(const SandboxOptions& boot) {
  CloseOnExecDescriptors();
  std::string log = LogPath().empty() ? "" : fmt::format("fd:{}", kLogFd);
  InitLogging(log, LogDebug());
  if (boot.strace) EnableStrace(log);
  int status = RunSandbox(boot);
  spdlog::default_logger()->flush();
  fflush(stdout);
  _exit(status);
}

// The kernel's side of the clone: waits for its id maps, then becomes the
// kernel, in this process when `in_place` and otherwise by exec of `moat
// boot` with `args`.
[[noreturn]] void BecomeKernel(int exe_fd, int sync_fd, int gofer_fd,
                               const SandboxOptions& boot, bool in_place,
                               const std::vector<std::string>& args) {
  // Dropping the front end's loggers closes their files, which must happen
  // before the descriptors below take their numbers. Nothing logs until
  // RunBootInPlace makes the kernel's logger.
  if (in_place) spdlog::drop_all();
  char go;
  if (read(sync_fd, &go, 1) != 1) _exit(125);
  close(sync_fd);
  ReopenStdio();
  // Descriptors move above the fixed numbers first, so that placing one
  // never closes another.
  exe_fd = fcntl(exe_fd, F_DUPFD_CLOEXEC, 10);
  gofer_fd = fcntl(gofer_fd, F_DUPFD_CLOEXEC, 10);
  int log = -1;
  if (!LogPath().empty()) {
    // The log file is opened while the host user is still the caller's.
    log = open(LogPath().c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
               0644);
    if (log >= 0) log = fcntl(log, F_DUPFD_CLOEXEC, 10);
    if (log < 0 || dup2(log, kLogFd) < 0) _exit(125);
  }
  if (exe_fd < 0 || gofer_fd < 0 || dup2(gofer_fd, kGoferFd) < 0) _exit(125);
  // Becoming uid 0 inside, which is the unprivileged host user, before exec
  // keeps the namespace's capabilities across it for the confinement steps.
  if (setresgid(0, 0, 0) != 0 || setresuid(0, 0, 0) != 0) {
    fprintf(stderr, "moat: becoming root in the kernel's user namespace "
            "failed: %s\n", strerror(errno));
    _exit(125);
  }
  if (in_place) RunBootInPlace(boot);
  // NOTE: the tests never take this exec, because no front end of moat's
  // has a second thread at this point.
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  syscall(SYS_execveat, exe_fd, "", argv.data(), environ, AT_EMPTY_PATH);
  fprintf(stderr, "moat: starting the kernel failed: %s\n", strerror(errno));
  _exit(125);
}

// Starts the kernel process in its namespaces, and in `cgroup` if there is
// one before it runs anything. Returns its pid, or -1.
pid_t StartKernel(const SandboxOptions& opts, int gofer_fd,
                  HostCgroup* cgroup) {
  int exe_fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  int sync[2];
  if (exe_fd < 0 || pipe2(sync, O_CLOEXEC) != 0) return -1;
  SandboxOptions boot = opts;
  boot.gofer_fd = kGoferFd;
  boot.uid = getuid();
  boot.gid = getgid();
  // The sandbox's first process gets the caller's groups, as it would
  // natively. moat's kernel checks them, and the gofer has its own.
  std::vector<gid_t> groups(NGROUPS_MAX);
  int n = getgroups(int(groups.size()), groups.data());
  boot.groups.assign(groups.begin(), groups.begin() + std::max(n, 0));
  if (opts.rootfs == "/") {
    char cwd[4096];
    if (getcwd(cwd, sizeof cwd) != nullptr) boot.default_cwd = cwd;
  }
  // Flushed first, so that the copy does not write the front end's
  // buffered output again.
  fflush(nullptr);
  bool in_place = IsSingleThreaded();
  std::vector<std::string> args;
  if (!in_place) args = BootArguments(boot);

  int flags = KernelNamespaceFlags(opts.network == "host");
  pid_t pid = static_cast<pid_t>(
      syscall(SYS_clone, flags | SIGCHLD, nullptr, nullptr, nullptr, 0));
  if (pid == 0) {
    close(sync[1]);
    BecomeKernel(exe_fd, sync[0], gofer_fd, boot, in_place, args);
  }
  int error = errno;
  close(exe_fd);
  close(sync[0]);
  if (pid < 0) {
    close(sync[1]);
    spdlog::error("creating the kernel's namespaces failed: {}; moat needs "
                  "user namespaces (sysctl user.max_user_namespaces > 0)",
                  strerror(error));
    return -1;
  }
  if (!MapIds(pid)) {
    spdlog::error("mapping the kernel's user namespace failed: {}",
                  strerror(errno));
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    close(sync[1]);
    return -1;
  }
  if (cgroup) (void)cgroup->Add(pid);
  (void)!write(sync[1], "g", 1);
  close(sync[1]);
  return pid;
}

}  // namespace

int WaitPassingSignals(pid_t kernel) {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2,
                  SIGWINCH, SIGCONT, SIGCHLD})
    sigaddset(&set, sig);
  sigprocmask(SIG_BLOCK, &set, nullptr);
  for (;;) {
    int status;
    pid_t done = waitpid(kernel, &status, WNOHANG);
    if (done == kernel) return status;
    siginfo_t info;
    struct timespec tick = {0, 200 * 1000 * 1000};
    int sig = sigtimedwait(&set, &info, &tick);
    if (sig <= 0 || sig == SIGCHLD) continue;
    if (info.si_code == SI_KERNEL) continue;  // the terminal's, already there
    kill(kernel, sig);
  }
}

namespace {

// The caller's terminal, as moat found it.
struct HostTerminal {
  bool tty = false;
  struct termios saved = {};
  pid_t saved_foreground = -1;  // the group moat took the terminal from
};

// Makes moat's process group, which the kernel shares, the foreground of
// the caller's terminal, as an interactive shell does. Started under
// timeout(1) or with &, moat is in a background group, which may not read
// the terminal or set raw mode. The kernel cannot do this itself, because
// its pid namespace does not show the group.
HostTerminal TakeTerminal() {
  HostTerminal t;
  t.tty = tcgetattr(STDIN_FILENO, &t.saved) == 0;
  if (!t.tty) return t;
  pid_t fg = tcgetpgrp(STDIN_FILENO);
  if (fg < 0 || fg == getpgrp()) return t;
  if (tcsetpgrp(STDIN_FILENO, getpgrp()) == 0) t.saved_foreground = fg;
  return t;
}

// Restores the terminal, which a kernel that died may have left raw.
void RestoreTerminal(const HostTerminal& t) {
  if (!t.tty) return;
  tcsetattr(STDIN_FILENO, TCSADRAIN, &t.saved);
  if (t.saved_foreground > 0) tcsetpgrp(STDIN_FILENO, t.saved_foreground);
}

}  // namespace

std::vector<std::string> BootArguments(const SandboxOptions& opts) {
  std::vector<std::string> a = {"moat"};
  if (!LogPath().empty())
    a.insert(a.end(), {"--log", fmt::format("fd:{}", kLogFd)});
  if (LogDebug()) a.push_back("--debug");
  if (LogJson()) a.insert(a.end(), {"--log-format", "json"});
  a.insert(a.end(), {"boot", "--gofer-fd", std::to_string(opts.gofer_fd),
                     "--uid", std::to_string(opts.uid), "--gid",
                     std::to_string(opts.gid), "--platform", opts.platform,
                     "--rootfs", opts.rootfs, "--hostname", opts.hostname});
  if (!opts.groups.empty()) {
    std::string list;
    for (uint32_t g : opts.groups)
      list += (list.empty() ? "" : ",") + std::to_string(g);
    a.insert(a.end(), {"--groups", list});
  }
  if (!opts.cwd.empty()) a.insert(a.end(), {"--cwd", opts.cwd});
  if (!opts.default_cwd.empty())
    a.insert(a.end(), {"--default-cwd", opts.default_cwd});
  for (const std::string& kv : opts.env) a.insert(a.end(), {"--env", kv});
  if (opts.strace) a.push_back("--strace");
  if (!opts.syscall_patching) a.insert(a.end(), {"--syscall-patching", "off"});
  a.insert(a.end(), {"--network", opts.network});
  // The limits go in forms that `moat boot` parses back to the same values.
  if (opts.limits.memory)
    a.insert(a.end(), {"--memory", std::to_string(opts.limits.memory)});
  if (opts.limits.pids)
    a.insert(a.end(), {"--pids", std::to_string(opts.limits.pids)});
  if (opts.limits.cpus > 0)
    a.insert(a.end(), {"--cpus", fmt::format("{}", opts.limits.cpus)});
  if (opts.oci_spec_fd >= 0)
    a.insert(a.end(), {"--oci-spec-fd", std::to_string(opts.oci_spec_fd),
                       "--control-fd", std::to_string(opts.control_fd)});
  a.push_back("--");
  a.insert(a.end(), opts.argv.begin(), opts.argv.end());
  return a;
}

int RunFrontEnd(const SandboxOptions& opts) {
  return RunFrontEnd(opts, {gofer::Root{opts.rootfs, true}}, nullptr);
}

int RunFrontEnd(const SandboxOptions& opts,
                const std::vector<gofer::Root>& roots,
                const std::function<void(pid_t kernel)>& started) {
  // A closed stdio descriptor would be taken by the first file moat opens,
  // which the sandbox would then see as its stdin or stdout.
  for (int fd = 0; fd < 3; fd++) {
    if (fcntl(fd, F_GETFD) < 0) open("/dev/null", O_RDWR);
  }
  // The sandbox's host cgroup, removed when this function returns, after
  // the kernel and the gofer have ended.
  std::unique_ptr<HostCgroup> cgroup;
  if (opts.limits.any())
    cgroup = HostCgroup::Create(fmt::format("moat-{}", getpid()), opts.limits);
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) {
    spdlog::error("making the gofer's connection failed: {}", strerror(errno));
    return 125;
  }
  // SIGTTOU stays blocked in the front end: it changes the terminal from
  // what may be a background group.
  sigset_t ttou;
  sigemptyset(&ttou);
  sigaddset(&ttou, SIGTTOU);
  sigprocmask(SIG_BLOCK, &ttou, nullptr);
  HostTerminal terminal = TakeTerminal();
  // The kernel starts first and confines itself while this process
  // clones the gofer: each clone with its namespaces took about 0.5 ms on
  // the test VMs. The kernel's first request waits for the gofer.
  pid_t kernel = StartKernel(opts, pair[0], cgroup.get());
  close(pair[0]);
  if (kernel < 0) {
    close(pair[1]);
    RestoreTerminal(terminal);
    return 125;
  }
  auto gofer = gofer::Start(roots, false, pair[1]);
  // From here only the kernel has its end of the gofer connection, so
  // the gofer ends with the kernel. If the gofer did not start, the
  // kernel finds the connection closed.
  close(pair[1]);
  if (!gofer.ok()) {
    spdlog::error("starting the gofer failed: {}", strerror(gofer.error()));
    kill(kernel, SIGKILL);
    waitpid(kernel, nullptr, 0);
    RestoreTerminal(terminal);
    return 125;
  }
  // The gofer's work is the sandbox's too.
  if (cgroup) (void)cgroup->Add(gofer->pid);
  if (started) started(kernel);
  int status = WaitPassingSignals(kernel);
  gofer->Stop();
  RestoreTerminal(terminal);
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  int sig = WTERMSIG(status);
  if (sig != SIGKILL) {
    spdlog::error("the kernel died of signal {} ({})", sig, strsignal(sig));
  }
  return 128 + sig;
}

}  // namespace moat
