// Page faults, copy-on-write, fork and kernel access to application memory.
#include <algorithm>
#include <cerrno>
#include <cstring>

#include "mm/memory_file.h"
#include "mm/memory_manager.h"
#include "util/log.h"

namespace moat {

bool MemoryManager::PrivateExclusive(const Vma& vma, const Pte& pte) const {
  return !vma.shared && MemoryFile::Get().RefCount(pte.frame) == 1;
}

int MemoryManager::HostProtFor(const Vma& vma, const Pte& pte) const {
  if (vma.shared || PrivateExclusive(vma, pte)) return vma.prot;
  return vma.prot & ~PROT_WRITE;
}

Status MemoryManager::MapRun(uint64_t start, uint64_t pages, int prot,
                             bool now) {
  uint64_t frame = ptes_.at(start).frame;
  if (now) return as_->MapFile(start, pages * kPageSize, frame, prot);
  return as_->MapFileOnResume(start, pages * kPageSize, frame, prot);
}

// Counts the resident pages right before `page` in `vma`, up to `limit`.
uint64_t MemoryManager::ResidentRunBefore(const Vma& vma, uint64_t page,
                                          uint64_t limit) const {
  uint64_t count = 0;
  auto it = ptes_.lower_bound(page);
  while (count < limit && it != ptes_.begin()) {
    --it;
    if (it->first < vma.start || it->first != page - (count + 1) * kPageSize)
      break;
    count++;
  }
  return count;
}

// Shrinks [*first, *last) to the pages without a PTE that touch `page`.
void MemoryManager::ShrinkToAbsent(uint64_t page, uint64_t* first,
                                   uint64_t* last) const {
  auto next = ptes_.upper_bound(page);
  if (next != ptes_.end()) *last = std::min(*last, next->first);
  auto prev = ptes_.lower_bound(page);
  if (prev != ptes_.begin())
    *first = std::max(*first, std::prev(prev)->first + kPageSize);
}

// Installs PTEs for `page` of private anonymous memory and the absent pages
// around it, in one run of consecutive fresh frames.
Status MemoryManager::PopulateAnonymous(Vma& vma, uint64_t page) {
  uint64_t block = kFaultAroundPages * kPageSize;
  uint64_t first = std::max(vma.start, page & ~(block - 1));
  uint64_t ahead = ResidentRunBefore(vma, page, kSequentialFillPages);
  uint64_t last = std::max(first + block, page + ahead * kPageSize);
  last = std::min(last, vma.end);
  ShrinkToAbsent(page, &first, &last);
  first = std::min(first, page);

  uint64_t count = (last - first) / kPageSize;
  MemoryFile& mf = MemoryFile::Get();
  if (count > 1 && !mf.HasRoom(count)) {
    // Near the memory limit, fill only the page the program needs: only
    // that one may call the OOM killer.
    first = page;
    count = 1;
  }
  uint64_t frame = TRY(mf.Allocate(count));
  for (uint64_t i = 0; i < count; i++)
    ptes_[first + i * kPageSize] = Pte{frame + i * kPageSize, 0};
  populated_pages += count;
  return Ok();
}

// Installs PTEs for `page` of a writable private file mapping and the
// absent pages of its fault-around window that touch it, as copies in one
// run of fresh frames. A copy at once saves the second fault that a write
// would take, and a program's data segment is written page after page.
// NOTE: Linux copies a page only when it is written, so its unwritten pages
// show later writes to the file. The copies made here keep the old contents.
Status MemoryManager::PopulateCopies(Vma& vma, uint64_t page) {
  uint64_t window = kFaultAroundPages * kPageSize;
  uint64_t first = std::max(vma.start, page & ~(window - 1));
  uint64_t last = std::min(vma.end, (page & ~(window - 1)) + window);
  if (vma.end - vma.start <= window) {
    first = vma.start;  // a data segment that straddles two windows
    last = vma.end;
  }
  ShrinkToAbsent(page, &first, &last);

  MemoryFile& mf = MemoryFile::Get();
  if (!mf.HasRoom((last - first) / kPageSize)) {
    first = page;
    last = page + kPageSize;
  }

  // The pages of a host file go straight into the copies when the file's
  // cache has none of them. Through the cache, 16 pages of a data segment
  // took 85-120 us in python3 -c pass, and 40-45 us this way.
  uint64_t index = (vma.offset + first - vma.start) / kPageSize;
  uint64_t end_index = PageUp(vma.object->size()) / kPageSize;
  uint64_t page_index = (vma.offset + page - vma.start) / kPageSize;
  if (vma.object->HostFd() >= 0 && page_index < end_index) {
    uint64_t count = std::min((last - first) / kPageSize, end_index - index);
    bool cached = false;
    for (uint64_t i = 0; i < count && !cached; i++)
      cached = vma.object->HasFrame(index + i);
    if (!cached) {
      uint64_t copy = TRY(mf.AllocateForOverwrite(count));
      Status filled = vma.object->CopyFromBacking(index, count, copy);
      if (!filled.ok()) {
        mf.DecRefRun(copy, count);
        return filled;
      }
      for (uint64_t i = 0; i < count; i++)
        ptes_[first + i * kPageSize] = Pte{copy + i * kPageSize, 0};
      populated_pages += count;
      return Ok();
    }
  }

  // The source pages: `page`'s must exist, and the run around it stops at
  // a page the file cannot give, such as one past its end.
  std::vector<uint64_t> sources;
  for (uint64_t a = first; a < last; a += kPageSize) {
    uint64_t run;
    auto frame =
        vma.object->GetPage((vma.offset + a - vma.start) / kPageSize, &run);
    if (frame.ok()) {
      sources.push_back(frame.value());
    } else if (a < page) {
      sources.clear();
      first = a + kPageSize;
    } else if (a == page) {
      return Err(frame.error());
    } else {
      break;
    }
  }

  uint64_t count = sources.size();
  uint64_t copy = TRY(mf.AllocateForOverwrite(count));
  for (uint64_t i = 0; i < count; i++) {
    memcpy(mf.Map(copy + i * kPageSize), mf.Map(sources[i]), kPageSize);
    ptes_[first + i * kPageSize] = Pte{copy + i * kPageSize, 0};
  }
  populated_pages += count;
  return Ok();
}

// Installs PTEs for `page` and the pages around it that have none, in one
// run of consecutive frames, without mapping them in the host.
Status MemoryManager::PopulateAround(Vma& vma, uint64_t page) {
  if (!vma.object) return PopulateAnonymous(vma, page);
  if (!vma.shared && (vma.prot & PROT_WRITE)) return PopulateCopies(vma, page);
  MemoryFile& mf = MemoryFile::Get();
  // Start at the fault-around window's first absent page before `page`
  // whose contents the object already holds, as Linux's do_fault_around
  // maps only pages already in the page cache.
  uint64_t window = kFaultAroundPages * kPageSize;
  uint64_t window_start = std::max(vma.start, page & ~(window - 1));
  auto prev = ptes_.lower_bound(page);
  if (prev != ptes_.begin())
    window_start = std::max(window_start, std::prev(prev)->first + kPageSize);
  auto index_of = [&](uint64_t addr) {
    return (vma.offset + addr - vma.start) / kPageSize;
  };
  uint64_t first = page;
  while (first > window_start &&
         vma.object->HasFrame(index_of(first - kPageSize)))
    first -= kPageSize;
  uint64_t run;
  uint64_t frame = TRY(vma.object->GetPage(index_of(first), &run));
  if (first + run * kPageSize <= page) {
    first = page;
    frame = TRY(vma.object->GetPage(index_of(page), &run));
  }
  uint64_t count = std::min(run, (vma.end - first) / kPageSize);
  auto next = ptes_.upper_bound(page);
  if (next != ptes_.end())
    count = std::min(count, (next->first - first) / kPageSize);
  for (uint64_t i = 0; i < count; i++) mf.IncRef(frame + i * kPageSize);
  for (uint64_t i = 0; i < count; i++)
    ptes_[first + i * kPageSize] = Pte{frame + i * kPageSize, 0};
  populated_pages += count;
  return Ok();
}

void MemoryManager::ForEachCachedRun(
    const Vma& vma, uint64_t start, uint64_t end,
    const std::function<bool(uint64_t, uint64_t, uint64_t)>& add) {
  auto next = ptes_.lower_bound(start);
  for (uint64_t a = start; a < end;) {
    if (next != ptes_.end() && next->first == a) {
      a += kPageSize;
      ++next;
      continue;
    }
    uint64_t index = (vma.offset + a - vma.start) / kPageSize;
    if (!vma.object->HasFrame(index)) {
      a += kPageSize;
      continue;
    }
    uint64_t run;
    auto frame = vma.object->GetPage(index, &run);
    if (!frame.ok()) return;
    uint64_t stop = std::min(end, a + run * kPageSize);
    if (next != ptes_.end()) stop = std::min(stop, next->first);
    // `add` inserts PTEs only before `next`, which stays valid.
    if (!add(a, frame.value(), (stop - a) / kPageSize)) return;
    a = stop;
  }
}

void MemoryManager::InsertPtes(uint64_t addr, uint64_t frame, uint64_t pages,
                               int host_prot) {
  MemoryFile& mf = MemoryFile::Get();
  for (uint64_t i = 0; i < pages; i++) {
    mf.IncRef(frame + i * kPageSize);
    ptes_.emplace(addr + i * kPageSize, Pte{frame + i * kPageSize, host_prot});
  }
}

// Maps the pages around `page` of a read-only file mapping whose frames the
// file's cache already contains, as far as the platform can queue them for
// the resume. Linux's fault-around maps 16 pages. A fault costs moat a trap
// and two hand-offs, many times a host fault, so one fault in a library's
// text maps the cached text of a whole block. Pages not cached stay absent,
// as Linux maps no page that is not in the page cache.
void MemoryManager::MapCachedAround(const Vma& vma, uint64_t page) {
  uint64_t block = kMapCachedPages * kPageSize;
  // A mapping no larger than a block that straddles two is mapped whole.
  if (vma.end - vma.start <= block) {
    MapCachedRange(vma, vma.start, vma.end);
    return;
  }
  MapCachedRange(vma, std::max(vma.start, page & ~(block - 1)),
                 std::min(vma.end, (page & ~(block - 1)) + block));
}

void MemoryManager::FillAhead(Vma& vma) {
  if (!PopulateAround(vma, vma.start).ok()) return;
  auto first = ptes_.find(vma.start);
  uint64_t frame = first->second.frame;
  uint64_t pages = 0;
  for (auto it = first; it != ptes_.end() && it->first < vma.end &&
                        it->first == vma.start + pages * kPageSize &&
                        it->second.frame == frame + pages * kPageSize;
       ++it)
    pages++;
  if (!as_->MapFileIfQueued(vma.start, pages * kPageSize, frame, vma.prot))
    return;
  for (uint64_t i = 0; i < pages; i++, ++first)
    first->second.host_prot = vma.prot;
}

void MemoryManager::MapCachedRange(const Vma& vma, uint64_t start,
                                   uint64_t end) {
  ForEachCachedRun(
      vma, start, end, [&](uint64_t addr, uint64_t frame, uint64_t pages) {
        if (!as_->MapFileIfQueued(addr, pages * kPageSize, frame, vma.prot))
          return false;
        InsertPtes(addr, frame, pages, vma.prot);
        return true;
      });
}

void MemoryManager::MapPtesAhead() {
  auto first = ptes_.end();  // the current run's first PTE
  uint64_t count = 0;
  auto flush = [&] {
    if (count == 0) return;
    const Pte& head = first->second;
    if (!as_->MapFileAhead(first->first, count * kPageSize, head.frame,
                           head.host_prot)) {
      auto it = first;
      for (uint64_t i = 0; i < count; i++, ++it) it->second.host_prot = 0;
    }
    count = 0;
  };
  for (auto it = ptes_.begin(); it != ptes_.end(); ++it) {
    const Pte& pte = it->second;
    if (pte.host_prot == 0) {
      flush();
      continue;
    }
    if (count > 0) {
      const Pte& head = first->second;
      bool joins = it->first == first->first + count * kPageSize &&
                   pte.frame == head.frame + count * kPageSize &&
                   pte.host_prot == head.host_prot;
      if (!joins) flush();
    }
    if (count == 0) first = it;
    count++;
  }
  flush();
}

void MemoryManager::MapAhead() {
  std::vector<std::pair<uint64_t, uint64_t>> cached;  // runs given PTEs here
  for (auto& [start, vma] : vmas_) {
    if (!vma.object || (vma.prot & PROT_WRITE) || vma.direct) continue;
    uint64_t end = std::min(vma.end, vma.start + kMapCachedPages * kPageSize);
    ForEachCachedRun(vma, vma.start, end,
                     [&](uint64_t addr, uint64_t frame, uint64_t pages) {
                       InsertPtes(addr, frame, pages, 0);
                       cached.emplace_back(addr, pages);
                       return true;
                     });
  }
  for (auto& [addr, pte] : ptes_) {
    const Vma* vma = FindVma(addr);
    if (vma != nullptr) pte.host_prot = HostProtFor(*vma, pte);
  }
  MapPtesAhead();
  // A cached page the platform did not map is left to its fault, as on a
  // platform that never maps ahead, so that it does not count as resident.
  MemoryFile& mf = MemoryFile::Get();
  for (auto [addr, pages] : cached) {
    for (uint64_t i = 0; i < pages; i++) {
      auto it = ptes_.find(addr + i * kPageSize);
      if (it->second.host_prot != 0) continue;
      mf.DecRef(it->second.frame);
      ptes_.erase(it);
    }
  }
}

Result<Pte*> MemoryManager::EnsurePage(Vma& vma, uint64_t page, bool write) {
  auto it = ptes_.find(page);
  if (it == ptes_.end()) {
    TRY_STATUS(PopulateAround(vma, page));
    it = ptes_.find(page);
  }
  Pte& pte = it->second;
  if (write && !vma.shared && !PrivateExclusive(vma, pte)) {
    // TODO: a write from another process (process_vm_writev, ptrace or
    // /proc/PID/mem) to a copy-on-write page that the host maps fails with
    // EFAULT, where Linux writes. Replacing the mapping needs a thread that
    // runs in this address space, and the platforms have none here.
    // A direct VMA's page is mapped in the host from the file.
    bool mapped = pte.host_prot != 0 || vma.direct;
    if (mapped && !as_->ChangeableHere()) return Err(EFAULT);
    MemoryFile& mf = MemoryFile::Get();
    uint64_t copy = TRY(mf.AllocateForOverwrite(1));
    memcpy(mf.Map(copy), mf.Map(pte.frame), kPageSize);
    mf.DecRef(pte.frame);
    pte.frame = copy;
    ReportForkCopy(page);
    if (mapped) {
      // The host still maps the old frame: replace it before anyone reads.
      TRY_STATUS(as_->MapFileOnResume(page, kPageSize, copy, vma.prot));
      pte.host_prot = vma.prot;
    }
  }
  return &pte;
}

namespace {

// Returns the result of a fault whose page could not be filled. A page the
// memory limit refused waits for the OOM killer (Linux mm/memory.c returns
// VM_FAULT_OOM), and any other failure raises SIGBUS.
FaultResult FailedFault(int error) {
  return error == ENOMEM ? FaultResult::kOutOfMemory : FaultResult::kBusError;
}

}  // namespace

FaultResult MemoryManager::HandleFault(uint64_t addr, bool access_error,
                                       bool fetch) {
  Vma* vma = FindVma(addr);
  if (vma == nullptr || addr >= kUserEnd) return FaultResult::kMapError;
  if ((vma->prot & (PROT_READ | PROT_WRITE | PROT_EXEC)) == 0)
    return FaultResult::kAccessError;
  uint64_t page = PageDown(addr);
  auto it = ptes_.find(page);

  if (it != ptes_.end() && it->second.host_prot != 0 && access_error) {
    // Mapped, yet the access was refused: either a write to a
    // copy-on-write page or an access the VMA does not allow.
    Pte& pte = it->second;
    if (!(vma->prot & PROT_WRITE)) return FaultResult::kAccessError;
    if (fetch && !(vma->prot & PROT_EXEC)) return FaultResult::kAccessError;
    // Already writable: another thread of this address space took the same
    // fault first and fixed the mapping while this one waited for the
    // kernel lock, or the host refused a late mapping. Mapping again
    // serves both.
    if (pte.host_prot & PROT_WRITE) {
      if (!as_->MapFile(page, kPageSize, pte.frame, pte.host_prot).ok())
        return FaultResult::kBusError;
      return FaultResult::kHandled;
    }
    auto r = EnsurePage(*vma, page, true);
    if (!r.ok()) return FailedFault(r.error());
    Pte* p = r.value();
    if (p->host_prot != vma->prot) {
      if (!as_->MapFileOnResume(page, kPageSize, p->frame, vma->prot).ok())
        return FaultResult::kBusError;
      p->host_prot = vma->prot;
    }
    return FaultResult::kHandled;
  }

  // A page the kernel thinks mapped that faulted all the same: another
  // thread mapped it meanwhile, or the host refused a late mapping, which
  // only MapFile reports.
  bool map_now = it != ptes_.end() && it->second.host_prot != 0;
  if (it == ptes_.end() && MapDirectOnFault(*vma)) return FaultResult::kHandled;
  if (it == ptes_.end()) {
    Status populated = PopulateAround(*vma, page);
    if (!populated.ok()) return FailedFault(populated.error());
  }
  // Map the run of consecutive frames around the faulting page that the
  // host does not map yet: forward as far as it goes, and back to the
  // start of the fault-around window.
  int prot = HostProtFor(*vma, ptes_.at(page));
  auto joins = [&](const std::pair<const uint64_t, Pte>& n, uint64_t at,
                   uint64_t frame) {
    return n.first == at && n.first >= vma->start && n.first < vma->end &&
           n.second.frame == frame && n.second.host_prot == 0 &&
           HostProtFor(*vma, n.second) == prot;
  };
  uint64_t start = page;
  uint64_t window_start = page & ~(kFaultAroundPages * kPageSize - 1);
  for (auto it = ptes_.find(page); it != ptes_.begin() && start > window_start;) {
    auto p = std::prev(it);
    if (!joins(*p, start - kPageSize,
               ptes_.at(start).frame - kPageSize))
      break;
    start -= kPageSize;
    it = p;
  }
  uint64_t count = (page - start) / kPageSize + 1;
  uint64_t frame = ptes_.at(start).frame;
  for (auto n = std::next(ptes_.find(page));
       n != ptes_.end() &&
       joins(*n, start + count * kPageSize, frame + count * kPageSize);
       ++n)
    count++;
  if (!MapRun(start, count, prot, map_now).ok()) return FaultResult::kBusError;
  for (uint64_t i = 0; i < count; i++)
    ptes_[start + i * kPageSize].host_prot = prot;
  if (vma->object && !(vma->prot & PROT_WRITE) && !vma->direct)
    MapCachedAround(*vma, page);
  return FaultResult::kHandled;
}

Status MemoryManager::CopyPages(uint64_t addr, size_t length, bool write,
                                void* dst, const void* src) {
  if (length == 0) return Ok();
  if (Overflows(addr, length)) return Err(EFAULT);
  size_t done = 0;
  MemoryFile& mf = MemoryFile::Get();
  while (done < length) {
    uint64_t a = addr + done;
    Vma* vma = FindVma(a);
    if (vma == nullptr) return Err(EFAULT);
    if (!(vma->prot & (write ? PROT_WRITE : PROT_READ))) return Err(EFAULT);
    auto pte = EnsurePage(*vma, PageDown(a), write);
    if (!pte.ok()) return Err(EFAULT);
    size_t n = std::min<uint64_t>(length - done, kPageSize - a % kPageSize);
    uint8_t* k = mf.Map(pte.value()->frame) + a % kPageSize;
    if (write) {
      if (src) memcpy(k, static_cast<const uint8_t*>(src) + done, n);
      else memset(k, 0, n);
    } else {
      memcpy(static_cast<uint8_t*>(dst) + done, k, n);
    }
    done += n;
  }
  return Ok();
}

bool MemoryManager::RangeAccessible(uint64_t addr, uint64_t length,
                                    int prot) {
  if (length == 0) return true;
  if (Overflows(addr, length)) return false;
  for (uint64_t a = addr; a < addr + length;) {
    Vma* vma = FindVma(a);
    if (vma == nullptr || (vma->prot & prot) != prot) return false;
    a = vma->end;
  }
  return true;
}

Status MemoryManager::CopyIn(uint64_t addr, void* dst, size_t length) {
  return CopyPages(addr, length, false, dst, nullptr);
}

Status MemoryManager::CopyOut(uint64_t addr, const void* src, size_t length) {
  static const uint8_t kNone = 0;
  return CopyPages(addr, length, true, nullptr, src ? src : &kNone);
}

Status MemoryManager::ZeroOut(uint64_t addr, size_t length) {
  return CopyPages(addr, length, true, nullptr, nullptr);
}

Result<std::string> MemoryManager::CopyInString(uint64_t addr, size_t max) {
  std::string out;
  while (out.size() < max) {
    uint64_t a = addr + out.size();
    size_t chunk = std::min<uint64_t>(max - out.size(),
                                      kPageSize - a % kPageSize);
    char buf[kPageSize];
    TRY_STATUS(CopyIn(a, buf, chunk));
    size_t len = strnlen(buf, chunk);
    out.append(buf, len);
    if (len < chunk) return out;
  }
  return Err(ENAMETOOLONG);
}

void MemoryManager::ReportForkCopy(uint64_t page) {
  if (fork_faults_left_ == 0) return;
  fork_faults_left_--;
  auto parent = fork_parent_.lock();
  if (!parent || parent->fork_copies_.size() >= kMaxForkCopies) return;
  auto& pages = parent->fork_copies_;
  if (std::find(pages.begin(), pages.end(), page) == pages.end())
    pages.push_back(page);
}

Result<std::shared_ptr<MemoryManager>> MemoryManager::Fork(
    std::shared_ptr<AddressSpace> child_as,
    std::initializer_list<uint64_t> copy_now,
    const std::function<Result<std::shared_ptr<AddressSpace>>()>& new_space) {
  MemoryFile& mf = MemoryFile::Get();
  // Pages copied for the child at once, whose mapping in the parent stays
  // as it is: address -> the child's frame.
  std::map<uint64_t, uint64_t> copies;
  std::vector<uint64_t> wanted(copy_now);
  wanted.insert(wanted.end(), fork_copies_.begin(), fork_copies_.end());
  for (uint64_t addr : wanted) {
    auto it = ptes_.find(addr);
    Vma* vma = it == ptes_.end() ? nullptr : FindVma(addr);
    if (vma == nullptr || vma->dontfork || vma->wipeonfork ||
        !PrivateExclusive(*vma, it->second) || copies.count(addr) != 0)
      continue;
    auto fresh = mf.AllocateForOverwrite(1);
    if (!fresh.ok()) continue;
    memcpy(mf.Map(fresh.value()), mf.Map(it->second.frame), kPageSize);
    copies[addr] = fresh.value();
  }
  // Private pages the parent maps writable become read-only there, so the
  // parent's next write copies them. Runs of them are protected together.
  auto protect_parent = [&]() -> Status {
    uint64_t run_start = 0, run_end = 0;
    int run_prot = 0;
    auto flush = [&]() -> Status {
      if (run_end > run_start)
        TRY_STATUS(as_->Protect(run_start, run_end - run_start, run_prot));
      run_start = run_end = 0;
      return Ok();
    };
    for (auto& [addr, pte] : ptes_) {
      if (!(pte.host_prot & PROT_WRITE)) continue;
      Vma* vma = FindVma(addr);
      if (vma->shared || copies.count(addr) != 0) continue;
      int prot = pte.host_prot & ~PROT_WRITE;
      if (addr != run_end || prot != run_prot) {
        TRY_STATUS(flush());
        run_start = addr;
        run_prot = prot;
      }
      run_end = addr + kPageSize;
      pte.host_prot = prot;
    }
    return flush();
  };
  // A host fork copies the parent's mappings as they are, so the parent's
  // copy-on-write protection comes first.
  bool host_fork = false;
  if (child_as == nullptr) {
    Status protected_ = protect_parent();
    auto forked = protected_.ok() ? as_->ForkHost() : Err(protected_.error());
    if (forked.ok()) {
      child_as = std::move(forked.value());
      host_fork = true;
    } else if (forked.error() == ENOTSUP && new_space) {
      forked = new_space();
      if (forked.ok()) child_as = std::move(forked.value());
    }
    if (!forked.ok()) {
      for (auto [addr, frame] : copies) mf.DecRef(frame);
      return Err(forked.error());
    }
  }
  auto child = std::make_shared<MemoryManager>(std::move(child_as));
  for (auto& [start, vma] : vmas_) {
    if (!vma.dontfork) {
      // Only a host fork copies the host's mappings of files.
      child->vmas_.emplace(start, vma).first->second.direct &= host_fork;
    }
    // The host copied these too, which the child must not have.
    if (host_fork && (vma.dontfork || vma.wipeonfork))
      TRY_STATUS(child->as_->Unmap(vma.start, vma.end - vma.start));
  }
  child->fork_parent_ = weak_from_this();
  child->fork_faults_left_ = kMaxForkCopies;
  for (auto& [addr, pte] : ptes_) {
    Vma* vma = FindVma(addr);
    if (vma == nullptr || vma->dontfork || vma->wipeonfork) continue;
    auto copied = copies.find(addr);
    uint64_t frame = copied != copies.end() ? copied->second : pte.frame;
    if (copied == copies.end()) mf.IncRef(frame);
    Pte& copy =
        child->ptes_.emplace_hint(child->ptes_.end(), addr, Pte{frame, 0})
            ->second;
    if (copied != copies.end()) {
      // Its own copy, mapped writable, even where the parent's mapping is
      // still read-only from an earlier fork.
      copy.host_prot = child->HostProtFor(*vma, copy);
      if (host_fork)
        TRY_STATUS(child->as_->MapFile(addr, kPageSize, frame, copy.host_prot));
    } else if (host_fork) {
      copy.host_prot = pte.host_prot;  // as the host copied it
    } else {
      // The child's host address space starts empty. It maps ahead the
      // pages the parent maps, private ones read-only, instead of faulting
      // on each.
      copy.host_prot = pte.host_prot & child->HostProtFor(*vma, copy);
    }
  }
  if (!host_fork) {
    child->MapPtesAhead();
    TRY_STATUS(protect_parent());
  }
  child->patches_ = patches_;
  child->brk_start = brk_start;
  child->brk = brk;
  child->stack_top = stack_top;
  child->arg_start = arg_start;
  child->arg_end = arg_end;
  child->env_start = env_start;
  child->env_end = env_end;
  child->auxv = auxv;
  child->exe_path = exe_path;
  child->SetExecutable(exe_inode_);
  child->exe_mount = exe_mount;
  child->exe_dentry = exe_dentry;
  child->mmap_base = mmap_base;
  return child;
}

}  // namespace moat
