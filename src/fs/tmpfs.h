// tmpfs: files whose data lives in MemoryFile frames. Also the upper layer
// of the root overlay and the base of /dev.
#pragma once

#include <functional>
#include <map>
#include <set>

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

class TmpfsInode : public Inode {
 public:
  TmpfsInode(uint64_t dev, uint32_t mode, uint32_t uid, uint32_t gid);

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
  std::string FsType() const override { return "tmpfs"; }

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
};

// A new empty tmpfs; returns its root directory.
std::shared_ptr<TmpfsInode> NewTmpfs(uint32_t mode = 01777);

// An open regular tmpfs file.
class TmpfsFile : public FileDescription {
 public:
  explicit TmpfsFile(std::shared_ptr<TmpfsInode> node) : node_(node) {}
  Result<size_t> PRead(Task& t, void* buf, size_t len, uint64_t off) override;
  Result<size_t> PWrite(Task& t, const void* buf, size_t len,
                        uint64_t off) override;
  Status Truncate(uint64_t size) override;
  Status PunchHole(Task& t, uint64_t offset, uint64_t length,
                   uint64_t size) override;
  Result<std::shared_ptr<MemoryObject>> Mappable() override;
  Result<uint64_t> Seek(int64_t off, int whence) override;

 private:
  std::shared_ptr<TmpfsInode> node_;
};

}  // namespace moat
