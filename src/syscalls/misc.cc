// Smaller calls: flock(2), memfd_create(2), splice(2), unshare(2) and
// argument checks of calls whose effect moat does not need.
#include <fcntl.h>
#include <linux/memfd.h>
#include <sched.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/uio.h>

#include "fs/pipe.h"
#include "fs/tmpfs.h"
#include "vfs/lock.h"
#include "syscalls/handlers.h"
#include "syscalls/util.h"

namespace moat {

// Implements flock(2): a whole-file lock owned by the open file
// description.
int64_t Flock(Task& t, const SyscallArgs& args) {
  FilePtr f = GetFile(t, args.Int(0));
  if (!f) return -EBADF;
  if (f->flags & O_PATH) return -EBADF;
  int op = args.Int(1) & ~LOCK_NB;
  if (op != LOCK_SH && op != LOCK_EX && op != LOCK_UN) return -EINVAL;
  FileLock want{FileLock::kFlock, f.get(), t.tg().tgid, op == LOCK_EX, 0,
                UINT64_MAX};
  f->holds_locks = true;
  Status s = LockTable::Get().Apply(t, f->inode.get(), want, op == LOCK_UN,
                                    !(args.Int(1) & LOCK_NB));
  if (!s.ok() && s.error() == 512) return kERestartSys;
  if (!s.ok() && s.error() == EDEADLK) return -EAGAIN;
  return ToReturn(s);
}

// Implements sync_file_range(2): tmpfs and the read-only host root have
// nothing to write back.
int64_t SyncFileRange(Task& t, const SyscallArgs& args) {
  FilePtr f = GetFile(t, args.Int(0));
  if (!f) return -EBADF;
  if (int64_t(args[1]) < 0 || int64_t(args[2]) < 0) return -EINVAL;
  if (args[3] & ~7ull) return -EINVAL;
  auto attr = f->Stat();
  if (attr.ok() && !S_ISREG(attr->mode) && !S_ISDIR(attr->mode) &&
      !S_ISBLK(attr->mode) && !S_ISLNK(attr->mode))
    return -ESPIPE;
  return 0;
}

// Implements mlock2(2).
int64_t Mlock2(Task& t, const SyscallArgs& args) {
  if (args[2] & ~1ull) return -EINVAL;  // only MLOCK_ONFAULT
  return Mlock(t, args);
}

// Implements memfd_create(2): an unnamed tmpfs file.
int64_t MemfdCreate(Task& t, const SyscallArgs& args) {
  unsigned flags = args[1];
  if (flags & ~unsigned(MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_HUGETLB |
                        0x8 /* MFD_NOEXEC_SEAL */ | 0x10 /* MFD_EXEC */))
    return -EINVAL;
  if (flags & MFD_HUGETLB) return -EINVAL;
  auto name = t.mm().CopyInString(args[0], 250);
  if (!name.ok()) return name.error() == ENAMETOOLONG ? -EINVAL : -EFAULT;
  auto inode = std::make_shared<TmpfsInode>(MemfdFs(), S_IFREG | 0777,
                                            t.creds.fsuid, t.creds.fsgid);
  auto f = inode->Open(O_RDWR);
  if (!f.ok()) return -f.error();
  f.value()->flags = O_RDWR | 0100000;
  f.value()->mount = t.fs->root.mount;
  f.value()->dentry =
      std::make_shared<Dentry>("memfd:" + name.value(), nullptr, inode);
  f.value()->dentry->deleted = true;
  return ToReturn(InstallFd(t, f.value(), flags & MFD_CLOEXEC));
}

// Implements unshare(2) for the parts moat shares between tasks: the file
// table, the filesystem context and the System V semaphore undo list.
int64_t Unshare(Task& t, const SyscallArgs& args) {
  uint64_t flags = args[0];
  constexpr uint64_t kKnown =
      CLONE_FILES | CLONE_FS | CLONE_NEWNS | CLONE_SYSVSEM | CLONE_NEWUTS |
      CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET |
      CLONE_NEWCGROUP | CLONE_NEWTIME | CLONE_THREAD | CLONE_SIGHAND |
      CLONE_VM;
  if (flags & ~kKnown) return -EINVAL;
  if ((flags & (CLONE_THREAD | CLONE_SIGHAND | CLONE_VM)) &&
      t.tg().tasks.size() > 1)
    return -EINVAL;
  // TODO: namespaces inside the sandbox are not supported yet.
  if (flags & (CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER |
               CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP |
               CLONE_NEWTIME))
    return -EINVAL;
  if (flags & CLONE_FILES) t.fds = t.fds->Clone();
  if (flags & CLONE_FS) t.fs = std::make_shared<FsContext>(*t.fs);
  return 0;
}

// Implements setns(2): there are no namespace files to join yet.
int64_t Setns(Task& t, const SyscallArgs& args) {
  if (!GetFile(t, args.Int(0))) return -EBADF;
  return -EINVAL;
}

// Implements ioprio_get(2) and ioprio_set(2): I/O priorities are checked
// and remembered nowhere, as moat does no block I/O of its own.
int64_t IoprioGet(Task& t, const SyscallArgs& args) {
  int which = args.Int(0);
  if (which < 1 || which > 3) return -EINVAL;  // IOPRIO_WHO_*
  return 0;
}

int64_t IoprioSet(Task& t, const SyscallArgs& args) {
  int which = args.Int(0);
  if (which < 1 || which > 3) return -EINVAL;
  int cls = args.Int(2) >> 13;
  if (cls < 0 || cls > 3) return -EINVAL;
  return 0;
}

namespace {

PipeEnd* AsPipe(FileDescription* f) { return dynamic_cast<PipeEnd*>(f); }

}  // namespace

// Implements splice(2) by copying through the kernel: one end must be a
// pipe, as on Linux.
int64_t Splice(Task& t, const SyscallArgs& args);

// Implements tee(2): copies pipe data without consuming it.
int64_t Tee(Task& t, const SyscallArgs& args) {
  FilePtr in = GetFile(t, args.Int(0));
  FilePtr out = GetFile(t, args.Int(1));
  if (!in || !out) return -EBADF;
  PipeEnd* src = AsPipe(in.get());
  PipeEnd* dst = AsPipe(out.get());
  if (!src || !dst || &src->pipe() == &dst->pipe()) return -EINVAL;
  if (!in->readable() || !out->writable()) return -EBADF;
  if (args[3] & ~0xfull) return -EINVAL;
  auto& p = src->pipe();
  size_t n = std::min<size_t>(args[2], p.buffer.size());
  if (n == 0) return (p.writers == 0) ? 0 : -EAGAIN;
  std::vector<char> data(p.buffer.begin(), p.buffer.begin() + n);
  auto w = out->Write(t, data.data(), n);
  return w.ok() ? int64_t(w.value()) : -w.error();
}

// Implements vmsplice(2) as writev(2) or readv(2) on the pipe.
int64_t Vmsplice(Task& t, const SyscallArgs& args) {
  FilePtr f = GetFile(t, args.Int(0));
  if (!f) return -EBADF;
  if (!AsPipe(f.get())) return -EBADF;
  if (args[3] & ~0xfull) return -EINVAL;
  SyscallArgs v{{args[0], args[1], args[2], 0, 0, 0}};
  return f->writable() ? Writev(t, v) : Readv(t, v);
}

}  // namespace moat
