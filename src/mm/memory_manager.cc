#include "mm/memory_manager.h"

#include <fmt/format.h>

#include <cstring>

#include "mm/memory_file.h"
#include "util/log.h"

namespace moat {
namespace {

// Linux's default vm.mmap_min_addr: nothing is mapped below it.
constexpr uint64_t kMinAddr = 0x10000;

// Releases frames in runs of consecutive ones, so that unmapping a large
// range punches one hole per run instead of one per page.
class FrameReleaser {
 public:
  ~FrameReleaser() { Flush(); }

  void Add(uint64_t frame) {
    if (pages_ > 0 && frame != first_ + pages_ * kPageSize) Flush();
    if (pages_ == 0) first_ = frame;
    pages_++;
  }

 private:
  void Flush() {
    if (pages_ > 0) MemoryFile::Get().DecRefRun(first_, pages_);
    pages_ = 0;
  }

  uint64_t first_ = 0;
  uint64_t pages_ = 0;
};

}  // namespace

MemoryManager::MemoryManager(std::shared_ptr<AddressSpace> as)
    : as_(std::move(as)) {}

MemoryManager::~MemoryManager() {
  FrameReleaser releaser;
  for (auto& [addr, pte] : ptes_) releaser.Add(pte.frame);
  if (exe_inode_) exe_inode_->executors--;
}

void MemoryManager::SetExecutable(std::shared_ptr<Inode> inode) {
  if (exe_inode_) exe_inode_->executors--;
  exe_inode_ = std::move(inode);
  if (exe_inode_) exe_inode_->executors++;
}

Vma* MemoryManager::FindVma(uint64_t addr) {
  auto it = vmas_.upper_bound(addr);
  if (it == vmas_.begin()) return nullptr;
  --it;
  return addr < it->second.end ? &it->second : nullptr;
}

void MemoryManager::SplitAt(uint64_t addr) {
  Vma* v = FindVma(addr);
  if (v == nullptr || v->start == addr) return;
  Vma tail = *v;
  tail.start = addr;
  if (tail.object) tail.offset += addr - v->start;
  v->end = addr;
  vmas_.emplace(addr, std::move(tail));
}

void MemoryManager::DropPtes(uint64_t start, uint64_t end, bool unmap) {
  peak_pages_ = std::max<uint64_t>(peak_pages_, ptes_.size());
  bool mapped = false;
  FrameReleaser releaser;
  auto it = ptes_.lower_bound(start);
  while (it != ptes_.end() && it->first < end) {
    mapped |= it->second.host_prot != 0;
    releaser.Add(it->second.frame);
    it = ptes_.erase(it);
  }
  if (mapped || unmap) (void)as_->Unmap(start, end - start);
}

void MemoryManager::RemoveRange(uint64_t start, uint64_t end) {
  PatchesChanging(start, end, false);
  SplitAt(start);
  SplitAt(end);
  // A direct VMA is mapped in the host where it has no PTE, too.
  bool direct = false;
  auto it = vmas_.lower_bound(start);
  while (it != vmas_.end() && it->first < end) {
    direct |= it->second.direct;
    it = vmas_.erase(it);
  }
  DropPtes(start, end, direct);
}

bool MemoryManager::MapDirect(Vma& vma) {
  if (!vma.object || !vma.host_mapping || (vma.prot & PROT_WRITE) ||
      vma.object->HostFd() < 0)
    return false;
  vma.direct = as_->MapHostFile(vma.start, vma.end - vma.start, vma.prot,
                                vma.object, vma.object->HostFd(), vma.offset)
                   .ok();
  return vma.direct;
}

bool MemoryManager::MapDirectOnFault(Vma& vma) {
  auto candidate = [&](const Vma& v) {
    if (v.direct || v.object != vma.object || (v.prot & PROT_WRITE) ||
        v.prot == 0)
      return false;
    // A page of its own (copied on write, written by the kernel, or
    // mapped from the file's cache) stays as it is.
    auto it = ptes_.lower_bound(v.start);
    return it == ptes_.end() || it->first >= v.end;
  };
  if (!vma.object || !candidate(vma) || !MapDirect(vma)) return false;
  for (auto& [start, other] : vmas_)
    if (&other != &vma && candidate(other)) (void)MapDirect(other);
  return true;
}

Status MemoryManager::Undirect(Vma& vma) {
  if (!vma.direct) return Ok();
  vma.direct = false;
  for (auto it = ptes_.lower_bound(vma.start);
       it != ptes_.end() && it->first < vma.end; ++it)
    it->second.host_prot = 0;
  return as_->Unmap(vma.start, vma.end - vma.start);
}

Result<uint64_t> MemoryManager::FindGap(uint64_t length,
                                        uint64_t hint) const {
  auto free_at = [&](uint64_t a) {
    if (a < kMinAddr || Overflows(a, length)) return false;
    auto it = vmas_.lower_bound(a);
    if (it != vmas_.end() && it->first < a + length) return false;
    if (it != vmas_.begin() && std::prev(it)->second.end > a) return false;
    return true;
  };
  if (hint && free_at(PageDown(hint))) return PageDown(hint);
  // Top down from mmap_base, as Linux's default layout does.
  uint64_t top = mmap_base ? mmap_base : kUserEnd;
  auto it = vmas_.lower_bound(top);
  for (;;) {
    uint64_t floor = kMinAddr;
    if (it != vmas_.begin()) floor = std::prev(it)->second.end;
    if (top >= floor + length && top - length >= kMinAddr) {
      return top - length;
    }
    if (it == vmas_.begin()) break;
    --it;
    top = std::min(top, it->second.start);
  }
  return Err(ENOMEM);
}

Result<uint64_t> MemoryManager::Mmap(const MmapRequest& req) {
  if (req.length == 0) return Err(EINVAL);
  uint64_t length = PageUp(req.length);
  if (length == 0 || length > kUserEnd) return Err(ENOMEM);
  int type = req.flags & MAP_SHARED_VALIDATE;
  if (type != MAP_SHARED && type != MAP_PRIVATE &&
      type != MAP_SHARED_VALIDATE)
    return Err(EINVAL);
  if (req.offset & kPageMask) return Err(EINVAL);
  bool fixed = req.flags & (MAP_FIXED | MAP_FIXED_NOREPLACE);

  uint64_t addr;
  if (fixed) {
    addr = req.addr;
    if (addr & kPageMask) return Err(EINVAL);
    if (Overflows(addr, length)) return Err(ENOMEM);
    if (addr < kMinAddr) return Err(EPERM);
    if (req.flags & MAP_FIXED_NOREPLACE) {
      ReleasePatchArea(addr, addr + length);
      auto it = vmas_.lower_bound(addr);
      bool overlap = (it != vmas_.end() && it->first < addr + length) ||
                     (it != vmas_.begin() && std::prev(it)->second.end > addr);
      if (overlap) return Err(EEXIST);
    }
    RemoveRange(addr, addr + length);
  } else {
    addr = TRY(FindGap(length, req.addr));
  }

  Vma vma;
  vma.start = addr;
  vma.end = addr + length;
  vma.prot = req.prot & (PROT_READ | PROT_WRITE | PROT_EXEC);
  vma.shared = type != MAP_PRIVATE;
  vma.growsdown = req.flags & MAP_GROWSDOWN;
  vma.max_prot = req.max_prot;
  vma.object = req.object;
  vma.offset = req.offset;
  vma.name = req.name;
  vma.dev = req.dev;
  vma.ino = req.ino;
  vma.host_mapping = req.host_mapping;
  if (vma.shared && !vma.object) {
    vma.object = std::make_shared<MemoryObject>(length);
    vma.name = "/dev/zero (deleted)";
  }
  Vma& placed = vmas_.emplace(addr, std::move(vma)).first->second;
  if (MapDirect(placed)) return addr;
  // A loader's read-only segments, placed with MAP_FIXED over its first
  // mapping of the whole file, executable mappings and small files such as
  // ld.so.cache: their cached pages are mapped now rather than on a fault
  // each, up to two blocks of fault-around (a C library's text).
  bool small = length <= kFaultAroundPages * kPageSize;
  if (placed.object && !(placed.prot & PROT_WRITE) &&
      (fixed || (placed.prot & PROT_EXEC) || small))
    MapCachedRange(
        placed, addr,
        std::min(placed.end, addr + 2 * kMapCachedPages * kPageSize));
  // Small private memory, such as a loader's data segments (.data, .bss)
  // or its thread-local storage, is written right after.
  if (!placed.shared && small && (placed.prot & PROT_WRITE) &&
      (fixed || !placed.object))
    FillAhead(placed);
  return addr;
}

Status MemoryManager::Munmap(uint64_t addr, uint64_t length) {
  if ((addr & kPageMask) || length == 0) return Err(EINVAL);
  length = PageUp(length);
  if (Overflows(addr, length)) return Err(EINVAL);
  RemoveRange(addr, addr + length);
  return Ok();
}

Status MemoryManager::Mprotect(uint64_t addr, uint64_t length, int prot) {
  if (addr & kPageMask) return Err(EINVAL);
  if (prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC | PROT_GROWSDOWN |
               PROT_GROWSUP))
    return Err(EINVAL);
  length = PageUp(length);
  if (Overflows(addr, length)) return Err(ENOMEM);
  uint64_t end = addr + length;
  // Every page of the range must be mapped.
  for (uint64_t a = addr; a < end;) {
    Vma* v = FindVma(a);
    if (v == nullptr) return Err(ENOMEM);
    if (prot & ~v->max_prot & (PROT_READ | PROT_WRITE | PROT_EXEC))
      return Err(EACCES);
    a = v->end;
  }
  PatchesChanging(addr, end, true);
  SplitAt(addr);
  SplitAt(end);
  for (auto it = vmas_.lower_bound(addr); it != vmas_.end() && it->first < end;
       ++it) {
    Vma& v = it->second;
    v.prot = prot & (PROT_READ | PROT_WRITE | PROT_EXEC);
    // The host's mapping of a file is never writable: a write must reach
    // the MemoryFile's copy, which the kernel reads.
    if (v.direct && (v.prot & PROT_WRITE)) TRY_STATUS(Undirect(v));
    if (v.direct) TRY_STATUS(as_->Protect(v.start, v.end - v.start, v.prot));
  }
  // Pages the host maps get the protection a fault would now map them
  // with, one host call per run of them: a dynamic loader's read-only
  // relocations would otherwise fault again page by page. A page that
  // allows no access any more is unmapped.
  uint64_t run_start = 0, run_end = 0;
  int run_prot = 0;
  bool run_changes = false;
  auto flush = [&]() -> Status {
    if (run_end > run_start && run_changes) {
      if (run_prot == 0)
        TRY_STATUS(as_->Unmap(run_start, run_end - run_start));
      else
        TRY_STATUS(as_->Protect(run_start, run_end - run_start, run_prot));
    }
    run_start = run_end = 0;
    run_changes = false;
    return Ok();
  };
  Vma* vma = nullptr;
  for (auto it = ptes_.lower_bound(addr); it != ptes_.end() && it->first < end;
       ++it) {
    auto& [page, pte] = *it;
    if (pte.host_prot == 0) continue;
    if (vma == nullptr || page >= vma->end) vma = FindVma(page);
    int prot = HostProtFor(*vma, pte);
    if (page != run_end || prot != run_prot) {
      TRY_STATUS(flush());
      run_start = page;
      run_prot = prot;
    }
    run_end = page + kPageSize;
    run_changes |= pte.host_prot != prot;
    pte.host_prot = prot;
  }
  return flush();
}

