#include "mm/memory_object.h"

#include <unistd.h>

#include <cstring>
#include <list>
#include <mutex>

#include "mm/memory_file.h"

namespace moat {

MemoryObject::MemoryObject(uint64_t size, uint64_t chunk_pages)
    : size_(size), chunk_pages_(chunk_pages) {}

MemoryObject::~MemoryObject() {
  ReleaseFrames(frames_.begin(), frames_.end());
  Uncharge(frames_.size());
}

// Drops this object's reference to the frames of [begin, end), one
// DecRefRun per run of consecutive frames. A file given millions of frames
// by fallocate(2) is then freed with a few host calls. One call per page
// took 0.5 s per GiB on a 2-CPU VM, all with the kernel lock held.
void MemoryObject::ReleaseFrames(FrameMap::iterator begin,
                                 FrameMap::iterator end) {
  MemoryFile& mf = MemoryFile::Get();
  uint64_t run_start = 0, run_pages = 0;
  for (auto it = begin; it != end; ++it) {
    if (run_pages > 0 && it->second == run_start + run_pages * kPageSize) {
      run_pages++;
      continue;
    }
    if (run_pages > 0) mf.DecRefRun(run_start, run_pages);
    run_start = it->second;
    run_pages = 1;
  }
  if (run_pages > 0) mf.DecRefRun(run_start, run_pages);
}

Status MemoryObject::Fill(uint64_t, uint64_t, uint64_t) { return Ok(); }

Result<uint64_t> MemoryObject::GetPage(uint64_t index, uint64_t* run) {
  uint64_t end_page = PageUp(size_) / kPageSize;
  if (index >= end_page) return Err(EFAULT);
  return FindOrAllocate(index, end_page, run);
}

bool MemoryObject::HasRoom(uint64_t pages) const {
  return !quota_ ||
         (pages <= quota_->limit && quota_->used <= quota_->limit - pages);
}

Status MemoryObject::Charge(uint64_t pages) {
  if (!HasRoom(pages)) return Err(ENOSPC);
  if (quota_) {
    quota_->used += pages;
    PageQuota::all_used += pages;
  }
  return Ok();
}

void MemoryObject::Uncharge(uint64_t pages) {
  if (quota_) {
    quota_->used -= pages;
    PageQuota::all_used -= pages;
  }
}

Result<uint64_t> MemoryObject::FindOrAllocate(uint64_t index,
                                              uint64_t end_page,
                                              uint64_t* run) {
  auto it = frames_.find(index);
  if (it == frames_.end()) {
    uint64_t first = index - index % chunk_pages_;
    uint64_t count = std::min(chunk_pages_, end_page - first);
    // Skip pages of the chunk that already have frames (after a Discard).
    while (frames_.count(first)) first++, count--;
    uint64_t last = first;
    while (last < first + count && !frames_.count(last)) last++;
    count = last - first;
    TRY_STATUS(Charge(count));
    MemoryFile& mf = MemoryFile::Get();
    // A backed object's Fill writes every byte of the frames.
    auto frame =
        HasBacking() ? mf.AllocateForOverwrite(count) : mf.Allocate(count);
    if (!frame.ok()) {
      Uncharge(count);
      return Err(frame.error());
    }
    Status s = Fill(first, count, *frame);
    if (!s.ok()) {
      mf.DecRefRun(*frame, count);
      Uncharge(count);
      return Err(s.error());
    }
    for (uint64_t i = 0; i < count; i++)
      frames_[first + i] = *frame + i * kPageSize;
    it = frames_.find(index);
  }
  uint64_t n = 1;
  auto next = std::next(it);
  while (next != frames_.end() && next->first == it->first + n &&
         next->second == it->second + n * kPageSize) {
    n++;
    ++next;
  }
  *run = n;
  return it->second;
}

Result<size_t> MemoryObject::ReadAt(uint64_t offset, void* buf,
                                    size_t length) {
  if (offset >= size_) return size_t(0);
  length = std::min<uint64_t>(length, size_ - offset);
  size_t done = 0;
  auto* out = static_cast<uint8_t*>(buf);
  while (done < length) {
    uint64_t pos = offset + done;
    size_t n = std::min<uint64_t>(length - done, kPageSize - pos % kPageSize);
    auto it = frames_.find(pos / kPageSize);
    if (it == frames_.end() && !HasBacking()) {
      memset(out + done, 0, n);  // a hole reads as zero
    } else {
      uint64_t run;
      uint64_t frame = TRY(GetPage(pos / kPageSize, &run));
      memcpy(out + done, MemoryFile::Get().Map(frame) + pos % kPageSize, n);
    }
    done += n;
  }
  return done;
}

Result<size_t> MemoryObject::WriteAt(uint64_t offset, const void* buf,
                                     size_t length) {
  uint64_t end_page = PageUp(offset + length) / kPageSize;
  size_t done = 0;
  auto* in = static_cast<const uint8_t*>(buf);
  while (done < length) {
    uint64_t pos = offset + done;
    size_t n = std::min<uint64_t>(length - done, kPageSize - pos % kPageSize);
    uint64_t run;
    auto frame = FindOrAllocate(pos / kPageSize, end_page, &run);
    if (!frame.ok()) {
      // A write that ran out of space returns what it wrote, as write(2)
      // does.
      if (done == 0) return Err(frame.error());
      break;
    }
    memcpy(MemoryFile::Get().Map(*frame) + pos % kPageSize, in + done, n);
    done += n;
  }
  size_ = std::max<uint64_t>(size_, offset + done);
  return done;
}

void MemoryObject::Truncate(uint64_t size) {
  // Not growing also drops the frames that fallocate gave pages past the
  // end, as Linux mm/shmem.c:shmem_setattr does.
  // TODO: processes that already map the dropped pages keep them and read
  // the old data, where Linux unmaps them (truncate_pagecache) and a later
  // access past the end raises SIGBUS.
  if (size <= size_) {
    // Zero the tail of the new last page, as a later extension must read 0.
    auto it = frames_.find(size / kPageSize);
    if (it != frames_.end() && size % kPageSize) {
      memset(MemoryFile::Get().Map(it->second) + size % kPageSize, 0,
             kPageSize - size % kPageSize);
    }
    Discard(PageUp(size) / kPageSize, UINT64_MAX / kPageSize);
  }
  size_ = size;
}

bool MemoryObject::HasRoomFor(uint64_t first, uint64_t count) const {
  uint64_t present = 0;
  for (auto it = frames_.lower_bound(first);
       it != frames_.end() && it->first - first < count; ++it)
    present++;
  return HasRoom(count - present);
}

Status MemoryObject::Allocate(uint64_t first, uint64_t count) {
  if (!HasRoomFor(first, count)) return Err(ENOSPC);
  for (uint64_t i = first; i < first + count;) {
    uint64_t run;
    TRY(FindOrAllocate(i, first + count, &run));
    i += run;
  }
  return Ok();
}

void MemoryObject::Discard(uint64_t first, uint64_t count) {
  auto begin = frames_.lower_bound(first);
  auto end = begin;
  uint64_t pages = 0;
  for (; end != frames_.end() && end->first - first < count; ++end) pages++;
  ReleaseFrames(begin, end);
  Uncharge(pages);
  frames_.erase(begin, end);
}

void MemoryObject::PunchHole(uint64_t offset, uint64_t length) {
  uint64_t end = length > UINT64_MAX - offset ? UINT64_MAX : offset + length;
  uint64_t whole_first = PageUp(offset) / kPageSize;
  uint64_t whole_end = PageDown(end) / kPageSize;
  // Clears [from, to) inside one page, if that page has a frame.
  auto clear = [this](uint64_t from, uint64_t to) {
    auto it = frames_.find(from / kPageSize);
    if (it == frames_.end() || from >= to) return;
    memset(MemoryFile::Get().Map(it->second) + from % kPageSize, 0,
           to - from);
  };
  if (whole_first > whole_end) {  // inside a single page
    clear(offset, end);
    return;
  }
  clear(offset, whole_first * kPageSize);
  clear(whole_end * kPageSize, end);
  if (whole_end > whole_first) Discard(whole_first, whole_end - whole_first);
}

uint64_t MemoryObject::NextData(uint64_t offset) const {
  auto it = frames_.lower_bound(offset / kPageSize);
  if (it == frames_.end()) return size_;
  return std::max(offset, it->first * kPageSize);
}

uint64_t MemoryObject::NextHole(uint64_t offset) const {
  uint64_t page = offset / kPageSize;
  while (frames_.count(page)) page++;
  return std::min(size_, std::max(offset, page * kPageSize));
}

// ---- HostFileObject ----

namespace {

struct CacheKey {
  dev_t dev;
  ino_t ino;
  bool operator<(const CacheKey& o) const {
    return dev != o.dev ? dev < o.dev : ino < o.ino;
  }
};

// Files mapped recently stay cached after their last mapping goes, as in
// Linux's page cache, so that a program started again (a compiler run by
// make, a shell's commands) finds its pages in memory. This many pages at
// most are kept that way, the least recently mapped files going first.
constexpr uint64_t kRetainedPages = (64 << 20) / kPageSize;
// At most this many files are kept, since each keeps a host descriptor.
constexpr size_t kRetainedFiles = 256;

std::mutex g_cache_mu;
std::map<CacheKey, std::weak_ptr<MemoryObject>> g_cache;
std::list<std::shared_ptr<MemoryObject>> g_retained;  // most recent first

void Retain(const std::shared_ptr<MemoryObject>& obj) {
  g_retained.remove(obj);
  g_retained.push_front(obj);
  uint64_t pages = 0;
  size_t files = 0;
  for (auto it = g_retained.begin(); it != g_retained.end();) {
    pages += (*it)->pages();
    files++;
    bool over = pages > kRetainedPages || files > kRetainedFiles;
    if (over && it != g_retained.begin())
      it = g_retained.erase(it);
    else
      ++it;
  }
}

}  // namespace

std::shared_ptr<MemoryObject> HostFileObject::Get(int fd, dev_t dev,
                                                  ino_t ino, uint64_t size) {
  std::lock_guard lock(g_cache_mu);
  auto& slot = g_cache[CacheKey{dev, ino}];
  auto obj = slot.lock();
  if (!obj || obj->size() != size) {
    obj = std::make_shared<HostFileObject>(dup(fd), size);
    slot = obj;
  }
  Retain(obj);
  return obj;
}

void HostFileObject::DropRetained() {
  std::list<std::shared_ptr<MemoryObject>> dropped;
  {
    std::lock_guard lock(g_cache_mu);
    dropped.swap(g_retained);
  }
}

// Program text is read in runs of 16 pages so that a fault maps 64 KiB.
HostFileObject::HostFileObject(int fd, uint64_t size)
    : MemoryObject(size, 16), fd_(fd) {}

HostFileObject::~HostFileObject() { close(fd_); }

Status HostFileObject::Fill(uint64_t first, uint64_t pages, uint64_t frame) {
  // The data goes through a buffer and pwrite, because writing into the
  // kernel's mapping of fresh frames faults it in one page at a time. On
  // the test VMs, 64 KiB took about 58 us that way and 30 us with pwrite.
  constexpr uint64_t kBufferPages = 16;
  thread_local std::unique_ptr<uint8_t[]> buffer;
  if (!buffer) buffer = std::make_unique<uint8_t[]>(kBufferPages * kPageSize);
  int memory_fd = MemoryFile::Get().fd();
  for (uint64_t at = 0; at < pages; at += kBufferPages) {
    uint64_t len = std::min(pages - at, kBufferPages) * kPageSize;
    uint64_t off = (first + at) * kPageSize;
    uint64_t done = 0;
    while (done < len) {
      ssize_t n = pread(fd_, buffer.get() + done, len - done, off + done);
      if (n < 0) {
        if (errno == EINTR) continue;
        return Err(EIO);
      }
      if (n == 0) break;
      done += n;
    }
    memset(buffer.get() + done, 0, len - done);  // past the end of the file
    for (uint64_t written = 0; written < len;) {
      ssize_t n = pwrite(memory_fd, buffer.get() + written, len - written,
                         frame + at * kPageSize + written);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return Err(n < 0 ? errno : EIO);
      written += n;
    }
  }
  return Ok();
}

}  // namespace moat
