// Calls that change the file tree and file metadata: mkdir(2), unlink(2),
// rename(2), link(2), chmod(2), utimensat(2) and the like.
#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/stat.h>

#include "kernel/signal_delivery.h"
#include "syscalls/handlers.h"
#include "syscalls/util.h"
#include "vfs/notify.h"

namespace moat {
namespace {

// Resolves the parent of a path that is about to be created or removed,
// and checks write permission on it.
// Resolves the directory a change is made in and the last name, without
// checking that the change is allowed.
Result<std::pair<Path, std::string>> ParentOf(Task& t, int dirfd,
                                              uint64_t path_addr) {
  std::string path = TRY(CopyInPath(t, path_addr));
  Path start = TRY(StartPath(t, dirfd, path));
  return ResolveParent(t, start, path, {});
}

// Checks that the task may add or remove entries in `dir`.
Status CheckChangeable(Task& t, const Path& dir) {
  if (dir.dentry->deleted) return Err(ENOENT);
  auto attr = TRY(dir.inode().Attr());
  TRY_STATUS(CheckAccess(attr, t.creds, W_OK | X_OK));
  if (dir.mount->ReadOnly()) return Err(EROFS);
  return Ok();
}

Result<std::pair<Path, std::string>> ParentForChange(Task& t, int dirfd,
                                                     uint64_t path_addr) {
  auto parent = TRY(ParentOf(t, dirfd, path_addr));
  TRY_STATUS(CheckChangeable(t, parent.first));
  return parent;
}

// The sticky bit: only the owner of the file or the directory may remove
// an entry (Linux fs/namei.c:check_sticky).
Status CheckSticky(Task& t, const Path& dir, const std::string& name) {
  auto dattr = TRY(dir.inode().Attr());
  if (!(dattr.mode & S_ISVTX) || t.creds.fsuid == 0) return Ok();
  Path child = TRY(LookupChild(t, dir, name));
  auto cattr = TRY(child.inode().Attr());
  if (cattr.uid == t.creds.fsuid || dattr.uid == t.creds.fsuid) return Ok();
  return Err(EPERM);
}

int64_t MkdirCommon(Task& t, int dirfd, uint64_t path, uint32_t mode) {
  auto pd = ParentForChange(t, dirfd, path);
  if (!pd.ok()) return -pd.error();
  auto& [dir, name] = pd.value();
  if (name.empty() || name == "." || name == "..") return -EEXIST;
  if (LookupChild(t, dir, name).ok()) return -EEXIST;
  auto r = dir.inode().Mkdir(name, mode & ~t.fs->umask & 07777, t.creds);
  DentryForget(dir, name);
  if (!r.ok()) return -r.error();
  NotifyCreate(*dir.dentry, name, true);
  return 0;
}

int64_t UnlinkCommon(Task& t, int dirfd, uint64_t path, bool dir_op) {
  auto pd = ParentForChange(t, dirfd, path);
  if (!pd.ok()) return -pd.error();
  auto& [dir, name] = pd.value();
  if (name.empty()) return dir_op ? -EBUSY : -EISDIR;
  if (name == ".") return dir_op ? -EINVAL : -EISDIR;
  if (name == "..") return dir_op ? -ENOTEMPTY : -EISDIR;
  auto child = LookupChild(t, dir, name);
  if (!child.ok()) return -child.error();
  if (child->mount != dir.mount ||
      t.mount_ns->IsMountpoint(*child->dentry))
    return -EBUSY;  // a mountpoint, maybe seen through another bind mount
  Status s = CheckSticky(t, dir, name);
  if (!s.ok()) return -s.error();
  s = dir_op ? dir.inode().Rmdir(name) : dir.inode().Unlink(name);
  if (!s.ok()) return -s.error();
  DentryForget(dir, name);
  NotifyUnlink(*dir.dentry, name, *child->dentry, dir_op);
  return 0;
}

// Reports a rename; RENAME_EXCHANGE moves the other entry back as well
// (Linux fs/namei.c:vfs_rename).
void NotifyRenameDone(const Path& src_dir, const std::string& src_name,
                      const Path& dst_dir, const std::string& dst_name,
                      Dentry& moved, Dentry* replaced, bool exchange) {
  NotifyRename(*src_dir.dentry, src_name, *dst_dir.dentry, dst_name, moved,
               exchange ? nullptr : replaced);
  if (exchange && replaced)
    NotifyRename(*dst_dir.dentry, dst_name, *src_dir.dentry, src_name,
                 *replaced, nullptr);
}

int64_t RenameCommon(Task& t, int olddir, uint64_t oldpath, int newdir,
                     uint64_t newpath, unsigned flags) {
  if (flags & ~unsigned(RENAME_NOREPLACE | RENAME_EXCHANGE |
                        RENAME_WHITEOUT))
    return -EINVAL;
  if ((flags & RENAME_EXCHANGE) && (flags & RENAME_NOREPLACE)) return -EINVAL;
  if (flags & RENAME_WHITEOUT) return -EINVAL;
  // Linux fs/namei.c:do_renameat2 checks mounts, names and the source
  // before vfs_rename checks permissions.
  auto from = ParentOf(t, olddir, oldpath);
  if (!from.ok()) return -from.error();
  auto to = ParentOf(t, newdir, newpath);
  if (!to.ok()) return -to.error();
  auto& [src_dir, src_name] = from.value();
  auto& [dst_dir, dst_name] = to.value();
  if (src_dir.mount != dst_dir.mount) return -EXDEV;
  for (auto* n : {&src_name, &dst_name})
    if (n->empty() || *n == "." || *n == "..") return -EBUSY;
  if (src_dir.mount->ReadOnly()) return -EROFS;
  auto src = LookupChild(t, src_dir, src_name);
  if (!src.ok()) return -src.error();
  for (const Path* dir : {&src_dir, &dst_dir})
    if (Status s = CheckChangeable(t, *dir); !s.ok()) return -s.error();
  MountNamespace& ns = *t.mount_ns;
  if (src->mount != src_dir.mount || ns.IsMountpoint(*src->dentry))
    return -EBUSY;
  if (auto dst = LookupChild(t, dst_dir, dst_name);
      dst.ok() && (dst->mount != dst_dir.mount || ns.IsMountpoint(*dst->dentry)))
    return -EBUSY;
  // A directory cannot move into itself.
  if (src->inode().IsDir()) {
    for (auto d = dst_dir.dentry; d; d = d->parent)
      if (d == src->dentry) return -EINVAL;
  }
  Status s = CheckSticky(t, src_dir, src_name);
  if (!s.ok()) return -s.error();
  if (src_dir.dentry == dst_dir.dentry && src_name == dst_name) return 0;
  auto dst = LookupChild(t, dst_dir, dst_name);
  std::shared_ptr<Dentry> replaced = dst.ok() ? dst->dentry : nullptr;
  s = src_dir.inode().Rename(src_name, dst_dir.inode(), dst_name, flags);
  if (!s.ok()) return -s.error();
  // Keep the dentry (and so any cwd inside it) and move it in the cache.
  auto moving = src->dentry;
  DentryForget(dst_dir, dst_name);
  src_dir.dentry->children.erase(src_name);
  if (flags & RENAME_EXCHANGE) {
    // The name now leads to the other inode: the dentry must not stay
    // cached with this one, which would keep it alive after an unlink.
    UncacheDentry(*moving);
  } else {
    moving->name = dst_name;
    moving->parent = dst_dir.dentry;
    moving->deleted = false;
    dst_dir.dentry->children[dst_name] = moving;
  }
  NotifyRenameDone(src_dir, src_name, dst_dir, dst_name, *moving,
                   replaced.get(), flags & RENAME_EXCHANGE);
  return 0;
}

int64_t LinkCommon(Task& t, int olddir, uint64_t oldpath, int newdir,
                   uint64_t newpath, int flags) {
  if (flags & ~(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH)) return -EINVAL;
  auto src = ResolveAt(t, olddir, oldpath, flags, false);
  if (!src.ok()) return -src.error();
  if (src->inode().IsDir()) return -EPERM;
  if (src->dentry->deleted && !src->dentry->linkable) return -ENOENT;
  auto to = ParentForChange(t, newdir, newpath);
  if (!to.ok()) return -to.error();
  auto& [dir, name] = to.value();
  if (name.empty() || name == "." || name == "..") return -EEXIST;
  if (src->mount != dir.mount) return -EXDEV;
  if (LookupChild(t, dir, name).ok()) return -EEXIST;
  Status s = dir.inode().Link(name, src->dentry->inode);
  DentryForget(dir, name);
  if (!s.ok()) return -s.error();
  NotifyLink(*dir.dentry, name, *src->dentry);
  return 0;
}

int64_t SymlinkCommon(Task& t, uint64_t target_addr, int dirfd,
                      uint64_t path) {
  auto target = CopyInPath(t, target_addr);
  if (!target.ok()) return -target.error();
  auto pd = ParentForChange(t, dirfd, path);
  if (!pd.ok()) return -pd.error();
  auto& [dir, name] = pd.value();
  if (name.empty() || name == "." || name == "..") return -EEXIST;
  if (LookupChild(t, dir, name).ok()) return -EEXIST;
  auto r = dir.inode().Symlink(name, target.value(), t.creds);
  DentryForget(dir, name);
  if (!r.ok()) return -r.error();
  NotifyCreate(*dir.dentry, name, false);
  return 0;
}

int64_t MknodCommon(Task& t, int dirfd, uint64_t path, uint32_t mode,
                    uint64_t dev) {
  uint32_t type = mode & S_IFMT;
  if (type == 0) type = S_IFREG;
  if (type != S_IFREG && type != S_IFCHR && type != S_IFBLK &&
      type != S_IFIFO && type != S_IFSOCK)
    return -EINVAL;
  if ((type == S_IFCHR || type == S_IFBLK) && !t.creds.HasCapability(27))
    return -EPERM;
  auto pd = ParentForChange(t, dirfd, path);
  if (!pd.ok()) return -pd.error();
  auto& [dir, name] = pd.value();
  if (name.empty() || name == "." || name == "..") return -EEXIST;
  if (LookupChild(t, dir, name).ok()) return -EEXIST;
  uint32_t perm = mode & ~t.fs->umask & 07777;
  Result<InodePtr> r = type == S_IFREG
                           ? dir.inode().Create(name, perm, t.creds)
                           : dir.inode().Mknod(name, type | perm, dev,
                                               t.creds);
  DentryForget(dir, name);
  if (!r.ok()) return -r.error();
  NotifyCreate(*dir.dentry, name, false);
  return 0;
}

Status ChangeAttr(Task& t, const Path& p, SetAttrRequest req) {
  auto attr = TRY(p.inode().Attr());
  bool owner = t.creds.fsuid == attr.uid || t.creds.HasCapability(3);
  if (req.mask & SetAttrRequest::kMode) {
    if (!owner) return Err(EPERM);
    // Only a member of the group may keep the set-group-ID bit.
    if (t.creds.fsuid != 0 && !t.creds.InGroup(attr.gid))
      req.mode &= ~S_ISGID;
  }
  if (req.mask & (SetAttrRequest::kUid | SetAttrRequest::kGid)) {
    bool chown_ok = t.creds.HasCapability(0);
    if (!chown_ok) {
      bool uid_ok = !(req.mask & SetAttrRequest::kUid) || req.uid == attr.uid;
      bool gid_ok = !(req.mask & SetAttrRequest::kGid) ||
                    (owner && t.creds.InGroup(req.gid));
      if (!uid_ok || !gid_ok || t.creds.fsuid != attr.uid) return Err(EPERM);
    }
  }
  if (p.mount->ReadOnly()) return Err(EROFS);
  if ((req.mask & (SetAttrRequest::kUid | SetAttrRequest::kGid)) &&
      !(req.mask & SetAttrRequest::kMode) && S_ISREG(attr.mode) &&
      (attr.mode & (S_ISUID | S_ISGID))) {
    req.mask |= SetAttrRequest::kMode;
    req.mode = attr.mode & 07777 & ~S_ISUID;
    if (attr.mode & S_IXGRP) req.mode &= ~S_ISGID;
  }
  TRY_STATUS(p.inode().SetAttr(req));
  NotifyChange(*p.dentry, req);
  return Ok();
}

SetAttrRequest ChownRequest(uint32_t uid, uint32_t gid) {
  SetAttrRequest req;
  if (uid != uint32_t(-1)) {
    req.mask |= SetAttrRequest::kUid;
    req.uid = uid;
  }
  if (gid != uint32_t(-1)) {
    req.mask |= SetAttrRequest::kGid;
    req.gid = gid;
  }
  return req;
}

SetAttrRequest ChmodRequest(uint32_t mode) {
  SetAttrRequest req;
  req.mask = SetAttrRequest::kMode;
  req.mode = mode & 07777;
  return req;
}

int64_t ChangeAttrAt(Task& t, int dirfd, uint64_t path, int flags,
                     const SetAttrRequest& req) {
  auto p = ResolveAt(t, dirfd, path, flags);
  if (!p.ok()) return -p.error();
  return ToReturn(ChangeAttr(t, p.value(), req));
}

int64_t ChangeAttrFd(Task& t, int fd, const SetAttrRequest& req) {
  FilePtr f = GetFile(t, fd);
  if (!f) return -EBADF;
  if (!f->dentry || !f->mount || (f->flags & O_PATH)) return -EBADF;
  return ToReturn(ChangeAttr(t, Path{f->mount, f->dentry}, req));
}

}  // namespace

// Implements mkdir(2).
int64_t Mkdir(Task& t, const SyscallArgs& args) {
  return MkdirCommon(t, AT_FDCWD, args[0], args.Int(1));
}

// Implements mkdirat(2).
int64_t Mkdirat(Task& t, const SyscallArgs& args) {
  return MkdirCommon(t, args.Int(0), args[1], args.Int(2));
}

// Implements rmdir(2).
int64_t Rmdir(Task& t, const SyscallArgs& args) {
  return UnlinkCommon(t, AT_FDCWD, args[0], true);
}

// Implements unlink(2).
int64_t Unlink(Task& t, const SyscallArgs& args) {
  return UnlinkCommon(t, AT_FDCWD, args[0], false);
}

// Implements unlinkat(2).
int64_t Unlinkat(Task& t, const SyscallArgs& args) {
  int flags = args.Int(2);
  if (flags & ~AT_REMOVEDIR) return -EINVAL;
  return UnlinkCommon(t, args.Int(0), args[1], flags & AT_REMOVEDIR);
}

// Implements rename(2).
int64_t Rename(Task& t, const SyscallArgs& args) {
  return RenameCommon(t, AT_FDCWD, args[0], AT_FDCWD, args[1], 0);
}

// Implements renameat(2).
int64_t Renameat(Task& t, const SyscallArgs& args) {
  return RenameCommon(t, args.Int(0), args[1], args.Int(2), args[3], 0);
}

// Implements renameat2(2).
int64_t Renameat2(Task& t, const SyscallArgs& args) {
  return RenameCommon(t, args.Int(0), args[1], args.Int(2), args[3],
                      unsigned(args[4]));
}

// Implements link(2).
int64_t Link(Task& t, const SyscallArgs& args) {
  return LinkCommon(t, AT_FDCWD, args[0], AT_FDCWD, args[1], 0);
}

// Implements linkat(2).
int64_t Linkat(Task& t, const SyscallArgs& args) {
  return LinkCommon(t, args.Int(0), args[1], args.Int(2), args[3],
                    args.Int(4));
}

// Implements symlink(2).
int64_t Symlink(Task& t, const SyscallArgs& args) {
  return SymlinkCommon(t, args[0], AT_FDCWD, args[1]);
}

// Implements symlinkat(2).
int64_t Symlinkat(Task& t, const SyscallArgs& args) {
  return SymlinkCommon(t, args[0], args.Int(1), args[2]);
}

// Implements mknod(2).
int64_t Mknod(Task& t, const SyscallArgs& args) {
  return MknodCommon(t, AT_FDCWD, args[0], args.Int(1), args[2]);
}

// Implements mknodat(2).
int64_t Mknodat(Task& t, const SyscallArgs& args) {
  return MknodCommon(t, args.Int(0), args[1], args.Int(2), args[3]);
}

// Implements chmod(2).
int64_t Chmod(Task& t, const SyscallArgs& args) {
  return ChangeAttrAt(t, AT_FDCWD, args[0], 0, ChmodRequest(args[1]));
}

// Implements fchmod(2).
int64_t Fchmod(Task& t, const SyscallArgs& args) {
  return ChangeAttrFd(t, args.Int(0), ChmodRequest(args[1]));
}

// Implements fchmodat(2).
int64_t Fchmodat(Task& t, const SyscallArgs& args) {
  return ChangeAttrAt(t, args.Int(0), args[1], 0, ChmodRequest(args[2]));
}

// Implements chown(2).
int64_t Chown(Task& t, const SyscallArgs& args) {
  return ChangeAttrAt(t, AT_FDCWD, args[0], 0,
                      ChownRequest(args[1], args[2]));
}

// Implements lchown(2).
int64_t Lchown(Task& t, const SyscallArgs& args) {
  return ChangeAttrAt(t, AT_FDCWD, args[0], AT_SYMLINK_NOFOLLOW,
                      ChownRequest(args[1], args[2]));
}

// Implements fchown(2).
int64_t Fchown(Task& t, const SyscallArgs& args) {
  return ChangeAttrFd(t, args.Int(0), ChownRequest(args[1], args[2]));
}

// Implements fchownat(2).
int64_t Fchownat(Task& t, const SyscallArgs& args) {
  int flags = args.Int(4);
  if (flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) return -EINVAL;
  return ChangeAttrAt(t, args.Int(0), args[1], flags,
                      ChownRequest(args[2], args[3]));
}

// Implements utimensat(2).
int64_t Utimensat(Task& t, const SyscallArgs& args) {
  int flags = args.Int(3);
  if (flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) return -EINVAL;
  SetAttrRequest req;
  req.mask = SetAttrRequest::kAtime | SetAttrRequest::kMtime;
  struct timespec now = {};
  clock_gettime(CLOCK_REALTIME, &now);
  req.atime = req.mtime = now;
  bool explicit_times = false;
  if (args[2]) {
    struct timespec ts[2];
    if (!t.mm().CopyIn(args[2], ts, sizeof(ts)).ok()) return -EFAULT;
    uint32_t mask = 0;
    for (int i = 0; i < 2; i++) {
      if (ts[i].tv_nsec == UTIME_OMIT) continue;
      if (ts[i].tv_nsec != UTIME_NOW &&
          (ts[i].tv_nsec < 0 || ts[i].tv_nsec >= 1000000000))
        return -EINVAL;
      mask |= i == 0 ? SetAttrRequest::kAtime : SetAttrRequest::kMtime;
      if (ts[i].tv_nsec != UTIME_NOW) {
        (i == 0 ? req.atime : req.mtime) = ts[i];
        explicit_times = true;
      }
    }
    req.mask = mask;
    if (mask == 0) return 0;
  }
  Result<Path> p = Err(EBADF);
  if (args[1] == 0) {
    // utimensat(fd, NULL, ...) is futimens.
    FilePtr f = GetFile(t, args.Int(0));
    if (!f || !f->dentry) return -EBADF;
    p = Path{f->mount, f->dentry};
  } else {
    p = ResolveAt(t, args.Int(0), args[1], flags);
  }
  if (!p.ok()) return -p.error();
  auto attr = p->inode().Attr();
  if (!attr.ok()) return -attr.error();
  bool owner = t.creds.fsuid == attr->uid || t.creds.HasCapability(3);
  if (explicit_times && !owner) return -EPERM;
  if (!owner && !CheckAccess(attr.value(), t.creds, W_OK).ok())
    return -EACCES;
  if (p->mount->ReadOnly()) return -EROFS;
  Status set = p->inode().SetAttr(req);
  if (set.ok()) NotifyChange(*p->dentry, req);
  return ToReturn(set);
}

// Implements utimes(2).
int64_t Utimes(Task& t, const SyscallArgs& args) {
  if (args[1] == 0)
    return Utimensat(t, SyscallArgs{{uint64_t(AT_FDCWD), args[0], 0, 0, 0,
                                     0}});
  struct timeval tv[2];
  if (!t.mm().CopyIn(args[1], tv, sizeof(tv)).ok()) return -EFAULT;
  for (auto& v : tv)
    if (v.tv_usec < 0 || v.tv_usec >= 1000000) return -EINVAL;
  auto p = ResolveAt(t, AT_FDCWD, args[0], 0);
  if (!p.ok()) return -p.error();
  SetAttrRequest req;
  req.mask = SetAttrRequest::kAtime | SetAttrRequest::kMtime;
  req.atime = {tv[0].tv_sec, tv[0].tv_usec * 1000};
  req.mtime = {tv[1].tv_sec, tv[1].tv_usec * 1000};
  return ToReturn(ChangeAttr(t, p.value(), req));
}

// RLIMIT_FSIZE for truncate(2) and ftruncate(2).
int64_t CheckFileSizeLimit(Task& t, uint64_t size) {
  uint64_t limit = t.tg().rlimits[RLIMIT_FSIZE].rlim_cur;
  if (limit == RLIM_INFINITY || size <= limit) return 0;
  SendTaskSignal(t, MakeSigInfo(SIGXFSZ, SI_KERNEL), false);
  return -EFBIG;
}

// Implements truncate(2).
int64_t Truncate(Task& t, const SyscallArgs& args) {
  if (int64_t(args[1]) < 0) return -EINVAL;
  if (int64_t r = CheckFileSizeLimit(t, args[1]); r < 0) return r;
  auto p = ResolveAt(t, AT_FDCWD, args[0], 0);
  if (!p.ok()) return -p.error();
  auto attr = p->inode().Attr();
  if (!attr.ok()) return -attr.error();
  if (S_ISDIR(attr->mode)) return -EISDIR;
  if (!S_ISREG(attr->mode)) return -EINVAL;
  Status s = CheckAccess(attr.value(), t.creds, W_OK);
  if (!s.ok()) return -s.error();
  if (p->mount->ReadOnly()) return -EROFS;
  SetAttrRequest req;
  req.mask = SetAttrRequest::kSize;
  req.size = args[1];
  s = p->inode().SetAttr(req);
  if (s.ok()) NotifyChange(*p->dentry, req);
  return ToReturn(s);
}

// Implements ftruncate(2).
int64_t Ftruncate(Task& t, const SyscallArgs& args) {
  FilePtr f = GetFile(t, args.Int(0));
  if (!f) return -EBADF;
  if (int64_t(args[1]) < 0) return -EINVAL;
  if (int64_t r = CheckFileSizeLimit(t, args[1]); r < 0) return r;
  if (!f->writable() || (f->flags & O_PATH)) return -EINVAL;
  auto attr = f->Stat();
  if (!attr.ok()) return -attr.error();
  if (!S_ISREG(attr->mode)) return -EINVAL;
  if (f->flags & O_APPEND) return -EPERM;
  Status s = f->Truncate(args[1]);
  if (s.ok()) NotifyFile(*f, IN_MODIFY);
  return ToReturn(s);
}

// Implements fallocate(2): allocation with or without FALLOC_FL_KEEP_SIZE
// and FALLOC_FL_PUNCH_HOLE, the modes Linux tmpfs has.
int64_t Fallocate(Task& t, const SyscallArgs& args) {
  FilePtr f = GetFile(t, args.Int(0));
  if (!f) return -EBADF;
  int mode = args.Int(1);
  int64_t off = args[2], len = args[3];
  if (off < 0 || len <= 0) return -EINVAL;
  if (!f->writable()) return -EBADF;
  auto attr = f->Stat();
  if (!attr.ok()) return -attr.error();
  if (S_ISDIR(attr->mode)) return -EISDIR;
  if (S_ISFIFO(attr->mode)) return -ESPIPE;
  if (!S_ISREG(attr->mode)) return -ENODEV;
  if (mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE)) return -EOPNOTSUPP;
  if ((mode & FALLOC_FL_PUNCH_HOLE) && !(mode & FALLOC_FL_KEEP_SIZE))
    return -EOPNOTSUPP;
  if (off > INT64_MAX - len) return -EFBIG;
  if (!(mode & FALLOC_FL_KEEP_SIZE) && uint64_t(off + len) > attr->size) {
    if (int64_t r = CheckFileSizeLimit(t, off + len); r < 0) return r;
  }
  Status allocated = f->Allocate(t, mode, off, len);
  if (allocated.ok()) NotifyFile(*f, IN_MODIFY);
  return ToReturn(allocated);
}

