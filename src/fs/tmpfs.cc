#include "fs/tmpfs.h"
#include "mm/memory_file.h"

#include <dirent.h>
#include <sys/sysmacros.h>

#include <atomic>
#include <map>

#include "fs/pipe.h"
#include "vfs/vfs.h"

namespace moat {
namespace {

std::map<uint64_t, DeviceOpener>& Devices() {
  static std::map<uint64_t, DeviceOpener> devices;
  return devices;
}

uint8_t DirentType(uint32_t mode) {
  return static_cast<uint8_t>((mode & S_IFMT) >> 12);
}

}  // namespace

uint64_t NewAnonDev() {
  static std::atomic<uint64_t> next{16};
  return makedev(0, next++);
}

uint64_t NewIno() {
  static std::atomic<uint64_t> next{2};
  return next++;
}

struct timespec Now() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return ts;
}

void RegisterDevice(uint64_t rdev, DeviceOpener opener) {
  Devices()[rdev] = std::move(opener);
}

Result<FilePtr> OpenDevice(uint64_t rdev, InodePtr node, int flags) {
  auto it = Devices().find(rdev);
  if (it == Devices().end()) return Err(ENXIO);
  return it->second(std::move(node), flags);
}

TmpfsInode::TmpfsInode(uint64_t dev, uint32_t mode, uint32_t uid,
                       uint32_t gid) {
  attr.dev = dev;
  attr.ino = NewIno();
  attr.mode = mode;
  attr.uid = uid;
  attr.gid = gid;
  attr.nlink = S_ISDIR(mode) ? 2 : 1;
  attr.atime = attr.mtime = attr.ctime = attr.btime = Now();
  if (S_ISREG(mode)) data = std::make_shared<MemoryObject>(0);
}

std::shared_ptr<TmpfsInode> NewTmpfs(uint32_t mode) {
  return std::make_shared<TmpfsInode>(NewAnonDev(), S_IFDIR | mode, 0, 0);
}

void TmpfsInode::Touch() { attr.mtime = attr.ctime = Now(); }

Result<InodeAttr> TmpfsInode::Attr() {
  InodeAttr a = attr;
  if (data) {
    a.size = data->size();
    a.blocks = PageUp(a.size) / 512;
  } else if (S_ISLNK(a.mode)) {
    a.size = target.size();
  } else if (S_ISDIR(a.mode)) {
    a.size = 4096;
    a.blocks = 8;
  }
  return a;
}

Result<InodePtr> TmpfsInode::Lookup(const std::string& name) {
  if (!S_ISDIR(attr.mode)) return Err(ENOTDIR);
  auto it = children.find(name);
  if (it == children.end()) return Err(ENOENT);
  return it->second;
}

Result<std::shared_ptr<TmpfsInode>> TmpfsInode::NewChild(
    const std::string& name, uint32_t mode, const Credentials& creds) {
  if (!S_ISDIR(attr.mode)) return Err(ENOTDIR);
  if (children.count(name)) return Err(EEXIST);
  uint32_t gid = (attr.mode & S_ISGID) ? attr.gid : creds.fsgid;
  auto node = std::make_shared<TmpfsInode>(attr.dev, mode, creds.fsuid, gid);
  if (S_ISDIR(mode) && (attr.mode & S_ISGID)) node->attr.mode |= S_ISGID;
  children[name] = node;
  whiteouts.erase(name);
  if (S_ISDIR(mode)) attr.nlink++;
  Touch();
  return node;
}

Result<InodePtr> TmpfsInode::Create(const std::string& name, uint32_t mode,
                                    const Credentials& creds) {
  return InodePtr(TRY(NewChild(name, S_IFREG | (mode & 07777), creds)));
}

Result<InodePtr> TmpfsInode::Mkdir(const std::string& name, uint32_t mode,
                                   const Credentials& creds) {
  return InodePtr(TRY(NewChild(name, S_IFDIR | (mode & 07777), creds)));
}

Result<InodePtr> TmpfsInode::Mknod(const std::string& name, uint32_t mode,
                                   uint64_t dev, const Credentials& creds) {
  auto node = TRY(NewChild(name, mode, creds));
  node->attr.rdev = dev;
  return InodePtr(node);
}

