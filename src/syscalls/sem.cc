// System V semaphores: semget(2), semop(2), semtimedop(2) and semctl(2).
#include <fmt/format.h>
#include <sys/sem.h>

#include "ipc/ipc.h"
#include "syscalls/handlers.h"
#include "syscalls/util.h"

namespace moat {
namespace {

constexpr int kSemVmx = 32767;     // largest value (SEMVMX), and SEMAEM
constexpr int kSemUndoUsize = 20;  // SEMUSZ

Result<std::shared_ptr<SemSet>> FindSet(IpcNamespace& ns, int id) {
  IpcPtr obj = TRY(ns.sem.Find(id));
  return std::static_pointer_cast<SemSet>(obj);
}

int UsedSems(IpcNamespace& ns) {
  int used = 0;
  for (auto& [index, obj] : ns.sem.objects())
    used += static_cast<SemSet&>(*obj).sems.size();
  return used;
}

Result<IpcPtr> NewSet(IpcNamespace& ns, int nsems) {
  if (nsems <= 0 || nsems > ns.limits.semmsl) return Err(EINVAL);
  if (UsedSems(ns) + nsems > ns.limits.semmns) return Err(ENOSPC);
  auto set = std::make_shared<SemSet>();
  set->sems.resize(nsems);
  return IpcPtr(set);
}

// Applies `ops` all at once if none would block. Returns 0 when applied,
// 1 with *blocked set when the caller must wait, or -errno.
int64_t TryOps(Task& t, SemSet& set, const std::vector<struct sembuf>& ops,
               SemSet::Sleeper* blocked) {
  std::vector<int> values;
  for (auto& s : set.sems) values.push_back(s.value);
  int tgid = t.tg().tgid;
  std::vector<int> adj =
      set.undo.count(tgid) ? set.undo[tgid] : std::vector<int>(set.sems.size());
  bool undo = false;
  for (auto& op : ops) {
    int& v = values[op.sem_num];
    if (op.sem_op == 0 && v != 0) {
      *blocked = {op.sem_num, true};
      return (op.sem_flg & IPC_NOWAIT) ? -EAGAIN : 1;
    }
    if (v + op.sem_op < 0) {
      *blocked = {op.sem_num, false};
      return (op.sem_flg & IPC_NOWAIT) ? -EAGAIN : 1;
    }
    if (v + op.sem_op > kSemVmx) return -ERANGE;
    v += op.sem_op;
    if (op.sem_flg & SEM_UNDO) {
      int a = adj[op.sem_num] - op.sem_op;
      if (a < -kSemVmx - 1 || a > kSemVmx) return -ERANGE;
      adj[op.sem_num] = a;
      undo = true;
    }
  }
  bool changed = false;
  for (size_t i = 0; i < values.size(); i++) {
    if (values[i] != set.sems[i].value) changed = true;
    set.sems[i].value = values[i];
  }
  for (auto& op : ops) set.sems[op.sem_num].pid = tgid;
  if (undo) set.undo[tgid] = adj;
  set.otime = time(nullptr);
  if (changed) set.queue.Notify(kEventIn);
  return 0;
}

int64_t SemopCommon(Task& t, int id, uint64_t sops_addr, uint64_t nsops,
                    uint64_t timeout_addr) {
  IpcNamespace& ns = Ipc(t);
  if (id < 0 || nsops < 1) return -EINVAL;
  if (nsops > uint64_t(ns.limits.semopm)) return -E2BIG;
  std::vector<struct sembuf> ops(nsops);
  if (!t.mm().CopyIn(sops_addr, ops.data(), nsops * sizeof(struct sembuf)).ok())
    return -EFAULT;
  std::optional<Clock::time_point> deadline;
  if (timeout_addr) {
    auto ts = CopyInTimespec(t, timeout_addr);
    if (!ts.ok()) return -ts.error();
    deadline = Clock::now() + TimespecToNanos(ts.value());
  }
  int max = 0;
  bool alter = false;
  for (auto& op : ops) {
    max = std::max<int>(max, op.sem_num);
    if (op.sem_op != 0) alter = true;
  }
  auto found = FindSet(ns, id);
  if (!found.ok()) return -found.error();
  std::shared_ptr<SemSet> set = found.value();
  if (max >= int(set->sems.size())) return -EFBIG;
  Status access = IpcCheckAccess(t, *set, alter ? 0222 : 0444);
  if (!access.ok()) return -access.error();
  for (;;) {
    if (set->removed) return -EIDRM;
    SemSet::Sleeper sleeper{};
    int64_t r = TryOps(t, *set, ops, &sleeper);
    if (r <= 0) return r;
    set->sleepers.push_back(&sleeper);
    r = IpcWait(t, set->queue, deadline);
    std::erase(set->sleepers, &sleeper);
    if (r == kERestartNoHand) return -EINTR;  // semop is never restarted
    if (r < 0) return set->removed ? -EIDRM : r;
  }
}

int64_t SemInfo(Task& t, IpcNamespace& ns, int cmd, uint64_t buf) {
  struct seminfo info = {};
  info.semmni = ns.limits.semmni;
  info.semmns = ns.limits.semmns;
  info.semmsl = ns.limits.semmsl;
  info.semopm = ns.limits.semopm;
  info.semvmx = kSemVmx;
  info.semmnu = ns.limits.semmns;
  info.semmap = ns.limits.semmns;
  info.semume = ns.limits.semopm;
  info.semusz = kSemUndoUsize;
  info.semaem = kSemVmx;
  if (cmd == SEM_INFO) {
    info.semusz = ns.sem.objects().size();
    info.semaem = UsedSems(ns);
  }
  if (!t.mm().Write(buf, info).ok()) return -EFAULT;
  return ns.sem.HighestIndex();
}

int64_t SemStat(Task& t, IpcNamespace& ns, int id, int cmd, uint64_t buf) {
  Result<IpcPtr> obj = cmd == IPC_STAT ? ns.sem.Find(id) : ns.sem.AtIndex(id);
  if (!obj.ok()) return -obj.error();
  auto& set = static_cast<SemSet&>(*obj.value());
  if (cmd != SEM_STAT_ANY) {
    Status s = IpcCheckAccess(t, set, 0444);
    if (!s.ok()) return -s.error();
  }
  struct semid_ds ds = {};
  ds.sem_perm = set.Perm();
  ds.sem_otime = set.otime;
  ds.sem_ctime = set.ctime;
  ds.sem_nsems = set.sems.size();
  if (!t.mm().Write(buf, ds).ok()) return -EFAULT;
  return cmd == IPC_STAT ? 0 : set.id;
}

// SETVAL and SETALL wipe the undo adjustments of the semaphores they set
// in every process (ipc/sem.c:semctl_setval).
void ClearUndo(SemSet& set, int num) {
  for (auto& [tgid, adj] : set.undo) {
    if (num < 0)
      std::fill(adj.begin(), adj.end(), 0);
    else
      adj[num] = 0;
  }
}

int64_t SemSetValues(Task& t, SemSet& set, int num, int cmd, uint64_t arg) {
  std::vector<unsigned short> values;
  if (cmd == SETVAL) {
    if (num < 0 || num >= int(set.sems.size())) return -EINVAL;
    int v = int(arg);
    if (v < 0 || v > kSemVmx) return -ERANGE;
    values.push_back(v);
  } else {
    values.resize(set.sems.size());
    if (!t.mm().CopyIn(arg, values.data(), values.size() * 2).ok())
      return -EFAULT;
    for (auto v : values)
      if (v > kSemVmx) return -ERANGE;
  }
  Status s = IpcCheckAccess(t, set, 0222);
  if (!s.ok()) return -s.error();
  for (size_t i = 0; i < values.size(); i++) {
    auto& sem = set.sems[cmd == SETVAL ? num : int(i)];
    sem.value = values[i];
    sem.pid = t.tg().tgid;
  }
  ClearUndo(set, cmd == SETVAL ? num : -1);
  set.ctime = time(nullptr);
  set.queue.Notify(kEventIn);
  return 0;
}

int64_t SemGetValues(Task& t, SemSet& set, int num, int cmd, uint64_t arg) {
  Status s = IpcCheckAccess(t, set, 0444);
  if (!s.ok()) return -s.error();
  if (cmd == GETALL) {
    std::vector<unsigned short> values;
    for (auto& sem : set.sems) values.push_back(sem.value);
    return ToReturn(t.mm().CopyOut(arg, values.data(), values.size() * 2));
  }
  if (num < 0 || num >= int(set.sems.size())) return -EINVAL;
  if (cmd == GETVAL) return set.sems[num].value;
  if (cmd == GETPID) return set.sems[num].pid;
  int count = 0;
  for (auto* sleeper : set.sleepers)
    if (sleeper->num == num && sleeper->for_zero == (cmd == GETZCNT)) count++;
  return count;
}

int64_t SemRemove(Task& t, IpcNamespace& ns, SemSet& set) {
  Status s = IpcCheckOwner(t, set);
  if (!s.ok()) return -s.error();
  ns.sem.Remove(set);
  set.queue.Notify(kEventIn);
  return 0;
}

}  // namespace

void SemExit(IpcNamespace& ns, int tgid) {
  for (auto& [index, obj] : ns.sem.objects()) {
    auto& set = static_cast<SemSet&>(*obj);
    auto it = set.undo.find(tgid);
    if (it == set.undo.end()) continue;
    bool changed = false;
    for (size_t i = 0; i < set.sems.size(); i++) {
      if (it->second[i] == 0) continue;
      // Linux clamps instead of failing (ipc/sem.c:exit_sem).
      int v = std::clamp(set.sems[i].value + it->second[i], 0, kSemVmx);
      set.sems[i].value = v;
      set.sems[i].pid = tgid;
      changed = true;
    }
    set.undo.erase(it);
    if (changed) set.queue.Notify(kEventIn);
  }
}

// Implements semget(2).
int64_t Semget(Task& t, const SyscallArgs& args) {
  IpcNamespace& ns = Ipc(t);
  int nsems = args.Int(1);
  if (nsems < 0 || nsems > ns.limits.semmsl) return -EINVAL;
  auto obj = IpcGet(
      t, ns.sem, key_t(args[0]), args.Int(2), [&] { return NewSet(ns, nsems); },
      [&](IpcObject& o) -> Status {
        if (nsems > int(static_cast<SemSet&>(o).sems.size()))
          return Err(EINVAL);
        return Ok();
      });
  if (!obj.ok()) return -obj.error();
  return obj.value()->id;
}

// Implements semop(2).
int64_t Semop(Task& t, const SyscallArgs& args) {
  return SemopCommon(t, args.Int(0), args[1], args[2], 0);
}

// Implements semtimedop(2).
int64_t Semtimedop(Task& t, const SyscallArgs& args) {
  return SemopCommon(t, args.Int(0), args[1], args[2], args[3]);
}

// Implements semctl(2). The fourth argument is union semun, passed by
// value: an int for SETVAL, a pointer otherwise.
int64_t Semctl(Task& t, const SyscallArgs& args) {
  IpcNamespace& ns = Ipc(t);
  int id = args.Int(0), num = args.Int(1), cmd = args.Int(2);
  uint64_t arg = args[3];
  switch (cmd) {
    case IPC_INFO:
    case SEM_INFO:
      return SemInfo(t, ns, cmd, arg);
    case IPC_STAT:
    case SEM_STAT:
    case SEM_STAT_ANY:
      return SemStat(t, ns, id, cmd, arg);
    case GETVAL:
    case GETPID:
    case GETNCNT:
    case GETZCNT:
    case GETALL:
    case SETVAL:
    case SETALL:
    case IPC_SET:
    case IPC_RMID:
      break;
    default:
      return -EINVAL;
  }
  auto set = FindSet(ns, id);
  if (!set.ok()) return -set.error();
  SemSet& s = *set.value();
  switch (cmd) {
    case SETVAL:
    case SETALL:
      return SemSetValues(t, s, num, cmd, arg);
    case IPC_RMID:
      return SemRemove(t, ns, s);
    case IPC_SET: {
      auto ds = t.mm().Read<struct semid_ds>(arg);
      if (!ds.ok()) return -EFAULT;
      return ToReturn(IpcSetPerm(t, s, ds->sem_perm));
    }
    default:
      return SemGetValues(t, s, num, cmd, arg);
  }
}

std::string FormatSysvSem(IpcNamespace& ns) {
  std::string out =
      "       key      semid perms      nsems   uid   gid  cuid  cgid      "
      "otime      ctime\n";
  for (auto& [index, obj] : ns.sem.objects()) {
    auto& s = static_cast<SemSet&>(*obj);
    out += fmt::format(
        "{:>10} {:>10}  {:>4o} {:>10} {:>5} {:>5} {:>5} {:>5} {:>10} "
        "{:>10}\n",
        s.key, s.id, s.mode, s.sems.size(), s.uid, s.gid, s.cuid, s.cgid,
        s.otime, s.ctime);
  }
  return out;
}

}  // namespace moat
