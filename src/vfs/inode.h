// Inodes and file descriptions: the interface every filesystem implements.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kernel/wait_queue.h"
#include "mm/memory_object.h"
#include "util/result.h"

namespace moat {

class Task;
class Inode;
class FileDescription;
struct Mount;
class Dentry;
class NotifyMark;
using InodePtr = std::shared_ptr<Inode>;
using FilePtr = std::shared_ptr<FileDescription>;

struct Credentials {
  uint32_t ruid = 0, euid = 0, suid = 0, fsuid = 0;
  uint32_t rgid = 0, egid = 0, sgid = 0, fsgid = 0;
  std::vector<uint32_t> groups;
  // Effective capabilities as the program sees them: all of them for root.
  uint64_t cap_effective = ~0ull;
  uint64_t cap_permitted = ~0ull;
  uint64_t cap_inheritable = 0;
  uint64_t cap_bounding = ~0ull;
  bool HasCapability(int cap) const { return cap_effective >> cap & 1; }
  // Whether permission bits do not apply: root, or CAP_DAC_OVERRIDE.
  bool OverridesDac() const { return fsuid == 0 || HasCapability(1); }
  bool InGroup(uint32_t gid) const;
  bool operator==(const Credentials&) const = default;
};

struct InodeAttr {
  uint64_t dev = 0;
  uint64_t ino = 0;
  uint32_t mode = 0;
  uint64_t nlink = 1;
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint64_t rdev = 0;
  uint64_t size = 0;
  uint64_t blksize = 4096;
  uint64_t blocks = 0;
  struct timespec atime = {}, mtime = {}, ctime = {}, btime = {};
};

// A change requested by chmod, chown, truncate or utimensat.
struct SetAttrRequest {
  enum : uint32_t { kMode = 1, kUid = 2, kGid = 4, kSize = 8, kAtime = 16,
                    kMtime = 32 };
  uint32_t mask = 0;
  uint32_t mode = 0;
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint64_t size = 0;
  struct timespec atime = {}, mtime = {};
};

struct DirEntry {
  std::string name;
  uint64_t ino = 0;
  uint8_t type = 0;  // DT_*
};

class Inode : public std::enable_shared_from_this<Inode> {
 public:
  virtual ~Inode() = default;

  virtual Result<InodeAttr> Attr() = 0;
  uint32_t Mode() {
    auto a = Attr();
    return a.ok() ? a->mode : 0;
  }
  // Returns the file type (the S_IFMT bits of the mode), which never
  // changes, so a path walk reads it once per inode.
  uint32_t Type() {
    if (type_ == 0) type_ = Mode() & S_IFMT;
    return type_;
  }
  bool IsDir() { return S_ISDIR(Type()); }
  bool IsSymlink() { return S_ISLNK(Type()); }

  // Directory operations. `name` is never empty, "." or "..", and never
  // contains '/'.
  virtual Result<InodePtr> Lookup(const std::string& name);
  virtual Result<InodePtr> Create(const std::string& name, uint32_t mode,
                                  const Credentials& creds);
  virtual Result<InodePtr> Mkdir(const std::string& name, uint32_t mode,
                                 const Credentials& creds);
  virtual Result<InodePtr> Mknod(const std::string& name, uint32_t mode,
                                 uint64_t dev, const Credentials& creds);
  virtual Result<InodePtr> Symlink(const std::string& name,
                                   const std::string& target,
                                   const Credentials& creds);
  virtual Status Link(const std::string& name, InodePtr target);
  virtual Status Unlink(const std::string& name);
  virtual Status Rmdir(const std::string& name);
  // Moves `old_name` in this directory to `new_name` in `new_dir`, which is
  // on the same filesystem. `flags` are renameat2's.
  virtual Status Rename(const std::string& old_name, Inode& new_dir,
                        const std::string& new_name, unsigned flags);
  virtual Result<std::vector<DirEntry>> ReadDir();

  virtual Result<std::string> Readlink();
  // Opens the inode. `flags` are open(2)'s; access was already checked.
  virtual Result<FilePtr> Open(int flags);
  virtual Status SetAttr(const SetAttrRequest& req);
  virtual Result<struct statfs> StatFs();
  // The pages behind mmap of this inode.
  virtual Result<std::shared_ptr<MemoryObject>> Mappable();

  // A "magic link" such as /proc/[pid]/fd/N resolves to this file rather
  // than to the text that readlink returns.
  virtual FilePtr MagicLink(Task& task) { return nullptr; }
  // The filesystem's name as /proc/mounts shows it.
  virtual std::string FsType() const { return ""; }
  // Whether a dentry of this inode may stay in the dentry cache after its
  // last user. True only where the sandbox's own calls are the only
  // changes to the directory: not /proc, whose entries come and go with
  // tasks, nor host directories that others may write.
  virtual bool CacheWhenUnused() const { return false; }

