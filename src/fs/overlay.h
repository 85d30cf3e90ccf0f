// The overlay that `moat do` puts over the read-only host root: a tmpfs
// upper layer takes every change, so writes succeed inside the sandbox and
// never reach the host. Like Linux overlayfs, a file is copied up on its
// first change, deletions of lower files are whiteouts, and renaming a
// directory that exists in the lower layer fails with EXDEV.
#pragma once

#include <map>

#include "fs/tmpfs.h"

namespace moat {

class OverlayInode : public Inode {
 public:
  OverlayInode(uint64_t dev, std::weak_ptr<OverlayInode> parent,
               std::string name, std::shared_ptr<TmpfsInode> upper,
               InodePtr lower);

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
  Result<struct statfs> StatFs() override;
  Result<std::shared_ptr<MemoryObject>> Mappable() override;
  std::string FsType() const override { return "overlay"; }
  // Only the sandbox changes the overlay, as long as its lower layer does
  // not change behind it.
  bool CacheWhenUnused() const override {
    return !lower_ || lower_->CacheWhenUnused();
  }

  // Gives this inode an upper copy, copying up its parents first.
  Status CopyUp();

 private:
  Result<std::shared_ptr<OverlayInode>> Child(const std::string& name);
  Status PrepareCreate(const std::string& name);
  Status RemoveEntry(const std::string& name, bool dir);

  uint64_t dev_;
  std::weak_ptr<OverlayInode> parent_;
  std::string name_;
  std::shared_ptr<TmpfsInode> upper_;
  InodePtr lower_;
  // The live inodes of this directory's entries, by name. Every lookup of
  // a name returns the one inode that copy-up and rename change, so a
  // cached dentry of it reads the changed file.
  std::map<std::string, std::weak_ptr<OverlayInode>> kids_;
};

// An overlay of a fresh tmpfs over `lower`; returns its root.
std::shared_ptr<OverlayInode> NewOverlay(InodePtr lower);

}  // namespace moat
