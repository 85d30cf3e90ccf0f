// Creating and replacing processes and threads: clone(2), fork(2),
// vfork(2), clone3(2) and execve(2).
#include <linux/sched.h>
#include <sched.h>

#include "kernel/signal_delivery.h"
#include "loader/elf.h"
#include "syscalls/handlers.h"
#include "syscalls/util.h"

namespace moat {
namespace {

constexpr uint64_t kNamespaceFlags =
    CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC |
    CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWTIME;
constexpr size_t kMaxArgBytes = 2 << 20;  // ARG_MAX as the kernel checks it
constexpr size_t kMaxArgStrlen = 32 * 4096;  // Linux MAX_ARG_STRLEN

// With CLONE_PIDFD, `pidfd` is where the new process's pidfd goes.
Result<int> DoClone(Task& t, uint64_t flags, uint64_t stack, uint64_t ptid,
                    uint64_t ctid, uint64_t tls, int exit_signal,
                    uint64_t pidfd = 0) {
  if ((flags & CLONE_THREAD) && !(flags & CLONE_SIGHAND)) return Err(EINVAL);
  if ((flags & CLONE_SIGHAND) && !(flags & CLONE_VM)) return Err(EINVAL);
  if ((flags & CLONE_FS) && (flags & CLONE_NEWNS)) return Err(EINVAL);
  // TODO: nested namespaces are not supported yet.
  if (flags & kNamespaceFlags) return Err(EINVAL);
  // Linux 6.1 gives no pidfd for a thread (kernel/fork.c:copy_process).
  if ((flags & CLONE_PIDFD) && (flags & (CLONE_THREAD | CLONE_DETACHED)))
    return Err(EINVAL);
  // Written first, so that a bad address fails the call before it starts
  // a process.
  if ((flags & CLONE_PIDFD) && !t.mm().Write<int32_t>(pidfd, -1).ok())
    return Err(EFAULT);
  if ((flags & CLONE_PARENT) && &t.tg() == t.kernel().init().get())
    return Err(EINVAL);
  Kernel& k = t.kernel();
  ThreadGroup& parent_tg = t.tg();
  uint64_t procs = 0;
  for (auto& g : k.Groups()) procs += g->tasks.size();
  if (procs >= parent_tg.rlimits[RLIMIT_NPROC].rlim_cur &&
      t.creds.ruid != 0)
    return Err(EAGAIN);
  // --pids fails the call as the pids cgroup does (Linux
  // kernel/cgroup/pids.c:pids_can_fork), for root too.
  uint64_t max_tasks = k.config().max_tasks;
  if (max_tasks && k.TaskCount() >= max_tasks) return Err(EAGAIN);

  std::shared_ptr<ThreadGroup> tg =
      (flags & CLONE_THREAD) ? t.tg_ptr() : std::make_shared<ThreadGroup>();
  auto child = std::make_shared<Task>(k, tg);
  child->tid = k.AllocatePid();
  // First, so that a host out of threads fails the call before anything
  // is registered.
  TRY_STATUS(child->CreateThread());
  child->comm = t.comm;
  child->creds = t.creds;
  child->regs = t.regs;
  child->regs.rax = 0;
  if (stack) child->regs.rsp = stack;
  if (flags & CLONE_SETTLS) child->regs.fs_base = tls;
  child->blocked = t.blocked;
  child->sched_affinity = t.sched_affinity;
  child->sched_policy = t.sched_policy;
  child->no_new_privs = t.no_new_privs;
  child->seccomp_mode = t.seccomp_mode;
  child->seccomp_filter = t.seccomp_filter;
  child->timer_slack_ns = t.timer_slack_ns;
  child->nice = t.nice;
  if ((flags & (CLONE_VM | CLONE_VFORK)) != CLONE_VM)
    child->altstack = t.altstack;

  if (flags & CLONE_VM) {
    child->mm_ = t.mm_;
    // A vfork caller waits until the child execs or exits, and the child
    // runs on the caller's host thread meanwhile.
    if ((flags & CLONE_VFORK) && !(flags & CLONE_THREAD)) t.context().Park();
    TRY_STATUS(t.mm().address_space().PrepareThread());
  } else {
    // The caller's stack is written by both processes as soon as the fork
    // returns: its page and the one below it are copied at once.
    uint64_t sp = PageDown(t.regs.rsp);
    child->mm_ = TRY(t.mm().Fork(nullptr, {sp, sp - kPageSize}, [&] {
      return k.platform().NewAddressSpace();
    }));
  }
  // The child starts with a copy of the caller's FPU state, threads too
  // (Linux arch/x86/kernel/fpu/core.c:fpu_clone).
  auto fp = t.context().GetFpState();
  if (fp.ok()) child->initial_fp_state = std::move(fp.value());
  child->fds = (flags & CLONE_FILES) ? t.fds : t.fds->Clone();
  child->fs = (flags & CLONE_FS) ? t.fs : std::make_shared<FsContext>(*t.fs);
  child->mount_ns = t.mount_ns;
  child->handlers = (flags & CLONE_SIGHAND)
                        ? t.handlers
                        : std::make_shared<SignalHandlers>(*t.handlers);

  if (flags & CLONE_PIDFD) {
    // In the caller's table only: a child without CLONE_FILES already has
    // its copy.
    int fd = TRY(InstallPidfd(t, tg, 0));
    (void)t.mm().Write<int32_t>(pidfd, fd);
  }

  if (!(flags & CLONE_THREAD)) {
    tg->tgid = child->tid;
    tg->leader = child;
    auto parent = (flags & CLONE_PARENT) ? parent_tg.parent.lock()
                                         : parent_tg.shared_from_this();
    tg->parent = parent;
    tg->exit_signal = exit_signal;
    tg->pgrp = parent_tg.pgrp;
    tg->rlimits = parent_tg.rlimits;
    tg->frozen = parent_tg.frozen;  // a fork racing `moat pause`
    tg->oom_score_adj = parent_tg.oom_score_adj;
    if (tg->rlimits[RLIMIT_CPU].rlim_cur != RLIM_INFINITY)
      k.EnsureCpuTick();
    if (parent) parent->children.push_back(tg);
    k.RegisterGroup(tg);
  }
  tg->tasks.push_back(child);
  k.RegisterTask(child);

  if (flags & CLONE_PARENT_SETTID)
    (void)t.mm().Write<int32_t>(ptid, child->tid);
  if (flags & CLONE_CHILD_SETTID)
    (void)child->mm().Write<int32_t>(ctid, child->tid);
  if (flags & CLONE_CHILD_CLEARTID) child->clear_child_tid = ctid;

  int tid = child->tid;
  if (flags & CLONE_VFORK) {
    child->vfork_parent = t.shared_from_this();
    t.vfork_done = false;
  }
  child->Start();
  if (flags & CLONE_VFORK) {
    while (!t.vfork_done && !t.exiting && !t.tg().group_exiting)
      t.BlockUninterruptible();
  }
  return tid;
}

Result<std::vector<std::string>> CopyInStrings(Task& t, uint64_t addr,
                                               size_t* total) {
  std::vector<std::string> out;
  if (addr == 0) return out;
  for (;;) {
    uint64_t p = TRY(t.mm().Read<uint64_t>(addr + out.size() * 8));
    if (p == 0) break;
    auto s_or = t.mm().CopyInString(p, kMaxArgStrlen);
    if (!s_or.ok())
      return Err(s_or.error() == ENAMETOOLONG ? E2BIG : s_or.error());
    std::string s = std::move(s_or.value());
    *total += s.size() + 1 + 8;
    if (*total > kMaxArgBytes) return Err(E2BIG);
    out.push_back(std::move(s));
  }
  return out;
}

// Ends every other thread of the group before an exec (Linux
// fs/exec.c:de_thread).
void KillOtherThreads(Task& t) {
  ThreadGroup& tg = t.tg();
  for (auto& other : tg.tasks) {
    if (other.get() == &t) continue;
    other->exiting = true;
    other->Interrupt();
  }
  while (tg.tasks.size() > 1 && !t.exiting && !tg.group_exiting)
    t.BlockUninterruptible(Clock::now() + std::chrono::milliseconds(5));
}

// After de_thread, a non-leader thread that execs becomes the leader and
// takes the thread group id as its own (Linux fs/exec.c:de_thread).
void TakeOverLeader(Task& t) {
  ThreadGroup& tg = t.tg();
  if (t.tid == tg.tgid) return;
  Kernel& k = t.kernel();
  k.UnregisterTask(t);
  t.tid = tg.tgid;
  tg.leader = t.shared_from_this();
  k.RegisterTask(t.shared_from_this());
}

int64_t ExecCommon(Task& t, int dirfd, uint64_t path_addr, uint64_t argv,
                   uint64_t envp, int flags) {
  if (flags & ~(AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW)) return -EINVAL;
  auto path = CopyInPath(t, path_addr, flags & AT_EMPTY_PATH);
  if (!path.ok()) return -path.error();
  size_t total = 0;
  auto args = CopyInStrings(t, argv, &total);
  if (!args.ok()) return -args.error();
  auto env = CopyInStrings(t, envp, &total);
  if (!env.ok()) return -env.error();

  Result<ExecImage> image = Err(ENOENT);
  ExecOptions options;
  options.follow_final = !(flags & AT_SYMLINK_NOFOLLOW);
  // A name relative to a descriptor reaches a script's interpreter as
  // /dev/fd/N[/path], which a close-on-exec N makes unusable (Linux
  // fs/exec.c:bprm_execve).
  if (dirfd != AT_FDCWD && (path->empty() || (*path)[0] != '/')) {
    auto* entry = t.fds->GetEntry(dirfd);
    options.path_inaccessible = entry && entry->cloexec;
  }
  if (path->empty()) {
    FilePtr f = GetFile(t, dirfd);
    if (!f) return -EBADF;
    if (!f->dentry) return -EACCES;
    options.execfn = "/dev/fd/" + std::to_string(dirfd);
    image = LoadExecutable(t, t.fs->cwd,
                           PathName(Path{f->mount, f->dentry}, t.fs->root),
                           args.value(), env.value(), options);
  } else {
    auto start = StartPath(t, dirfd, path.value());
    if (!start.ok()) return -start.error();
    options.execfn = path.value();
    if (dirfd != AT_FDCWD && options.execfn[0] != '/')
      options.execfn = "/dev/fd/" + std::to_string(dirfd) + "/" + *path;
    image = LoadExecutable(t, start.value(), path.value(), args.value(),
                           env.value(), options);
  }
  if (!image.ok()) return -image.error();

  // The point of no return.
  KillOtherThreads(t);
  TakeOverLeader(t);
  t.tg().did_exec = true;
  if (t.clear_child_tid) {
    if (t.mm().Write<uint32_t>(t.clear_child_tid, 0).ok())
      FutexWakeAddress(t, t.clear_child_tid, 1);
    t.clear_child_tid = 0;
  }
  ExitRobustList(t);
  t.context().Release();
  if (image->reuses_space)
    image->mm->address_space().TakeOver(t.mm().address_space());
  t.mm_ = image->mm;
  if (t.vfork_parent) {
    t.vfork_parent->vfork_done = true;
    t.vfork_parent->Wake();
    t.vfork_parent.reset();
  }
  t.fds = t.fds->Clone();
  t.fds->CloseOnExec();
  auto handlers = std::make_shared<SignalHandlers>(*t.handlers);
  for (auto& act : handlers->actions) {
    if (act.handler != uint64_t(SIG_IGN)) act = KernelSigaction{};
    act.flags = 0;
  }
  t.handlers = handlers;
  t.altstack = {nullptr, SS_DISABLE, 0};
  std::string base = path->empty() ? image->path : path.value();
  base = base.substr(base.rfind('/') + 1);
  t.comm = base.substr(0, 15);
  t.regs = image->regs;
  return kNoReturnValue;
}

}  // namespace

// Implements clone(2). The x86-64 argument order is flags, stack,
// parent_tid, child_tid, tls.
int64_t Clone(Task& t, const SyscallArgs& args) {
  uint64_t flags = args[0];
  // clone(2) returns the pidfd through parent_tid, so it cannot also
  // store the tid there.
  if ((flags & CLONE_PIDFD) && (flags & CLONE_PARENT_SETTID)) return -EINVAL;
  return ToReturn(DoClone(t, flags & ~uint64_t(CSIGNAL), args[1], args[2],
                          args[3], args[4], int(flags & CSIGNAL), args[2]));
}

// Implements clone3(2).
int64_t Clone3(Task& t, const SyscallArgs& args) {
  struct clone_args ca = {};
  size_t size = args[1];
  if (size < CLONE_ARGS_SIZE_VER0 || size > 4096) return -EINVAL;
  if (!t.mm().CopyIn(args[0], &ca, std::min(size, sizeof(ca))).ok())
    return -EFAULT;
  for (size_t i = sizeof(ca); i < size; i++) {
    auto b = t.mm().Read<uint8_t>(args[0] + i);
    if (!b.ok()) return -EFAULT;
    if (b.value()) return -E2BIG;
  }
  if (ca.exit_signal > 64 || (ca.flags & CSIGNAL)) return -EINVAL;
  if (ca.set_tid || ca.set_tid_size) return -EINVAL;
  if (ca.flags & CLONE_INTO_CGROUP) return -EINVAL;
  if ((ca.stack == 0) != (ca.stack_size == 0)) return -EINVAL;
  uint64_t sp = ca.stack ? ca.stack + ca.stack_size : 0;
  return ToReturn(DoClone(t, ca.flags, sp, ca.parent_tid, ca.child_tid, ca.tls,
                          int(ca.exit_signal), ca.pidfd));
}

// Implements fork(2).
int64_t Fork(Task& t, const SyscallArgs&) {
  return ToReturn(DoClone(t, 0, 0, 0, 0, 0, SIGCHLD));
}

// Implements vfork(2).
int64_t Vfork(Task& t, const SyscallArgs&) {
  return ToReturn(DoClone(t, CLONE_VM | CLONE_VFORK, 0, 0, 0, 0, SIGCHLD));
}

// Implements execve(2).
int64_t Execve(Task& t, const SyscallArgs& args) {
  return ExecCommon(t, AT_FDCWD, args[0], args[1], args[2], 0);
}

// Implements execveat(2).
int64_t Execveat(Task& t, const SyscallArgs& args) {
  return ExecCommon(t, args.Int(0), args[1], args[2], args[3], args.Int(4));
}

// Implements exit(2): ends the calling thread only.
int64_t Exit(Task& t, const SyscallArgs& args) {
  t.Exit((args[0] & 0xff) << 8);
  return kNoReturnValue;
}

// Implements exit_group(2).
int64_t ExitGroup(Task& t, const SyscallArgs& args) {
  t.kernel().ExitGroup(t.tg(), (args[0] & 0xff) << 8);
  return kNoReturnValue;
}

}  // namespace moat