Result<uint64_t> MemoryManager::Brk(uint64_t addr) {
  if (addr < brk_start) return brk;
  // Rounded up, such an address wraps to 0, which would "shrink" the heap
  // over the whole program. Linux mm/mmap.c:brk decides on the unrounded
  // value and rejects it.
  if (addr > UINT64_MAX - kPageMask) return brk;
  uint64_t old_end = PageUp(brk);
  uint64_t new_end = PageUp(addr);
  if (new_end > old_end) {
    if (Overflows(old_end, new_end - old_end)) return brk;
    ReleasePatchArea(old_end, new_end);
    auto it = vmas_.lower_bound(old_end);
    if (it != vmas_.end() && it->first < new_end) return brk;
    Vma* heap = old_end > brk_start ? FindVma(old_end - 1) : nullptr;
    if (heap != nullptr && heap->name == "[heap]") {
      heap->end = new_end;
    } else {
      MmapRequest req;
      req.addr = old_end;
      req.length = new_end - old_end;
      req.prot = PROT_READ | PROT_WRITE;
      req.flags = MAP_PRIVATE | MAP_FIXED;
      req.name = "[heap]";
      if (!Mmap(req).ok()) return brk;
    }
  } else if (new_end < old_end) {
    RemoveRange(new_end, old_end);
  }
  brk = addr;
  return brk;
}

