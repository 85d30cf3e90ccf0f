#include "vfs/lock.h"

#include "kernel/task.h"

namespace moat {
namespace {

bool Overlap(const FileLock& a, const FileLock& b) {
  return a.start <= b.end && b.start <= a.end;
}

bool SameOwner(const FileLock& a, const FileLock& b) {
  return a.owner == b.owner && (a.kind == FileLock::kFlock) ==
                                   (b.kind == FileLock::kFlock);
}

}  // namespace

LockTable& LockTable::Get() {
  static LockTable* table = new LockTable();
  return *table;
}

const FileLock* LockTable::FindConflict(const Inode* inode,
                                        const FileLock& want) {
  auto it = locks_.find(inode);
  if (it == locks_.end()) return nullptr;
  bool want_flock = want.kind == FileLock::kFlock;
  for (const FileLock& held : it->second) {
    // flock and record locks do not see each other (flock(2), NOTES).
    if ((held.kind == FileLock::kFlock) != want_flock) continue;
    if (SameOwner(held, want)) continue;
    if (!Overlap(held, want)) continue;
    if (held.write || want.write) return &held;
  }
  return nullptr;
}

bool LockTable::WouldDeadlock(const void* waiter, const void* holder) {
  // Follows the chain of owners each waiting on the next; reaching the
  // waiter again means a cycle.
  for (int hops = 0; holder != nullptr && hops < 64; hops++) {
    if (holder == waiter) return true;
    auto it = waiting_for_.find(holder);
    holder = it == waiting_for_.end() ? nullptr : it->second;
  }
  return false;
}

Status LockTable::Apply(Task& t, const Inode* inode, FileLock want,
                        bool unlock, bool wait) {
  if (!unlock) {
    for (;;) {
      const FileLock* conflict = FindConflict(inode, want);
      if (conflict == nullptr) break;
      if (!wait) return Err(EAGAIN);
      if (want.kind == FileLock::kPosix &&
          WouldDeadlock(want.owner, conflict->owner))
        return Err(EDEADLK);
      waiting_for_[want.owner] = conflict->owner;
      Waiter w([&t](uint32_t) { t.Wake(); });
      WaitQueueEntry entry(&changed_, &w);
      BlockResult r = t.Block();
      waiting_for_.erase(want.owner);
      if (r == BlockResult::kInterrupted) return Err(512);  // ERESTARTSYS
    }
  }
  // Cut the owner's existing locks out of the new range, keeping the parts
  // outside it (POSIX locks split and merge by range).
  auto& list = locks_[inode];
  for (auto it = list.begin(); it != list.end();) {
    if (!SameOwner(*it, want) || !Overlap(*it, want)) {
      ++it;
      continue;
    }
    FileLock old = *it;
    it = list.erase(it);
    if (old.start < want.start) {
      FileLock left = old;
      left.end = want.start - 1;
      list.insert(it, left);
    }
    if (old.end > want.end) {
      FileLock right = old;
      right.start = want.end + 1;
      list.insert(it, right);
    }
  }
  if (!unlock) list.push_back(want);
  if (list.empty()) locks_.erase(inode);
  changed_.Notify(kEventIn);
  return Ok();
}

void LockTable::Release(const Inode* inode, const void* owner) {
  bool any = false;
  for (auto it = locks_.begin(); it != locks_.end();) {
    if (inode == nullptr || it->first == inode) {
      any |= std::erase_if(it->second, [owner](const FileLock& l) {
               return l.owner == owner;
             }) > 0;
    }
    it = it->second.empty() ? locks_.erase(it) : std::next(it);
  }
  if (any) changed_.Notify(kEventIn);
}

}  // namespace moat
