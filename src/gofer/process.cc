#include "gofer/process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "gofer/confine.h"
#include "util/log.h"

namespace moat::gofer {
namespace {

// The descriptor number the gofer finds its socket at.
constexpr int kSocketFd = 3;

std::string RootArg(const Root& r) {
  return r.host_path + (r.read_only ? ":ro" : ":rw");
}

}  // namespace

void Process::Stop() {
  if (sock >= 0) close(sock);
  sock = -1;
  if (pid <= 0) return;
  int status;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  pid = -1;
}

bool ParseRoot(const std::string& arg, Root* out) {
  Root r;
  r.host_path = arg;
  if (arg.size() > 3 && (arg.ends_with(":ro") || arg.ends_with(":rw"))) {
    r.read_only = arg.ends_with(":ro");
    r.host_path = arg.substr(0, arg.size() - 3);
  }
  if (r.host_path.empty() || r.host_path[0] != '/') return false;
  *out = r;
  return true;
}

Result<Process> Start(const std::vector<Root>& roots, bool outlive_parent,
                      int sock) {
  int pair[2] = {-1, sock};
  if (sock < 0 &&
      socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0)
    return Err(errno);
  // Everything the child needs is built before fork: after it, only
  // async-signal-safe calls are made.
  std::vector<std::string> args = {"moat"};
  if (!LogPath().empty()) {
    args.push_back("--log");
    args.push_back(LogPath());
  }
  if (LogDebug()) args.push_back("--debug");
  if (LogJson()) args.insert(args.end(), {"--log-format", "json"});
  args.insert(args.end(), {"gofer", "--socket-fd", std::to_string(kSocketFd)});
  if (outlive_parent) args.push_back("--outlive-parent");
  for (auto& r : roots) {
    args.push_back("--root");
    args.push_back(RootArg(r));
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t parent = getpid();

  int flags = NamespaceFlags();
  // fork(2) with namespaces: the gofer is the first process of its own pid
  // namespace, where getppid() is 0.
  pid_t pid = static_cast<pid_t>(
      syscall(SYS_clone, flags | SIGCHLD, nullptr, nullptr, nullptr, nullptr));
  if (pid < 0) {
    int error = errno;
    if (sock < 0) {
      close(pair[0]);
      close(pair[1]);
    }
    return Err(error);
  }
  if (pid == 0) {
    if (!outlive_parent) prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != ((flags & CLONE_NEWPID) ? 0 : parent)) _exit(1);
    // Moved above kSocketFd first: dup2 onto itself would keep CLOEXEC.
    int sock = fcntl(pair[1], F_DUPFD_CLOEXEC, kSocketFd + 1);
    if (sock < 0 || dup2(sock, kSocketFd) < 0) _exit(1);
    execv("/proc/self/exe", argv.data());
    _exit(127);
  }
  if (sock < 0) close(pair[1]);
  Process p;
  p.pid = pid;
  p.sock = pair[0];
  return p;
}

int Main(int sock, std::vector<Root> roots, const std::string& log_path,
         bool debug, bool outlive_parent) {
  if (!outlive_parent) prctl(PR_SET_PDEATHSIG, SIGKILL);
  // Every other inherited descriptor is closed: the gofer holds only its
  // socket and what it opens under its roots.
  if (sock != kSocketFd && dup2(sock, kSocketFd) < 0) return 1;
  close_range(kSocketFd + 1, ~0U, 0);
  for (int fd = 0; fd < kSocketFd; fd++) {
    if (fd != STDERR_FILENO) close(fd);
  }
  InitLogging(log_path, debug);
  struct rlimit nofile;
  if (getrlimit(RLIMIT_NOFILE, &nofile) == 0) {
    nofile.rlim_cur = nofile.rlim_max;
    setrlimit(RLIMIT_NOFILE, &nofile);
  }
  if ((NamespaceFlags() != 0 && !EnterServedRoots(roots).ok()) ||
      !RestrictToRoots(roots).ok())
    return 1;
  Server* server = nullptr;
  if (std::string error = Server::Open(std::move(roots), &server);
      !error.empty()) {
    spdlog::error("{}", error);
    return 1;
  }
  const char* audit = getenv("MOAT_SECCOMP_AUDIT");
  if (!DropGoferCapabilities().ok() ||
      !InstallGoferFilter(audit != nullptr && strcmp(audit, "1") == 0).ok()) {
    delete server;
    return 1;
  }
  int status = server->Serve(kSocketFd);
  delete server;
  return status;
}

}  // namespace moat::gofer