Status MemoryManager::Madvise(uint64_t addr, uint64_t length, int advice) {
  if (addr & kPageMask) return Err(EINVAL);
  length = PageUp(length);
  if (Overflows(addr, length)) return Err(EINVAL);
  switch (advice) {
    case MADV_NORMAL: case MADV_RANDOM: case MADV_SEQUENTIAL:
    case MADV_WILLNEED: case MADV_MERGEABLE: case MADV_UNMERGEABLE:
    case MADV_HUGEPAGE: case MADV_NOHUGEPAGE: case MADV_DONTDUMP:
    case MADV_DODUMP: case MADV_COLD: case MADV_PAGEOUT:
      return RangeAccessible(addr, length, 0) ? Ok() : Err(ENOMEM);
    case MADV_DONTFORK: case MADV_DOFORK:
    case MADV_WIPEONFORK: case MADV_KEEPONFORK:
      return SetForkAdvice(addr, length, advice);
    case MADV_DONTNEED:
    case MADV_FREE:
    case MADV_REMOVE:
      break;
    default:
      return Err(EINVAL);
  }
  PatchesChanging(addr, addr + length, false);
  for (uint64_t a = addr; a < addr + length;) {
    Vma* v = FindVma(a);
    if (v == nullptr) return Err(ENOMEM);
    uint64_t end = std::min(v->end, addr + length);
    if (advice == MADV_REMOVE && v->shared && v->object)
      v->object->Discard((v->offset + a - v->start) / kPageSize,
                         (end - a) / kPageSize);
    DropPtes(a, end);
    a = end;
  }
  return Ok();
}

