#include "fs/overlay.h"

#include <fcntl.h>

#include <set>

namespace moat {

namespace {

// The size of a directory's inode map past which a lookup removes the
// entries of freed inodes.
constexpr size_t kMaxKids = 4096;

}  // namespace

std::shared_ptr<OverlayInode> NewOverlay(InodePtr lower) {
  auto upper = NewTmpfs(0755);
  if (auto a = lower->Attr(); a.ok()) {
    upper->attr.mode = a->mode;
    upper->attr.uid = a->uid;
    upper->attr.gid = a->gid;
  }
  return std::make_shared<OverlayInode>(NewAnonDev(),
                                        std::weak_ptr<OverlayInode>(), "",
                                        upper, std::move(lower));
}

OverlayInode::OverlayInode(uint64_t dev, std::weak_ptr<OverlayInode> parent,
                           std::string name,
                           std::shared_ptr<TmpfsInode> upper, InodePtr lower)
    : dev_(dev), parent_(std::move(parent)), name_(std::move(name)),
      upper_(std::move(upper)), lower_(std::move(lower)) {}

Result<InodeAttr> OverlayInode::Attr() {
  InodeAttr a = upper_ ? TRY(upper_->Attr()) : TRY(lower_->Attr());
  if (upper_ && lower_ && S_ISDIR(a.mode)) {
    // A merged directory keeps the lower one's link count, size and
    // times, as overlayfs shows them; ownership and mode are the upper's,
    // which copy-up took from the lower and chmod may have changed since.
    InodeAttr low = TRY(lower_->Attr());
    uint32_t mode = a.mode, uid = a.uid, gid = a.gid;
    struct timespec mtime = a.mtime, ctime = a.ctime;
    bool changed = upper_->attr.ctime.tv_sec > low.ctime.tv_sec;
    a = low;
    a.mode = mode;
    a.uid = uid;
    a.gid = gid;
    if (changed) {
      a.mtime = mtime;
      a.ctime = ctime;
    }
  }
  // Directories show the overlay's device; files keep the layer's inode
  // number so that hard links and `ls -i` stay consistent.
  if (S_ISDIR(a.mode)) a.dev = dev_;
  return a;
}

Result<std::shared_ptr<OverlayInode>> OverlayInode::Child(
    const std::string& name) {
  if (auto it = kids_.find(name); it != kids_.end()) {
    if (auto kid = it->second.lock()) return kid;
    kids_.erase(it);
  }
  std::shared_ptr<TmpfsInode> up;
  InodePtr low;
  if (upper_) {
    auto r = upper_->Lookup(name);
    if (r.ok()) up = std::static_pointer_cast<TmpfsInode>(r.value());
    else if (r.error() != ENOENT) return Err(r.error());
  }
  bool hidden = upper_ && (upper_->opaque || upper_->whiteouts.count(name));
  bool need_lower = !up || S_ISDIR(up->attr.mode);
  if (lower_ && !hidden && need_lower) {
    auto r = lower_->Lookup(name);
    if (r.ok()) low = r.value();
    else if (r.error() != ENOENT) return Err(r.error());
  }
  if (up && low && !(S_ISDIR(up->attr.mode) && low->IsDir())) low.reset();
  if (up && S_ISDIR(up->attr.mode) && up->opaque) low.reset();
  if (!up && !low) return Err(ENOENT);
  auto self = std::static_pointer_cast<OverlayInode>(shared_from_this());
  auto kid = std::make_shared<OverlayInode>(dev_, self, name, up, low);
  if (kids_.size() >= kMaxKids)
    std::erase_if(kids_, [](auto& k) { return k.second.expired(); });
  kids_[name] = kid;
  return kid;
}

Result<InodePtr> OverlayInode::Lookup(const std::string& name) {
  if (!IsDir()) return Err(ENOTDIR);
  return InodePtr(TRY(Child(name)));
}

Status OverlayInode::CopyUp() {
  if (upper_) return Ok();
  auto parent = parent_.lock();
  if (!parent) return Err(EIO);
  TRY_STATUS(parent->CopyUp());
  InodeAttr a = TRY(lower_->Attr());
  Credentials owner;
  owner.fsuid = a.uid;
  owner.fsgid = a.gid;
  InodePtr made;
  if (S_ISDIR(a.mode)) {
    made = TRY(parent->upper_->Mkdir(name_, a.mode, owner));
  } else if (S_ISLNK(a.mode)) {
    made = TRY(parent->upper_->Symlink(name_, TRY(lower_->Readlink()), owner));
  } else if (S_ISREG(a.mode)) {
    made = TRY(parent->upper_->Create(name_, a.mode, owner));
    auto node = std::static_pointer_cast<TmpfsInode>(made);
    // The lower file's page cache is the copy source, so no task is needed.
    auto src = TRY(lower_->Mappable());
    std::vector<char> buf(1 << 16);
    for (uint64_t off = 0; off < a.size;) {
      size_t n = TRY(src->ReadAt(off, buf.data(), buf.size()));
      if (n == 0) break;
      // A short write means the upper layer is full.
      if (TRY(node->data->WriteAt(off, buf.data(), n)) != n)
        return Err(ENOSPC);
      off += n;
    }
  } else {
    made = TRY(parent->upper_->Mknod(name_, a.mode, a.rdev, owner));
  }
  upper_ = std::static_pointer_cast<TmpfsInode>(made);
  upper_->attr.mode = a.mode;
  upper_->attr.atime = a.atime;
  upper_->attr.mtime = a.mtime;
  return Ok();
}

Status OverlayInode::PrepareCreate(const std::string& name) {
  if (!IsDir()) return Err(ENOTDIR);
  auto existing = Child(name);
  if (existing.ok()) return Err(EEXIST);
  if (existing.error() != ENOENT) return Err(existing.error());
  return CopyUp();
}

Result<InodePtr> OverlayInode::Create(const std::string& name, uint32_t mode,
                                      const Credentials& creds) {
  TRY_STATUS(PrepareCreate(name));
  TRY(upper_->Create(name, mode, creds));
  return InodePtr(TRY(Child(name)));
}

Result<InodePtr> OverlayInode::Mkdir(const std::string& name, uint32_t mode,
                                     const Credentials& creds) {
  TRY_STATUS(PrepareCreate(name));
  bool was_whiteout = upper_->whiteouts.count(name) > 0;
  auto made = TRY(upper_->Mkdir(name, mode, creds));
  // A directory made where a lower one was deleted must not show the
  // lower one's entries again.
  if (was_whiteout) std::static_pointer_cast<TmpfsInode>(made)->opaque = true;
  return InodePtr(TRY(Child(name)));
}

Result<InodePtr> OverlayInode::Mknod(const std::string& name, uint32_t mode,
                                     uint64_t dev, const Credentials& creds) {
  TRY_STATUS(PrepareCreate(name));
  TRY(upper_->Mknod(name, mode, dev, creds));
  return InodePtr(TRY(Child(name)));
}

Result<InodePtr> OverlayInode::Symlink(const std::string& name,
                                       const std::string& target,
                                       const Credentials& creds) {
  TRY_STATUS(PrepareCreate(name));
  TRY(upper_->Symlink(name, target, creds));
  return InodePtr(TRY(Child(name)));
}

Status OverlayInode::Link(const std::string& name, InodePtr target) {
  auto src = std::dynamic_pointer_cast<OverlayInode>(target);
  if (!src) return Err(EXDEV);
  TRY_STATUS(PrepareCreate(name));
  TRY_STATUS(src->CopyUp());
  return upper_->Link(name, src->upper_);
}

Status OverlayInode::RemoveEntry(const std::string& name, bool dir) {
  auto child = TRY(Child(name));
  bool child_dir = child->IsDir();
  if (dir && !child_dir) return Err(ENOTDIR);
  if (!dir && child_dir) return Err(EISDIR);
  if (dir && !TRY(child->ReadDir()).empty()) return Err(ENOTEMPTY);
  TRY_STATUS(CopyUp());
  if (child->upper_) {
    if (dir) {
      child->upper_->whiteouts.clear();
      child->upper_->children.clear();
      TRY_STATUS(upper_->Rmdir(name));
    } else {
      TRY_STATUS(upper_->Unlink(name));
    }
  }
  if (child->lower_) upper_->whiteouts.insert(name);
  upper_->attr.mtime = upper_->attr.ctime = Now();
  kids_.erase(name);
  return Ok();
}

Status OverlayInode::Unlink(const std::string& name) {
  return RemoveEntry(name, false);
}

Status OverlayInode::Rmdir(const std::string& name) {
  return RemoveEntry(name, true);
}

Status OverlayInode::Rename(const std::string& old_name, Inode& new_dir_inode,
                            const std::string& new_name, unsigned flags) {
  auto* new_dir = dynamic_cast<OverlayInode*>(&new_dir_inode);
  if (new_dir == nullptr) return Err(EXDEV);
  auto src = TRY(Child(old_name));
  if (src->IsDir() && src->lower_) return Err(EXDEV);
  auto dst = new_dir->Child(new_name);
  if (dst.ok()) {
    if (flags & RENAME_NOREPLACE) return Err(EEXIST);
    if (dst.value()->IsDir() && !TRY(dst.value()->ReadDir()).empty())
      return Err(ENOTEMPTY);
    if (dst.value()->IsDir() && dst.value()->lower_) return Err(EXDEV);
  } else if (flags & RENAME_EXCHANGE) {
    return Err(ENOENT);
  }
  if (flags & RENAME_EXCHANGE) return Err(EINVAL);
  TRY_STATUS(src->CopyUp());
  TRY_STATUS(new_dir->CopyUp());
  TRY_STATUS(upper_->Rename(old_name, *new_dir->upper_, new_name, flags));
  if (src->lower_) upper_->whiteouts.insert(old_name);
  if (dst.ok() && dst.value()->lower_) {
    // The lower file stays hidden under the renamed one.
    new_dir->upper_->whiteouts.erase(new_name);
  }
  // The inode moves with its name, so that a later copy-up of it or of its
  // entries uses the new name and parent.
  kids_.erase(old_name);
  new_dir->kids_[new_name] = src;
  src->name_ = new_name;
  src->parent_ =
      std::static_pointer_cast<OverlayInode>(new_dir->shared_from_this());
  return Ok();
}

Result<std::vector<DirEntry>> OverlayInode::ReadDir() {
  if (!IsDir()) return Err(ENOTDIR);
  std::vector<DirEntry> out;
  std::set<std::string> seen;
  if (upper_) {
    for (auto& e : TRY(upper_->ReadDir())) {
      seen.insert(e.name);
      out.push_back(e);
    }
  }
  if (lower_ && !(upper_ && upper_->opaque)) {
    for (auto& e : TRY(lower_->ReadDir())) {
      if (seen.count(e.name)) continue;
      if (upper_ && upper_->whiteouts.count(e.name)) continue;
      out.push_back(e);
    }
  }
  return out;
}

Result<std::string> OverlayInode::Readlink() {
  return upper_ ? upper_->Readlink() : lower_->Readlink();
}

Result<FilePtr> OverlayInode::Open(int flags) {
  bool write = (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
  if (write && !IsDir()) TRY_STATUS(CopyUp());
  FilePtr f = upper_ ? TRY(upper_->Open(flags)) : TRY(lower_->Open(flags));
  f->inode = shared_from_this();
  return f;
}

Status OverlayInode::SetAttr(const SetAttrRequest& req) {
  TRY_STATUS(CopyUp());
  return upper_->SetAttr(req);
}

Result<struct statfs> OverlayInode::StatFs() {
  // Linux fs/overlayfs/super.c:ovl_statfs reports the upper layer, where
  // the space goes. The root always has an upper directory.
  std::shared_ptr<OverlayInode> node =
      std::static_pointer_cast<OverlayInode>(shared_from_this());
  while (!node->upper_) {
    node = node->parent_.lock();
    if (!node) return Err(EIO);
  }
  struct statfs s = node->upper_->fs()->StatFs();
  s.f_type = 0x794c7630;  // OVERLAYFS_SUPER_MAGIC
  return s;
}

Result<std::shared_ptr<MemoryObject>> OverlayInode::Mappable() {
  return upper_ ? upper_->Mappable() : lower_->Mappable();
}

}  // namespace moat
