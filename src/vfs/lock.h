// Advisory file locks: POSIX record locks (owned by a process), open file
// description locks (F_OFD_*), and flock(2) locks (owned by an open file
// description, whole file). Guarded by the kernel lock.
#pragma once

#include <cstdint>
#include <list>
#include <map>

#include "kernel/wait_queue.h"
#include "util/result.h"

namespace moat {

class Inode;
class Task;

struct FileLock {
  enum Kind { kPosix, kOfd, kFlock };
  Kind kind;
  const void* owner;  // the ThreadGroup for kPosix, else the description
  int pid;            // shown by F_GETLK; -1 for OFD locks
  bool write;
  uint64_t start;
  uint64_t end;  // inclusive; UINT64_MAX for "to the end of file"
};

class LockTable {
 public:
  static LockTable& Get();

  // Returns a lock that conflicts with `want`, if any.
  const FileLock* FindConflict(const Inode* inode, const FileLock& want);
  // Places `want` (or, with `unlock`, removes its range). With `wait`,
  // blocks the task until no lock conflicts; EAGAIN without it, EDEADLK
  // when waiting would deadlock, ERESTARTSYS on a signal.
  Status Apply(Task& t, const Inode* inode, FileLock want, bool unlock,
               bool wait);
  // Drops every lock `owner` holds on `inode` (or on all inodes when null).
  void Release(const Inode* inode, const void* owner);

 private:
  bool WouldDeadlock(const void* waiter, const void* holder);

  std::map<const Inode*, std::list<FileLock>> locks_;
  std::map<const void*, const void*> waiting_for_;  // owner -> holder
  WaitQueue changed_;
};

}  // namespace moat
