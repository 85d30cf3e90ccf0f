#include "vfs/inode.h"

#include <linux/falloc.h>

#include <algorithm>

#include "vfs/lock.h"
#include "vfs/notify.h"
#include "vfs/vfs.h"

#include <unistd.h>

namespace moat {

bool Credentials::InGroup(uint32_t gid) const {
  return gid == fsgid ||
         std::find(groups.begin(), groups.end(), gid) != groups.end();
}

Status CheckAccess(const InodeAttr& attr, const Credentials& creds,
                   int want) {
  if (want == 0) return Ok();
  if (creds.OverridesDac()) {
    // Root may execute only what someone may execute (Linux
    // fs/namei.c:generic_permission).
    if ((want & X_OK) && !S_ISDIR(attr.mode) && !(attr.mode & 0111))
      return Err(EACCES);
    return Ok();
  }
  uint32_t bits;
  if (creds.fsuid == attr.uid)
    bits = attr.mode >> 6;
  else if (creds.InGroup(attr.gid))
    bits = attr.mode >> 3;
  else
    bits = attr.mode;
  if ((bits & want & 7) != (want & 7u)) return Err(EACCES);
  return Ok();
}

Result<InodePtr> Inode::Lookup(const std::string&) { return Err(ENOTDIR); }
Result<InodePtr> Inode::Create(const std::string&, uint32_t,
                               const Credentials&) {
  return Err(IsDir() ? EPERM : ENOTDIR);
}
Result<InodePtr> Inode::Mkdir(const std::string&, uint32_t,
                              const Credentials&) {
  return Err(IsDir() ? EPERM : ENOTDIR);
}
Result<InodePtr> Inode::Mknod(const std::string&, uint32_t, uint64_t,
                              const Credentials&) {
  return Err(IsDir() ? EPERM : ENOTDIR);
}
Result<InodePtr> Inode::Symlink(const std::string&, const std::string&,
                                const Credentials&) {
  return Err(IsDir() ? EPERM : ENOTDIR);
}
Status Inode::Link(const std::string&, InodePtr) {
  return Err(IsDir() ? EPERM : ENOTDIR);
}
Status Inode::Unlink(const std::string&) {
  return Err(IsDir() ? EPERM : ENOTDIR);
}
Status Inode::Rmdir(const std::string&) {
  return Err(IsDir() ? EPERM : ENOTDIR);
}
Status Inode::Rename(const std::string&, Inode&, const std::string&,
                     unsigned) {
  return Err(IsDir() ? EPERM : ENOTDIR);
}
Result<std::vector<DirEntry>> Inode::ReadDir() { return Err(ENOTDIR); }
Result<std::string> Inode::Readlink() { return Err(EINVAL); }
Result<FilePtr> Inode::Open(int) { return Err(ENXIO); }
Status Inode::SetAttr(const SetAttrRequest&) { return Err(EPERM); }
Result<struct statfs> Inode::StatFs() {
  return SimpleStatFs(0x01021994);  // TMPFS_MAGIC
}

struct statfs SimpleStatFs(int64_t magic) {
  struct statfs s = {};
  s.f_type = magic;
  s.f_bsize = 4096;
  s.f_frsize = 4096;
  s.f_namelen = 255;
  return s;
}

Status SuperBlock::Reconfigure(const std::vector<std::string>& options) {
  return options.empty() ? Ok() : Err(EINVAL);
}

Result<std::shared_ptr<MemoryObject>> Inode::Mappable() {
  return Err(ENODEV);
}

FileDescription::~FileDescription() {
  if (notify_open && dentry) {
    dentry->open_files--;
    NotifyFile(*this, writable() ? IN_CLOSE_WRITE : IN_CLOSE_NOWRITE);
    NotifyLastClose(*dentry);
  }
  if (counted_writer && inode) inode->writers--;
  if (holds_locks) LockTable::Get().Release(nullptr, this);
}

Result<size_t> FileDescription::Read(Task& t, void* buf, size_t len) {
  size_t n = TRY(PRead(t, buf, len, offset));
  offset += n;
  return n;
}

Result<size_t> FileDescription::Write(Task& t, const void* buf, size_t len) {
  if (flags & O_APPEND) {
    auto attr = TRY(Stat());
    offset = attr.size;
  }
  size_t n = TRY(PWrite(t, buf, len, offset));
  offset += n;
  return n;
}

Result<size_t> FileDescription::PRead(Task&, void*, size_t, uint64_t) {
  return Err(inode && S_ISDIR(inode->Mode()) ? EISDIR : EINVAL);
}

Result<size_t> FileDescription::PWrite(Task&, const void*, size_t,
                                       uint64_t) {
  return Err(EINVAL);
}

Result<uint64_t> FileDescription::Seek(int64_t off, int whence) {
  int64_t base;
  switch (whence) {
    case SEEK_SET: base = 0; break;
    case SEEK_CUR: base = int64_t(offset); break;
    case SEEK_END: {
      auto attr = TRY(Stat());
      base = int64_t(attr.size);
      break;
    }
    case SEEK_DATA:
    case SEEK_HOLE: {
      auto attr = TRY(Stat());
      if (off < 0 || uint64_t(off) >= attr.size) return Err(ENXIO);
      offset = whence == SEEK_DATA ? off : attr.size;
      return offset;
    }
    default: return Err(EINVAL);
  }
  if ((off > 0 && base > INT64_MAX - off) || base + off < 0)
    return Err(EINVAL);
  offset = base + off;
  if (inode && S_ISDIR(inode->Mode()) && offset == 0) dir_index = 0;
  return offset;
}

Result<InodeAttr> FileDescription::Stat() {
  if (!inode) return Err(EBADF);
  return inode->Attr();
}

Result<int64_t> FileDescription::Ioctl(Task&, uint64_t, uint64_t) {
  return Err(ENOTTY);
}

Status FileDescription::Truncate(uint64_t) { return Err(EINVAL); }

Status FileDescription::Allocate(Task& t, int mode, uint64_t offset,
                                 uint64_t length) {
  auto attr = TRY(Stat());
  if (mode & FALLOC_FL_PUNCH_HOLE) {
    // Without a way to free blocks, write zeros over the part that exists.
    std::vector<char> zeros(std::min<uint64_t>(length, 1 << 16), 0);
    uint64_t end = std::min(offset + length, attr.size);
    for (uint64_t pos = offset; pos < end;) {
      size_t n = std::min<uint64_t>(end - pos, zeros.size());
      pos += TRY(PWrite(t, zeros.data(), n, pos));
    }
    return Ok();
  }
  if (!(mode & FALLOC_FL_KEEP_SIZE) && offset + length > attr.size)
    return Truncate(offset + length);
  return Ok();
}

Result<std::shared_ptr<MemoryObject>> FileDescription::Mappable() {
  if (!inode) return Err(ENODEV);
  return inode->Mappable();
}

std::string FileDescription::Name() { return "anon_inode:[unknown]"; }

}  // namespace moat
