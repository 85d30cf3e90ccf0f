// stat(2) and the other calls that read file metadata.
#include <dirent.h>
#include <fcntl.h>
#include <linux/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/vfs.h>

#include <cstring>

#include "syscalls/handlers.h"
#include "syscalls/util.h"
#include "vfs/notify.h"

namespace moat {
namespace {

// The attributes of a *at() target. With AT_EMPTY_PATH and an empty path,
// those of the open file itself, which may have no path (a pipe).
Result<InodeAttr> AttrAt(Task& t, int dirfd, uint64_t path, int flags) {
  if ((flags & AT_EMPTY_PATH) && dirfd != AT_FDCWD) {
    std::string name = TRY(CopyInPath(t, path, true));
    if (name.empty()) {
      FilePtr f = GetFile(t, dirfd);
      if (!f) return Err(EBADF);
      return f->Stat();
    }
  }
  Path p = TRY(ResolveAt(t, dirfd, path, flags));
  return p.inode().Attr();
}

int64_t StatPath(Task& t, int dirfd, uint64_t path, int flags,
                 uint64_t out) {
  if (flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT))
    return -EINVAL;
  auto attr = AttrAt(t, dirfd, path, flags);
  if (!attr.ok()) return -attr.error();
  return ToReturn(t.mm().Write(out, ToStat(attr.value())));
}

}  // namespace

// Implements stat(2).
int64_t Stat(Task& t, const SyscallArgs& args) {
  return StatPath(t, AT_FDCWD, args[0], 0, args[1]);
}

// Implements lstat(2).
int64_t Lstat(Task& t, const SyscallArgs& args) {
  return StatPath(t, AT_FDCWD, args[0], AT_SYMLINK_NOFOLLOW, args[1]);
}

// Implements newfstatat(2).
int64_t Newfstatat(Task& t, const SyscallArgs& args) {
  return StatPath(t, args.Int(0), args[1], args.Int(3), args[2]);
}

// Implements fstat(2).
int64_t Fstat(Task& t, const SyscallArgs& args) {
  FilePtr f = GetFile(t, args.Int(0));
  if (!f) return -EBADF;
  auto attr = f->Stat();
  if (!attr.ok()) return -attr.error();
  return ToReturn(t.mm().Write(args[1], ToStat(attr.value())));
}

// Implements statx(2).
int64_t Statx(Task& t, const SyscallArgs& args) {
  int flags = args.Int(2);
  unsigned mask = args[3];
  if (flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT |
                AT_STATX_SYNC_TYPE))
    return -EINVAL;
  if ((flags & AT_STATX_SYNC_TYPE) == AT_STATX_SYNC_TYPE) return -EINVAL;
  if (mask & STATX__RESERVED) return -EINVAL;
  auto attr = AttrAt(t, args.Int(0), args[1], flags);
  if (!attr.ok()) return -attr.error();
  InodeAttr a = attr.value();
  struct statx sx = {};
  sx.stx_mask = STATX_BASIC_STATS | STATX_BTIME;
  sx.stx_blksize = a.blksize;
  sx.stx_nlink = a.nlink;
  sx.stx_uid = a.uid;
  sx.stx_gid = a.gid;
  sx.stx_mode = a.mode;
  sx.stx_ino = a.ino;
  sx.stx_size = a.size;
  sx.stx_blocks = a.blocks;
  auto ts = [](const struct timespec& t) {
    return statx_timestamp{t.tv_sec, uint32_t(t.tv_nsec), 0};
  };
  sx.stx_atime = ts(a.atime);
  sx.stx_btime = ts(a.btime);
  sx.stx_ctime = ts(a.ctime);
  sx.stx_mtime = ts(a.mtime);
  sx.stx_rdev_major = major(a.rdev);
  sx.stx_rdev_minor = minor(a.rdev);
  sx.stx_dev_major = major(a.dev);
  sx.stx_dev_minor = minor(a.dev);
  return ToReturn(t.mm().Write(args[4], sx));
}