  // Open descriptions that may write, and address spaces running this file:
  // a file cannot be both at once (ETXTBSY). Guarded by the kernel lock.
  int writers = 0;
  int executors = 0;
  // Watches on this inode (vfs/notify.h), like Linux's i_fsnotify_marks.
  std::vector<std::shared_ptr<NotifyMark>> notify_marks;

 private:
  uint32_t type_ = 0;  // the result of Type(), 0 until first read
};

// An open file: the object a file descriptor refers to.
class FileDescription : public std::enable_shared_from_this<FileDescription> {
 public:
  virtual ~FileDescription();

  // Sequential I/O at the file offset; EAGAIN means "would block", and the
  // syscall layer then waits on Queue() unless O_NONBLOCK is set.
  virtual Result<size_t> Read(Task& t, void* buf, size_t len);
  virtual Result<size_t> Write(Task& t, const void* buf, size_t len);
  virtual Result<size_t> PRead(Task& t, void* buf, size_t len, uint64_t off);
  virtual Result<size_t> PWrite(Task& t, const void* buf, size_t len,
                                uint64_t off);
  virtual Result<uint64_t> Seek(int64_t off, int whence);
  virtual Result<InodeAttr> Stat();
  virtual Result<int64_t> Ioctl(Task& t, uint64_t cmd, uint64_t arg);
  virtual Status Fsync() { return Ok(); }
  virtual Status Truncate(uint64_t size);
  // Implements fallocate(2) on a regular file. The caller has checked that
  // `mode` has no flags but FALLOC_FL_KEEP_SIZE and FALLOC_FL_PUNCH_HOLE.
  virtual Status Allocate(Task& t, int mode, uint64_t offset,
                          uint64_t length);
  virtual Result<std::shared_ptr<MemoryObject>> Mappable();

  // Readiness for poll: the subset of `mask` that is ready now.
  virtual uint32_t Readiness(uint32_t mask) { return mask & (kEventIn | kEventOut); }
  // The queue notified when readiness changes; null for always-ready files.
  virtual WaitQueue* Queue() { return nullptr; }

  // The target of /proc/[pid]/fd/N when the file has no path.
  virtual std::string Name();
  // Called when the last descriptor referring to this file is closed.
  virtual void OnRelease() {}
  // Opens this file again through /proc/[pid]/fd/N when it has no path:
  // a pipe gets a new end of the same pipe, anything else is shared.
  virtual Result<FilePtr> Reopen(int flags) { return shared_from_this(); }

  bool readable() const { return (flags & O_ACCMODE) != O_WRONLY; }
  bool writable() const { return (flags & O_ACCMODE) != O_RDONLY; }

  int flags = 0;  // open(2) flags, less O_CREAT, O_EXCL, O_TRUNC, O_CLOEXEC
  uint64_t offset = 0;
  InodePtr inode;
  std::shared_ptr<Mount> mount;     // with `dentry`, the path it was opened by
  std::shared_ptr<Dentry> dentry;
  size_t dir_index = 0;  // getdents position
  int owner = 0;         // F_SETOWN; SIGIO itself is not sent
  bool counted_writer = false;  // counted in inode->writers
  bool holds_locks = false;     // may own OFD or flock locks
  // Opened by path: counted in dentry->open_files, and its close is
  // reported to watches (IN_CLOSE_WRITE or IN_CLOSE_NOWRITE).
  bool notify_open = false;
  std::vector<DirEntry> dir_cache;
};

// A filesystem instance, shared by every mount of it (Linux struct
// super_block). Filesystems with options or limits derive from it.
class SuperBlock {
 public:
  virtual ~SuperBlock() = default;
  // The filesystem's own options as /proc/self/mountinfo lists them after
  // "rw" or "ro", each with a leading comma: ",size=1024k,mode=750".
  virtual std::string Options() const { return ""; }
  // Applies the options of a remount (mount(2) data, less the generic
  // ones such as "ro"). EINVAL for an option the filesystem does not have.
  virtual Status Reconfigure(const std::vector<std::string>& options);

  bool read_only = false;
};

// Returns the statfs(2) result of a filesystem without blocks of its own,
// such as proc or pipefs (Linux fs/libfs.c:simple_statfs).
struct statfs SimpleStatFs(int64_t magic);

// Checks `want` (R_OK/W_OK/X_OK bits) against an inode's mode for `creds`.
Status CheckAccess(const InodeAttr& attr, const Credentials& creds, int want);

}  // namespace moat
