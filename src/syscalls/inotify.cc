// inotify_init(2), inotify_add_watch(2) and inotify_rm_watch(2).
#include "fs/inotify.h"

#include "syscalls/handlers.h"
#include "syscalls/util.h"

namespace moat {
namespace {

// Every bit a watch mask may have (Linux include/linux/inotify.h).
constexpr uint32_t kAllInotifyBits =
    IN_ALL_EVENTS | IN_UNMOUNT | IN_Q_OVERFLOW | IN_IGNORED | IN_ONLYDIR |
    IN_DONT_FOLLOW | IN_EXCL_UNLINK | IN_MASK_ADD | IN_MASK_CREATE | IN_ISDIR |
    IN_ONESHOT;

int64_t InotifyCommon(Task& t, int flags) {
  if (flags & ~(IN_NONBLOCK | IN_CLOEXEC)) return -EINVAL;
  auto f = InotifyFile::Create(t.creds.ruid);
  if (!f.ok()) return -f.error();
  f.value()->flags = O_RDONLY | (flags & IN_NONBLOCK);
  return ToReturn(InstallFd(t, f.value(), flags & IN_CLOEXEC));
}

Result<std::shared_ptr<InotifyFile>> GetInotify(Task& t, int fd) {
  FilePtr f = GetFile(t, fd);
  if (!f) return Err(EBADF);
  auto in = std::dynamic_pointer_cast<InotifyFile>(f);
  if (!in) return Err(EINVAL);
  return in;
}

}  // namespace

// Implements inotify_init(2).
int64_t InotifyInit(Task& t, const SyscallArgs&) { return InotifyCommon(t, 0); }

// Implements inotify_init1(2).
int64_t InotifyInit1(Task& t, const SyscallArgs& args) {
  return InotifyCommon(t, args.Int(0));
}

// Implements inotify_add_watch(2).
int64_t InotifyAddWatch(Task& t, const SyscallArgs& args) {
  uint32_t mask = uint32_t(args[2]);
  // The checks come in Linux's order
  // (fs/notify/inotify/inotify_user.c:inotify_add_watch).
  if ((mask & ~kAllInotifyBits) || !(mask & kAllInotifyBits)) return -EINVAL;
  FilePtr f = GetFile(t, args.Int(0));
  if (!f) return -EBADF;
  if ((mask & IN_MASK_ADD) && (mask & IN_MASK_CREATE)) return -EINVAL;
  auto in = GetInotify(t, args.Int(0));
  if (!in.ok()) return -in.error();
  int at_flags = (mask & IN_DONT_FOLLOW) ? AT_SYMLINK_NOFOLLOW : 0;
  auto p = ResolveAt(t, AT_FDCWD, args[1], at_flags);
  if (!p.ok()) return -p.error();
  auto attr = p->inode().Attr();
  if (!attr.ok()) return -attr.error();
  if ((mask & IN_ONLYDIR) && !S_ISDIR(attr->mode)) return -ENOTDIR;
  Status s = CheckAccess(attr.value(), t.creds, R_OK);
  if (!s.ok()) return -s.error();
  return ToReturn(in.value()->AddWatch(p.value(), mask));
}

// Implements inotify_rm_watch(2).
int64_t InotifyRmWatch(Task& t, const SyscallArgs& args) {
  auto in = GetInotify(t, args.Int(0));
  if (!in.ok()) return -in.error();
  return ToReturn(in.value()->RemoveWatch(args.Int(1)));
}

}  // namespace moat
