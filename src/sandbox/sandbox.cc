#include "sandbox/sandbox.h"

#include <dirent.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <thread>
#include <vector>

#include "fs/dev.h"
#include "fs/devpts.h"
#include "fs/gofer_fs.h"
#include "gofer/client.h"
#include "sandbox/confine.h"
#include "util/host_info.h"
#include "fs/host_fd.h"
#include "fs/overlay.h"
#include "fs/proc.h"
#include "fs/tmpfs.h"
#include "kernel/signal_delivery.h"
#include "loader/elf.h"
#include "mm/memory_file.h"
#include "mm/memory_object.h"
#include "oci/container.h"
#include "sandbox/console.h"
#include "util/log.h"
#include "vfs/fd_table.h"

extern char** environ;

namespace moat {
namespace {

// Host signals that moat passes on to the sandbox's foreground process
// group, as a terminal would deliver them to a program run natively.
constexpr int kForwardedSignals[] = {SIGINT,  SIGTERM, SIGHUP,  SIGQUIT,
                                     SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT};

std::shared_ptr<Dentry> NewRootDentry(InodePtr inode) {
  return std::make_shared<Dentry>("", nullptr, std::move(inode));
}

// Mounts a filesystem at `path`, making the directory in the overlay when
// the root does not have it.
void MountAt(Task& init, const std::string& path, InodePtr root,
             const std::string& fstype,
             std::shared_ptr<SuperBlock> sb = nullptr) {
  Kernel& k = init.kernel();
  ResolveOptions opts;
  auto parent = ResolveParent(init, init.fs->root, path, opts);
  MOAT_CHECK(parent.ok(), "cannot resolve mountpoint {}", path);
  auto& [dir, name] = parent.value();
  if (!LookupChild(init, dir, name).ok()) {
    Credentials root_creds;
    (void)dir.inode().Mkdir(name, 0755, root_creds);
  }
  auto at = LookupChild(init, dir, name);
  MOAT_CHECK(at.ok(), "cannot create mountpoint {}", path);
  k.mounts->AddMount(at.value(), NewRootDentry(std::move(root)), fstype,
                     fstype, std::move(sb));
}

std::vector<std::string> BuildEnvironment(const SandboxOptions& opts) {
  std::vector<std::string> env;
  for (char** e = environ; *e; e++) env.push_back(*e);
  for (const std::string& kv : opts.env) {
    std::string key = kv.substr(0, kv.find('='));
    std::erase_if(env, [&](const std::string& e) {
      return e.compare(0, key.size() + 1, key + "=") == 0;
    });
    env.push_back(kv);
  }
  return env;
}

}  // namespace

std::string FindProgram(Task& init, const std::string& cmd,
                        const std::vector<std::string>& env) {
  if (cmd.find('/') != std::string::npos) return cmd;
  std::string path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:"
                     "/sbin:/bin";
  for (const std::string& e : env)
    if (e.rfind("PATH=", 0) == 0) path = e.substr(5);
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find(':', start);
    if (end == std::string::npos) end = path.size();
    std::string dir = path.substr(start, end - start);
    if (dir.empty()) dir = ".";
    std::string candidate = dir + "/" + cmd;
    auto p = ResolvePath(init, init.fs->cwd, candidate, {});
    if (p.ok() && S_ISREG(p->inode().Mode())) return candidate;
    start = end + 1;
  }
  return cmd;
}

