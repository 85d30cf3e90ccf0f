// System V IPC: shared memory segments, semaphore sets and message queues,
// each found by key or id in the sandbox's IPC namespace. This file
// contains what the three kinds share: ids, keys and permissions (Linux
// ipc/util.c).
#pragma once

#include <sys/ipc.h>
#include <sys/types.h>

#include <chrono>
#include <ctime>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kernel/wait_queue.h"
#include "mm/memory_object.h"
#include "util/result.h"

namespace moat {

class Kernel;
class Task;

// One IPC object: the fields of struct ipc64_perm and its id.
struct IpcObject {
  virtual ~IpcObject() = default;
  int id = 0;
  key_t key = IPC_PRIVATE;
  uint32_t uid = 0, gid = 0, cuid = 0, cgid = 0;
  uint32_t mode = 0;  // permission bits, plus SHM_DEST and SHM_LOCKED
  uint16_t seq = 0;
  bool removed = false;  // IPC_RMID happened: waiters fail with EIDRM
  time_t ctime = 0;      // last change by IPC_SET, or creation

  struct ipc_perm Perm() const;
};
using IpcPtr = std::shared_ptr<IpcObject>;

// The objects of one kind. Ids are index + 32768 * sequence number. Indexes
// are taken in turn within a window of 1.5 times the objects in use (at
// least 64), and the sequence number grows each time they wrap around
// (Linux ipc/util.c:ipc_idr_alloc).
class IpcIds {
 public:
  explicit IpcIds(int* max_objects) : max_objects_(max_objects) {}
  IpcPtr FindKey(key_t key) const;
  // By id: EINVAL when no such object lives.
  Result<IpcPtr> Find(int id) const;
  // By index, for SHM_STAT and friends.
  Result<IpcPtr> AtIndex(int index) const;
  // Gives `obj` the lowest free index and a new id; ENOSPC past the limit.
  Status Add(const IpcPtr& obj);
  void Remove(IpcObject& obj);
  int HighestIndex() const;
  const std::map<int, IpcPtr>& objects() const { return objects_; }

 private:
  int* max_objects_;
  int seq_ = 0;
  int next_index_ = 0;  // where the search for a free index starts
  int last_index_ = -1;
  std::map<int, IpcPtr> objects_;  // by index
};

// The tunables of /proc/sys/kernel, with Linux's defaults.
struct IpcLimits {
  // ULONG_MAX - 2^24, in bytes and in pages (include/uapi/linux/shm.h).
  uint64_t shmmax = ~0ull - (1ull << 24);
  uint64_t shmall = ~0ull - (1ull << 24);
  int shmmni = 4096;
  int semmsl = 32000, semmns = 1024000000, semopm = 500, semmni = 32000;
  int msgmax = 8192, msgmnb = 16384, msgmni = 32000;
};

// A shared memory segment. Every VMA that maps it keeps a reference to
// `object`. After IPC_RMID with attachments left, the segment keeps only a
// weak one, so the memory is freed at the last detach (ipc/shm.c).
struct ShmSegment : IpcObject {
  uint64_t size = 0;
  std::shared_ptr<MemoryObject> object;
  std::weak_ptr<MemoryObject> removed_object;
  int cpid = 0, lpid = 0;
  time_t atime = 0, dtime = 0;
  // shm_nattch: the VMAs mapping the segment, each split part counting
  // on its own as in Linux. Counted by references: all other holders of
  // the object are short-lived, and the kernel lock is held here.
  uint64_t Attached() const {
    return object ? object.use_count() - 1 : removed_object.use_count();
  }
  std::shared_ptr<MemoryObject> Object() const {
    return object ? object : removed_object.lock();
  }
};

struct SemSet : IpcObject {
  struct Sem {
    int value = 0;
    int pid = 0;  // the last process that changed it
  };
  // A task blocked in semop: what it waits for, for GETNCNT and GETZCNT.
  struct Sleeper {
    int num;
    bool for_zero;
  };
  std::vector<Sem> sems;
  time_t otime = 0;
  // SEM_UNDO adjustments by tgid, one per semaphore.
  std::map<int, std::vector<int>> undo;
  std::vector<Sleeper*> sleepers;
  WaitQueue queue;  // notified on every change, and on removal
};

struct MsgQueue : IpcObject {
  struct Message {
    long type;
    std::string text;
  };
  std::deque<Message> messages;
  uint64_t bytes = 0;      // __msg_cbytes
  uint64_t max_bytes = 0;  // msg_qbytes
  int lspid = 0, lrpid = 0;
  time_t stime = 0, rtime = 0;
  WaitQueue queue;  // notified on every send, receive and removal
};

// The IPC namespace of a sandbox.
class IpcNamespace {
 public:
  IpcNamespace();
  IpcLimits limits;
  IpcIds shm, sem, msg;
  uint64_t shm_pages = 0;  // pages of all segments, against shmall
};

// The namespace of the task's sandbox.
IpcNamespace& Ipc(Task& t);

// The get half of shmget, semget and msgget: finds the object for `key`
// or makes one with `create`. `check` verifies that an existing object
// fits the request (its size or number of semaphores).
Result<IpcPtr> IpcGet(Task& t, IpcIds& ids, key_t key, int flags,
                      const std::function<Result<IpcPtr>()>& create,
                      const std::function<Status(IpcObject&)>& check);
// Sets owner, creator and mode of a new object from the caller.
void IpcInitPerm(Task& t, IpcObject& obj, key_t key, int flags);
// Access for `flags`' permission bits (0444 read, 0222 write): EACCES.
Status IpcCheckAccess(Task& t, const IpcObject& obj, int flags);
// IPC_SET and IPC_RMID: only the owner, the creator or CAP_SYS_ADMIN.
Status IpcCheckOwner(Task& t, const IpcObject& obj);
// IPC_SET of uid, gid and the permission bits.
Status IpcSetPerm(Task& t, IpcObject& obj, const struct ipc_perm& p);

// Waits for `q` to be notified. Returns 0 when woken, -EAGAIN at
// `deadline`, and kERestartNoHand for a signal: System V IPC calls are
// not restarted after a handler ran (signal(7)).
int64_t IpcWait(Task& t, WaitQueue& q,
                std::optional<std::chrono::steady_clock::time_point> deadline);

// Drops segments removed with IPC_RMID whose last attachment went.
void ShmReap(IpcNamespace& ns);
// Undoes the SEM_UNDO adjustments of an exiting process (ipc/sem.c:
// exit_sem).
void SemExit(IpcNamespace& ns, int tgid);

// The text of /proc/sysvipc/shm, sem and msg.
std::string FormatSysvShm(IpcNamespace& ns);
std::string FormatSysvSem(IpcNamespace& ns);
std::string FormatSysvMsg(IpcNamespace& ns);

}  // namespace moat
