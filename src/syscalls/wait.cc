// wait4(2) and waitid(2).
#include <sys/resource.h>
#include <sys/wait.h>

#include "kernel/signal_delivery.h"
#include "syscalls/handlers.h"
#include "syscalls/util.h"

namespace moat {
namespace {

struct WaitRequest {
  int idtype;  // P_PID, P_PGID, P_ALL
  int id;
  int options;
  bool consume = true;  // false for WNOWAIT
};

struct WaitResult {
  int pid = 0;
  int code = 0;    // CLD_*
  int status = 0;  // wait(2) status word
  uint32_t uid = 0;
  Rusage rusage;
};

bool Matches(Task& t, ThreadGroup& child, const WaitRequest& req) {
  switch (req.idtype) {
    case P_PID:
      if (child.tgid != req.id) return false;
      break;
    case P_PGID:
      if (!child.pgrp || child.pgrp->pgid != req.id) return false;
      break;
    default:
      break;
  }
  if (req.options & __WALL) return true;
  bool clone_child = child.exit_signal != SIGCHLD;
  return (req.options & __WCLONE) ? clone_child : !clone_child;
}

// Looks for a child whose state change the request wants.
std::optional<WaitResult> Poll(Task& t, const WaitRequest& req,
                               bool* any_child) {
  ThreadGroup& tg = t.tg();
  for (size_t i = 0; i < tg.children.size(); i++) {
    auto child = tg.children[i];
    if (!Matches(t, *child, req)) continue;
    *any_child = true;
    WaitResult r;
    r.pid = child->tgid;
    r.uid = child->Uid();
    auto leader = child->Leader();
    if (child->zombie && (req.options & WEXITED)) {
      int st = child->group_exit_status;
      r.status = st;
      r.code = (st & 0x7f) == 0 ? CLD_EXITED
               : (st & 0x80)   ? CLD_DUMPED
                               : CLD_KILLED;
      r.rusage = child->TotalRusage();
      r.rusage.Add(child->rusage_children);
      if (req.consume) {
        tg.rusage_children.Add(r.rusage);
        child->reaped = true;
        tg.children.erase(tg.children.begin() + i);
        t.kernel().UnregisterGroup(*child);
      }
      return r;
    }
    if (child->stopped && !child->stop_reported &&
        (req.options & WSTOPPED)) {
      if (req.consume) child->stop_reported = true;
      r.code = CLD_STOPPED;
      r.status = (child->stop_signal << 8) | 0x7f;
      return r;
    }
    if (!child->continue_reported && (req.options & WCONTINUED)) {
      if (req.consume) child->continue_reported = true;
      r.code = CLD_CONTINUED;
      r.status = 0xffff;
      return r;
    }
  }
  return std::nullopt;
}

Result<std::optional<WaitResult>> DoWait(Task& t, const WaitRequest& req) {
  for (;;) {
    bool any_child = false;
    if (auto r = Poll(t, req, &any_child)) return r;
    if (!any_child) return Err(ECHILD);
    if (req.options & WNOHANG) return std::optional<WaitResult>();
    Waiter w([&t](uint32_t) { t.Wake(); });
    WaitQueueEntry entry(&t.tg().child_events, &w);
    if (auto r = Poll(t, req, &any_child)) return r;
    if (t.Block() == BlockResult::kInterrupted) return Err(512);
  }
}

struct rusage ToRusage(const Rusage& r) {
  struct rusage ru = {};
  auto tv = [](std::chrono::nanoseconds ns) {
    struct timeval v;
    v.tv_sec = ns.count() / 1000000000;
    v.tv_usec = (ns.count() % 1000000000) / 1000;
    return v;
  };
  ru.ru_utime = tv(r.utime);
  ru.ru_stime = tv(r.stime);
  ru.ru_minflt = r.minflt;
  ru.ru_majflt = r.majflt;
  ru.ru_nvcsw = r.nvcsw;
  ru.ru_nivcsw = r.nivcsw;
  ru.ru_maxrss = r.maxrss_kb;
  return ru;
}

}  // namespace

struct rusage RusageOf(const Rusage& r) { return ToRusage(r); }
std::shared_ptr<ThreadGroup> PidfdGroup(Task& t, int fd, int* error);

// Implements wait4(2).
int64_t Wait4(Task& t, const SyscallArgs& args) {
  int pid = args.Int(0);
  int options = args.Int(2);
  if (options & ~(WNOHANG | WUNTRACED | WCONTINUED | __WNOTHREAD | __WALL |
                  __WCLONE))
    return -EINVAL;
  if (pid == INT32_MIN) return -ESRCH;
  WaitRequest req;
  req.options = options | WEXITED;
  if (options & WUNTRACED) req.options |= WSTOPPED;
  if (pid > 0) {
    req.idtype = P_PID;
    req.id = pid;
  } else if (pid == 0) {
    req.idtype = P_PGID;
    req.id = t.tg().pgrp ? t.tg().pgrp->pgid : 0;
  } else if (pid == -1) {
    req.idtype = P_ALL;
  } else {
    req.idtype = P_PGID;
    req.id = -pid;
  }
  auto r = DoWait(t, req);
  if (!r.ok()) return r.error() == 512 ? kERestartSys : -r.error();
  if (!r.value()) return 0;
  WaitResult& w = *r.value();
  if (args[1] && !t.mm().Write<int>(args[1], w.status).ok()) return -EFAULT;
  if (args[3] && !t.mm().Write(args[3], ToRusage(w.rusage)).ok())
    return -EFAULT;
  return w.pid;
}

// Implements waitid(2).
int64_t Waitid(Task& t, const SyscallArgs& args) {
  int idtype = args.Int(0);
  int id = args.Int(1);
  int options = args.Int(3);
  if (options & ~(WNOHANG | WEXITED | WSTOPPED | WCONTINUED | WNOWAIT |
                  __WNOTHREAD | __WALL | __WCLONE))
    return -EINVAL;
  if (!(options & (WEXITED | WSTOPPED | WCONTINUED))) return -EINVAL;
  WaitRequest req;
  req.options = options;
  req.consume = !(options & WNOWAIT);
  switch (idtype) {
    case P_ALL:
      req.idtype = P_ALL;
      break;
    case P_PID:
      if (id <= 0) return -EINVAL;
      req.idtype = P_PID;
      req.id = id;
      break;
    case P_PGID:
      if (id < 0) return -EINVAL;
      req.idtype = P_PGID;
      req.id = id ? id : (t.tg().pgrp ? t.tg().pgrp->pgid : 0);
      break;
    case 3: {  // P_PIDFD
      int error = 0;
      auto tg = PidfdGroup(t, id, &error);
      if (!tg) return -error;
      req.idtype = P_PID;
      req.id = tg->tgid;
      if (t.kernel().GroupByTgid(tg->tgid) == nullptr) return -ECHILD;
      break;
    }
    default:
      return -EINVAL;
  }
  auto r = DoWait(t, req);
  if (!r.ok()) return r.error() == 512 ? kERestartSys : -r.error();
  siginfo_t info = {};
  if (r.value()) {
    WaitResult& w = *r.value();
    info.si_signo = SIGCHLD;
    info.si_code = w.code;
    info.si_pid = w.pid;
    info.si_uid = w.uid;
    info.si_status = w.code == CLD_EXITED ? (w.status >> 8) & 0xff
                     : w.code == CLD_STOPPED ? (w.status >> 8) & 0xff
                     : w.code == CLD_CONTINUED ? SIGCONT
                                               : w.status & 0x7f;
    if (args[4] && !t.mm().Write(args[4], ToRusage(w.rusage)).ok())
      return -EFAULT;
  }
  if (args[2] && !t.mm().Write(args[2], info).ok()) return -EFAULT;
  return 0;
}

}  // namespace moat
