// Memory management calls: mmap(2), munmap(2), brk(2) and friends.
#include <sys/mman.h>

#include "fs/dev.h"
#include "syscalls/handlers.h"
#include "syscalls/util.h"

namespace moat {

// Implements mmap(2).
int64_t Mmap(Task& t, const SyscallArgs& args) {
  uint64_t addr = args[0], length = args[1];
  int prot = args.Int(2), flags = args.Int(3), fd = args.Int(4);
  uint64_t offset = args[5];
  if (prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC | 0x8 /* PROT_SEM */)) return -EINVAL;
  if (length == 0) return -EINVAL;
  if (offset & kPageMask) return -EINVAL;
  int type = flags & MAP_SHARED_VALIDATE;
  if (type == 0) return -EINVAL;
  if (type == MAP_SHARED_VALIDATE &&
      (flags & ~(MAP_SHARED_VALIDATE | MAP_FIXED | MAP_ANONYMOUS |
                 MAP_POPULATE | MAP_NONBLOCK | MAP_NORESERVE |
                 MAP_FIXED_NOREPLACE | MAP_GROWSDOWN | MAP_DENYWRITE |
                 MAP_EXECUTABLE | MAP_LOCKED | MAP_STACK | MAP_HUGETLB |
                 MAP_32BIT)))
    return -EOPNOTSUPP;
  if (PageUp(length) == 0 || PageUp(length) > kUserEnd) return -ENOMEM;

  MmapRequest req;
  req.addr = addr;
  req.length = length;
  req.prot = prot;
  req.flags = flags & ~MAP_32BIT;
  if (flags & MAP_32BIT && !(flags & MAP_FIXED) && addr == 0)
    req.addr = 0x40000000;  // a hint; the gap search moves it if taken
  if (!(flags & MAP_ANONYMOUS)) {
    FilePtr f = GetFile(t, fd);
    if (!f) return -EBADF;
    if (f->flags & O_PATH) return -EBADF;
    if (!f->readable()) return -EACCES;
    if (dynamic_cast<ZeroFile*>(f.get()) == nullptr) {
      if (type != MAP_PRIVATE && (prot & PROT_WRITE) && !f->writable())
        return -EACCES;
      if ((f->flags & O_APPEND) && type != MAP_PRIVATE &&
          (prot & PROT_WRITE))
        return -EACCES;
      if (f->mount && f->mount->noexec && (prot & PROT_EXEC)) return -EPERM;
      auto object = f->Mappable();
      if (!object.ok()) return -ENODEV;
      auto attr = f->Stat();
      req.object = object.value();
      req.offset = offset;
      if (attr.ok()) {
        req.dev = attr->dev;
        req.ino = attr->ino;
      }
      if (f->dentry && f->mount) {
        req.name = PathName(Path{f->mount, f->dentry}, t.fs->root);
      }
      if (type != MAP_PRIVATE && !f->writable())
        req.max_prot = PROT_READ | PROT_EXEC;
    }
  }
  uint64_t limit = t.tg().rlimits[RLIMIT_AS].rlim_cur;
  if (limit != RLIM_INFINITY &&
      t.mm().VirtualSize() + PageUp(length) > limit)
    return -ENOMEM;
  return ToReturn(t.mm().Mmap(req));
}

// Implements munmap(2).
int64_t Munmap(Task& t, const SyscallArgs& args) {
  return ToReturn(t.mm().Munmap(args[0], args[1]));
}

// Implements mprotect(2).
int64_t Mprotect(Task& t, const SyscallArgs& args) {
  return ToReturn(t.mm().Mprotect(args[0], args[1], args.Int(2)));
}

// Implements mremap(2).
int64_t Mremap(Task& t, const SyscallArgs& args) {
  return ToReturn(t.mm().Mremap(args[0], args[1], args[2], args.Int(3),
                                args[4]));
}

// Implements madvise(2).
int64_t Madvise(Task& t, const SyscallArgs& args) {
  return ToReturn(t.mm().Madvise(args[0], args[1], args.Int(2)));
}

// Implements brk(2).
int64_t Brk(Task& t, const SyscallArgs& args) {
  return ToReturn(t.mm().Brk(args[0]));
}

// Implements mincore(2), one page of results at a time as Linux
// mm/mincore.c does, so a huge length costs no kernel memory.
int64_t Mincore(Task& t, const SyscallArgs& args) {
  constexpr uint64_t kChunk = kPageSize * kPageSize;  // range of one page
  uint64_t addr = args[0], length = args[1];
  if (addr & kPageMask) return -EINVAL;
  if (Overflows(addr, length)) return -ENOMEM;
  length = PageUp(length);
  for (uint64_t done = 0; done < length; done += kChunk) {
    std::vector<uint8_t> vec;
    Status s = t.mm().Mincore(addr + done, std::min(kChunk, length - done),
                              &vec);
    if (!s.ok()) return -s.error();
    if (!t.mm().CopyOut(args[2] + done / kPageSize, vec.data(), vec.size())
             .ok())
      return -EFAULT;
  }
  return 0;
}

// Implements msync(2). Shared mappings are always coherent with the file
// because both use the same frames.
int64_t Msync(Task& t, const SyscallArgs& args) {
  int flags = args.Int(2);
  if (args[0] & kPageMask) return -EINVAL;
  if (flags & ~(MS_ASYNC | MS_INVALIDATE | MS_SYNC)) return -EINVAL;
  if ((flags & MS_ASYNC) && (flags & MS_SYNC)) return -EINVAL;
  if (!t.mm().RangeAccessible(args[0], PageUp(args[1]), 0)) return -ENOMEM;
  return 0;
}

// Implements mlock(2) and munlock(2): memory is never swapped, so they
// only check the range.
int64_t Mlock(Task& t, const SyscallArgs& args) {
  uint64_t start = PageDown(args[0]);
  uint64_t len = PageUp(args[0] + args[1]) - start;
  if (!t.mm().RangeAccessible(start, len, 0)) return -ENOMEM;
  return 0;
}

int64_t Munlock(Task& t, const SyscallArgs& args) { return Mlock(t, args); }

// Implements mlockall(2) and munlockall(2).
int64_t Mlockall(Task&, const SyscallArgs& args) {
  if (args[0] == 0 || (args[0] & ~uint64_t(MCL_CURRENT | MCL_FUTURE |
                                           MCL_ONFAULT)))
    return -EINVAL;
  return 0;
}

int64_t Munlockall(Task&, const SyscallArgs&) { return 0; }

}  // namespace moat
