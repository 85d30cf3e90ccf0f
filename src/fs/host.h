// The host filesystem, read-only, as the kernel sees it. Every file the
// sandbox reads from the host comes through this interface, which the gofer
// serves once the kernel is confined.
#pragma once

#include "vfs/inode.h"

namespace moat {

class HostInode : public Inode {
 public:
  explicit HostInode(std::string host_path) : path_(std::move(host_path)) {}

  Result<InodeAttr> Attr() override;
  Result<InodePtr> Lookup(const std::string& name) override;
  Result<std::vector<DirEntry>> ReadDir() override;
  Result<std::string> Readlink() override;
  Result<FilePtr> Open(int flags) override;
  Result<struct statfs> StatFs() override;
  Result<std::shared_ptr<MemoryObject>> Mappable() override;
  std::string FsType() const override { return "hostfs"; }

  // Writes are refused: the root is shown read-only and the overlay above
  // it takes every change.
  Status SetAttr(const SetAttrRequest&) override { return Err(EROFS); }

  const std::string& host_path() const { return path_; }

 private:
  std::string path_;
};

// An open host file, read through its own host descriptor.
class HostFile : public FileDescription {
 public:
  HostFile(int fd, InodeAttr attr) : fd_(fd), attr_(attr) {}
  ~HostFile() override;
  Result<size_t> PRead(Task& t, void* buf, size_t len, uint64_t off) override;
  Result<size_t> PWrite(Task& t, const void* buf, size_t len,
                        uint64_t off) override;
  Result<std::shared_ptr<MemoryObject>> Mappable() override;
  int host_fd() const { return fd_; }

 private:
  int fd_;
  InodeAttr attr_;
};

InodeAttr AttrFromStat(const struct stat& st);

}  // namespace moat
