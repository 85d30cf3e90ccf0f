// mount(2) and umount2(2), after Linux fs/namespace.c:path_mount and
// path_umount. A mount makes a new tmpfs, proc or devpts of moat's own,
// binds or moves a tree that is already in the sandbox, or changes a
// mount's flags. No filesystem of the host can be mounted: moat has no
// block devices and has no disk filesystem type.
#include <linux/capability.h>
#include <sys/mount.h>

#include <set>

#include "fs/devpts.h"
#include "fs/proc.h"
#include "fs/tmpfs.h"
#include "syscalls/handlers.h"
#include "syscalls/util.h"

namespace moat {
namespace {

// The handler mount(2) below hides the type's plain name in this file, so
// the type is spelled `struct Mount` here.

constexpr size_t kMountDataMax = 4095;  // Linux copies one page, NUL-ended

constexpr uint64_t kPropagationFlags =
    MS_SHARED | MS_PRIVATE | MS_SLAVE | MS_UNBINDABLE;
constexpr uint64_t kAtimeFlags =
    MS_NOATIME | MS_NODIRATIME | MS_RELATIME | MS_STRICTATIME;

// A superblock that takes the named options and ignores them: proc and
// devpts options choose views or limits that moat does not have.
class LenientSuperBlock : public SuperBlock {
 public:
  explicit LenientSuperBlock(std::vector<std::string> keys)
      : keys_(std::move(keys)) {}
  Status Reconfigure(const std::vector<std::string>& options) override {
    for (const std::string& option : options) {
      std::string key = option.substr(0, option.find('='));
      if (std::find(keys_.begin(), keys_.end(), key) == keys_.end())
        return Err(EINVAL);
    }
    return Ok();
  }

