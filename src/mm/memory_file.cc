#include "mm/memory_file.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>

#include "util/log.h"

namespace moat {
namespace {

// The memfd is sparse: only frames in use take memory, so the reservation can
// be far larger than any sandbox needs.
constexpr uint64_t kMemoryFileSize = 64ull << 30;

}  // namespace

MemoryFile& MemoryFile::Get() {
  static MemoryFile* file = new MemoryFile();
  return *file;
}

MemoryFile::MemoryFile() {
  fd_ = memfd_create("moat-memory", MFD_CLOEXEC);
  MOAT_CHECK(fd_ >= 0, "memfd_create failed: errno {}", errno);
  MOAT_CHECK(ftruncate(fd_, kMemoryFileSize) == 0, "ftruncate memfd: {}",
             errno);
  void* p = mmap(nullptr, kMemoryFileSize, PROT_READ | PROT_WRITE,
                 MAP_SHARED | MAP_NORESERVE, fd_, 0);
  MOAT_CHECK(p != MAP_FAILED, "mmap memfd: errno {}", errno);
  base_ = static_cast<uint8_t*>(p);
  size_ = kMemoryFileSize;
}

Result<uint64_t> MemoryFile::Allocate(uint64_t pages) {
  if (have_deferred_.load(std::memory_order_acquire)) DropDeferred();
  if (!HasRoom(pages)) {
    if (limit_handler_) limit_handler_();
    return Err(ENOMEM);
  }
  // Recently freed frames still have host pages, which are cheaper to
  // zero here than the host's fresh ones are to allocate and zero on the
  // program's first touch. Then first fit among the punched runs, then
  // the never-used tail.
  uint64_t frame = TakeRun(reusable_runs_, pages);
  if (frame != UINT64_MAX) {
    reusable_pages_ -= pages;
    memset(Map(frame), 0, pages * kPageSize);
    MarkAllocated(frame, pages);
    return frame;
  }
  frame = TakeRun(free_runs_, pages);
  if (frame == UINT64_MAX) {
    if (next_ + pages * kPageSize > size_) return Err(ENOMEM);
    frame = next_;
    next_ += pages * kPageSize;
    refs_.resize(next_ / kPageSize, 0);
  }
  MarkAllocated(frame, pages);
  return frame;
}

Result<uint64_t> MemoryFile::AllocateForOverwrite(uint64_t pages) {
  if (have_deferred_.load(std::memory_order_acquire)) DropDeferred();
  if (!HasRoom(pages)) return Allocate(pages);  // which rejects it
  uint64_t frame = TakeRun(reusable_runs_, pages);
  if (frame == UINT64_MAX) return Allocate(pages);
  reusable_pages_ -= pages;
  MarkAllocated(frame, pages);
  return frame;
}

void MemoryFile::MarkAllocated(uint64_t frame, uint64_t pages) {
  for (uint64_t i = 0; i < pages; i++) refs_[frame / kPageSize + i] = 1;
  used_pages_ += pages;
}

uint64_t MemoryFile::TakeRun(std::map<uint64_t, uint64_t>& runs,
                             uint64_t pages) {
  for (auto it = runs.begin(); it != runs.end(); ++it) {
    if (it->second < pages) continue;
    uint64_t frame = it->first;
    uint64_t rest = it->second - pages;
    runs.erase(it);
    if (rest) runs[frame + pages * kPageSize] = rest;
    return frame;
  }
  return UINT64_MAX;
}

void MemoryFile::DecRefRunLater(uint64_t frame, uint64_t pages) {
  std::lock_guard lock(deferred_mu_);
  deferred_.emplace_back(frame, pages);
  have_deferred_.store(true, std::memory_order_release);
}

void MemoryFile::DropDeferred() {
  std::vector<std::pair<uint64_t, uint64_t>> runs;
  {
    std::lock_guard lock(deferred_mu_);
    runs.swap(deferred_);
    have_deferred_.store(false, std::memory_order_relaxed);
  }
  for (auto [frame, pages] : runs) DecRefRun(frame, pages);
}

void MemoryFile::IncRef(uint64_t frame) {
  uint32_t& r = refs_[frame / kPageSize];
  MOAT_CHECK(r > 0, "IncRef of free frame {:#x}", frame);
  r++;
}

uint32_t MemoryFile::RefCount(uint64_t frame) const {
  return refs_[frame / kPageSize];
}

void MemoryFile::DecRef(uint64_t frame) {
  uint32_t& r = refs_[frame / kPageSize];
  MOAT_CHECK(r > 0, "DecRef of free frame {:#x}", frame);
  if (--r == 0) Free(frame, 1);
}

void MemoryFile::DecRefRun(uint64_t frame, uint64_t pages) {
  uint64_t run_start = 0, run_pages = 0;
  for (uint64_t i = 0; i < pages; i++) {
    uint64_t current = frame + i * kPageSize;
    uint32_t& count = refs_[current / kPageSize];
    MOAT_CHECK(count > 0, "DecRef of free frame {:#x}", current);
    if (--count > 0) continue;
    if (run_pages > 0 && run_start + run_pages * kPageSize != current) {
      Free(run_start, run_pages);
      run_pages = 0;
    }
    if (run_pages == 0) run_start = current;
    run_pages++;
  }
  if (run_pages > 0) Free(run_start, run_pages);
}

Status MemoryFile::Resident(uint64_t frame, uint64_t pages,
                            uint8_t* out) const {
  // For a shared mapping of a memfd, the host's mincore(2) reports
  // whether the file has a page at each offset (Linux mm/mincore.c).
  if (mincore(base_ + frame, pages * kPageSize, out) != 0) return Err(errno);
  for (uint64_t i = 0; i < pages; i++) out[i] &= 1;
  return Ok();
}

void MemoryFile::Free(uint64_t frame, uint64_t pages) {
  used_pages_ -= pages;
  if (reusable_pages_ + pages <= MaxReusablePages()) {
    reusable_pages_ += pages;
    AddRun(reusable_runs_, frame, pages);
    return;
  }
  fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, frame,
            pages * kPageSize);
  holes_punched_++;
  AddRun(free_runs_, frame, pages);
}

void MemoryFile::AddRun(std::map<uint64_t, uint64_t>& runs, uint64_t frame,
                        uint64_t pages) {
  auto next = runs.lower_bound(frame);
  if (next != runs.end() && next->first == frame + pages * kPageSize) {
    pages += next->second;
    next = runs.erase(next);
  }
  if (next != runs.begin()) {
    auto prev = std::prev(next);
    if (prev->first + prev->second * kPageSize == frame) {
      prev->second += pages;
      return;
    }
  }
  runs[frame] = pages;
}

}  // namespace moat
