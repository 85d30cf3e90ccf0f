// The kernel's control socket: requests from `moat start`, `kill`, `ps`
// and `exec`, each on its own connection and thread.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "fs/host_fd.h"
#include "kernel/signal_delivery.h"
#include "loader/elf.h"
#include "oci/container.h"
#include "oci/control_admin.h"
#include "oci/state.h"
#include "sandbox/console.h"
#include "sandbox/sandbox.h"
#include "util/log.h"
#include "vfs/fd_table.h"

namespace moat::oci {
namespace {

using nlohmann::json;

// Gives `t` the host descriptors it was sent as fds 0, 1 and 2. A
// terminal among them becomes its session's controlling terminal. With
// `console`, the process gets its kernel pty instead, as init does.
void InstallStdio(Task& t, std::vector<int>& fds, Console* console) {
  if (console) {
    for (int i = 0; i < 3; i++)
      if (FilePtr slave = console->OpenSlave())
        (void)t.fds->Set(i, slave, false, 1024);
    console->Attach(t);
    return;
  }
  for (size_t i = 0; i < fds.size() && i < 3; i++) {
    int mode = fcntl(fds[i], F_GETFL);
    auto f = HostFdFile::Create(fds[i], mode & (O_ACCMODE | O_APPEND));
    if (!f.ok()) continue;
    fds[i] = -1;
    auto* host = static_cast<HostFdFile*>(f.value().get());
    host->foreground_pgrp = t.tg().tgid;
    host->session = t.tg().tgid;
    (void)t.fds->Set(int(i), f.value(), false, 1024);
    if (host->is_tty() && !t.tg().pgrp->session->controlling_tty)
      t.tg().pgrp->session->controlling_tty = f.value();
  }
}

}  // namespace

Result<std::shared_ptr<Task>> NewProcess(
    Kernel& k, const Process& p, const SeccompProgram& seccomp,
    std::vector<int>& fds, Console* console,
    const std::function<Status(Task&)>& place) {
  auto init = k.init();
  if (!init || init->zombie) return Err(ESRCH);
  auto tg = std::make_shared<ThreadGroup>();
  auto task = std::make_shared<Task>(k, tg);
  task->tid = k.AllocatePid();
  tg->tgid = task->tid;
  tg->leader = task;
  tg->tasks.push_back(task);
  tg->rlimits = init->rlimits;
  auto session = std::make_shared<Session>();
  session->sid = tg->tgid;
  session->leader = tg;
  tg->pgrp = std::make_shared<ProcessGroup>();
  tg->pgrp->pgid = tg->tgid;
  tg->pgrp->session = session;
  task->handlers = std::make_shared<SignalHandlers>();
  task->fds = std::make_shared<FdTable>();
  task->fs = std::make_shared<FsContext>();
  TRY_STATUS(place(*task));
  ApplyProcess(p, *task);
  TRY_STATUS(ApplySeccomp(seccomp, *task));
  auto cwd = ResolvePath(*task, task->fs->root, p.cwd, {});
  if (!cwd.ok()) return Err(cwd.error());
  task->fs->cwd = cwd.value();
  InstallStdio(*task, fds, console);
  std::string program = FindProgram(*task, p.args[0], p.env);
  auto image = LoadExecutable(*task, task->fs->cwd, program, p.args, p.env);
  if (!image.ok()) return Err(image.error());
  task->mm_ = image->mm;
  task->regs = image->regs;
  task->comm = program.substr(program.rfind('/') + 1).substr(0, 15);
  return task;
}

void StartProcess(Kernel& k, const std::shared_ptr<Task>& task) {
  k.RegisterProcessGroup(task->tg().pgrp);
  k.RegisterGroup(task->tg_ptr());
  k.RegisterTask(task);
  task->Start();
}

namespace {

// A new process in a container for `moat exec`, beside `leader`, the
// container's first process: its root, mounts and identity, then the
// OCI process's. Kernel lock held.
Result<std::shared_ptr<ThreadGroup>> Spawn(Kernel& k, Task& leader,
                                           const Process& p,
                                           const SeccompProgram& seccomp,
                                           std::vector<int>& fds,
                                           Console* console) {
  auto task = TRY(NewProcess(k, p, seccomp, fds, console, [&](Task& t) {
    *t.fs = *leader.fs;
    t.mount_ns = leader.mount_ns;
    t.creds = leader.creds;
    return Ok();
  }));
  StartProcess(k, task);
  return task->tg_ptr();
}

}  // namespace

void Container::ServeLoop(Kernel& k) {
  for (;;) {
    int fd = accept4(control_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      spdlog::error("control socket: accept failed: {}", strerror(errno));
      return;
    }
    std::thread([this, &k, fd] {
      // A malformed request must not end the kernel.
      try {
        HandleConnection(k, fd);
      } catch (const std::exception& e) {
        spdlog::error("control socket: invalid request: {}", e.what());
      }
      close(fd);
    }).detach();
  }
}

void Container::HandleConnection(Kernel& k, int fd) {
  json req;
  std::vector<int> fds;
  if (!ReceiveMessage(fd, &req, &fds)) return;
  std::string op = req.value("op", "");
  if (op == "create") {
    CreateMember(k, fd, req, std::move(fds));
    return;
  }
  std::string error;
  auto member = Addressed(req, &error);
  int sig = req.value("signal", 0);
  bool all = req.value("all", false);
  json reply = {{"ok", true}};
  // Admin requests act on the processes of the container they name; the
  // sandbox's own container has the sandbox's first mount namespace.
  const MountNamespace* scope = nullptr;
  bool started;
  {
    std::lock_guard lock(mu_);
    if (member || !members_.empty())
      scope = member ? member->mounts.get() : k.mounts.get();
    started = member ? member->started : started_;
  }
  if (!error.empty()) {
    reply = {{"error", error}};
  } else if (auto admin = HandleAdminRequest(k, req, started, scope)) {
    reply = *admin;
  } else if (op == "start") {
    reply = member ? StartMember(*member) : StartFirst();
  } else if (op == "kill") {
    reply = member ? KillMember(k, *member, sig, all) : Kill(k, sig, all);
  } else if (op == "ps") {
    std::lock_guard lock(k.mu);
    std::vector<int> pids;
    auto mounts = member ? member->mounts : k.mounts;
    for (auto& g : GroupsIn(k, mounts.get())) pids.push_back(g->tgid);
    reply["pids"] = pids;
  } else if (op == "exec") {
    Exec(k, fd, req, std::move(fds), member);
    return;
  } else if (op != "ping") {
    reply = {{"error", "unknown request " + op}};
  }
  for (int f : fds) close(f);
  SendMessage(fd, reply);
}

json Container::StartFirst() {
  std::lock_guard lock(mu_);
  if (started_ || early_exit_ >= 0)
    return {{"error", "the container was already started"}};
  started_ = true;
  cv_.notify_all();
  return {{"ok", true}};
}

json Container::Kill(Kernel& k, int sig, bool all) {
  if (sig <= 0 || sig >= NSIG) return {{"error", "invalid signal"}};
  {
    std::lock_guard lock(mu_);
    if (!started_) {
      // init has not run: a signal that would end it ends the sandbox.
      if (Terminates(sig) && early_exit_ < 0) early_exit_ = 128 + sig;
      cv_.notify_all();
      return {{"ok", true}};
    }
  }
  std::lock_guard lock(k.mu);
  auto init = k.init();
  if (!init || init->zombie) return {{"error", "the container has exited"}};
  // As from outside the pid namespace, like a signal from the host.
  if (all) {
    for (auto& g : RequestGroups(k, nullptr))
      if (!g->zombie) SignalFromHost(k, *g, sig);
  } else {
    SignalFromHost(k, *init, sig);
  }
  return {{"ok", true}};
}

int RelayUntilExit(Kernel& k, int fd, const std::shared_ptr<ThreadGroup>& tg,
                   Console* console, const std::function<void()>& on_lost) {
  int done[2];
  if (pipe2(done, O_CLOEXEC | O_NONBLOCK) != 0) return W_EXITCODE(255, 0);
  Waiter exited([&](uint32_t) { (void)!write(done[1], "x", 1); }, kEventIn);
  {
    std::lock_guard lock(k.mu);
    tg->exit_events.Add(&exited);
    if (tg->zombie) (void)!write(done[1], "x", 1);
  }
  bool peer = true;
  for (;;) {
    struct pollfd p[2] = {{done[0], POLLIN, 0}, {fd, POLLIN, 0}};
    if (poll(p, peer ? 2 : 1, -1) < 0 && errno != EINTR) break;
    if (p[0].revents) break;
    if (!peer || !p[1].revents) continue;
    json msg;
    if (!ReceiveMessage(fd, &msg)) {
      peer = false;
      if (on_lost) on_lost();
      continue;
    }
    int sig = msg.value("signal", 0);
    std::lock_guard lock(k.mu);
    if (sig == SIGWINCH && console)
      console->UpdateWindowSize(k);  // the pty signals the change itself
    else if (sig > 0 && sig < NSIG && !tg->zombie)
      k.SignalGroup(*tg, MakeSigInfo(sig, SI_USER));
  }
  int status;
  {
    std::lock_guard lock(k.mu);
    tg->exit_events.Remove(&exited);
    status = tg->group_exit_status;
    if (tg->zombie && !tg->reaped) {
      tg->reaped = true;
      k.UnregisterGroup(*tg);
    }
  }
  close(done[0]);
  close(done[1]);
  return status;
}

void Container::Exec(Kernel& k, int fd, const json& req, std::vector<int> fds,
                     const std::shared_ptr<PodMember>& member) {
  Process p = ProcessFromJson(req.value("process", json::object()));
  std::shared_ptr<ThreadGroup> tg;
  std::unique_ptr<Console> console;
  Result<std::shared_ptr<ThreadGroup>> spawned = Err(ESRCH);
  if (!p.args.empty()) {
    std::unique_lock lock(k.mu);
    // A terminal becomes a kernel pty, so the process has /dev/pts/N.
    if (p.terminal && !fds.empty() && isatty(fds[0])) {
      int tty = fcntl(fds[0], F_DUPFD_CLOEXEC, 3);
      console = tty >= 0 ? Console::OpenOn(tty, p.uid) : nullptr;
      if (!console && tty >= 0) close(tty);
    }
    auto leader = FirstProcess(k, member.get());
    if (leader) {
      spawned = Spawn(k, *leader, p,
                      member ? member->spec.seccomp : spec_.seccomp, fds,
                      console.get());
    }
    if (spawned.ok() && console) console->Start(k);
    if (!spawned.ok()) {
      lock.unlock();  // the console takes the lock to close its pty
      console.reset();
    }
  }
  for (int f : fds)
    if (f >= 0) close(f);
  if (p.args.empty()) {
    SendMessage(fd, {{"error", "exec: no program"}});
    return;
  }
  if (!spawned.ok()) {
    SendMessage(fd, {{"error", fmt::format("exec {}: {}", p.args[0],
                                           strerror(spawned.error()))},
                     {"errno", spawned.error()}});
    return;
  }
  tg = spawned.value();
  SendMessage(fd, {{"ok", true}, {"pid", tg->tgid}});
  // Signals from `moat exec`'s host process, until the process exits.
  int status = RelayUntilExit(k, fd, tg, console.get(), nullptr);
  // The last output reaches the host terminal before the exit status.
  if (console) console->Finish(k);
  console.reset();
  SendMessage(fd, {{"exit", ExitCode(status)}});
}

}  // namespace moat::oci
