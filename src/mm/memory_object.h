// MemoryObject: pages of something that can be mapped, held as MemoryFile
// frames. A tmpfs file's data, a shared anonymous region and the page cache
// of a host file are all MemoryObjects, so every process that maps one sees
// the same frames.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>

#include "util/result.h"

namespace moat {

class MemoryObject {
 public:
  // `chunk_pages` frames are allocated together, so a fault can map a run
  // of them with one host call.
  explicit MemoryObject(uint64_t size, uint64_t chunk_pages = 1);
  virtual ~MemoryObject();

  uint64_t size() const { return size_; }
  // Pages that have a frame, for the resident counts of shmctl(SHM_INFO).
  uint64_t ResidentPages() const { return frames_.size(); }

  // Returns the frame that holds page `index`, filling it on first use, and
  // stores in *run how many pages from `index` on sit in consecutive frames.
  // EFAULT when the page lies past the end of the object.
  Result<uint64_t> GetPage(uint64_t index, uint64_t* run);

  Result<size_t> ReadAt(uint64_t offset, void* buf, size_t length);
  Result<size_t> WriteAt(uint64_t offset, const void* buf, size_t length);
  // Sets the size; frames wholly past the new end are released.
  void Truncate(uint64_t size);
  // Releases the frames of pages in [first, first+count), which then read
  // as zero (fallocate PUNCH_HOLE on tmpfs).
  void Discard(uint64_t first, uint64_t count);
  // The first offset at or after `offset` that has data (a frame) or is a
  // hole, for lseek's SEEK_DATA and SEEK_HOLE.
  uint64_t NextData(uint64_t offset) const;
  uint64_t NextHole(uint64_t offset) const;

 protected:
  // Fills `pages` fresh frames at `dst` with the contents of pages
  // [first, first+pages). The default leaves them zero.
  virtual Status Fill(uint64_t first, uint64_t pages, uint8_t* dst);
  // Whether a page without a frame has contents to read; if not, a read of
  // it returns zeros without allocating.
  virtual bool HasBacking() const { return false; }

 private:
  uint64_t size_;
  uint64_t chunk_pages_;
  std::map<uint64_t, uint64_t> frames_;  // page index -> frame
};

// The page cache of a read-only host file, shared by every mapping of it.
class HostFileObject : public MemoryObject {
 public:
  // Returns the cached object for the host file `fd` refers to.
  static std::shared_ptr<MemoryObject> Get(int fd, dev_t dev, ino_t ino,
                                           uint64_t size);
  HostFileObject(int fd, uint64_t size);
  ~HostFileObject() override;

 protected:
  Status Fill(uint64_t first, uint64_t pages, uint8_t* dst) override;
  bool HasBacking() const override { return true; }

 private:
  int fd_;
};

}  // namespace moat
