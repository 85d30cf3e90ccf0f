// exec: a new process in a running container. Its host process (the one
// the pid file names) requests the kernel over the control socket to start
// the process with this process's stdio or a terminal. It then passes on
// the signals it receives and exits with the process's status.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include "oci/cli.h"
#include "oci/state.h"
#include "oci/terminal.h"
#include "util/log.h"

namespace moat::oci {
namespace {

using nlohmann::json;

// Signals that the exec's host process passes on to the process inside.
constexpr int kForwarded[] = {SIGINT,  SIGTERM, SIGHUP,   SIGQUIT,
                              SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT};

std::string BuildProcess(const State& s, const ExecOptions& o, Process* p) {
  if (!o.process_file.empty()) {
    std::ifstream in(o.process_file);
    json j = json::parse(in, nullptr, false);
    if (j.is_discarded())
      return o.process_file + ": missing or not valid JSON";
    try {
      return ParseProcess(j, p);
    } catch (const json::exception& e) {
      return o.process_file + ": a field has the wrong type: " + e.what();
    }
  }
  if (o.args.empty())
    return "exec: name a program after the container id, or give --process";
  // The container's own process is the base, as for runc.
  Spec spec;
  if (LoadBundle(s.bundle, &spec).empty()) *p = spec.process;
  p->args = o.args;
  p->terminal = o.tty;
  p->rlimits.clear();
  if (!o.cwd.empty()) p->cwd = o.cwd;
  for (const std::string& kv : o.env) {
    std::string key = kv.substr(0, kv.find('=') + 1);
    std::erase_if(p->env, [&](auto& e) { return e.starts_with(key); });
    p->env.push_back(kv);
  }
  if (!o.user.empty()) {
    unsigned uid = 0, gid = 0;
    int n = sscanf(o.user.c_str(), "%u:%u", &uid, &gid);
    if (n < 1) return "--user " + o.user + ": expected UID or UID:GID";
    p->uid = uid;
    p->gid = n == 2 ? gid : 0;
  }
  if (!o.additional_gids.empty()) p->additional_gids = o.additional_gids;
  return "";
}

}  // namespace

pid_t ForkReporting(const std::function<void(int report)>& body,
                    std::string* error) {
  int report[2];
  if (pipe2(report, O_CLOEXEC) != 0) {
    *error = strerror(errno);
    return -1;
  }
  fflush(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    close(report[0]);
    body(report[1]);
    _exit(125);
  }
  int fork_error = errno;
  close(report[1]);
  char buf[4096];
  ssize_t n;
  while ((n = read(report[0], buf, sizeof buf)) > 0) error->append(buf, n);
  close(report[0]);
  if (pid < 0) {
    *error = fmt::format("fork: {}", strerror(fork_error));
    return -1;
  }
  if (!error->empty() || n < 0) {
    waitpid(pid, nullptr, 0);
    return -1;
  }
  return pid;
}

int RelayProcess(const std::string& dir, const json& request,
                 const std::vector<int>& fds, int report) {
  auto tell = [&](const std::string& what) {
    if (report < 0) {
      if (!what.empty()) Fail(what);
      return;
    }
    (void)!write(report, what.data(), what.size());
    close(report);
    report = -1;
  };
  sigset_t set;
  sigemptyset(&set);
  for (int sig : kForwarded) sigaddset(&set, sig);
  sigprocmask(SIG_BLOCK, &set, nullptr);
  int sigfd = signalfd(-1, &set, SFD_CLOEXEC);
  int sock = ConnectControl(dir);
  if (sock < 0) {
    tell(dir + "/control: " + strerror(errno) + "; is the container running?");
    return 1;
  }
  json reply;
  if (!SendMessage(sock, request, fds) || !ReceiveMessage(sock, &reply)) {
    tell("the sandbox did not reply to the " +
         request.value("op", std::string()) + " request");
    return 1;
  }
  if (std::string e = ReplyError(reply); !e.empty()) {
    tell(e);
    auto no = reply.find("errno");
    bool enoent = no != reply.end() && *no == ENOENT;
    return enoent ? 127 : 126;
  }
  tell("");
  for (;;) {
    struct pollfd pf[2] = {{sock, POLLIN, 0}, {sigfd, POLLIN, 0}};
    if (poll(pf, 2, -1) < 0) continue;
    if (pf[1].revents) {
      signalfd_siginfo si;
      if (read(sigfd, &si, sizeof si) == sizeof si)
        SendMessage(sock, {{"signal", si.ssi_signo}});
    }
    if (!pf[0].revents) continue;
    json msg;
    if (!ReceiveMessage(sock, &msg)) return 128 + SIGKILL;  // sandbox gone
    auto code = msg.is_object() ? msg.find("exit") : msg.end();
    if (code != msg.end())
      return code->is_number_integer() ? code->get<int>() & 0xff : 255;
  }
}

namespace {

// Runs the exec: returns the process's exit status. `report` (if >= 0)
// gets "" once the process runs, or the error.
int ExecBody(const std::string& root, const State& s, const Process& p,
             int slave, int report) {
  std::vector<int> fds = slave >= 0 ? std::vector<int>{slave, slave, slave}
                                    : std::vector<int>{0, 1, 2};
  json request = AddressedTo(s, {{"op", "exec"}, {"process", ToJson(p)}});
  int status = RelayProcess(ControlDir(root, s), request, fds, report);
  if (slave >= 0) close(slave);
  return status;
}

}  // namespace

int Exec(const Globals& g, const ExecOptions& o) {
  State s;
  if (std::string e = LoadState(g.root, o.launch.id, &s); !e.empty())
    return Fail(e);
  if (CurrentStatus(s) != "running")
    return Fail("container " + o.launch.id + " is not running");
  Process p;
  if (std::string e = BuildProcess(s, o, &p); !e.empty()) return Fail(e);
  if (o.launch.preserve_fds > 0)
    return Fail("--preserve-fds: moat passes no extra descriptors yet");
  int slave = -1;
  if (p.terminal && !o.launch.console_socket.empty()) {
    std::string e =
        SendConsole(o.launch.console_socket, p.rows, p.cols, &slave);
    if (!e.empty()) return Fail(e);
  } else if (p.terminal && o.launch.detach) {
    return Fail("a terminal with --detach needs --console-socket");
  }
  if (!o.launch.detach) {
    if (!o.launch.pid_file.empty())
      WriteFileAtomic(o.launch.pid_file, std::to_string(getpid()));
    return ExecBody(g.root, s, p, slave, -1);
  }
  std::string error;
  pid_t pid = ForkReporting(
      [&](int report) {
        setsid();
        _exit(ExecBody(g.root, s, p, slave, report));
      },
      &error);
  if (slave >= 0) close(slave);
  if (pid < 0) return Fail(error.empty() ? "exec failed" : error);
  if (!o.launch.pid_file.empty() &&
      !WriteFileAtomic(o.launch.pid_file, std::to_string(pid)))
    return Fail(o.launch.pid_file + ": cannot be written");
  return 0;
}

}  // namespace moat::oci