Result<InodePtr> TmpfsInode::Symlink(const std::string& name,
                                     const std::string& link_target,
                                     const Credentials& creds) {
  auto node = TRY(NewChild(name, S_IFLNK | 0777, creds));
  node->target = link_target;
  return InodePtr(node);
}

void TmpfsInode::AddChild(const std::string& name, InodePtr inode) {
  children[name] = std::move(inode);
}

Status TmpfsInode::Link(const std::string& name, InodePtr target_inode) {
  if (!S_ISDIR(attr.mode)) return Err(ENOTDIR);
  auto node = std::dynamic_pointer_cast<TmpfsInode>(target_inode);
  if (!node || node->attr.dev != attr.dev) return Err(EXDEV);
  if (S_ISDIR(node->attr.mode)) return Err(EPERM);
  if (children.count(name)) return Err(EEXIST);
  children[name] = node;
  whiteouts.erase(name);
  node->attr.nlink++;
  node->attr.ctime = Now();
  Touch();
  return Ok();
}

Status TmpfsInode::Unlink(const std::string& name) {
  auto it = children.find(name);
  if (it == children.end()) return Err(ENOENT);
  auto node = std::static_pointer_cast<TmpfsInode>(it->second);
  if (S_ISDIR(node->attr.mode)) return Err(EISDIR);
  node->attr.nlink--;
  node->attr.ctime = Now();
  children.erase(it);
  Touch();
  return Ok();
}

Status TmpfsInode::Rmdir(const std::string& name) {
  auto it = children.find(name);
  if (it == children.end()) return Err(ENOENT);
  auto node = std::static_pointer_cast<TmpfsInode>(it->second);
  if (!S_ISDIR(node->attr.mode)) return Err(ENOTDIR);
  if (!node->children.empty()) return Err(ENOTEMPTY);
  node->attr.nlink = 0;
  children.erase(it);
  attr.nlink--;
  Touch();
  return Ok();
}

Status TmpfsInode::Rename(const std::string& old_name, Inode& new_dir_inode,
                          const std::string& new_name, unsigned flags) {
  auto* new_dir = dynamic_cast<TmpfsInode*>(&new_dir_inode);
  if (new_dir == nullptr || new_dir->attr.dev != attr.dev) return Err(EXDEV);
  auto it = children.find(old_name);
  if (it == children.end()) return Err(ENOENT);
  InodePtr moving = it->second;
  auto dst = new_dir->children.find(new_name);
  bool moving_dir = S_ISDIR(moving->Mode());
  if (flags & RENAME_EXCHANGE) {
    if (dst == new_dir->children.end()) return Err(ENOENT);
    std::swap(it->second, dst->second);
    Touch();
    new_dir->Touch();
    return Ok();
  }
  if (dst != new_dir->children.end()) {
    if (flags & RENAME_NOREPLACE) return Err(EEXIST);
    if (dst->second == moving) return Ok();
    auto old = std::static_pointer_cast<TmpfsInode>(dst->second);
    if (S_ISDIR(old->attr.mode)) {
      if (!moving_dir) return Err(EISDIR);
      if (!old->children.empty()) return Err(ENOTEMPTY);
      new_dir->attr.nlink--;
    } else if (moving_dir) {
      return Err(ENOTDIR);
    }
    old->attr.nlink = S_ISDIR(old->attr.mode) ? 0 : old->attr.nlink - 1;
  }
  new_dir->children[new_name] = moving;
  new_dir->whiteouts.erase(new_name);
  children.erase(old_name);
  if (moving_dir && new_dir != this) {
    attr.nlink--;
    new_dir->attr.nlink++;
  }
  std::static_pointer_cast<TmpfsInode>(moving)->attr.ctime = Now();
  Touch();
  new_dir->Touch();
  return Ok();
}

Result<std::vector<DirEntry>> TmpfsInode::ReadDir() {
  if (!S_ISDIR(attr.mode)) return Err(ENOTDIR);
  std::vector<DirEntry> out;
  for (auto& [name, node] : children) {
    auto a = TRY(node->Attr());
    out.push_back(DirEntry{name, a.ino, DirentType(a.mode)});
  }
  return out;
}

Result<std::string> TmpfsInode::Readlink() {
  if (!S_ISLNK(attr.mode)) return Err(EINVAL);
  return target;
}