namespace {

// Fills in what statfs(2) takes from the mount rather than the filesystem:
// f_flags, which is ST_VALID and the mount's flags (Linux
// fs/statfs.c:calculate_f_flags), and f_frsize when the filesystem left it.
void AddMountFlags(const struct Mount* m, struct statfs* s) {
  constexpr uint64_t kValid = 0x20;  // ST_VALID: f_flags is filled in
  uint64_t flags = kValid;
  if (m != nullptr) {
    if (m->ReadOnly()) flags |= ST_RDONLY;
    if (m->nosuid) flags |= ST_NOSUID;
    if (m->nodev) flags |= ST_NODEV;
    if (m->noexec) flags |= ST_NOEXEC;
    if (m->noatime) flags |= ST_NOATIME;
    if (m->nodiratime) flags |= ST_NODIRATIME;
    if (!m->noatime && !m->strictatime) flags |= ST_RELATIME;
    if (m->nosymfollow) flags |= 0x2000;  // ST_NOSYMFOLLOW
  }
  s->f_flags = flags;
  if (s->f_frsize == 0) s->f_frsize = s->f_bsize;
}

}  // namespace

// Implements statfs(2).
int64_t Statfs(Task& t, const SyscallArgs& args) {
  auto p = ResolveAt(t, AT_FDCWD, args[0], 0);
  if (!p.ok()) return -p.error();
  auto s = p->inode().StatFs();
  if (!s.ok()) return -s.error();
  AddMountFlags(p->mount.get(), &s.value());
  return ToReturn(t.mm().Write(args[1], s.value()));
}

// Implements fstatfs(2).
int64_t Fstatfs(Task& t, const SyscallArgs& args) {
  FilePtr f = GetFile(t, args.Int(0));
  if (!f) return -EBADF;
  if (!f->inode) return -EINVAL;
  auto s = f->inode->StatFs();
  if (!s.ok()) return -s.error();
  AddMountFlags(f->mount.get(), &s.value());
  return ToReturn(t.mm().Write(args[1], s.value()));
}

// Fills the buffer for getdents(2) or getdents64(2), whose records differ
// only in layout.
int64_t GetdentsCommon(Task& t, const SyscallArgs& args, bool wide);

// Implements getdents64(2).
int64_t Getdents64(Task& t, const SyscallArgs& args) {
  return GetdentsCommon(t, args, true);
}

// Implements getdents(2).
int64_t Getdents(Task& t, const SyscallArgs& args) {
  return GetdentsCommon(t, args, false);
}

int64_t GetdentsCommon(Task& t, const SyscallArgs& args, bool wide) {
  FilePtr f = GetFile(t, args.Int(0));
  if (!f) return -EBADF;
  if (f->flags & O_PATH) return -EBADF;
  if (!f->inode || !f->inode->IsDir()) return -ENOTDIR;
  size_t cap = args[2];
  if (f->dir_index == 0 || f->dir_cache.empty()) {
    auto entries = f->inode->ReadDir();
    if (!entries.ok()) return -entries.error();
    auto self = f->inode->Attr();
    std::vector<DirEntry> all;
    all.push_back(DirEntry{".", self.ok() ? self->ino : 0, DT_DIR});
    uint64_t parent_ino = self.ok() ? self->ino : 0;
    if (f->dentry && f->dentry->parent) {
      auto pa = f->dentry->parent->inode->Attr();
      if (pa.ok()) parent_ino = pa->ino;
    }
    all.push_back(DirEntry{"..", parent_ino, DT_DIR});
    for (auto& e : entries.value()) all.push_back(e);
    f->dir_cache = std::move(all);
  }
  std::vector<char> out;
  size_t i = f->dir_index;
  for (; i < f->dir_cache.size(); i++) {
    const DirEntry& e = f->dir_cache[i];
    // getdents64: ino, off, reclen, type, name. getdents: ino, off,
    // reclen, name, then the type in the record's last byte.
    size_t header = wide ? 19 : 18;
    size_t reclen = (header + e.name.size() + 1 + (wide ? 0 : 1) + 7) &
                    ~size_t(7);
    if (out.size() + reclen > cap) break;
    size_t at = out.size();
    out.resize(at + reclen, 0);
    char* d = out.data() + at;
    uint64_t ino = e.ino, off = i + 1;
    uint16_t len = reclen;
    memcpy(d, &ino, 8);
    memcpy(d + 8, &off, 8);
    memcpy(d + 16, &len, 2);
    if (wide) d[18] = char(e.type);
    else d[reclen - 1] = char(e.type);
    memcpy(d + header, e.name.c_str(), e.name.size() + 1);
  }
  if (out.empty() && i < f->dir_cache.size()) return -EINVAL;
  if (!t.mm().CopyOut(args[1], out.data(), out.size()).ok()) return -EFAULT;
  f->dir_index = i;
  f->offset = i;
  NotifyFile(*f, IN_ACCESS);
  return int64_t(out.size());
}