 private:
  std::vector<std::string> keys_;
};

// Copies in a string argument of mount(2): EFAULT for a bad pointer,
// EINVAL past a page.
Result<std::string> CopyInMountString(Task& t, uint64_t addr) {
  auto s = t.mm().CopyInString(addr, kPathMax);
  if (!s.ok()) return Err(s.error() == ENAMETOOLONG ? EINVAL : s.error());
  return s;
}

// Copies in mount(2) data, which Linux cuts at a page.
Result<std::string> CopyInMountData(Task& t, uint64_t addr) {
  auto s = t.mm().CopyInString(addr, kMountDataMax);
  if (s.ok() || s.error() != ENAMETOOLONG) return s;
  std::string data(kMountDataMax, '\0');
  TRY_STATUS(t.mm().CopyIn(addr, data.data(), data.size()));
  return data;
}

std::vector<std::string> SplitOptions(const std::string& data) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= data.size()) {
    size_t comma = std::min(data.find(',', start), data.size());
    if (comma > start) out.push_back(data.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

// Takes the options that every filesystem has ("ro", "rw", "sync", ...)
// out of `options`, applying "ro" and "rw" to *read_only, as Linux
// fs/fs_context.c:vfs_parse_sb_flag does. EINVAL for a per-mount flag
// given as an option ("nosuid"), which must come as a mount(2) flag.
Status TakeGenericOptions(std::vector<std::string>* options, bool* read_only) {
  static const char* const kIgnored[] = {"dirsync",    "lazytime", "mand",
                                         "posixacl",   "sync",     "async",
                                         "nolazytime", "nomand",   "silent"};
  static const char* const kForbidden[] = {
      "bind",       "dev",    "exec",   "move",        "noatime", "nodev",
      "nodiratime", "noexec", "nosuid", "private",     "rec",     "relatime",
      "remount",    "shared", "slave",  "strictatime", "suid",    "unbindable"};
  std::vector<std::string> rest;
  for (const std::string& option : *options) {
    auto is = [&option](const char* name) { return option == name; };
    if (option == "ro" || option == "rw") {
      *read_only = option == "ro";
    } else if (std::any_of(std::begin(kForbidden), std::end(kForbidden), is)) {
      return Err(EINVAL);
    } else if (!std::any_of(std::begin(kIgnored), std::end(kIgnored), is)) {
      rest.push_back(option);
    }
  }
  *options = std::move(rest);
  return Ok();
}

// Sets the per-mount flags of `m` from mount(2) flags. With `keep_atime`
// (a remount that names no atime flag) the atime flags stay as they are.
void SetMountFlags(struct Mount& m, uint64_t flags, bool keep_atime) {
  m.read_only = flags & MS_RDONLY;
  m.nosuid = flags & MS_NOSUID;
  m.nodev = flags & MS_NODEV;
  m.noexec = flags & MS_NOEXEC;
  m.nosymfollow = flags & MS_NOSYMFOLLOW;
  if (keep_atime && !(flags & kAtimeFlags)) return;
  // Linux defaults to relatime; strictatime clears both other modes.
  m.strictatime = flags & MS_STRICTATIME;
  m.noatime = (flags & MS_NOATIME) && !m.strictatime;
  m.nodiratime = flags & MS_NODIRATIME;
}

struct NewFs {
  InodePtr root;
  std::shared_ptr<SuperBlock> sb;
};

// Makes a filesystem of type `type` from the options left after the
// generic ones. ENODEV for a type moat does not have.
Result<NewFs> MakeFilesystem(Task& t, const std::string& type,
                             const std::vector<std::string>& options) {
  if (type == "tmpfs") {
    TmpfsOptions parsed = DefaultTmpfsOptions();
    TRY_STATUS(ParseTmpfsOptions(options, &parsed));
    auto fs = std::make_shared<TmpfsFs>(parsed);
    return NewFs{NewTmpfs(fs), fs};
  }
  std::shared_ptr<SuperBlock> sb;
  InodePtr root;
  if (type == "proc") {
    sb = std::make_shared<LenientSuperBlock>(
        std::vector<std::string>{"hidepid", "gid", "subset"});
    root = NewProcFs(t.kernel());
  } else if (type == "devpts") {
    // Every devpts mount shows the sandbox's one set of ptys.
    sb = std::make_shared<LenientSuperBlock>(std::vector<std::string>{
        "uid", "gid", "mode", "ptmxmode", "newinstance", "max"});
    root = NewDevpts();
  } else {
    // TODO: sysfs, mqueue and overlay of sandbox directories.
    return Err(ENODEV);
  }
  TRY_STATUS(sb->Reconfigure(options));
  return NewFs{root, sb};
}

// Checks that a mount whose root is `root` may go on `at` (Linux
// fs/namespace.c:graft_tree and lock_mount).
Status CheckGraft(Task& t, const Path& at, Inode& root) {
  if (!t.mount_ns->Contains(*at.mount)) return Err(EINVAL);
  if (at.dentry->deleted) return Err(ENOENT);
  if (root.IsSymlink()) return Err(EINVAL);
  if (at.inode().IsDir() != root.IsDir()) return Err(ENOTDIR);
  return Ok();
}

int64_t NewMount(Task& t, const Path& at, uint64_t flags,
                 const std::string& type, const std::string& source,
                 const std::string& data) {
  auto options = SplitOptions(data);
  bool read_only = flags & MS_RDONLY;
  if (Status s = TakeGenericOptions(&options, &read_only); !s.ok())
    return -s.error();
  auto fs = MakeFilesystem(t, type, options);
  if (!fs.ok()) return -fs.error();
  fs->sb->read_only = read_only;
  if (Status s = CheckGraft(t, at, *fs->root); !s.ok()) return -s.error();
  auto m = t.mount_ns->AddMount(
      at, std::make_shared<Dentry>("", nullptr, fs->root), type,
      source.empty() ? "none" : source, fs->sb);
  SetMountFlags(*m, flags, false);
  return 0;
}

// Returns whether a file open for writing is on `sb` (through the mount
// `only`, if given).
bool HasWriters(Task& t, const SuperBlock& sb, const struct Mount* only) {
  for (auto& group : t.kernel().Groups()) {
    for (auto& task : group->tasks) {
      if (!task->fds) continue;
      for (auto& [fd, entry] : task->fds->entries()) {
        const FilePtr& f = entry.file;
        if (!f->mount || !f->writable() || f->mount->sb.get() != &sb) continue;
        if (only == nullptr || f->mount.get() == only) return true;
      }
    }
  }
  return false;
}

// MS_REMOUNT: new options for the filesystem and new flags for the mount;
// with MS_BIND only the mount's flags change.
int64_t Remount(Task& t, const Path& at, uint64_t flags,
                const std::string& data) {
  struct Mount& m = *at.mount;
  if (!t.mount_ns->Contains(m) || at.dentry != m.root) return -EINVAL;
  bool to_read_only = (flags & MS_RDONLY) && !m.read_only;
  if (flags & MS_BIND) {
    if (to_read_only && HasWriters(t, *m.sb, &m)) return -EBUSY;
    SetMountFlags(m, flags, true);
    return 0;
  }
  auto options = SplitOptions(data);
  bool read_only = flags & MS_RDONLY;
  if (Status s = TakeGenericOptions(&options, &read_only); !s.ok())
    return -s.error();
  if (read_only && !m.sb->read_only && HasWriters(t, *m.sb, nullptr))
    return -EBUSY;
  if (Status s = m.sb->Reconfigure(options); !s.ok()) return -s.error();
  m.sb->read_only = read_only;
  SetMountFlags(m, flags, true);
  return 0;
}

// A copy of `from` whose root is `root`, with the flags and superblock of
// `from`, not yet in the namespace.
std::shared_ptr<struct Mount> CloneMount(const struct Mount& from,
                                         std::shared_ptr<Dentry> root) {
  auto m = std::make_shared<struct Mount>(from);
  m->root = std::move(root);
  m->parent.reset();
  m->mountpoint.reset();
  m->expiry_mark = false;
  return m;
}

// Attaches copies of the mounts under `from` that lie below its dentry
// `top` to `to`, a copy of `from`, at the same places (MS_BIND | MS_REC).
// Mounts in `made` are this bind's own copies, never copied again: a bind
// of a tree onto a place inside it would otherwise copy itself for ever.
void CloneChildren(MountNamespace& ns, const struct Mount& from,
                   const Dentry& top, const std::shared_ptr<struct Mount>& to,
                   std::set<const struct Mount*>& made) {
  for (auto& child : ns.Children(from)) {
    if (made.contains(child.get())) continue;
    if (!IsBelow(*child->mountpoint, top)) continue;
    auto copy = CloneMount(*child, child->root);
    made.insert(copy.get());
    ns.Attach(copy, Path{to, child->mountpoint});
    CloneChildren(ns, *child, *child->root, copy, made);
  }
}

int64_t BindMount(Task& t, const Path& at, uint64_t flags,
                  const std::string& source) {
  if (source.empty()) return -EINVAL;
  auto from = ResolvePath(t, t.fs->cwd, source, {});
  if (!from.ok()) return -from.error();
  MountNamespace& ns = *t.mount_ns;
  if (!ns.Contains(*from->mount) || from->dentry->stand_in) return -EINVAL;
  if (Status s = CheckGraft(t, at, from->inode()); !s.ok()) return -s.error();
  auto m = CloneMount(*from->mount, from->dentry);
  ns.Attach(m, at);
  std::set<const struct Mount*> made = {m.get()};
  if (flags & MS_REC) CloneChildren(ns, *from->mount, *from->dentry, m, made);
  return 0;
}

int64_t MoveTree(Task& t, const Path& at, const std::string& source) {
  if (source.empty()) return -EINVAL;
  auto from = ResolvePath(t, t.fs->cwd, source, {});
  if (!from.ok()) return -from.error();
  MountNamespace& ns = *t.mount_ns;
  std::shared_ptr<struct Mount> m = from->mount;
  if (!ns.Contains(*at.mount) || !ns.Contains(*m) || !m->parent ||
      from->dentry != m->root)
    return -EINVAL;
  if (at.inode().IsDir() != from->inode().IsDir()) return -EINVAL;
  // A mount cannot move below itself (Linux do_move_mount).
  for (struct Mount* p = at.mount.get(); p != nullptr; p = p->parent.get())
    if (p == m.get()) return -ELOOP;
  if (at.dentry->deleted) return -ENOENT;
  ns.Move(m, at);
  return 0;
}

// MS_SHARED, MS_PRIVATE, MS_SLAVE and MS_UNBINDABLE: moat's namespace has
// no peers to propagate to, so every mount stays private.
int64_t ChangePropagation(const Path& at, uint64_t flags) {
  if (at.dentry != at.mount->root) return -EINVAL;
  uint64_t type = flags & ~uint64_t(MS_REC | MS_SILENT);
  if (type == 0 || (type & (type - 1)) != 0) return -EINVAL;
  return 0;
}

// Returns whether anything but the namespace and the caller's own
// `caller_refs` references uses the mount: an open file, a working
// directory, a running program or a mount below (Linux mnt_count).
bool Busy(const std::shared_ptr<struct Mount>& m, long caller_refs) {
  constexpr long kNamespaceRefs = 2;  // MountNamespace's map and list
  return m.use_count() > kNamespaceRefs + caller_refs;
}

}  // namespace

// Implements mount(2).
int64_t Mount(Task& t, const SyscallArgs& args) {
  uint64_t flags = args[3];
  // Old programs put a magic number in the high half, which Linux drops
  // together with every flag above bit 15.
  if ((flags & MS_MGC_MSK) == MS_MGC_VAL) flags &= ~MS_MGC_MSK;
  std::string source, type, data;
  if (args[0]) {
    auto s = CopyInMountString(t, args[0]);
    if (!s.ok()) return -s.error();
    source = s.value();
  }
  if (args[2]) {
    auto s = CopyInMountString(t, args[2]);
    if (!s.ok()) return -s.error();
    type = s.value();
  }
  if (args[4]) {
    auto s = CopyInMountData(t, args[4]);
    if (!s.ok()) return -s.error();
    data = s.value();
  }

  auto target = ResolveAt(t, AT_FDCWD, args[1], 0);
  if (!target.ok()) return -target.error();
  if (flags & MS_NOUSER) return -EINVAL;
  if (!t.creds.HasCapability(CAP_SYS_ADMIN)) return -EPERM;

  // Like Linux, flags that mean nothing here (MS_SYNCHRONOUS, MS_SILENT,
  // ...) are ignored.
  if (flags & MS_REMOUNT) return Remount(t, *target, flags, data);
  if (flags & MS_BIND) return BindMount(t, *target, flags, source);
  if (flags & kPropagationFlags) return ChangePropagation(*target, flags);
  if (flags & MS_MOVE) return MoveTree(t, *target, source);
  if (!args[2]) return -EINVAL;
  return NewMount(t, *target, flags, type, source, data);
}

// Implements umount2(2).
int64_t Umount2(Task& t, const SyscallArgs& args) {
  int flags = args.Int(1);
  if (flags & ~(MNT_FORCE | MNT_DETACH | MNT_EXPIRE | UMOUNT_NOFOLLOW))
    return -EINVAL;
  auto target = ResolveAt(t, AT_FDCWD, args[0],
                          (flags & UMOUNT_NOFOLLOW) ? AT_SYMLINK_NOFOLLOW : 0);
  if (!target.ok()) return -target.error();
  if (!t.creds.HasCapability(CAP_SYS_ADMIN)) return -EPERM;
  MountNamespace& ns = *t.mount_ns;
  const std::shared_ptr<struct Mount>& m = target->mount;
  if (target->dentry != m->root || !ns.Contains(*m) || !m->parent)
    return -EINVAL;
  if (flags & MNT_EXPIRE) {
    if (flags & (MNT_FORCE | MNT_DETACH)) return -EINVAL;
    if (Busy(m, 1)) return -EBUSY;
    // The first call only marks the mount (Linux do_umount).
    if (!m->expiry_mark) {
      m->expiry_mark = true;
      return -EAGAIN;
    }
  }
  if (!(flags & MNT_DETACH) && Busy(m, 1)) return -EBUSY;
  ns.DetachTree(m);
  return 0;
}

}  // namespace moat