Status MemoryManager::SetForkAdvice(uint64_t addr, uint64_t length,
                                    int advice) {
  if (!RangeAccessible(addr, length, 0)) return Err(ENOMEM);
  if (advice == MADV_WIPEONFORK) {
    // Only private anonymous memory can be wiped (Linux mm/madvise.c).
    for (uint64_t a = addr; a < addr + length;) {
      Vma* v = FindVma(a);
      if (v->shared || v->object) return Err(EINVAL);
      a = v->end;
    }
  }
  SplitAt(addr);
  SplitAt(addr + length);
  for (auto it = vmas_.lower_bound(addr);
       it != vmas_.end() && it->first < addr + length; ++it) {
    Vma& v = it->second;
    if (advice == MADV_DONTFORK) v.dontfork = true;
    if (advice == MADV_DOFORK) v.dontfork = false;
    if (advice == MADV_WIPEONFORK) v.wipeonfork = true;
    if (advice == MADV_KEEPONFORK) v.wipeonfork = false;
  }
  return Ok();
}

Status MemoryManager::Mincore(uint64_t addr, uint64_t length,
                              std::vector<uint8_t>* out) {
  if (addr & kPageMask) return Err(EINVAL);
  length = PageUp(length);
  if (Overflows(addr, length)) return Err(ENOMEM);
  out->assign(length / kPageSize, 0);
  for (uint64_t a = addr; a < addr + length;) {
    Vma* vma = FindVma(a);
    if (vma == nullptr) return Err(ENOMEM);
    uint64_t end = std::min(vma->end, addr + length);
    while (a < end)
      a += TRY(MincoreRun(*vma, a, end, out->data() + (a - addr) / kPageSize));
  }
  return Ok();
}

// Fills the residency of the page at `page` and of the following pages up
// to `end` that one lookup covers, and returns the number of bytes filled.
// As in Linux mm/mincore.c, a page of an object is resident without a PTE
// if the object has a frame for it.
Result<uint64_t> MemoryManager::MincoreRun(const Vma& vma, uint64_t page,
                                           uint64_t end, uint8_t* out) {
  auto it = ptes_.find(page);
  if (it == ptes_.end()) {
    if (vma.object)
      *out = vma.object->HasFrame((vma.offset + page - vma.start) / kPageSize);
    return kPageSize;
  }
  if (vma.object) {
    *out = 1;
    return kPageSize;
  }
  // Fault-around fills anonymous pages that the program may never touch.
  // Their frames stay holes until it does, unless they were kept from an
  // earlier use and zeroed (MemoryFile::Allocate): then the whole block
  // reads as resident, as a transparent huge page does on Linux.
  uint64_t frame = it->second.frame;
  uint64_t pages = 1;
  for (auto next = std::next(it);
       next != ptes_.end() && next->first == page + pages * kPageSize &&
       next->first < end && next->second.frame == frame + pages * kPageSize;
       ++next)
    pages++;
  TRY_STATUS(MemoryFile::Get().Resident(frame, pages, out));
  return pages * kPageSize;
}

uint64_t MemoryManager::VirtualSize() const {
  uint64_t total = 0;
  for (auto& [start, v] : vmas_) total += v.end - v.start;
  return total;
}

std::string MemoryManager::Maps() const {
  std::string out;
  for (auto& [start, v] : vmas_) {
    out += fmt::format("{:08x}-{:08x} {}{}{}{} {:08x} {:02x}:{:02x} {} ",
                       v.start, v.end, v.prot & PROT_READ ? 'r' : '-',
                       v.prot & PROT_WRITE ? 'w' : '-',
                       v.prot & PROT_EXEC ? 'x' : '-', v.shared ? 's' : 'p',
                       v.object && !v.name.empty() && v.name[0] == '/'
                           ? v.offset
                           : 0,
                       v.dev >> 8, v.dev & 0xff, v.ino);
    if (!v.name.empty()) {
      out.resize(std::max<size_t>(out.size(), out.rfind('\n') + 1 + 73), ' ');
      out += v.name;
    }
    out += '\n';
  }
  return out;
}

}  // namespace moat
