// mremap(2): resizing and moving mappings, following Linux mm/mremap.c.
#include "mm/memory_file.h"
#include "mm/memory_manager.h"

namespace moat {

Result<uint64_t> MemoryManager::Mremap(uint64_t old_addr, uint64_t old_length,
                                       uint64_t new_length, int flags,
                                       uint64_t new_addr) {
  // The order of the checks is Linux's check_mremap_params().
  if (flags & ~(MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP))
    return Err(EINVAL);
  if (old_addr & kPageMask) return Err(EINVAL);
  if (PageUp(new_length) == 0) return Err(EINVAL);
  bool to_new = flags & (MREMAP_FIXED | MREMAP_DONTUNMAP);
  if (to_new) {
    if (new_addr & kPageMask) return Err(EINVAL);
    if (!(flags & MREMAP_MAYMOVE)) return Err(EINVAL);
    // MREMAP_DONTUNMAP moves without resizing. Linux compares the sizes
    // before rounding them up.
    if ((flags & MREMAP_DONTUNMAP) && old_length != new_length)
      return Err(EINVAL);
  }
  old_length = PageUp(old_length);
  new_length = PageUp(new_length);
  if (FindVma(old_addr) == nullptr) return Err(EFAULT);
  // Moved code would return from its trampolines to the old place.
  PatchesChanging(old_addr, old_addr + old_length, true);
  // A move takes only the PTEs along, so a direct VMA's host mapping
  // would stay behind.
  for (uint64_t a = old_addr;
       a < old_addr + std::max<uint64_t>(old_length, 1);) {
    Vma* v = FindVma(a);
    if (v == nullptr) break;
    TRY_STATUS(Undirect(*v));
    a = v->end;
  }
  Vma* vma = FindVma(old_addr);
  if (to_new)
    return MremapTo(old_addr, old_length, new_length, flags, new_addr);

  if (new_length == old_length) return old_addr;
  if (new_length < old_length) {
    RemoveRange(old_addr + new_length, old_addr + old_length);
    return old_addr;
  }
  TRY_STATUS(RemapAllowed(*vma, old_addr, old_length));
  // Grow in place when the range ends the VMA and the pages after it are
  // free.
  uint64_t grow_from = old_addr + old_length;
  auto next = vmas_.lower_bound(grow_from);
  bool free = !Overflows(old_addr, new_length) &&
              (next == vmas_.end() || next->first >= old_addr + new_length);
  if (free && vma->end == grow_from) {
    vma->end = old_addr + new_length;
    return old_addr;
  }
  if (!(flags & MREMAP_MAYMOVE)) return Err(ENOMEM);
  uint64_t target = TRY(FindGap(new_length, 0));
  return MoveRange(old_addr, old_length, new_length, target, false);
}

// Linux mm/mremap.c:mremap_to(): a move to a fixed address or, for
// MREMAP_DONTUNMAP alone, to a new place near `new_addr`.
Result<uint64_t> MemoryManager::MremapTo(uint64_t old_addr, uint64_t old_length,
                                         uint64_t new_length, int flags,
                                         uint64_t new_addr) {
  if (new_length > kUserEnd || new_addr > kUserEnd - new_length)
    return Err(EINVAL);
  if (old_addr + old_length > new_addr && new_addr + new_length > old_addr)
    return Err(EINVAL);
  if (flags & MREMAP_FIXED) {
    RemoveRange(new_addr, new_addr + new_length);
    // The target may have been part of the VMA that contains old_addr.
    if (FindVma(old_addr) == nullptr) return Err(EFAULT);
  }
  if (new_length < old_length) {
    RemoveRange(old_addr + new_length, old_addr + old_length);
    old_length = new_length;
  }
  Vma* vma = FindVma(old_addr);
  if (vma == nullptr) return Err(EFAULT);
  TRY_STATUS(RemapAllowed(*vma, old_addr, old_length));
  uint64_t target = new_addr;
  if (!(flags & MREMAP_FIXED)) target = TRY(FindGap(new_length, new_addr));
  return MoveRange(old_addr, old_length, new_length, target,
                   flags & MREMAP_DONTUNMAP);
}

// Linux mm/mremap.c:remap_is_valid().
Status MemoryManager::RemapAllowed(const Vma& vma, uint64_t old_addr,
                                   uint64_t old_length) const {
  // An old size of zero requests a second mapping of the same pages, which
  // only a shared mapping can provide.
  if (old_length == 0 && !vma.shared) return Err(EINVAL);
  if (old_length > vma.end - old_addr) return Err(EFAULT);
  return Ok();
}

uint64_t MemoryManager::MoveRange(uint64_t old_addr, uint64_t old_length,
                                  uint64_t new_length, uint64_t target,
                                  bool keep_old) {
  uint64_t old_end = old_addr + old_length;
  const Vma& source = *FindVma(old_addr);
  Vma moved = source;
  moved.start = target;
  moved.end = target + new_length;
  if (moved.object) moved.offset += old_addr - source.start;
  // With MREMAP_DONTUNMAP, or for an alias (old size zero), the old VMA
  // stays as it is and only its pages move.
  if (!keep_old && old_length > 0) {
    SplitAt(old_addr);
    SplitAt(old_end);
    auto it = vmas_.lower_bound(old_addr);
    while (it != vmas_.end() && it->first < old_end) it = vmas_.erase(it);
  }
  vmas_.emplace(target, std::move(moved));

  // The resident pages move and the host mapping of the old range goes
  // away. A kept VMA then faults in zero pages if it is anonymous memory,
  // and its object's pages otherwise.
  bool mapped = false;
  auto it = ptes_.lower_bound(old_addr);
  while (it != ptes_.end() && it->first < old_end) {
    Pte pte = it->second;
    mapped |= pte.host_prot != 0;
    uint64_t delta = it->first - old_addr;
    it = ptes_.erase(it);
    if (delta < new_length) {
      pte.host_prot = 0;
      ptes_[target + delta] = pte;
    } else {
      MemoryFile::Get().DecRef(pte.frame);
    }
  }
  if (mapped) (void)as_->Unmap(old_addr, old_length);
  return target;
}

}  // namespace moat
