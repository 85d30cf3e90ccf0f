// MemoryFile: the one memfd that holds all application memory of a sandbox.
// The kernel maps it once into its own address space, so copying to and from
// the application is a memcpy at a known offset. Stubs map ranges of it.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

#include "util/result.h"

namespace moat {

inline constexpr uint64_t kPageSize = 4096;
inline constexpr uint64_t kPageMask = kPageSize - 1;

inline uint64_t PageDown(uint64_t a) { return a & ~kPageMask; }
inline uint64_t PageUp(uint64_t a) { return (a + kPageMask) & ~kPageMask; }

// A frame is the MemoryFile offset of one page. Frames are reference counted:
// every page table entry and every page cache slot that holds a frame holds
// one reference. A frame whose count drops to zero is punched out of the
// memfd, except the last ones freed (MaxReusablePages), which keep their
// host pages for the next allocations. Frames from Allocate always read as
// zero.
class MemoryFile {
 public:
  static MemoryFile& Get();

  int fd() const { return fd_; }

  // Allocates `pages` contiguous zeroed frames, each with a count of one.
  // ENOMEM above the limit, after calling the limit handler. Frames freed
  // lately are zeroed here, so that the host need not allocate and zero
  // fresh pages on the program's first touch. A 1 MiB mmap, touch and
  // munmap (bench/micro.c mmap_touch) took 564 us so, and 1,176 us with
  // fresh pages, on the test VMs.
  Result<uint64_t> Allocate(uint64_t pages);

  // Allocates like Allocate, but the frames may still contain what their
  // last user wrote: only for a caller that overwrites every byte before
  // anything reads them. Recently freed frames are still backed by host
  // pages, which spares the host's allocation and zeroing of fresh ones,
  // about 4.5 us a page on the test VMs.
  Result<uint64_t> AllocateForOverwrite(uint64_t pages);

  void IncRef(uint64_t frame);
  void DecRef(uint64_t frame);
  // Drops one reference to each of `pages` consecutive frames and frees
  // the ones that reach zero, punching one hole per run of them.
  void DecRefRun(uint64_t frame, uint64_t pages);
  // DecRefRun for a thread that does not hold the kernel lock, such as the
  // trap platform's factory once a stub process is gone. The next Allocate
  // drops the references under the lock.
  void DecRefRunLater(uint64_t frame, uint64_t pages);
  uint32_t RefCount(uint64_t frame) const;

  // Sets out[i] to 1 if the host has a page for frame `frame + i` and to 0
  // if the frame is still a hole. Allocated frames are holes until they
  // are first read or written, through any mapping.
  Status Resident(uint64_t frame, uint64_t pages, uint8_t* out) const;

  // The kernel's view of the frame; valid while the caller holds a reference.
  uint8_t* Map(uint64_t frame) const { return base_ + frame; }

  // Bytes of frames in use, for /proc/meminfo and the memory limit.
  uint64_t UsedBytes() const { return used_pages_ * kPageSize; }
  // The number of host fallocate(PUNCH_HOLE) calls that freed frames, for
  // tests that check that freeing goes by runs.
  uint64_t holes_punched() const { return holes_punched_; }

  // Sets the --memory limit, which every frame counts against, whatever
  // uses it: process memory, tmpfs files, System V shared memory, mapped
  // file pages. 0 removes the limit.
  void SetLimit(uint64_t bytes) {
    limit_pages_ = bytes ? bytes / kPageSize : UINT64_MAX;
  }
  // The limit in bytes; 0 when there is none.
  uint64_t LimitBytes() const {
    return limit_pages_ == UINT64_MAX ? 0 : limit_pages_ * kPageSize;
  }
  // Whether `pages` more frames fit under the limit.
  bool HasRoom(uint64_t pages) const {
    return pages <= limit_pages_ && used_pages_ <= limit_pages_ - pages;
  }
  // Called, with the kernel lock held, when an allocation does not fit: the
  // kernel's OOM killer, which frees memory later, when its victim exits.
  void SetLimitHandler(std::function<void()> handler) {
    limit_handler_ = std::move(handler);
  }

 private:
  MemoryFile();
  void Free(uint64_t frame, uint64_t pages);
  void DropDeferred();
  // Adds a run to `runs`, merged with its neighbours.
  static void AddRun(std::map<uint64_t, uint64_t>& runs, uint64_t frame,
                     uint64_t pages);
  // Takes `pages` frames from the first run of `runs` that has them, or
  // returns UINT64_MAX.
  static uint64_t TakeRun(std::map<uint64_t, uint64_t>& runs, uint64_t pages);
  void MarkAllocated(uint64_t frame, uint64_t pages);

  int fd_ = -1;
  uint8_t* base_ = nullptr;
  uint64_t size_ = 0;
  uint64_t next_ = 0;
  uint64_t used_pages_ = 0;
  uint64_t holes_punched_ = 0;
  uint64_t limit_pages_ = UINT64_MAX;
  std::function<void()> limit_handler_;
  std::vector<uint32_t> refs_;             // indexed by frame / kPageSize
  std::map<uint64_t, uint64_t> free_runs_;  // start frame -> pages
  // Freed frames whose host pages were kept for the next allocations, up
  // to MaxReusablePages. Beyond that, freeing punches a hole. 64 MiB keeps
  // what a compiler process frees at its exit for the next one: a make -j2
  // of 49 files took 1,687 ms with it and 1,872 ms with 4 MiB (medians of
  // 6 alternating runs).
  static constexpr uint64_t kMaxReusablePages = 16384;
  // kMaxReusablePages, or an eighth of the --memory limit if that is less,
  // because the host counts the kept pages against the sandbox too.
  uint64_t MaxReusablePages() const {
    return std::min(kMaxReusablePages, limit_pages_ / 8);
  }
  std::map<uint64_t, uint64_t> reusable_runs_;  // start frame -> pages
  uint64_t reusable_pages_ = 0;
  std::mutex deferred_mu_;
  std::vector<std::pair<uint64_t, uint64_t>> deferred_;  // frame, pages
  std::atomic<bool> have_deferred_{false};
};

}  // namespace moat