namespace {

// Gives init moat's standard descriptors: the console's terminal for those
// that are the host terminal when there is a console, else the host
// descriptors themselves.
void SetupStdio(Task& init, Console* console) {
  for (int fd = 0; fd < 3; fd++) {
    if (console && isatty(fd)) {
      if (FilePtr slave = console->OpenSlave())
        (void)init.fds->Set(fd, slave, false, 1024);
      continue;
    }
    int copy = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (copy < 0) continue;
    int mode = fcntl(fd, F_GETFL);
    auto f = HostFdFile::Create(copy, mode & (O_ACCMODE | O_APPEND));
    if (!f.ok()) continue;
    auto* host = static_cast<HostFdFile*>(f.value().get());
    host->foreground_pgrp = 1;
    host->session = 1;
    (void)init.fds->Set(fd, f.value(), false, 1024);
    if (!console && host->is_tty() &&
        !init.tg().pgrp->session->controlling_tty)
      init.tg().pgrp->session->controlling_tty = f.value();
  }
  if (console) console->Attach(init);
}

void SetupRlimits(ThreadGroup& tg) {
  for (int r = 0; r < RLIM_NLIMITS; r++) getrlimit(r, &tg.rlimits[r]);
  auto& nofile = tg.rlimits[RLIMIT_NOFILE];
  nofile.rlim_max = std::min<rlim_t>(nofile.rlim_max, 1048576);
  nofile.rlim_cur = std::min<rlim_t>(nofile.rlim_cur, nofile.rlim_max);
}

Result<std::shared_ptr<Task>> CreateInit(Kernel& k,
                                         const SandboxOptions& opts) {
  auto tg = std::make_shared<ThreadGroup>();
  auto init = std::make_shared<Task>(k, tg);
  init->tid = k.AllocatePid();
  tg->tgid = init->tid;
  tg->leader = init;
  tg->tasks.push_back(init);
  SetupRlimits(*tg);
  auto session = std::make_shared<Session>();
  session->sid = tg->tgid;
  session->leader = tg;
  auto pg = std::make_shared<ProcessGroup>();
  pg->pgid = tg->tgid;
  pg->session = session;
  tg->pgrp = pg;
  k.RegisterProcessGroup(pg);
  k.RegisterGroup(tg);
  k.RegisterTask(init);
  k.SetInit(tg);

  Credentials& c = init->creds;
  c.ruid = c.euid = c.suid = c.fsuid = opts.uid;
  c.rgid = c.egid = c.sgid = c.fsgid = opts.gid;
  c.groups = opts.groups;
  if (c.euid != 0) c.cap_effective = c.cap_permitted = 0;
  init->handlers = std::make_shared<SignalHandlers>();
  init->fds = std::make_shared<FdTable>();
  init->fs = std::make_shared<FsContext>();
  return init;
}

void SetupMounts(Kernel& k, Task& init, InodePtr lower) {
  auto root_mount = std::make_shared<Mount>();
  root_mount->root = NewRootDentry(NewOverlay(lower));
  root_mount->fstype = "overlay";
  root_mount->source = "overlay";
  k.mounts = std::make_shared<MountNamespace>(root_mount);
  init.mount_ns = k.mounts;
  init.fs->root = Path{root_mount, root_mount->root};
  init.fs->cwd = init.fs->root;

  MountAt(init, "/proc", NewProcFs(k), "proc");
  MountAt(init, "/sys", NewSysFs(k), "sysfs");
  auto dev = NewDevFs();
  MountAt(init, "/dev", dev, "devtmpfs", dev->fs());
  MountAt(init, "/dev/pts", NewDevpts(), "devpts");
  for (const char* path : {"/dev/shm", "/tmp"}) {
    auto tmpfs = NewTmpfs(01777);
    MountAt(init, path, tmpfs, "tmpfs", tmpfs->fs());
  }
}

void SetupCwd(Task& init, const SandboxOptions& opts) {
  std::string cwd = opts.cwd.empty() ? opts.default_cwd : opts.cwd;
  if (cwd.empty()) return;
  auto p = ResolvePath(init, init.fs->root, cwd, {});
  if (p.ok() && p->inode().IsDir()) {
    init.fs->cwd = p.value();
  } else if (!opts.cwd.empty()) {
    spdlog::error("--cwd {}: not a directory inside the sandbox", opts.cwd);
  }
}

// After a terminating signal, a sandbox that has not exited within
// kStopGrace is killed: everything in it gets SIGKILL, and if even that
// does not end it, moat exits and its stubs die with it (PTRACE_O_EXITKILL).
constexpr auto kStopGrace = std::chrono::seconds(5);

void ArmStopTimer(Kernel& k) {
  k.AddTimer(Clock::now() + kStopGrace, [&k] {
    spdlog::warn("sandbox did not stop within {} s; killing it",
                 kStopGrace.count());
    for (auto& g : k.Groups()) k.ExitGroup(*g, SIGKILL);
    k.AddTimer(Clock::now() + kStopGrace, [] {
      spdlog::error("sandbox did not exit after SIGKILL; exiting");
      _exit(128 + SIGKILL);
    });
  });
}

// The foreground process group of init's terminal, to which host signals
// go.
int ForegroundPgrp(Kernel& k, Console* console) {
  if (console) return console->foreground_pgrp();
  auto init = k.init();
  if (init->pgrp && init->pgrp->session) {
    auto* host = dynamic_cast<HostFdFile*>(
        init->pgrp->session->controlling_tty.get());
    if (host) return host->foreground_pgrp;
  }
  return 1;
}

// Forwards host signals to the sandbox until it exits.
void StartSignalForwarder(Kernel& k, sigset_t set, Console* console) {
  std::thread([&k, set, console] {
    for (;;) {
      int sig = 0;
      if (sigwait(&set, &sig) != 0) continue;
      std::lock_guard lock(k.mu);
      auto init = k.init();
      if (!init || init->zombie) continue;
      // The console's terminal signals a size change itself.
      if (console && sig == SIGWINCH) {
        console->UpdateWindowSize(k);
        continue;
      }
      int pgid = ForegroundPgrp(k, console);
      siginfo_t info = MakeSigInfo(sig, SI_KERNEL);
      bool any = false;
      for (auto& g : k.Groups())
        if (g->pgrp && g->pgrp->pgid == pgid && !g->zombie) any = true;
      if (any)
        k.SignalProcessGroup(pgid, info);
      else
        k.SignalGroup(*init, info);
      if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP) ArmStopTimer(k);
    }
  }).detach();
}

