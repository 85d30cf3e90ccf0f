// System V shared memory: shmget(2), shmat(2), shmdt(2) and shmctl(2).
// A segment's pages are a MemoryObject of MemoryFile frames, mapped
// shared by every attachment; see ipc/ipc.h for how attachments count.
#include <fmt/format.h>
#include <sys/shm.h>

#include "ipc/ipc.h"
#include "syscalls/handlers.h"
#include "syscalls/util.h"

namespace moat {
namespace {

constexpr uint64_t kShmLba = kPageSize;  // x86-64 SHMLBA

uint64_t Pages(uint64_t size) { return PageUp(size) / kPageSize; }

// Pages of the segment that have been touched, and so have a frame.
uint64_t Resident(const ShmSegment& seg) {
  auto object = seg.Object();
  return object ? object->ResidentPages() : 0;
}

void Destroy(IpcNamespace& ns, ShmSegment& seg) {
  ns.shm_pages -= Pages(seg.size);
  ns.shm.Remove(seg);
}

Result<std::shared_ptr<ShmSegment>> FindSegment(IpcNamespace& ns, int id) {
  ShmReap(ns);
  IpcPtr obj = TRY(ns.shm.Find(id));
  return std::static_pointer_cast<ShmSegment>(obj);
}

Result<IpcPtr> NewSegment(Task& t, IpcNamespace& ns, uint64_t size) {
  if (size < 1 || size > ns.limits.shmmax) return Err(EINVAL);
  if (ns.shm_pages + Pages(size) < ns.shm_pages ||
      ns.shm_pages + Pages(size) > ns.limits.shmall)
    return Err(ENOSPC);
  if (int(ns.shm.objects().size()) >= ns.limits.shmmni) return Err(ENOSPC);
  auto seg = std::make_shared<ShmSegment>();
  seg->size = size;
  seg->object = std::make_shared<MemoryObject>(PageUp(size));
  seg->cpid = t.tg().tgid;
  ns.shm_pages += Pages(size);
  return IpcPtr(seg);
}

struct shmid_ds ToShmidDs(const ShmSegment& seg) {
  struct shmid_ds ds = {};
  ds.shm_perm = seg.Perm();
  ds.shm_segsz = seg.size;
  ds.shm_atime = seg.atime;
  ds.shm_dtime = seg.dtime;
  ds.shm_ctime = seg.ctime;
  ds.shm_cpid = seg.cpid;
  ds.shm_lpid = seg.lpid;
  ds.shm_nattch = seg.Attached();
  return ds;
}

int64_t ShmInfo(Task& t, IpcNamespace& ns, int cmd, uint64_t buf) {
  Status s = Ok();
  if (cmd == IPC_INFO) {
    struct shminfo info = {};
    info.shmmax = ns.limits.shmmax;
    info.shmmin = 1;
    info.shmmni = ns.limits.shmmni;
    info.shmseg = ns.limits.shmmni;
    info.shmall = ns.limits.shmall;
    s = t.mm().Write(buf, info);
  } else {
    struct shm_info info = {};
    info.used_ids = ns.shm.objects().size();
    info.shm_tot = ns.shm_pages;
    for (auto& [index, obj] : ns.shm.objects())
      info.shm_rss += Resident(static_cast<ShmSegment&>(*obj));
    s = t.mm().Write(buf, info);
  }
  if (!s.ok()) return -EFAULT;
  return ns.shm.HighestIndex();
}

int64_t ShmStat(Task& t, IpcNamespace& ns, int id, int cmd, uint64_t buf) {
  Result<IpcPtr> obj = cmd == IPC_STAT ? ns.shm.Find(id) : ns.shm.AtIndex(id);
  if (!obj.ok()) return -obj.error();
  auto& seg = static_cast<ShmSegment&>(*obj.value());
  if (cmd != SHM_STAT_ANY) {
    Status s = IpcCheckAccess(t, seg, 0444);
    if (!s.ok()) return -s.error();
  }
  if (!t.mm().Write(buf, ToShmidDs(seg)).ok()) return -EFAULT;
  return cmd == IPC_STAT ? 0 : seg.id;
}

int64_t ShmRemove(Task& t, IpcNamespace& ns, ShmSegment& seg) {
  Status s = IpcCheckOwner(t, seg);
  if (!s.ok()) return -s.error();
  if (seg.Attached() == 0) {
    Destroy(ns, seg);
    return 0;
  }
  // Attached still: the segment stays, under key IPC_PRIVATE, until the
  // last detach (Linux ipc/shm.c:do_shm_rmid).
  seg.mode |= SHM_DEST;
  seg.key = IPC_PRIVATE;
  seg.removed_object = seg.object;
  seg.object.reset();
  return 0;
}

// The segment attached at `addr`, found by its object.
std::shared_ptr<ShmSegment> SegmentOf(IpcNamespace& ns,
                                      const MemoryObject* object) {
  for (auto& [index, obj] : ns.shm.objects()) {
    auto seg = std::static_pointer_cast<ShmSegment>(obj);
    if (seg->Object().get() == object) return seg;
  }
  return nullptr;
}

}  // namespace

void ShmReap(IpcNamespace& ns) {
  std::vector<std::shared_ptr<ShmSegment>> removable;
  for (auto& [index, obj] : ns.shm.objects()) {
    auto seg = std::static_pointer_cast<ShmSegment>(obj);
    if ((seg->mode & SHM_DEST) && seg->Attached() == 0)
      removable.push_back(seg);
  }
  for (auto& seg : removable) Destroy(ns, *seg);
}

// Implements shmget(2).
int64_t Shmget(Task& t, const SyscallArgs& args) {
  IpcNamespace& ns = Ipc(t);
  ShmReap(ns);
  key_t key = key_t(args[0]);
  uint64_t size = args[1];
  int flags = args.Int(2);
  auto obj = IpcGet(
      t, ns.shm, key, flags, [&] { return NewSegment(t, ns, size); },
      [&](IpcObject& o) -> Status {
        if (static_cast<ShmSegment&>(o).size < size) return Err(EINVAL);
        return Ok();
      });
  if (!obj.ok()) return -obj.error();
  return obj.value()->id;
}

// Implements shmat(2).
int64_t Shmat(Task& t, const SyscallArgs& args) {
  IpcNamespace& ns = Ipc(t);
  int flags = args.Int(2);
  uint64_t addr = args[1];
  auto seg = FindSegment(ns, args.Int(0));
  if (!seg.ok()) return -seg.error();

  MmapRequest req;
  if (addr) {
    if (addr & (kShmLba - 1)) {
      if (!(flags & SHM_RND)) return -EINVAL;
      addr &= ~(kShmLba - 1);
    }
    req.flags = MAP_FIXED;
    if (!(flags & SHM_REMAP)) req.flags |= MAP_FIXED_NOREPLACE;
  } else if (flags & SHM_REMAP) {
    return -EINVAL;
  }

  int want = 0444;
  req.prot = PROT_READ;
  req.max_prot = PROT_READ | PROT_EXEC;
  if (!(flags & SHM_RDONLY)) {
    want |= 0222;
    req.prot |= PROT_WRITE;
    req.max_prot |= PROT_WRITE;
  }
  if (flags & SHM_EXEC) {
    want |= 0111;
    req.prot |= PROT_EXEC;
  }
  ShmSegment& s = *seg.value();
  Status access = IpcCheckAccess(t, s, want);
  if (!access.ok()) return -access.error();

  req.addr = addr;
  req.length = PageUp(s.size);
  req.flags |= MAP_SHARED;
  req.object = s.Object();
  req.name = fmt::format("/SYSV{:08x} (deleted)", uint32_t(s.key));
  req.ino = s.id;
  auto r = t.mm().Mmap(req);
  if (!r.ok()) return r.error() == EEXIST ? -EINVAL : -r.error();
  s.atime = time(nullptr);
  s.lpid = t.tg().tgid;
  return int64_t(r.value());
}

// Implements shmdt(2): unmaps the attachment that starts at `addr`, with
// the parts of it that mprotect or a partial munmap split off.
int64_t Shmdt(Task& t, const SyscallArgs& args) {
  IpcNamespace& ns = Ipc(t);
  uint64_t addr = args[0];
  if (addr & kPageMask) return -EINVAL;
  auto& vmas = t.mm().vmas();
  auto it = vmas.find(addr);
  if (it == vmas.end() || !it->second.object || it->second.offset != 0)
    return -EINVAL;
  auto seg = SegmentOf(ns, it->second.object.get());
  if (!seg) return -EINVAL;
  const MemoryObject* object = it->second.object.get();
  uint64_t end = addr + PageUp(seg->size);
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (; it != vmas.end() && it->first < end; ++it)
    if (it->second.object.get() == object)
      ranges.emplace_back(it->second.start, it->second.end);
  for (auto [start, stop] : ranges) (void)t.mm().Munmap(start, stop - start);
  // TODO: a detach by munmap, exec or exit leaves shm_dtime and shm_lpid
  // as they were, because only shmdt records a detach.
  seg->dtime = time(nullptr);
  seg->lpid = t.tg().tgid;
  ShmReap(ns);
  return 0;
}

// Implements shmctl(2).
int64_t Shmctl(Task& t, const SyscallArgs& args) {
  IpcNamespace& ns = Ipc(t);
  ShmReap(ns);
  int id = args.Int(0), cmd = args.Int(1);
  uint64_t buf = args[2];
  switch (cmd) {
    case IPC_INFO:
    case SHM_INFO:
      return ShmInfo(t, ns, cmd, buf);
    case IPC_STAT:
    case SHM_STAT:
    case SHM_STAT_ANY:
      return ShmStat(t, ns, id, cmd, buf);
    case IPC_SET:
    case IPC_RMID:
    case SHM_LOCK:
    case SHM_UNLOCK:
      break;
    default:
      return -EINVAL;
  }

  auto seg = FindSegment(ns, id);
  if (!seg.ok()) return -seg.error();
  ShmSegment& s = *seg.value();
  if (cmd == IPC_RMID) return ShmRemove(t, ns, s);
  if (cmd == IPC_SET) {
    auto ds = t.mm().Read<struct shmid_ds>(buf);
    if (!ds.ok()) return -EFAULT;
    return ToReturn(IpcSetPerm(t, s, ds->shm_perm));
  }
  // SHM_LOCK and SHM_UNLOCK: memory is never swapped, so only the flag
  // changes.
  Status owner = IpcCheckOwner(t, s);
  if (!owner.ok()) return -owner.error();
  if (cmd == SHM_LOCK)
    s.mode |= SHM_LOCKED;
  else
    s.mode &= ~SHM_LOCKED;
  return 0;
}

std::string FormatSysvShm(IpcNamespace& ns) {
  ShmReap(ns);
  std::string out =
      "       key      shmid perms                  size  cpid  lpid nattch"
      "   uid   gid  cuid  cgid      atime      dtime      ctime        "
      "           rss                  swap\n";
  for (auto& [index, obj] : ns.shm.objects()) {
    auto& s = static_cast<ShmSegment&>(*obj);
    out += fmt::format(
        "{:>10} {:>10}  {:>4o} {:>21} {:>5} {:>5}  {:>5} {:>5} {:>5} {:>5} "
        "{:>5} {:>10} {:>10} {:>10} {:>21} {:>21}\n",
        s.key, s.id, s.mode, s.size, s.cpid, s.lpid, s.Attached(), s.uid, s.gid,
        s.cuid, s.cgid, s.atime, s.dtime, s.ctime, Resident(s) * kPageSize, 0);
  }
  return out;
}

}  // namespace moat