// Implements fsync(2).
int64_t Fsync(Task& t, const SyscallArgs& args) {
  FilePtr f = GetFile(t, args.Int(0));
  if (!f) return -EBADF;
  auto attr = f->Stat();
  if (!attr.ok() || S_ISFIFO(attr->mode) || S_ISSOCK(attr->mode))
    return -EINVAL;
  return ToReturn(f->Fsync());
}

// Implements fdatasync(2).
int64_t Fdatasync(Task& t, const SyscallArgs& args) { return Fsync(t, args); }

// Implements sync(2).
int64_t Sync(Task&, const SyscallArgs&) { return 0; }

// Implements syncfs(2).
int64_t Syncfs(Task& t, const SyscallArgs& args) {
  return GetFile(t, args.Int(0)) ? 0 : -EBADF;
}

// Implements umask(2).
int64_t Umask(Task& t, const SyscallArgs& args) {
  uint32_t old = t.fs->umask;
  t.fs->umask = args[0] & 0777;
  return old;
}

// Implements chdir(2).
int64_t Chdir(Task& t, const SyscallArgs& args) {
  auto p = ResolveAt(t, AT_FDCWD, args[0], 0);
  if (!p.ok()) return -p.error();
  auto attr = p->inode().Attr();
  if (!attr.ok()) return -attr.error();
  if (!S_ISDIR(attr->mode)) return -ENOTDIR;
  Status s = CheckAccess(attr.value(), t.creds, X_OK);
  if (!s.ok()) return -s.error();
  t.fs->cwd = p.value();
  return 0;
}

