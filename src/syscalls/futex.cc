// futex(2) and robust futex lists, after Linux kernel/futex/.
#include <linux/futex.h>

#include "kernel/signal_delivery.h"
#include "mm/memory_file.h"
#include "syscalls/handlers.h"
#include "syscalls/util.h"

namespace moat {
namespace {

// Keys a futex word: shared mappings by frame, so that processes mapping
// the same memory agree, and everything else by address space and address.
Result<FutexKey> KeyFor(Task& t, uint64_t addr, bool private_op) {
  if (addr & 3) return Err(EINVAL);
  MemoryManager& mm = t.mm();
  if (!mm.RangeAccessible(addr, 4, 0)) return Err(EFAULT);
  if (!private_op) {
    for (auto& [start, vma] : mm.vmas()) {
      if (addr < vma.start || addr >= vma.end) continue;
      if (vma.shared && vma.object) {
        uint64_t index = (vma.offset + addr - vma.start) / kPageSize;
        uint64_t run;
        uint64_t frame = TRY(vma.object->GetPage(index, &run));
        return FutexKey{nullptr, frame + addr % kPageSize};
      }
      break;
    }
  }
  return FutexKey{&mm, addr};
}

int Wake(Kernel& k, const FutexKey& key, int count, uint32_t bitset) {
  int woken = 0;
  auto [begin, end] = k.futex_waiters.equal_range(key);
  for (auto it = begin; it != end && woken < count;) {
    FutexWaiter* w = it->second;
    if (!(w->bitset & bitset)) {
      ++it;
      continue;
    }
    w->woken = true;
    w->task->Wake();
    it = k.futex_waiters.erase(it);
    woken++;
  }
  return woken;
}

int64_t Wait(Task& t, uint64_t addr, bool private_op, uint32_t val,
             uint32_t bitset, std::optional<Clock::time_point> deadline) {
  if (bitset == 0) return -EINVAL;
  auto key = KeyFor(t, addr, private_op);
  if (!key.ok()) return -key.error();
  auto cur = t.mm().Read<uint32_t>(addr);
  if (!cur.ok()) return -EFAULT;
  if (cur.value() != val) return -EAGAIN;
  Kernel& k = t.kernel();
  FutexWaiter w{&t, key.value(), bitset, false};
  auto it = k.futex_waiters.emplace(key.value(), &w);
  BlockResult r = BlockResult::kWoken;
  while (!w.woken) {
    r = t.Block(deadline);
    if (r != BlockResult::kWoken) break;
  }
  if (!w.woken) k.futex_waiters.erase(it);
  if (w.woken) return 0;
  if (r == BlockResult::kTimedOut) return -ETIMEDOUT;
  if (!deadline) return kERestartSys;
  // A timed wait is EINTR under any handler, SA_RESTART or not, and
  // resumes to the same deadline otherwise (Linux futex_wait_restart).
  t.restart_block = [addr, private_op, val, bitset, deadline](Task& task) {
    return Wait(task, addr, private_op, val, bitset, deadline);
  };
  return kERestartBlock;
}

Result<std::optional<Clock::time_point>> Timeout(Task& t, uint64_t addr,
                                                 bool absolute,
                                                 bool realtime) {
  if (addr == 0) return std::optional<Clock::time_point>();
  auto ts = TRY(CopyInTimespec(t, addr));
  if (!absolute) return std::optional(DeadlineFromTimespec(ts));
  struct timespec now;
  clock_gettime(realtime ? CLOCK_REALTIME : CLOCK_MONOTONIC, &now);
  int64_t diff = (ts.tv_sec - now.tv_sec) * 1000000000ll +
                 (ts.tv_nsec - now.tv_nsec);
  if (diff < 0) diff = 0;
  return std::optional(Clock::now() + std::chrono::nanoseconds(diff));
}

int64_t Requeue(Task& t, uint64_t addr, uint64_t addr2, bool private_op,
                int wake, int requeue, std::optional<uint32_t> expected) {
  if (wake < 0 || requeue < 0) return -EINVAL;
  auto key = KeyFor(t, addr, private_op);
  auto key2 = KeyFor(t, addr2, private_op);
  if (!key.ok()) return -key.error();
  if (!key2.ok()) return -key2.error();
  if (expected) {
    auto cur = t.mm().Read<uint32_t>(addr);
    if (!cur.ok()) return -EFAULT;
    if (cur.value() != *expected) return -EAGAIN;
  }
  Kernel& k = t.kernel();
  int done = Wake(k, key.value(), wake, FUTEX_BITSET_MATCH_ANY);
  int moved = 0;
  auto [begin, end] = k.futex_waiters.equal_range(key.value());
  std::vector<FutexWaiter*> move;
  for (auto it = begin; it != end && moved < requeue; ++it, ++moved)
    move.push_back(it->second);
  for (FutexWaiter* w : move) {
    for (auto it = k.futex_waiters.begin(); it != k.futex_waiters.end();
         ++it) {
      if (it->second == w) {
        k.futex_waiters.erase(it);
        break;
      }
    }
    w->key = key2.value();
    k.futex_waiters.emplace(key2.value(), w);
  }
  return done + moved;
}

// FUTEX_WAKE_OP's operation on the second word (Linux
// kernel/futex/waitwake.c:futex_atomic_op_inuser).
Result<bool> WakeOp(Task& t, uint64_t addr2, uint32_t encoded) {
  int op = (encoded >> 28) & 7;
  int cmp = (encoded >> 24) & 15;
  int oparg = (encoded << 8) >> 20;
  int cmparg = (encoded << 20) >> 20;
  if (encoded & (FUTEX_OP_OPARG_SHIFT << 28)) {
    if (oparg < 0 || oparg > 31) return Err(EINVAL);
    oparg = 1 << oparg;
  }
  int old = int(TRY(t.mm().Read<uint32_t>(addr2)));
  int next;
  switch (op) {
    case FUTEX_OP_SET: next = oparg; break;
    case FUTEX_OP_ADD: next = old + oparg; break;
    case FUTEX_OP_OR: next = old | oparg; break;
    case FUTEX_OP_ANDN: next = old & ~oparg; break;
    case FUTEX_OP_XOR: next = old ^ oparg; break;
    default: return Err(ENOSYS);
  }
  TRY_STATUS(t.mm().Write<uint32_t>(addr2, uint32_t(next)));
  switch (cmp) {
    case FUTEX_OP_CMP_EQ: return old == cmparg;
    case FUTEX_OP_CMP_NE: return old != cmparg;
    case FUTEX_OP_CMP_LT: return old < cmparg;
    case FUTEX_OP_CMP_LE: return old <= cmparg;
    case FUTEX_OP_CMP_GT: return old > cmparg;
    case FUTEX_OP_CMP_GE: return old >= cmparg;
  }
  return Err(ENOSYS);
}

}  // namespace

int FutexWakeAddress(Task& t, uint64_t addr, int count) {
  auto key = KeyFor(t, addr, false);
  if (!key.ok()) return 0;
  return Wake(t.kernel(), key.value(), count, FUTEX_BITSET_MATCH_ANY);
}

// Walks the robust list at exit and marks each held lock as owned by a dead
// thread (Linux kernel/futex/core.c:exit_robust_list).
void ExitRobustList(Task& t) {
  if (t.robust_list == 0 || !t.mm_) return;
  MemoryManager& mm = t.mm();
  struct robust_list_head head;
  if (!mm.CopyIn(t.robust_list, &head, sizeof(head)).ok()) return;
  uint64_t entry = reinterpret_cast<uint64_t>(head.list.next);
  uint64_t pending = reinterpret_cast<uint64_t>(head.list_op_pending);
  int64_t offset = head.futex_offset;
  auto handle = [&](uint64_t e) {
    uint64_t word = (e & ~uint64_t(1)) + offset;
    auto v = mm.Read<uint32_t>(word);
    if (!v.ok() || (v.value() & FUTEX_TID_MASK) != uint32_t(t.tid)) return;
    uint32_t next = (v.value() & FUTEX_WAITERS) | FUTEX_OWNER_DIED;
    if (!mm.Write<uint32_t>(word, next).ok()) return;
    if (v.value() & FUTEX_WAITERS) FutexWakeAddress(t, word, 1);
  };
  for (int limit = 0; entry != t.robust_list && limit < 2048; limit++) {
    auto next = mm.Read<uint64_t>(entry & ~uint64_t(1));
    if (!next.ok()) break;
    if (entry != pending) handle(entry);
    entry = next.value();
  }
  if (pending) handle(pending);
  t.robust_list = 0;
}

// Implements futex(2). Priority-inheritance operations are not supported.
int64_t Futex(Task& t, const SyscallArgs& args) {
  uint64_t addr = args[0];
  int op = args.Int(1);
  uint32_t val = args[2];
  bool private_op = op & FUTEX_PRIVATE_FLAG;
  bool realtime = op & FUTEX_CLOCK_REALTIME;
  int cmd = op & FUTEX_CMD_MASK;
  switch (cmd) {
    case FUTEX_WAIT:
    case FUTEX_WAIT_BITSET: {
      if (realtime && cmd == FUTEX_WAIT) return -ENOSYS;
      auto deadline = Timeout(t, args[3], cmd == FUTEX_WAIT_BITSET, realtime);
      if (!deadline.ok()) return -deadline.error();
      uint32_t bitset = cmd == FUTEX_WAIT ? FUTEX_BITSET_MATCH_ANY
                                          : uint32_t(args[5]);
      return Wait(t, addr, private_op, val, bitset, deadline.value());
    }
    case FUTEX_WAKE:
    case FUTEX_WAKE_BITSET: {
      uint32_t bitset = cmd == FUTEX_WAKE ? FUTEX_BITSET_MATCH_ANY
                                          : uint32_t(args[5]);
      if (bitset == 0) return -EINVAL;
      auto key = KeyFor(t, addr, private_op);
      if (!key.ok()) return -key.error();
      return Wake(t.kernel(), key.value(), int(std::min<uint32_t>(val, INT32_MAX)),
                  bitset);
    }
    case FUTEX_REQUEUE:
      return Requeue(t, addr, args[4], private_op, int(val), int(args[3]),
                     std::nullopt);
    case FUTEX_CMP_REQUEUE:
      return Requeue(t, addr, args[4], private_op, int(val), int(args[3]),
                     uint32_t(args[5]));
    case FUTEX_WAKE_OP: {
      auto key = KeyFor(t, addr, private_op);
      auto key2 = KeyFor(t, args[4], private_op);
      if (!key.ok() || !key2.ok()) return -EINVAL;
      auto cond = WakeOp(t, args[4], uint32_t(args[5]));
      if (!cond.ok()) return -cond.error();
      int woken = Wake(t.kernel(), key.value(), int(val),
                       FUTEX_BITSET_MATCH_ANY);
      if (cond.value())
        woken += Wake(t.kernel(), key2.value(), int(args[3]),
                      FUTEX_BITSET_MATCH_ANY);
      return woken;
    }
  }
  return -ENOSYS;
}

// Implements set_robust_list(2).
int64_t SetRobustList(Task& t, const SyscallArgs& args) {
  if (args[1] != sizeof(struct robust_list_head)) return -EINVAL;
  t.robust_list = args[0];
  t.robust_list_len = args[1];
  return 0;
}

// Implements get_robust_list(2).
int64_t GetRobustList(Task& t, const SyscallArgs& args) {
  int pid = args.Int(0);
  auto target = pid ? t.kernel().TaskByTid(pid) : t.shared_from_this();
  if (!target) return -ESRCH;
  if (!t.mm().Write<uint64_t>(args[1], target->robust_list).ok() ||
      !t.mm().Write<uint64_t>(args[2], sizeof(struct robust_list_head)).ok())
    return -EFAULT;
  return 0;
}

// Implements set_tid_address(2).
int64_t SetTidAddress(Task& t, const SyscallArgs& args) {
  t.clear_child_tid = args[0];
  return t.tid;
}

}  // namespace moat
