// Pods: containers that join a running sandbox. containerd's CRI creates a
// pod's sandbox container first (the pause container), then each of the
// pod's other containers with annotations that name the sandbox. Such a
// container runs in the sandbox's kernel and shares the pod's network, IPC
// and process table. It gets a mount namespace of its own, whose root a
// gofer of its own serves: its monitor starts that gofer and hands the
// connection over with the `create` request.
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include "fs/gofer_fs.h"
#include "kernel/signal_delivery.h"
#include "oci/container.h"
#include "oci/state.h"
#include "util/log.h"

namespace moat::oci {

using nlohmann::json;

namespace {

// Waits for `start`, a kill or the monitor's end. Returns -1 to start, or
// the exit status the monitor reports.
int WaitForMemberStart(int fd, PodMember& m, std::mutex& mu) {
  for (;;) {
    struct pollfd p[2] = {{m.wake[0], POLLIN, 0}, {fd, POLLIN, 0}};
    if (poll(p, 2, -1) < 0 && errno != EINTR) return 128 + SIGKILL;
    char c;
    while (read(m.wake[0], &c, 1) == 1) {
      if (c == 's') return -1;
    }
    std::lock_guard lock(mu);
    if (m.early_exit >= 0) return m.early_exit;
    if (!p[1].revents) continue;
    json msg;
    if (!ReceiveMessage(fd, &msg)) return 128 + SIGKILL;  // monitor gone
    // A signal to the monitor before start ends the container, as it
    // would end a runc container's init that has not run yet.
    int sig = msg.value("signal", 0);
    if (Terminates(sig)) return 128 + sig;
  }
}

}  // namespace

std::shared_ptr<PodMember> Container::Addressed(const json& req,
                                                std::string* error) {
  auto it = req.find("container");
  if (it == req.end()) return nullptr;
  std::string id = it->is_string() ? it->get<std::string>() : "";
  std::lock_guard lock(mu_);
  auto m = members_.find(id);
  if (m != members_.end()) return m->second;
  *error = fmt::format("container {} is not in this pod", id);
  return nullptr;
}

std::vector<std::shared_ptr<ThreadGroup>> Container::GroupsIn(
    Kernel& k, const MountNamespace* mounts) {
  std::vector<std::shared_ptr<ThreadGroup>> out;
  for (auto& g : k.Groups()) {
    if (g->zombie || g->tasks.empty()) continue;
    if (g->tasks.front()->mount_ns.get() == mounts) out.push_back(g);
  }
  return out;
}

std::shared_ptr<Task> Container::FirstProcess(Kernel& k, PodMember* m) {
  std::shared_ptr<ThreadGroup> tg;
  if (!m) {
    tg = k.init();
  } else {
    std::lock_guard lock(mu_);
    if (m->started) tg = m->init->tg_ptr();
  }
  if (!tg || tg->zombie) return nullptr;
  return tg->Leader();
}

json Container::StartMember(PodMember& m) {
  std::lock_guard lock(mu_);
  if (m.started || m.early_exit >= 0)
    return {{"error", "the container was already started"}};
  m.started = true;
  (void)!write(m.wake[1], "s", 1);
  return {{"ok", true}};
}

json Container::KillMember(Kernel& k, PodMember& m, int sig, bool all) {
  if (sig <= 0 || sig >= NSIG) return {{"error", "invalid signal"}};
  {
    std::lock_guard lock(mu_);
    if (!m.started) {
      if (Terminates(sig) && m.early_exit < 0) m.early_exit = 128 + sig;
      (void)!write(m.wake[1], "k", 1);
      return {{"ok", true}};
    }
  }
  std::lock_guard lock(k.mu);
  auto tg = m.init->tg_ptr();
  if (tg->zombie) return {{"error", "the container has exited"}};
  siginfo_t info = MakeSigInfo(sig, SI_USER);
  if (all) {
    for (auto& g : GroupsIn(k, m.mounts.get())) k.SignalGroup(*g, info);
  } else {
    k.SignalGroup(*tg, info);
  }
  return {{"ok", true}};
}

void Container::CreateMember(Kernel& k, int fd, const json& req,
                             std::vector<int> fds) {
  auto m = std::make_shared<PodMember>();
  m->id = req.value("container", "");
  m->spec = SpecFromJson(req.value("spec", json::object()));
  auto fail = [&](const std::string& why, int error) {
    for (int f : fds)
      if (f >= 0) close(f);
    SendMessage(fd, {{"error", why}, {"errno", error}});
  };
  // fds: the gofer connection, then stdin, stdout and stderr.
  if (fds.empty() || m->spec.process.args.empty())
    return fail("create: no gofer connection or no program", EINVAL);
  auto client = std::make_shared<gofer::Client>(fds.front());
  fds.erase(fds.begin());
  {
    std::lock_guard lock(mu_);
    if (m->id.empty() || members_.count(m->id))
      return fail(fmt::format("container \"{}\" is already in this pod", m->id),
                  EEXIST);
  }
  if (pipe2(m->wake, O_CLOEXEC | O_NONBLOCK) != 0)
    return fail(strerror(errno), errno);
  {
    std::lock_guard lock(k.mu);
    auto root = GoferInode::Attach(client, 0, m->spec.root_readonly);
    Result<std::shared_ptr<Task>> task = Err(root.ok() ? 0 : root.error());
    if (root.ok()) {
      task = NewProcess(k, m->spec.process, m->spec.seccomp, fds, nullptr,
                        [&](Task& t) {
        return BuildMounts(k, t, m->spec, root.value(), client, binds_);
      });
    }
    if (!task.ok()) {
      return fail(fmt::format("create {}: {}", m->spec.process.args[0],
                              strerror(task.error())),
                  task.error());
    }
    m->init = task.value();
    m->mounts = m->init->mount_ns;
  }
  for (int f : fds)
    if (f >= 0) close(f);
  {
    std::lock_guard lock(mu_);
    members_[m->id] = m;
  }
  spdlog::debug("container {} joined the pod as pid {}", m->id, m->init->tid);
  SendMessage(fd, {{"ok", true}, {"pid", m->init->tid}});
  int code = WaitForMemberStart(fd, *m, mu_);
  if (code < 0) {
    {
      std::lock_guard lock(k.mu);
      StartProcess(k, m->init);
    }
    // A monitor that goes away takes the container with it, as the end
    // of runc's init would.
    int status = RelayUntilExit(k, fd, m->init->tg_ptr(), nullptr, [&] {
      std::lock_guard lock(k.mu);
      for (auto& g : GroupsIn(k, m->mounts.get()))
        k.SignalGroup(*g, MakeSigInfo(SIGKILL, SI_USER));
    });
    code = ExitCode(status);
  }
  {
    std::lock_guard lock(mu_);
    members_.erase(m->id);
  }
  SendMessage(fd, {{"exit", code}});
}

}  // namespace moat::oci