// Implements fchdir(2).
int64_t Fchdir(Task& t, const SyscallArgs& args) {
  FilePtr f = GetFile(t, args.Int(0));
  if (!f) return -EBADF;
  if (!f->dentry || !f->dentry->inode->IsDir()) return -ENOTDIR;
  auto attr = f->dentry->inode->Attr();
  if (!attr.ok()) return -attr.error();
  Status s = CheckAccess(attr.value(), t.creds, X_OK);
  if (!s.ok()) return -s.error();
  t.fs->cwd = Path{f->mount, f->dentry};
  return 0;
}

// Implements chroot(2).
int64_t Chroot(Task& t, const SyscallArgs& args) {
  if (!t.creds.HasCapability(18)) return -EPERM;  // CAP_SYS_CHROOT
  auto p = ResolveAt(t, AT_FDCWD, args[0], 0);
  if (!p.ok()) return -p.error();
  if (!p->inode().IsDir()) return -ENOTDIR;
  t.fs->root = p.value();
  DropHostFiles(t);
  // Processes that share the root through clone(CLONE_FS) lose their host
  // files too. Their stubs close them before those processes run the
  // program again, and one that runs it now is interrupted for that.
  for (auto& group : t.kernel().Groups()) {
    for (auto& other : group->tasks) {
      if (other->fs != t.fs || !other->mm_ || other->mm_ == t.mm_) continue;
      DropHostFiles(*other);
      other->Interrupt();
    }
  }
  return 0;
}

}  // namespace moat
