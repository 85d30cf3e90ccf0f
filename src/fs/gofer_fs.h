// Files served by the gofer: the host directories of the sandbox's root
// and mounts. The kernel holds a gofer handle for each inode it has looked
// up, and host descriptors only for regular files it has opened.
#pragma once

#include <unordered_map>
#include <unordered_set>

#include "gofer/client.h"
#include "vfs/inode.h"

namespace moat {

// Lets go of the inodes kept because they were looked up recently (and so
// of their host descriptors), as at the end of a sandbox.
void ForgetRecentGoferInodes();

// A host descriptor from the gofer, closed when the last user lets go.
class HostFd {
 public:
  explicit HostFd(int fd);
  ~HostFd();
  HostFd(const HostFd&) = delete;
  HostFd& operator=(const HostFd&) = delete;
  int fd() const { return fd_; }

 private:
  int fd_;
};

class GoferInode : public Inode {
 public:
  GoferInode(std::shared_ptr<gofer::Client> client, uint64_t handle,
             const gofer::WireStat& st, bool read_only);
  ~GoferInode() override;

  // The root of the gofer's root number `index`. Lookups under a
  // `read_only` root are remembered, misses included, since nothing inside
  // the sandbox can change it.
  static Result<InodePtr> Attach(std::shared_ptr<gofer::Client> client,
                                 uint32_t index, bool read_only);

  // Attributes are cached: the sandbox is taken to be the only writer of
  // its host files, and its own changes update the cache.
  Result<InodeAttr> Attr() override { return attr_; }
  Result<InodePtr> Lookup(const std::string& name) override;
  Result<InodePtr> Create(const std::string& name, uint32_t mode,
                          const Credentials& creds) override;
  Result<InodePtr> Mknod(const std::string& name, uint32_t mode, uint64_t dev,
                         const Credentials& creds) override;
  Result<InodePtr> Mkdir(const std::string& name, uint32_t mode,
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
  Result<struct statfs> StatFs() override;
  Result<std::shared_ptr<MemoryObject>> Mappable() override;
  std::string FsType() const override { return "hostfs"; }
  // A writable host directory may change behind the sandbox.
  bool CacheWhenUnused() const override { return read_only_; }

  // Records a write through an open file in the cached attributes.
  void NoteWrite(uint64_t end);

 private:
  Result<InodePtr> NewChild(gofer::Decoder& in);
  // Opens the file on the host with `flags` through the gofer.
  Result<std::shared_ptr<HostFd>> OpenOnHost(int flags);
  // The descriptor readers of a file under a read-only root share, which
  // saves the gofer a request and the host a descriptor per open.
  Result<std::shared_ptr<HostFd>> SharedReadFd();
  Status RemoveEntry(const std::string& name, uint32_t flags);

  std::shared_ptr<gofer::Client> client_;
  uint64_t handle_;
  InodeAttr attr_;
  std::string link_target_;  // a symlink's target, once read
  std::shared_ptr<HostFd> read_fd_;  // see SharedReadFd
  bool read_only_;
  // Children looked up so far, and names found missing, under a read-only
  // root. Guarded by the kernel lock, as every inode operation is.
  std::unordered_map<std::string, std::weak_ptr<Inode>> children_;
  std::unordered_set<std::string> missing_;
  // A FIFO's data, in the kernel: every open of the inode shares it.
  std::shared_ptr<class Pipe> fifo_;
};

// An open regular host file, read and written through a host descriptor:
// its own, or for reading under a read-only root, one that every reader of
// the inode shares.
class GoferFile : public FileDescription {
 public:
  explicit GoferFile(std::shared_ptr<HostFd> fd);
  ~GoferFile() override;
  Result<size_t> PRead(Task& t, void* buf, size_t len, uint64_t off) override;
  Result<size_t> PWrite(Task& t, const void* buf, size_t len,
                        uint64_t off) override;
  Status Fsync() override;
  Status Truncate(uint64_t size) override;
  Result<std::shared_ptr<MemoryObject>> Mappable() override;

 private:
  std::shared_ptr<HostFd> fd_;
};

}  // namespace moat