// Implements getcwd(2).
int64_t Getcwd(Task& t, const SyscallArgs& args) {
  if (t.fs->cwd.dentry->deleted) return -ENOENT;
  bool reachable = true;
  std::string cwd = PathName(t.fs->cwd, t.fs->root, &reachable);
  if (!reachable) cwd = "(unreachable)" + cwd;
  if (cwd.size() + 1 > args[1]) return -ERANGE;
  if (!t.mm().CopyOut(args[0], cwd.c_str(), cwd.size() + 1).ok())
    return -EFAULT;
  return int64_t(cwd.size() + 1);
}

int64_t ReadlinkCommon(Task& t, int dirfd, uint64_t path, uint64_t buf,
                       int64_t size) {
  if (size <= 0) return -EINVAL;
  auto p = ResolveAt(t, dirfd, path, AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH,
                     false);
  if (!p.ok()) return -p.error();
  std::string target;
  if (FilePtr magic = p->inode().MagicLink(t)) {
    target = magic->dentry ? PathName(Path{magic->mount, magic->dentry},
                                      t.fs->root)
                           : magic->Name();
  } else {
    if (!p->inode().IsSymlink()) return -EINVAL;
    auto r = p->inode().Readlink();
    if (!r.ok()) return -r.error();
    target = r.value();
  }
  size_t n = std::min<size_t>(target.size(), size);
  if (!t.mm().CopyOut(buf, target.data(), n).ok()) return -EFAULT;
  return int64_t(n);
}

// Implements readlink(2).
int64_t Readlink(Task& t, const SyscallArgs& args) {
  return ReadlinkCommon(t, AT_FDCWD, args[0], args[1], int64_t(args[2]));
}

// Implements readlinkat(2).
int64_t Readlinkat(Task& t, const SyscallArgs& args) {
  return ReadlinkCommon(t, args.Int(0), args[1], args[2], int64_t(args[3]));
}

int64_t AccessCommon(Task& t, int dirfd, uint64_t path, int mode, int flags) {
  if (mode & ~(R_OK | W_OK | X_OK)) return -EINVAL;
  if (flags & ~(AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH))
    return -EINVAL;
  auto p = ResolveAt(t, dirfd, path, flags);
  if (!p.ok()) return -p.error();
  auto attr = p->inode().Attr();
  if (!attr.ok()) return -attr.error();
  // access(2) checks with the real ids unless AT_EACCESS.
  Credentials creds = t.creds;
  if (!(flags & AT_EACCESS)) {
    creds.fsuid = creds.ruid;
    creds.fsgid = creds.rgid;
    if (creds.ruid != 0) creds.cap_effective = 0;
  }
  if ((mode & W_OK) && p->mount->ReadOnly() && !S_ISCHR(attr->mode))
    return -EROFS;
  return ToReturn(CheckAccess(attr.value(), creds, mode));
}

// Implements access(2).
int64_t Access(Task& t, const SyscallArgs& args) {
  return AccessCommon(t, AT_FDCWD, args[0], args.Int(1), 0);
}

// Implements faccessat(2).
int64_t Faccessat(Task& t, const SyscallArgs& args) {
  return AccessCommon(t, args.Int(0), args[1], args.Int(2), 0);
}

// Implements faccessat2(2).
int64_t Faccessat2(Task& t, const SyscallArgs& args) {
  return AccessCommon(t, args.Int(0), args[1], args.Int(2), args.Int(3));
}

}  // namespace moat
