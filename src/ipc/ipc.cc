#include "ipc/ipc.h"

#include "kernel/kernel.h"
#include "kernel/task.h"

namespace moat {
namespace {

constexpr int kSeqMultiplier = 32768;  // Linux IPCMNI
constexpr int kMaxSeq = INT32_MAX / kSeqMultiplier;
constexpr int kMinCycle = 64;  // ipc_min_cycle
constexpr int kCapIpcOwner = 15;
constexpr int kCapSysAdmin = 21;

}  // namespace

struct ipc_perm IpcObject::Perm() const {
  struct ipc_perm p = {};
  p.__key = key;
  p.uid = uid;
  p.gid = gid;
  p.cuid = cuid;
  p.cgid = cgid;
  p.mode = mode;
  p.__seq = seq;
  return p;
}

IpcPtr IpcIds::FindKey(key_t key) const {
  for (auto& [index, obj] : objects_)
    if (obj->key == key) return obj;
  return nullptr;
}

Result<IpcPtr> IpcIds::Find(int id) const {
  if (id < 0) return Err(EINVAL);
  auto it = objects_.find(id % kSeqMultiplier);
  if (it == objects_.end() || it->second->id != id) return Err(EINVAL);
  return it->second;
}

Result<IpcPtr> IpcIds::AtIndex(int index) const {
  auto it = objects_.find(index);
  if (index < 0 || it == objects_.end()) return Err(EINVAL);
  return it->second;
}

Status IpcIds::Add(const IpcPtr& obj) {
  if (int(objects_.size()) >= std::min(*max_objects_, kSeqMultiplier))
    return Err(ENOSPC);
  int in_use = objects_.size();
  int window = std::min(std::max(in_use * 3 / 2, kMinCycle), kSeqMultiplier);
  int index = next_index_ < window ? next_index_ : 0;
  while (objects_.count(index)) index = (index + 1) % window;
  if (index <= last_index_ && ++seq_ >= kMaxSeq) seq_ = 0;
  last_index_ = index;
  next_index_ = index + 1;
  obj->seq = seq_;
  obj->id = seq_ * kSeqMultiplier + index;
  objects_[index] = obj;
  return Ok();
}

void IpcIds::Remove(IpcObject& obj) {
  obj.removed = true;
  objects_.erase(obj.id % kSeqMultiplier);
}

int IpcIds::HighestIndex() const {
  return objects_.empty() ? 0 : objects_.rbegin()->first;
}

IpcNamespace::IpcNamespace()
    : shm(&limits.shmmni), sem(&limits.semmni), msg(&limits.msgmni) {}

IpcNamespace& Ipc(Task& t) { return *t.kernel().ipc; }

void IpcInitPerm(Task& t, IpcObject& obj, key_t key, int flags) {
  obj.key = key;
  obj.uid = obj.cuid = t.creds.euid;
  obj.gid = obj.cgid = t.creds.egid;
  obj.mode = flags & 0777;
  obj.ctime = time(nullptr);
}

Status IpcCheckAccess(Task& t, const IpcObject& obj, int flags) {
  // Linux ipc/util.c:ipcperms.
  int requested = (flags >> 6 | flags >> 3 | flags) & 7;
  int granted = obj.mode;
  const Credentials& c = t.creds;
  if (c.euid == obj.cuid || c.euid == obj.uid)
    granted >>= 6;
  else if (c.InGroup(obj.cgid) || c.InGroup(obj.gid))
    granted >>= 3;
  if ((requested & ~granted & 7) && !c.HasCapability(kCapIpcOwner))
    return Err(EACCES);
  return Ok();
}

Status IpcCheckOwner(Task& t, const IpcObject& obj) {
  const Credentials& c = t.creds;
  if (c.euid == obj.cuid || c.euid == obj.uid || c.HasCapability(kCapSysAdmin))
    return Ok();
  return Err(EPERM);
}

Status IpcSetPerm(Task& t, IpcObject& obj, const struct ipc_perm& p) {
  TRY_STATUS(IpcCheckOwner(t, obj));
  obj.uid = p.uid;
  obj.gid = p.gid;
  obj.mode = (obj.mode & ~0777u) | (p.mode & 0777);
  obj.ctime = time(nullptr);
  return Ok();
}

Result<IpcPtr> IpcGet(Task& t, IpcIds& ids, key_t key, int flags,
                      const std::function<Result<IpcPtr>()>& create,
                      const std::function<Status(IpcObject&)>& check) {
  IpcPtr obj = key == IPC_PRIVATE ? nullptr : ids.FindKey(key);
  if (!obj) {
    if (key != IPC_PRIVATE && !(flags & IPC_CREAT)) return Err(ENOENT);
    IpcPtr created = TRY(create());
    IpcInitPerm(t, *created, key, flags);
    TRY_STATUS(ids.Add(created));
    return created;
  }
  if ((flags & IPC_CREAT) && (flags & IPC_EXCL)) return Err(EEXIST);
  TRY_STATUS(IpcCheckAccess(t, *obj, flags));
  TRY_STATUS(check(*obj));
  return obj;
}

int64_t IpcWait(Task& t, WaitQueue& q,
                std::optional<std::chrono::steady_clock::time_point> deadline) {
  Waiter w([&t](uint32_t) { t.Wake(); });
  WaitQueueEntry entry(&q, &w);
  switch (t.Block(deadline)) {
    case BlockResult::kWoken:
      return 0;
    case BlockResult::kTimedOut:
      return -EAGAIN;
    case BlockResult::kInterrupted:
      break;
  }
  return kERestartNoHand;
}

}  // namespace moat