// Logs (with --debug) moat's own host descriptors, resident memory and
// application memory in use, so that a test can compare the state after a
// run with the state before it: what a sandbox leaves behind once all its
// processes are gone is a leak.
// /proc/self/statm, opened before the kernel gives up the host's /proc,
// for LogResources.
int g_statm_fd = -1;

// Counts the open descriptors without /proc: poll(2) marks each closed one
// POLLNVAL, a few thousand at a time.
int CountOpenFds() {
  struct rlimit nofile;
  if (getrlimit(RLIMIT_NOFILE, &nofile) != 0) return -1;
  constexpr int kBatch = 4096;
  std::vector<pollfd> batch(kBatch);
  int open = 0;
  for (rlim_t first = 0; first < nofile.rlim_cur; first += kBatch) {
    int n = static_cast<int>(std::min<rlim_t>(kBatch, nofile.rlim_cur - first));
    for (int i = 0; i < n; i++) batch[i] = {static_cast<int>(first + i), 0, 0};
    if (poll(batch.data(), n, 0) < 0) return -1;
    for (int i = 0; i < n; i++) open += (batch[i].revents & POLLNVAL) == 0;
  }
  return open;
}

void LogResources(const char* when) {
  if (!spdlog::should_log(spdlog::level::debug)) return;
  // Caches of host files hold descriptors and pages that the next program
  // would reuse; they are not what a sandbox leaves behind.
  DropUnusedDentries();
  HostFileObject::DropRetained();
  ForgetRecentGoferInodes();
  malloc_trim(0);
  int fds = CountOpenFds();
  if (g_statm_fd >= 0) fds--;  // that one is moat's own bookkeeping
  long rss_pages = 0;
  char statm[128] = {};
  if (g_statm_fd >= 0 && pread(g_statm_fd, statm, sizeof statm - 1, 0) > 0 &&
      sscanf(statm, "%*ld %ld", &rss_pages) != 1)
    rss_pages = 0;
  spdlog::debug("resources {}: fds {} rss_kb {} memory_file_kb {} tmpfs_kb {}",
                when, fds, rss_pages * (sysconf(_SC_PAGESIZE) / 1024),
                MemoryFile::Get().UsedBytes() / 1024,
                PageQuota::all_used * kPageSize / 1024);
}

// --memory and --cpus inside the kernel; --pids is in its config. The
// host cgroup that the front end made backs them up.
void ApplyLimits(Kernel& k, const SandboxLimits& limits) {
  if (limits.memory) {
    MemoryFile::Get().SetLimit(limits.memory);
    MemoryFile::Get().SetLimitHandler([&k] { k.OutOfMemory(); });
  }
  // With --cpus N, ceil(N) CPUs are visible, as with gVisor's runsc
  // --cpu-num-from-quota, which shows at least 2 (runc shows all the
  // host's). A program that starts one worker per CPU, such as make
  // -j$(nproc) or a Go or Java runtime, then fits its quota.
  if (limits.cpus > 0)
    SetSandboxCpuCount(VisibleCpus(limits.cpus, HostCpuCount()));
}

}  // namespace

