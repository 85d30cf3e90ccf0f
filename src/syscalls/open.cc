// open(2) and the calls that manage file descriptors.
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/ioctl.h>

#include "fs/pipe.h"
#include "fs/tmpfs.h"
#include "vfs/lock.h"
#include "syscalls/handlers.h"
#include "syscalls/util.h"
#include "vfs/notify.h"

namespace moat {
namespace {

constexpr int kValidOpenFlags =
    O_ACCMODE | O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_APPEND |
    O_NONBLOCK | O_DSYNC | O_ASYNC | O_DIRECT | O_LARGEFILE | O_DIRECTORY |
    O_NOFOLLOW | O_NOATIME | O_CLOEXEC | O_SYNC | O_PATH | O_TMPFILE;

// An O_PATH descriptor: names a file without opening it for I/O.
class PathFile : public FileDescription {
 public:
  Result<size_t> Read(Task&, void*, size_t) override { return Err(EBADF); }
  Result<size_t> Write(Task&, const void*, size_t) override {
    return Err(EBADF);
  }
  Result<size_t> PRead(Task&, void*, size_t, uint64_t) override {
    return Err(EBADF);
  }
  Result<size_t> PWrite(Task&, const void*, size_t, uint64_t) override {
    return Err(EBADF);
  }
  Result<int64_t> Ioctl(Task&, uint64_t, uint64_t) override {
    return Err(EBADF);
  }
};

Result<FilePtr> OpenPath(Task& t, const Path& p, int flags, bool created) {
  Inode& inode = p.inode();
  auto attr = TRY(inode.Attr());
  if ((flags & O_DIRECTORY) && !S_ISDIR(attr.mode)) return Err(ENOTDIR);
  int acc = flags & O_ACCMODE;
  if (flags & O_PATH) {
    auto f = std::make_shared<PathFile>();
    f->inode = p.dentry->inode;
    f->mount = p.mount;
    f->dentry = p.dentry;
    f->flags = flags & (O_PATH | O_DIRECTORY | O_NOFOLLOW);
    return FilePtr(f);
  }
  if (S_ISLNK(attr.mode)) return Err(ELOOP);
  if (acc == 3) return Err(EINVAL);
  bool write = acc != O_RDONLY || (flags & O_TRUNC);
  if (S_ISDIR(attr.mode) && (acc != O_RDONLY || (flags & O_CREAT)))
    return Err(EISDIR);
  // Linux fs/namei.c:may_open_dev: MS_NODEV hides device nodes.
  if ((S_ISCHR(attr.mode) || S_ISBLK(attr.mode)) && p.mount->nodev)
    return Err(EACCES);
  if (!created) {
    int want = (acc == O_RDONLY ? R_OK : acc == O_WRONLY ? W_OK : R_OK | W_OK);
    if (flags & O_TRUNC) want |= W_OK;
    TRY_STATUS(CheckAccess(attr, t.creds, want));
  }
  if (write && p.mount->ReadOnly() && !S_ISCHR(attr.mode) &&
      !S_ISFIFO(attr.mode) && !S_ISSOCK(attr.mode))
    return Err(EROFS);
  if (p.dentry->stand_in) {
    // The reopened file keeps its own identity and flags.
    FilePtr same = TRY(inode.Open(flags));
    return same;
  }
  bool counts_writer = acc != O_RDONLY && S_ISREG(attr.mode);
  if (counts_writer && inode.executors > 0) return Err(ETXTBSY);
  FilePtr f = TRY(inode.Open(flags));
  // open(2) on 64-bit Linux always adds O_LARGEFILE (0100000), which
  // x86-64 glibc defines as 0 (fs/open.c:force_o_largefile).
  f->flags = (flags & ~(O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_CLOEXEC)) |
             0100000;
  f->mount = p.mount;
  f->dentry = p.dentry;
  if (!f->inode) f->inode = p.dentry->inode;
  if (counts_writer) {
    f->inode->writers++;
    f->counted_writer = true;
  }
  f->notify_open = true;
  p.dentry->open_files++;
  NotifyFile(*f, IN_OPEN);
  // The truncation happened in Open; Linux reports it after the open.
  if ((flags & O_TRUNC) && !created && S_ISREG(attr.mode))
    NotifyFile(*f, IN_MODIFY);
  return f;
}

Result<FilePtr> OpenTmpfile(Task& t, const Path& dir, int flags,
                            uint32_t mode) {
  int acc = flags & O_ACCMODE;
  if (acc == O_RDONLY) return Err(EINVAL);
  auto attr = TRY(dir.inode().Attr());
  TRY_STATUS(CheckAccess(attr, t.creds, W_OK | X_OK));
  // An unnamed file: made under a name no one can guess, then unlinked.
  std::string name = ".moat-tmpfile-" + std::to_string(NewIno());
  uint32_t m = mode & ~t.fs->umask & 07777;
  InodePtr inode = TRY(dir.inode().Create(name, m, t.creds));
  FilePtr f = TRY(inode->Open(flags & ~O_TMPFILE));
  TRY_STATUS(dir.inode().Unlink(name));
  f->flags = (flags & ~(O_TMPFILE | O_CLOEXEC | O_CREAT | O_EXCL));
  f->mount = dir.mount;
  f->dentry = std::make_shared<Dentry>("#" + name, dir.dentry, inode);
  f->dentry->deleted = true;
  f->dentry->linkable = !(flags & O_EXCL);
  f->inode = inode;
  return f;
}

Result<FilePtr> DoOpenFrom(Task& t, Path start, const std::string& path,
                           int flags, uint32_t mode,
                           const ResolveOptions& base, int depth);

Result<FilePtr> DoOpen(Task& t, int dirfd, const std::string& path, int flags,
                       uint32_t mode, const ResolveOptions& base) {
  Path start = TRY(StartPath(t, dirfd, path));
  return DoOpenFrom(t, start, path, flags, mode, base, 0);
}

Result<FilePtr> DoOpenFrom(Task& t, Path start, const std::string& path,
                           int flags, uint32_t mode,
                           const ResolveOptions& base, int depth) {
  if (!path.empty() && path[0] == '/') start = t.fs->root;
  if ((flags & O_TMPFILE) == O_TMPFILE) {
    ResolveOptions opts = base;
    Path dir = TRY(ResolvePath(t, start, path, opts));
    if (!dir.inode().IsDir()) return Err(ENOTDIR);
    if (dir.mount->ReadOnly()) return Err(EROFS);
    return OpenTmpfile(t, dir, flags, mode);
  }
  if (!(flags & O_CREAT)) {
    ResolveOptions opts = base;
    opts.follow_final = !(flags & O_NOFOLLOW);
    opts.must_be_dir = flags & O_DIRECTORY;
    Path p = TRY(ResolvePath(t, start, path, opts));
    return OpenPath(t, p, flags, false);
  }
  if (flags & O_DIRECTORY) return Err(EINVAL);
  auto [dir, name] = TRY(ResolveParent(t, start, path, base));
  if (name.empty() || name == "." || name == "..") return Err(EISDIR);
  if (path.back() == '/') return Err(EISDIR);
  auto existing = LookupChild(t, dir, name);
  if (existing.ok()) {
    if (flags & O_EXCL) return Err(EEXIST);
    Path p = existing.value();
    if (p.inode().IsSymlink()) {
      if (flags & O_NOFOLLOW) return Err(ELOOP);
      if (base.no_symlinks) return Err(ELOOP);
      auto full = ResolvePath(t, start, path, base);
      if (full.ok()) return OpenPath(t, full.value(), flags, false);
      if (full.error() != ENOENT) return Err(full.error());
      // A dangling link: O_CREAT creates its target (Linux
      // fs/namei.c:open_last_lookups follows the link to the new name).
      if (++depth > kMaxSymlinkDepth) return Err(ELOOP);
      std::string target = TRY(p.inode().Readlink());
      return DoOpenFrom(t, dir, target, flags, mode, base, depth);
    }
    return OpenPath(t, p, flags, false);
  }
  if (existing.error() != ENOENT) return Err(existing.error());
  if (dir.dentry->deleted) return Err(ENOENT);
  auto dir_attr = TRY(dir.inode().Attr());
  TRY_STATUS(CheckAccess(dir_attr, t.creds, W_OK | X_OK));
  if (dir.mount->ReadOnly()) return Err(EROFS);
  uint32_t m = mode & ~t.fs->umask & 07777;
  TRY(dir.inode().Create(name, m, t.creds));
  DentryForget(dir, name);
  NotifyCreate(*dir.dentry, name, false);
  Path p = TRY(LookupChild(t, dir, name));
  return OpenPath(t, p, flags, true);
}

int64_t OpenCommon(Task& t, int dirfd, uint64_t path_addr, int flags,
                   uint32_t mode, const ResolveOptions& opts) {
  auto path = CopyInPath(t, path_addr);
  if (!path.ok()) return -path.error();
  auto f = DoOpen(t, dirfd, path.value(), flags, mode, opts);
  if (!f.ok()) return -f.error();
  return ToReturn(InstallFd(t, f.value(), flags & O_CLOEXEC));
}

}  // namespace

// Implements open(2).
int64_t Open(Task& t, const SyscallArgs& args) {
  return OpenCommon(t, AT_FDCWD, args[0], args.Int(1), args.Int(2), {});
}

// Implements openat(2).
int64_t Openat(Task& t, const SyscallArgs& args) {
  return OpenCommon(t, args.Int(0), args[1], args.Int(2), args.Int(3), {});
}

// Implements creat(2).
int64_t Creat(Task& t, const SyscallArgs& args) {
  return OpenCommon(t, AT_FDCWD, args[0], O_CREAT | O_WRONLY | O_TRUNC,
                    args.Int(1), {});
}

// Implements openat2(2).
int64_t Openat2(Task& t, const SyscallArgs& args) {
  size_t size = args[3];
  if (size < sizeof(struct open_how) || size > 4096) return -EINVAL;
  struct open_how how = {};
  if (!t.mm().CopyIn(args[2], &how, sizeof(how)).ok()) return -EFAULT;
  // Bytes past the structure we know must be zero (Linux
  // copy_struct_from_user).
  for (size_t i = sizeof(how); i < size; i++) {
    auto b = t.mm().Read<uint8_t>(args[2] + i);
    if (!b.ok()) return -EFAULT;
    if (b.value() != 0) return -E2BIG;
  }
  if (how.flags & ~uint64_t(kValidOpenFlags)) return -EINVAL;
  if (how.resolve & ~uint64_t(RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS |
                              RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH |
                              RESOLVE_IN_ROOT | RESOLVE_CACHED))
    return -EINVAL;
  bool creating = how.flags & (O_CREAT | __O_TMPFILE);
  if (how.mode & ~07777ull) return -EINVAL;
  if (!creating && how.mode != 0) return -EINVAL;
  if ((how.resolve & RESOLVE_BENEATH) && (how.resolve & RESOLVE_IN_ROOT))
    return -EINVAL;
  ResolveOptions opts;
  opts.beneath = how.resolve & RESOLVE_BENEATH;
  opts.in_root = how.resolve & RESOLVE_IN_ROOT;
  opts.no_symlinks = how.resolve & RESOLVE_NO_SYMLINKS;
  opts.no_magic_links = how.resolve & RESOLVE_NO_MAGICLINKS;
  opts.no_xdev = how.resolve & RESOLVE_NO_XDEV;
  return OpenCommon(t, args.Int(0), args[1], int(how.flags), how.mode, opts);
}

// Implements close(2). Closing any descriptor of a file drops the
// process's POSIX record locks on it (fcntl(2), "Advisory record locking").
int64_t Close(Task& t, const SyscallArgs& args) {
  FilePtr f = GetFile(t, args.Int(0));
  if (f && f->inode) LockTable::Get().Release(f->inode.get(), &t.tg());
  return ToReturn(t.fds->Remove(args.Int(0)));
}

// Implements close_range(2).
int64_t CloseRange(Task& t, const SyscallArgs& args) {
  unsigned first = args[0], last = args[1];
  unsigned flags = args[2];
  if (flags & ~unsigned(CLOSE_RANGE_UNSHARE | CLOSE_RANGE_CLOEXEC))
    return -EINVAL;
  if (first > last) return -EINVAL;
  if (flags & CLOSE_RANGE_UNSHARE) t.fds = t.fds->Clone();
  t.fds->RemoveRange(int(std::min<unsigned>(first, INT32_MAX)),
                     int(std::min<unsigned>(last, INT32_MAX)),
                     flags & CLOSE_RANGE_CLOEXEC);
  return 0;
}

// Implements dup(2).
int64_t Dup(Task& t, const SyscallArgs& args) {
  FilePtr f = GetFile(t, args.Int(0));
  if (!f) return -EBADF;
  return ToReturn(InstallFd(t, f, false));
}

int64_t Dup3Common(Task& t, int oldfd, int newfd, int flags) {
  FilePtr f = GetFile(t, oldfd);
  if (!f) return -EBADF;
  if (newfd < 0 || uint64_t(newfd) >= NofileLimit(t)) return -EBADF;
  Status s = t.fds->Set(newfd, f, flags & O_CLOEXEC, NofileLimit(t));
  if (!s.ok()) return -s.error();
  return newfd;
}

// Implements dup2(2).
int64_t Dup2(Task& t, const SyscallArgs& args) {
  int oldfd = args.Int(0), newfd = args.Int(1);
  if (oldfd == newfd) return GetFile(t, oldfd) ? newfd : -EBADF;
  return Dup3Common(t, oldfd, newfd, 0);
}

// Implements dup3(2).
int64_t Dup3(Task& t, const SyscallArgs& args) {
  int oldfd = args.Int(0), newfd = args.Int(1), flags = args.Int(2);
  if (flags & ~O_CLOEXEC) return -EINVAL;
  if (oldfd == newfd) return -EINVAL;
  return Dup3Common(t, oldfd, newfd, flags);
}

// Serves the F_GETLK and F_SETLK families of fcntl(2).
int64_t RecordLock(Task& t, const FilePtr& f, int cmd, uint64_t addr) {
  auto fl = t.mm().Read<struct flock>(addr);
  if (!fl.ok()) return -EFAULT;
  bool ofd = cmd == F_OFD_GETLK || cmd == F_OFD_SETLK || cmd == F_OFD_SETLKW;
  bool get = cmd == F_GETLK || cmd == F_OFD_GETLK;
  if (ofd && fl->l_pid != 0) return -EINVAL;
  if (fl->l_type != F_RDLCK && fl->l_type != F_WRLCK &&
      fl->l_type != F_UNLCK)
    return -EINVAL;
  if (get && fl->l_type == F_UNLCK) return -EINVAL;
  int64_t base = 0;
  if (fl->l_whence == SEEK_CUR) {
    base = int64_t(f->offset);
  } else if (fl->l_whence == SEEK_END) {
    auto attr = f->Stat();
    if (!attr.ok()) return -attr.error();
    base = int64_t(attr->size);
  } else if (fl->l_whence != SEEK_SET) {
    return -EINVAL;
  }
  int64_t start = base + fl->l_start;
  int64_t len = fl->l_len;
  if (len < 0) {
    start += len;
    len = -len;
  }
  if (start < 0) return -EINVAL;
  FileLock want;
  want.kind = ofd ? FileLock::kOfd : FileLock::kPosix;
  want.owner = ofd ? static_cast<const void*>(f.get())
                   : static_cast<const void*>(&t.tg());
  want.pid = ofd ? -1 : t.tg().tgid;
  want.write = fl->l_type == F_WRLCK;
  want.start = uint64_t(start);
  want.end = len == 0 ? UINT64_MAX : uint64_t(start + len - 1);
  LockTable& table = LockTable::Get();
  if (get) {
    const FileLock* c = table.FindConflict(f->inode.get(), want);
    if (c == nullptr) {
      fl->l_type = F_UNLCK;
    } else {
      fl->l_type = c->write ? F_WRLCK : F_RDLCK;
      fl->l_whence = SEEK_SET;
      fl->l_start = int64_t(c->start);
      fl->l_len = c->end == UINT64_MAX ? 0 : int64_t(c->end - c->start + 1);
      fl->l_pid = c->pid;
    }
    return ToReturn(t.mm().Write(addr, fl.value()));
  }
  if (fl->l_type == F_RDLCK && !f->readable()) return -EBADF;
  if (fl->l_type == F_WRLCK && !f->writable()) return -EBADF;
  if (ofd) f->holds_locks = true;
  bool wait = cmd == F_SETLKW || cmd == F_OFD_SETLKW;
  Status s = table.Apply(t, f->inode.get(), want, fl->l_type == F_UNLCK,
                         wait);
  if (!s.ok() && s.error() == 512) return kERestartSys;
  return ToReturn(s);
}

// Implements fcntl(2).
int64_t Fcntl(Task& t, const SyscallArgs& args) {
  int fd = args.Int(0);
  int cmd = args.Int(1);
  FdTable::Entry* e = t.fds->GetEntry(fd);
  if (e == nullptr) return -EBADF;
  FilePtr f = e->file;
  switch (cmd) {
    case F_DUPFD:
    case F_DUPFD_CLOEXEC: {
      int min = int(args[2]);
      if (min < 0 || uint64_t(min) >= NofileLimit(t)) return -EINVAL;
      return ToReturn(InstallFd(t, f, cmd == F_DUPFD_CLOEXEC, min));
    }
    case F_GETFD:
      return e->cloexec ? FD_CLOEXEC : 0;
    case F_SETFD:
      e->cloexec = args[2] & FD_CLOEXEC;
      return 0;
    case F_GETFL:
      return f->flags;
    case F_SETFL: {
      if (f->flags & O_PATH) return -EBADF;
      int settable = O_APPEND | O_NONBLOCK | O_ASYNC | O_DIRECT | O_NOATIME;
      f->flags = (f->flags & ~settable) | (int(args[2]) & settable);
      return 0;
    }
    case F_GETLK:
    case F_OFD_GETLK:
    case F_SETLK:
    case F_SETLKW:
    case F_OFD_SETLK:
    case F_OFD_SETLKW:
      return RecordLock(t, f, cmd, args[2]);
    case F_GETOWN:
      return f->owner;
    case F_GETOWN_EX: {
      struct f_owner_ex ex = {f->owner < 0 ? F_OWNER_PGRP : F_OWNER_PID,
                              f->owner < 0 ? -f->owner : f->owner};
      return ToReturn(t.mm().Write(args[2], ex));
    }
    case F_SETOWN_EX: {
      auto ex = t.mm().Read<struct f_owner_ex>(args[2]);
      if (!ex.ok()) return -EFAULT;
      if (ex->type != F_OWNER_TID && ex->type != F_OWNER_PID &&
          ex->type != F_OWNER_PGRP)
        return -EINVAL;
      f->owner = ex->type == F_OWNER_PGRP ? -ex->pid : ex->pid;
      return 0;
    }
    case F_SETOWN:
      f->owner = int(args[2]);
      return 0;
    case F_GETSIG:
    case F_SETSIG:
      return 0;
    case F_GETPIPE_SZ:
    case F_SETPIPE_SZ: {
      auto* pipe = dynamic_cast<PipeEnd*>(f.get());
      if (pipe == nullptr) return -EBADF;
      if (cmd == F_SETPIPE_SZ) {
        size_t want = args[2];
        if (want > 1048576) return -EPERM;
        size_t size = 4096;
        while (size < want) size <<= 1;
        if (size < pipe->pipe().buffer.size()) return -EBUSY;
        pipe->pipe().capacity = size;
      }
      return int64_t(pipe->pipe().capacity);
    }
    case F_GET_SEALS:
    case F_ADD_SEALS:
      return -EINVAL;
  }
  return -EINVAL;
}

// Implements ioctl(2).
int64_t Ioctl(Task& t, const SyscallArgs& args) {
  FdTable::Entry* e = t.fds->GetEntry(args.Int(0));
  if (e == nullptr) return -EBADF;
  FilePtr f = e->file;
  switch (args[1]) {
    case FIOCLEX:
      e->cloexec = true;
      return 0;
    case FIONCLEX:
      e->cloexec = false;
      return 0;
    case FIONBIO: {
      auto on = t.mm().Read<int>(args[2]);
      if (!on.ok()) return -EFAULT;
      if (on.value()) f->flags |= O_NONBLOCK;
      else f->flags &= ~O_NONBLOCK;
      return 0;
    }
    case FIOASYNC:
      return 0;
    case FIONREAD: {
      auto attr = f->Stat();
      if (attr.ok() && S_ISREG(attr->mode)) {
        int n = attr->size > f->offset ? int(attr->size - f->offset) : 0;
        return ToReturn(t.mm().Write<int>(args[2], n));
      }
      break;
    }
  }
  if (f->flags & O_PATH) return -EBADF;
  return ToReturn(f->Ioctl(t, args[1], args[2]));
}

// Implements pipe2(2).
int64_t Pipe2(Task& t, const SyscallArgs& args) {
  int flags = args.Int(1);
  if (flags & ~(O_CLOEXEC | O_NONBLOCK | O_DIRECT)) return -EINVAL;
  if (!t.mm().RangeAccessible(args[0], 8, PROT_WRITE)) return -EFAULT;
  auto [r, w] = NewPipe(t.creds);
  r->flags |= flags & O_NONBLOCK;
  w->flags |= flags & O_NONBLOCK;
  auto rfd = InstallFd(t, r, flags & O_CLOEXEC);
  if (!rfd.ok()) return -rfd.error();
  auto wfd = InstallFd(t, w, flags & O_CLOEXEC);
  if (!wfd.ok()) {
    (void)t.fds->Remove(rfd.value());
    return -wfd.error();
  }
  int fds[2] = {rfd.value(), wfd.value()};
  if (!t.mm().Write(args[0], fds).ok()) {
    (void)t.fds->Remove(fds[0]);
    (void)t.fds->Remove(fds[1]);
    return -EFAULT;
  }
  return 0;
}

// Implements pipe(2).
int64_t Pipe(Task& t, const SyscallArgs& args) {
  return Pipe2(t, SyscallArgs{{args[0], 0, 0, 0, 0, 0}});
}

}  // namespace moat