Result<FilePtr> TmpfsInode::Open(int flags) {
  auto self = std::static_pointer_cast<TmpfsInode>(shared_from_this());
  if (S_ISCHR(attr.mode) || S_ISBLK(attr.mode))
    return OpenDevice(attr.rdev, self, flags);
  if (S_ISFIFO(attr.mode)) {
    if (!fifo) {
      fifo = std::make_shared<Pipe>();
      fifo->inode = self;
    }
    return OpenFifo(fifo, flags);
  }
  if (S_ISSOCK(attr.mode)) return Err(ENXIO);
  if (S_ISREG(attr.mode) && (flags & O_TRUNC) && data->size() != 0) {
    data->Truncate(0);
    Touch();
  }
  FilePtr f;
  if (S_ISREG(attr.mode))
    f = std::make_shared<TmpfsFile>(self);
  else
    f = std::make_shared<FileDescription>();
  f->inode = self;
  return f;
}

Status TmpfsInode::SetAttr(const SetAttrRequest& req) {
  if (req.mask & SetAttrRequest::kSize) {
    if (S_ISDIR(attr.mode)) return Err(EISDIR);
    if (!data) return Err(EINVAL);
    data->Truncate(req.size);
    attr.mtime = Now();
  }
  if (req.mask & SetAttrRequest::kMode)
    attr.mode = (attr.mode & S_IFMT) | (req.mode & 07777);
  if (req.mask & SetAttrRequest::kUid) attr.uid = req.uid;
  if (req.mask & SetAttrRequest::kGid) attr.gid = req.gid;
  if (req.mask & SetAttrRequest::kAtime) attr.atime = req.atime;
  if (req.mask & SetAttrRequest::kMtime) attr.mtime = req.mtime;
  attr.ctime = Now();
  return Ok();
}

Result<std::shared_ptr<MemoryObject>> TmpfsInode::Mappable() {
  if (!data) return Err(ENODEV);
  return data;
}

Result<size_t> TmpfsFile::PRead(Task&, void* buf, size_t len, uint64_t off) {
  return node_->data->ReadAt(off, buf, len);
}

Result<size_t> TmpfsFile::PWrite(Task&, const void* buf, size_t len,
                                 uint64_t off) {
  if (off + len < off || off + len > (1ull << 43)) return Err(EFBIG);
  size_t n = TRY(node_->data->WriteAt(off, buf, len));
  node_->attr.mtime = node_->attr.ctime = Now();
  return n;
}

Status TmpfsFile::Truncate(uint64_t size) {
  node_->data->Truncate(size);
  node_->attr.mtime = node_->attr.ctime = Now();
  return Ok();
}

// Frees the whole pages of the range and zeroes the partial ones at its
// edges, so that punching a huge sparse range costs nothing (writing zeros
// over it allocated every page).
Status TmpfsFile::PunchHole(Task&, uint64_t offset, uint64_t length, uint64_t) {
  MemoryObject& data = *node_->data;
  uint64_t size = data.size();
  if (offset >= size) return Ok();
  uint64_t end = offset + std::min(length, size - offset);
  uint64_t first = PageUp(offset), last = PageDown(end);
  static const char kZeros[kPageSize] = {};
  // The head and tail pieces are each shorter than a page.
  uint64_t head_end = std::min(first, end);
  if (head_end > offset) TRY(data.WriteAt(offset, kZeros, head_end - offset));
  if (last > first) data.Discard(first / kPageSize, (last - first) / kPageSize);
  uint64_t tail = std::max(last, head_end);
  if (end > tail) TRY(data.WriteAt(tail, kZeros, end - tail));
  node_->attr.mtime = node_->attr.ctime = Now();
  return Ok();
}

Result<uint64_t> TmpfsFile::Seek(int64_t off, int whence) {
  if (whence != SEEK_DATA && whence != SEEK_HOLE)
    return FileDescription::Seek(off, whence);
  MemoryObject& data = *node_->data;
  if (off < 0 || uint64_t(off) >= data.size()) return Err(ENXIO);
  uint64_t at = whence == SEEK_DATA ? data.NextData(off) : data.NextHole(off);
  if (at >= data.size() && whence == SEEK_DATA) return Err(ENXIO);
  offset = at;
  return offset;
}

Result<std::shared_ptr<MemoryObject>> TmpfsFile::Mappable() {
  return node_->data;
}

}  // namespace moat
