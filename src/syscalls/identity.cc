// Process identity: pids, process groups, sessions and credentials.
#include <sys/fsuid.h>

#include "syscalls/handlers.h"
#include "syscalls/util.h"

namespace moat {
namespace {

constexpr uint32_t kNoId = uint32_t(-1);
constexpr int kCapSetuid = 7;
constexpr int kCapSetgid = 6;
// The capabilities that follow the file system uid (Linux CAP_FS_MASK):
// chown, dac_override, dac_read_search, fowner, fsetid, linux_immutable,
// mknod and mac_override.
constexpr uint64_t kFsCapabilities = (1ull << 0) | (1ull << 1) | (1ull << 2) |
                                     (1ull << 3) | (1ull << 4) | (1ull << 9) |
                                     (1ull << 27) | (1ull << 32);

// A task's parent as the sandbox sees it: 0 for init.
int ParentTgid(Task& t) {
  auto parent = t.tg().parent.lock();
  return parent ? parent->tgid : 0;
}

bool MaySetId(uint32_t id, uint32_t r, uint32_t e, uint32_t s) {
  return id == r || id == e || id == s;
}

}  // namespace

// Implements getpid(2).
int64_t Getpid(Task& t, const SyscallArgs&) { return t.tg().tgid; }

// Implements gettid(2).
int64_t Gettid(Task& t, const SyscallArgs&) { return t.tid; }

// Implements getppid(2).
int64_t Getppid(Task& t, const SyscallArgs&) { return ParentTgid(t); }

// Implements getuid(2) and the other simple credential getters.
int64_t Getuid(Task& t, const SyscallArgs&) { return t.creds.ruid; }
int64_t Geteuid(Task& t, const SyscallArgs&) { return t.creds.euid; }
int64_t Getgid(Task& t, const SyscallArgs&) { return t.creds.rgid; }
int64_t Getegid(Task& t, const SyscallArgs&) { return t.creds.egid; }

// Implements getresuid(2).
int64_t Getresuid(Task& t, const SyscallArgs& args) {
  Credentials& c = t.creds;
  if (!t.mm().Write<uint32_t>(args[0], c.ruid).ok() ||
      !t.mm().Write<uint32_t>(args[1], c.euid).ok() ||
      !t.mm().Write<uint32_t>(args[2], c.suid).ok())
    return -EFAULT;
  return 0;
}

// Implements getresgid(2).
int64_t Getresgid(Task& t, const SyscallArgs& args) {
  Credentials& c = t.creds;
  if (!t.mm().Write<uint32_t>(args[0], c.rgid).ok() ||
      !t.mm().Write<uint32_t>(args[1], c.egid).ok() ||
      !t.mm().Write<uint32_t>(args[2], c.sgid).ok())
    return -EFAULT;
  return 0;
}

// Implements setresuid(2), following Linux kernel/sys.c.
int64_t Setresuid(Task& t, const SyscallArgs& args) {
  Credentials& c = t.creds;
  const Credentials before = c;
  uint32_t r = args[0], e = args[1], s = args[2];
  if (!c.HasCapability(kCapSetuid)) {
    for (uint32_t id : {r, e, s})
      if (id != kNoId && !MaySetId(id, c.ruid, c.euid, c.suid)) return -EPERM;
  }
  uint32_t old_euid = c.euid;
  if (r != kNoId) c.ruid = r;
  if (e != kNoId) c.euid = e;
  if (s != kNoId) c.suid = s;
  c.fsuid = c.euid;
  // Leaving uid 0 drops the capabilities (no SECBIT_KEEP_CAPS).
  if (old_euid == 0 && c.euid != 0) c.cap_effective = 0;
  if (c.ruid != 0 && c.euid != 0 && c.suid != 0) c.cap_permitted = 0;
  if (old_euid != 0 && c.euid == 0) c.cap_effective = c.cap_permitted;
  DropHostFilesIfChanged(t, before);
  return 0;
}

// Implements setresgid(2).
int64_t Setresgid(Task& t, const SyscallArgs& args) {
  Credentials& c = t.creds;
  const Credentials before = c;
  uint32_t r = args[0], e = args[1], s = args[2];
  if (!c.HasCapability(kCapSetgid)) {
    for (uint32_t id : {r, e, s})
      if (id != kNoId && !MaySetId(id, c.rgid, c.egid, c.sgid)) return -EPERM;
  }
  if (r != kNoId) c.rgid = r;
  if (e != kNoId) c.egid = e;
  if (s != kNoId) c.sgid = s;
  c.fsgid = c.egid;
  DropHostFilesIfChanged(t, before);
  return 0;
}

// Implements setuid(2).
int64_t Setuid(Task& t, const SyscallArgs& args) {
  uint32_t uid = args[0];
  if (uid == kNoId) return -EINVAL;
  if (t.creds.HasCapability(kCapSetuid))
    return Setresuid(t, SyscallArgs{{uid, uid, uid, 0, 0, 0}});
  if (uid != t.creds.ruid && uid != t.creds.suid) return -EPERM;
  return Setresuid(t, SyscallArgs{{kNoId, uid, kNoId, 0, 0, 0}});
}

// Implements setgid(2).
int64_t Setgid(Task& t, const SyscallArgs& args) {
  uint32_t gid = args[0];
  if (gid == kNoId) return -EINVAL;
  if (t.creds.HasCapability(kCapSetgid))
    return Setresgid(t, SyscallArgs{{gid, gid, gid, 0, 0, 0}});
  if (gid != t.creds.rgid && gid != t.creds.sgid) return -EPERM;
  return Setresgid(t, SyscallArgs{{kNoId, gid, kNoId, 0, 0, 0}});
}

// Implements setreuid(2).
int64_t Setreuid(Task& t, const SyscallArgs& args) {
  uint32_t r = args[0], e = args[1];
  uint32_t s = kNoId;
  if (r != kNoId || (e != kNoId && e != t.creds.ruid)) s = e != kNoId ? e : t.creds.euid;
  return Setresuid(t, SyscallArgs{{r, e, s, 0, 0, 0}});
}

// Implements setregid(2).
int64_t Setregid(Task& t, const SyscallArgs& args) {
  uint32_t r = args[0], e = args[1];
  uint32_t s = kNoId;
  if (r != kNoId || (e != kNoId && e != t.creds.rgid)) s = e != kNoId ? e : t.creds.egid;
  return Setresgid(t, SyscallArgs{{r, e, s, 0, 0, 0}});
}

// Implements setfsuid(2) and setfsgid(2): both return the old value.
int64_t Setfsuid(Task& t, const SyscallArgs& args) {
  uint32_t old = t.creds.fsuid;
  uint32_t id = args[0];
  Credentials& c = t.creds;
  const Credentials before = c;
  if (id != kNoId && (c.HasCapability(kCapSetuid) || id == c.ruid ||
                      id == c.euid || id == c.suid || id == c.fsuid))
    c.fsuid = id;
  // Leaving fsuid 0 drops the file system capabilities, and coming back
  // to it restores the permitted ones (Linux cap_task_fix_setuid).
  if (before.fsuid == 0 && c.fsuid != 0) c.cap_effective &= ~kFsCapabilities;
  if (before.fsuid != 0 && c.fsuid == 0)
    c.cap_effective |= c.cap_permitted & kFsCapabilities;
  DropHostFilesIfChanged(t, before);
  return old;
}

int64_t Setfsgid(Task& t, const SyscallArgs& args) {
  uint32_t old = t.creds.fsgid;
  uint32_t id = args[0];
  Credentials& c = t.creds;
  const Credentials before = c;
  if (id != kNoId && (c.HasCapability(kCapSetgid) || id == c.rgid ||
                      id == c.egid || id == c.sgid || id == c.fsgid))
    c.fsgid = id;
  DropHostFilesIfChanged(t, before);
  return old;
}

// Implements getgroups(2).
int64_t Getgroups(Task& t, const SyscallArgs& args) {
  int size = args.Int(0);
  auto& groups = t.creds.groups;
  if (size < 0) return -EINVAL;
  if (size == 0) return int64_t(groups.size());
  if (size_t(size) < groups.size()) return -EINVAL;
  if (!t.mm().CopyOut(args[1], groups.data(), groups.size() * 4).ok())
    return -EFAULT;
  return int64_t(groups.size());
}

// Implements setgroups(2).
int64_t Setgroups(Task& t, const SyscallArgs& args) {
  int size = args.Int(0);
  if (size < 0 || size > 65536) return -EINVAL;
  if (!t.creds.HasCapability(kCapSetgid)) return -EPERM;
  std::vector<uint32_t> groups(size);
  if (!t.mm().CopyIn(args[1], groups.data(), size * 4).ok()) return -EFAULT;
  const Credentials before = t.creds;
  t.creds.groups = std::move(groups);
  DropHostFilesIfChanged(t, before);
  return 0;
}

// Implements getpgid(2).
int64_t Getpgid(Task& t, const SyscallArgs& args) {
  int pid = args.Int(0);
  auto tg = pid == 0 ? t.tg_ptr() : t.kernel().GroupByTgid(pid);
  if (!tg || tg->zombie) return -ESRCH;
  return tg->pgrp ? tg->pgrp->pgid : 0;
}

// Implements getpgrp(2).
int64_t Getpgrp(Task& t, const SyscallArgs&) {
  return t.tg().pgrp ? t.tg().pgrp->pgid : 0;
}

// Implements getsid(2).
int64_t Getsid(Task& t, const SyscallArgs& args) {
  int pid = args.Int(0);
  auto tg = pid == 0 ? t.tg_ptr() : t.kernel().GroupByTgid(pid);
  if (!tg || tg->zombie) return -ESRCH;
  return tg->pgrp && tg->pgrp->session ? tg->pgrp->session->sid : 0;
}

// Implements setpgid(2), following Linux kernel/sys.c.
int64_t Setpgid(Task& t, const SyscallArgs& args) {
  int pid = args.Int(0), pgid = args.Int(1);
  if (pgid < 0) return -EINVAL;
  Kernel& k = t.kernel();
  auto target = pid == 0 ? t.tg_ptr() : k.GroupByTgid(pid);
  if (!target || target->zombie) return -ESRCH;
  if (pgid == 0) pgid = target->tgid;
  auto parent = target->parent.lock();
  bool is_self = target.get() == &t.tg();
  bool is_child = parent.get() == &t.tg();
  if (!is_self && !is_child) return -ESRCH;
  auto my_session = t.tg().pgrp ? t.tg().pgrp->session : nullptr;
  auto its_session = target->pgrp ? target->pgrp->session : nullptr;
  if (is_child && its_session != my_session) return -EPERM;
  if (is_child && target->did_exec) return -EACCES;
  // A session leader cannot move.
  if (its_session && its_session->sid == target->tgid) return -EPERM;
  if (pgid != target->tgid) {
    auto pg = k.GetProcessGroup(pgid);
    if (!pg || pg->session != its_session) return -EPERM;
    target->pgrp = pg;
    return 0;
  }
  auto pg = k.GetProcessGroup(pgid);
  if (!pg) {
    pg = std::make_shared<ProcessGroup>();
    pg->pgid = pgid;
    pg->session = its_session;
    k.RegisterProcessGroup(pg);
  }
  target->pgrp = pg;
  return 0;
}

// Implements setsid(2).
int64_t Setsid(Task& t, const SyscallArgs&) {
  Kernel& k = t.kernel();
  int id = t.tg().tgid;
  if (t.tg().pgrp && t.tg().pgrp->pgid == id) return -EPERM;
  if (k.GetProcessGroup(id)) return -EPERM;
  auto session = std::make_shared<Session>();
  session->sid = id;
  session->leader = t.tg_ptr();
  auto pg = std::make_shared<ProcessGroup>();
  pg->pgid = id;
  pg->session = session;
  k.RegisterProcessGroup(pg);
  t.tg().pgrp = pg;
  return id;
}

}  // namespace moat
