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

// A limit on the frames that a group of objects may hold: the size limit of
// one tmpfs. ENOSPC when a new frame would pass it.
struct PageQuota {
  uint64_t limit = UINT64_MAX;  // in pages
  uint64_t used = 0;
  // Pages charged to every quota together: the data of all tmpfs files and
  // memfds, which the resource log shows apart from the rest.
  static inline uint64_t all_used = 0;
};

class MemoryObject {
 public:
  // `chunk_pages` frames are allocated together, so a fault can map a run
  // of them with one host call.
  explicit MemoryObject(uint64_t size, uint64_t chunk_pages = 1);
  virtual ~MemoryObject();

  uint64_t size() const { return size_; }
  // The number of pages that have frames (st_blocks / 8 of a tmpfs file).
  uint64_t pages() const { return frames_.size(); }
  // Charges the frames of this object to `quota` from now on.
  void set_quota(std::shared_ptr<PageQuota> quota) { quota_ = std::move(quota); }
  // Pages that have a frame, for the resident counts of shmctl(SHM_INFO).
  uint64_t ResidentPages() const { return frames_.size(); }

  // Returns the frame that holds page `index`, filling it on first use, and
  // stores in *run how many pages from `index` on sit in consecutive frames.
  // EFAULT when the page lies past the end of the object.
  Result<uint64_t> GetPage(uint64_t index, uint64_t* run);
  // Writes pages [first, first+pages) of the backing file into the frames
  // from `frame` on, without keeping them here: copies for a private
  // mapping that the program writes. Zeros past the end of the file.
  // ENOTSUP for an object without backing.
  Status CopyFromBacking(uint64_t first, uint64_t pages, uint64_t frame) {
    if (!HasBacking()) return Err(ENOTSUP);
    return Fill(first, pages, frame);
  }
  // The host descriptor of the file behind this object, whose pages a
  // platform may map straight from the host's page cache, or -1.
  virtual int HostFd() const { return -1; }
  // Whether page `index` has a frame: the page cache residency that
  // mincore(2) reports for a page no process has mapped.
  bool HasFrame(uint64_t index) const { return frames_.count(index) != 0; }

  Result<size_t> ReadAt(uint64_t offset, void* buf, size_t length);
  Result<size_t> WriteAt(uint64_t offset, const void* buf, size_t length);
  // Sets the size; frames wholly past the new end are released.
  void Truncate(uint64_t size);
  // Gives frames to the pages in [first, first+count) that have none, even
  // past the end (fallocate). ENOSPC, with nothing allocated, when the
  // quota does not have room for all of them.
  Status Allocate(uint64_t first, uint64_t count);
  // Whether the quota has room for the pages in [first, first+count) that
  // have no frame yet.
  bool HasRoomFor(uint64_t first, uint64_t count) const;
  // Releases the frames of pages in [first, first+count), which then read
  // as zero (fallocate PUNCH_HOLE on tmpfs).
  void Discard(uint64_t first, uint64_t count);
  // Makes the bytes in [offset, offset+length) read as zero: the frames of
  // whole pages are released and partial pages are cleared. The size does
  // not change.
  void PunchHole(uint64_t offset, uint64_t length);
  // The first offset at or after `offset` that has data (a frame) or is a
  // hole, for lseek's SEEK_DATA and SEEK_HOLE.
  uint64_t NextData(uint64_t offset) const;
  uint64_t NextHole(uint64_t offset) const;

 protected:
  // Fills the `pages` fresh frames from `frame` on with the contents of
  // pages [first, first+pages). The default leaves them zero.
  virtual Status Fill(uint64_t first, uint64_t pages, uint64_t frame);
  // Whether a page without a frame has contents to read; if not, a read of
  // it returns zeros without allocating.
  virtual bool HasBacking() const { return false; }

 private:
  // Returns the frame of page `index` as GetPage does, but allocates any
  // page below `end_page`, even past the end of the object.
  Result<uint64_t> FindOrAllocate(uint64_t index, uint64_t end_page,
                                  uint64_t* run);
  using FrameMap = std::map<uint64_t, uint64_t>;
  void ReleaseFrames(FrameMap::iterator begin, FrameMap::iterator end);
  bool HasRoom(uint64_t pages) const;
  Status Charge(uint64_t pages);
  void Uncharge(uint64_t pages);

  uint64_t size_;
  uint64_t chunk_pages_;
  FrameMap frames_;                   // page index -> frame
  std::shared_ptr<PageQuota> quota_;     // null means no limit
};

// The page cache of a read-only host file, shared by every mapping of it.
class HostFileObject : public MemoryObject {
 public:
  // Returns the cached object for the host file `fd` refers to.
  static std::shared_ptr<MemoryObject> Get(int fd, dev_t dev, ino_t ino,
                                           uint64_t size);
  // Frees the pages of files that no mapping uses any more but that were
  // kept for a later mapping, when memory runs short.
  static void DropRetained();
  HostFileObject(int fd, uint64_t size);
  ~HostFileObject() override;
  int HostFd() const override { return fd_; }

 protected:
  Status Fill(uint64_t first, uint64_t pages, uint64_t frame) override;
  bool HasBacking() const override { return true; }

 private:
  int fd_;
};

}  // namespace moat
