// Extended attributes. No filesystem of moat stores them yet: reads find
// none and writes are not supported, which programs such as ls and cp
// handle as on a filesystem without xattr support.
#include <sys/xattr.h>

#include "syscalls/handlers.h"
#include "syscalls/util.h"

namespace moat {
namespace {

int64_t CheckPath(Task& t, uint64_t path, bool follow) {
  auto p = ResolveAt(t, AT_FDCWD, path, follow ? 0 : AT_SYMLINK_NOFOLLOW);
  return p.ok() ? 0 : -p.error();
}

int64_t CheckName(Task& t, uint64_t name_addr) {
  auto name = t.mm().CopyInString(name_addr, XATTR_NAME_MAX + 1);
  if (!name.ok()) return name.error() == ENAMETOOLONG ? -ERANGE : -EFAULT;
  if (name->empty()) return -ERANGE;
  return 0;
}

int64_t Get(Task& t, int64_t found, uint64_t name) {
  if (found < 0) return found;
  int64_t r = CheckName(t, name);
  return r < 0 ? r : -ENODATA;
}

int64_t Set(Task& t, int64_t found, uint64_t name) {
  if (found < 0) return found;
  int64_t r = CheckName(t, name);
  return r < 0 ? r : -EOPNOTSUPP;
}

int64_t FdCheck(Task& t, int fd) { return GetFile(t, fd) ? 0 : -EBADF; }

}  // namespace

// Implements getxattr(2), lgetxattr(2) and fgetxattr(2).
int64_t Getxattr(Task& t, const SyscallArgs& a) {
  return Get(t, CheckPath(t, a[0], true), a[1]);
}
int64_t Lgetxattr(Task& t, const SyscallArgs& a) {
  return Get(t, CheckPath(t, a[0], false), a[1]);
}
int64_t Fgetxattr(Task& t, const SyscallArgs& a) {
  return Get(t, FdCheck(t, a.Int(0)), a[1]);
}

// Implements listxattr(2), llistxattr(2) and flistxattr(2): always empty.
int64_t Listxattr(Task& t, const SyscallArgs& a) {
  return CheckPath(t, a[0], true);
}
int64_t Llistxattr(Task& t, const SyscallArgs& a) {
  return CheckPath(t, a[0], false);
}
int64_t Flistxattr(Task& t, const SyscallArgs& a) {
  return FdCheck(t, a.Int(0));
}

// Implements setxattr(2), lsetxattr(2) and fsetxattr(2).
int64_t Setxattr(Task& t, const SyscallArgs& a) {
  if (a[4] & ~uint64_t(XATTR_CREATE | XATTR_REPLACE)) return -EINVAL;
  return Set(t, CheckPath(t, a[0], true), a[1]);
}
int64_t Lsetxattr(Task& t, const SyscallArgs& a) {
  if (a[4] & ~uint64_t(XATTR_CREATE | XATTR_REPLACE)) return -EINVAL;
  return Set(t, CheckPath(t, a[0], false), a[1]);
}
int64_t Fsetxattr(Task& t, const SyscallArgs& a) {
  if (a[4] & ~uint64_t(XATTR_CREATE | XATTR_REPLACE)) return -EINVAL;
  return Set(t, FdCheck(t, a.Int(0)), a[1]);
}

// Implements removexattr(2), lremovexattr(2) and fremovexattr(2).
int64_t Removexattr(Task& t, const SyscallArgs& a) {
  return Get(t, CheckPath(t, a[0], true), a[1]);
}
int64_t Lremovexattr(Task& t, const SyscallArgs& a) {
  return Get(t, CheckPath(t, a[0], false), a[1]);
}
int64_t Fremovexattr(Task& t, const SyscallArgs& a) {
  return Get(t, FdCheck(t, a.Int(0)), a[1]);
}

}  // namespace moat