int RunSandbox(const SandboxOptions& opts) {
  // Host signals go to one thread; every thread made from here on
  // inherits the blocked mask.
  sigset_t forwarded;
  sigemptyset(&forwarded);
  for (int sig : kForwardedSignals) sigaddset(&forwarded, sig);
  sigaddset(&forwarded, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &forwarded, nullptr);
  sigdelset(&forwarded, SIGPIPE);

  // What the host is read once while it can be: after EnterEmptyRoot no
  // host path exists.
  tzset();
  (void)HostCpuCount();
  // Before any kernel thread binds itself to one CPU.
  (void)MoatCpuSet();
  // malloc sizes its arenas by the CPU count, read from /sys, when it
  // first needs a second arena: give it the count now.
  mallopt(M_ARENA_MAX, 2 * HostCpuCount());
  if (spdlog::should_log(spdlog::level::debug))
    g_statm_fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  std::unique_ptr<oci::Container> container;
  if (opts.oci_spec_fd >= 0 &&
      !(container = oci::Container::Load(opts.oci_spec_fd, opts.control_fd)))
    return 125;
  if (!BecomeNamespaceRoot().ok() || !EnterEmptyRoot().ok() ||
      !DropPrivileges().ok())
    return 125;
  // The first stub is forked before the filter exists, since a stub would
  // inherit it; later stubs are cloned from that one.
  std::string name = opts.platform == "auto" ? "trap" : opts.platform;
  auto platform = NewPlatform(name, opts.syscall_patching);
  if (!platform.ok() && opts.platform == "auto") {
    spdlog::warn("the trap platform cannot run here; using ptrace, which "
                 "is slower");
    platform = NewPlatform("ptrace");
  }
  if (!platform.ok()) {
    spdlog::error("--platform {}: unknown or unusable here; use ptrace or "
                  "trap", opts.platform);
    return 125;
  }
  // MOAT_SECCOMP_AUDIT=1 is for checking the allow-list against a workload.
  const char* audit = getenv("MOAT_SECCOMP_AUDIT");
  bool auditing = audit != nullptr && strcmp(audit, "1") == 0;
  if (!InstallKernelFilter(auditing).ok()) return 125;

  KernelConfig config;
  config.hostname = opts.hostname;
  if (container && !container->spec().domainname.empty())
    config.domainname = container->spec().domainname;
  config.strace = opts.strace;
  config.max_tasks = opts.limits.pids;
  static Kernel* kernel = new Kernel(std::move(platform.value()), config);
  Kernel& k = *kernel;
  ApplyLimits(k, opts.limits);

  // The host root comes from the gofer, read-only: the overlay above it
  // takes every change.
  auto client = std::make_shared<gofer::Client>(opts.gofer_fd);
  bool root_ro = !container || container->spec().root_readonly;
  auto lower = GoferInode::Attach(client, 0, root_ro);
  if (!lower.ok()) {
    spdlog::error("--rootfs {}: the gofer cannot serve it: {}", opts.rootfs,
                  strerror(lower.error()));
    return 125;
  }

  std::shared_ptr<Task> init;
  std::unique_ptr<Console> console;
  {
    std::lock_guard lock(k.mu);
    console = Console::Open(opts.uid);
    auto created = CreateInit(k, opts);
    if (!created.ok()) return 125;
    init = created.value();
    if (!container) {
      SetupMounts(k, *init, lower.value());
    } else if (!container->SetupInit(*init).ok() ||
               !container->SetupMounts(k, *init, lower.value(), client).ok()) {
      return 125;
    }
    SetupCwd(*init, opts);
    SetupStdio(*init, console.get());
    auto env = container ? container->spec().process.env
                         : BuildEnvironment(opts);
    std::string program = FindProgram(*init, opts.argv[0], env);
    auto image = LoadExecutable(*init, init->fs->cwd, program, opts.argv, env);
    if (!image.ok()) {
      spdlog::error("cannot run {}: {}", opts.argv[0],
                    strerror(image.error()));
      return image.error() == ENOENT ? 127 : 126;
    }
    init->mm_ = image->mm;
    init->regs = image->regs;
    std::string base = program.substr(program.rfind('/') + 1);
    init->comm = base.substr(0, 15);
  }
  StartSignalForwarder(k, forwarded, console.get());
  if (console) console->Start(k);
  LogResources("at start");
  if (container) {
    int status = container->WaitForStart(k);
    if (status >= 0) return status;
  }
  init->Start();
  int status = k.WaitForInit();
  // The gofer exits while the kernel's own exit tears down its memory
  // and namespaces, instead of after it.
  client->Disconnect();
  // Everything the program wrote reaches the host before moat exits.
  if (console) console->Finish(k);
  LogResources("at exit");
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WEXITSTATUS(status);
}

}  // namespace moat
