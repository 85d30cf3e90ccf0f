// tmpfs: files whose data lives in MemoryFile frames. Also the upper layer
// of the root overlay and the base of /dev.
#pragma once

#include <functional>
#include <map>
#include <set>
#include <vector>

#include "vfs/inode.h"

namespace moat {

// Device numbers and inode numbers of in-kernel filesystems.
uint64_t NewAnonDev();
uint64_t NewIno();
struct timespec Now();

// Opens a character or block device node by its device number.
using DeviceOpener = std::function<Result<FilePtr>(InodePtr node, int flags)>;
void RegisterDevice(uint64_t rdev, DeviceOpener opener);
Result<FilePtr> OpenDevice(uint64_t rdev, InodePtr node, int flags);

// The options of one tmpfs (Linux mm/shmem.c). A limit of 0 means none.
struct TmpfsOptions {
  uint64_t max_pages = 0;   // size= or nr_blocks=
  uint64_t max_inodes = 0;  // nr_inodes=
  uint32_t mode = 01777;    // of the root directory
  uint32_t uid = 0;
  uint32_t gid = 0;
  bool has_size = false;    // the options named a size or inode limit
  bool has_inodes = false;
};

// Returns the options Linux gives a tmpfs mounted without any: half of
// RAM as the size limit, and half as many inodes as RAM has pages.
TmpfsOptions DefaultTmpfsOptions();

// Parses tmpfs mount options ("size=1m", "nr_inodes=4", "mode=0750", ...)
// into `options`. EINVAL for an unknown option or a bad value.
Status ParseTmpfsOptions(const std::vector<std::string>& list,
                         TmpfsOptions* options);

// One tmpfs instance: its device number, limits and usage (Linux struct
// shmem_sb_info).
class TmpfsFs : public SuperBlock {
 public:
  explicit TmpfsFs(const TmpfsOptions& options);

  std::string Options() const override;
  Status Reconfigure(const std::vector<std::string>& list) override;
  struct statfs StatFs() const;
  bool HasInodeRoom() const {
    return options_.max_inodes == 0 || used_inodes < options_.max_inodes;
  }
  const TmpfsOptions& options() const { return options_; }

  const uint64_t dev;
  uint64_t used_inodes = 0;
  // The size limit and the pages in use, shared with every file's data.
  const std::shared_ptr<PageQuota> quota;

 private:
  TmpfsOptions options_;
};

class TmpfsInode : public Inode {
 public:
  TmpfsInode(std::shared_ptr<TmpfsFs> fs, uint32_t mode, uint32_t uid,
             uint32_t gid);
  ~TmpfsInode() override;

  Result<InodeAttr> Attr() override;
  Result<InodePtr> Lookup(const std::string& name) override;
  Result<InodePtr> Create(const std::string& name, uint32_t mode,
                          const Credentials& creds) override;
  Result<InodePtr> Mkdir(const std::string& name, uint32_t mode,
                         const Credentials& creds) override;
  Result<InodePtr> Mknod(const std::string& name, uint32_t mode, uint64_t dev,
                         const Credentials& creds) override;
  Result<InodePtr> Symlink(const std::string& name, const std::string& target,
                           const Credentials& creds) override;
  Status Link(const std::string& name, InodePtr target) override;
  Status Unlink(const std::string& name) override;
  Status Rmdir(const std::string& name) override;
  Status Rename(const std::string& old_name, Inode& new_dir,
                const std::string& new_name, unsigned flags) override;
  Result<std::vector<DirEntry>> ReadDir() override;
  Result<std::string> Readlink() override;
  Result<FilePtr> Open(int flags) override;
  Status SetAttr(const SetAttrRequest& req) override;
  Result<std::shared_ptr<MemoryObject>> Mappable() override;
  Result<struct statfs> StatFs() override { return fs_->StatFs(); }
  std::string FsType() const override { return "tmpfs"; }
  bool CacheWhenUnused() const override { return true; }

  const std::shared_ptr<TmpfsFs>& fs() const { return fs_; }

  // Adds an existing inode under `name` (used to build /dev).
  void AddChild(const std::string& name, InodePtr inode);

  InodeAttr attr;
  std::map<std::string, InodePtr> children;  // directories
  std::string target;                        // symlinks
  std::shared_ptr<MemoryObject> data;        // regular files
  std::shared_ptr<class Pipe> fifo;          // FIFOs
  // Overlay bookkeeping when this directory is an upper layer.
  std::set<std::string> whiteouts;
  bool opaque = false;

 private:
  Result<std::shared_ptr<TmpfsInode>> NewChild(const std::string& name,
                                               uint32_t mode,
                                               const Credentials& creds);
  void Touch();

  std::shared_ptr<TmpfsFs> fs_;
};

// The internal tmpfs of memfd_create(2) files. Linux sets it no size
// limit, but there each page is real memory. A moat frame takes host
// memory only once touched, so without a limit fallocate on a memfd could
// take the whole memory file, and every later page fault in the sandbox
// would raise SIGBUS. It gets the default limit of half of RAM instead.
std::shared_ptr<TmpfsFs> MemfdFs();

// A new empty tmpfs with the default limits; returns its root directory.
std::shared_ptr<TmpfsInode> NewTmpfs(uint32_t mode = 01777);
// The root directory of a new empty tmpfs for `fs`.
std::shared_ptr<TmpfsInode> NewTmpfs(std::shared_ptr<TmpfsFs> fs);

// An open regular tmpfs file.
class TmpfsFile : public FileDescription {
 public:
  explicit TmpfsFile(std::shared_ptr<TmpfsInode> node) : node_(node) {}
  Result<size_t> PRead(Task& t, void* buf, size_t len, uint64_t off) override;
  Result<size_t> PWrite(Task& t, const void* buf, size_t len,
                        uint64_t off) override;
  Status Truncate(uint64_t size) override;
  Status Allocate(Task& t, int mode, uint64_t offset,
                  uint64_t length) override;
  Result<std::shared_ptr<MemoryObject>> Mappable() override;
  Result<uint64_t> Seek(int64_t off, int whence) override;

 private:
  std::shared_ptr<TmpfsInode> node_;
};

}  // namespace moat
