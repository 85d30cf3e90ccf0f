// Dentries, mounts and path resolution. Resolution happens here, in the
// kernel, one component at a time: symlinks are read and walked by the
// kernel, ".." stops at the task's root, and mounts are crossed.
#pragma once

#include <list>
#include <map>
#include <memory>
#include <string>

#include "vfs/inode.h"

namespace moat {

class Dentry : public std::enable_shared_from_this<Dentry> {
 public:
  Dentry(std::string name, std::shared_ptr<Dentry> parent, InodePtr inode)
      : name(std::move(name)), parent(std::move(parent)),
        inode(std::move(inode)) {}

  std::string name;
  std::shared_ptr<Dentry> parent;  // null for a filesystem root
  InodePtr inode;
  bool deleted = false;
  // A deleted entry may be linked again only when it is an O_TMPFILE file
  // opened without O_EXCL (Linux I_LINKABLE).
  bool linkable = false;
  // Stands in for a file that has no path, opened through /proc/[pid]/fd;
  // opening it must not give the file this dentry's path.
  bool stand_in = false;
  // Files open through this entry (not O_PATH). A watched file removed
  // while open is reported gone at its last close (remove_pending).
  int open_files = 0;
  bool remove_pending = false;
  // Children looked up so far. A child lives while anyone references it,
  // the dentry cache included.
  std::map<std::string, std::weak_ptr<Dentry>> children;
  // This dentry's place in the dentry cache, valid while in_cache.
  std::list<std::shared_ptr<Dentry>>::iterator cached;
  bool in_cache = false;
};

struct Mount {
  int id = 0;
  std::shared_ptr<Dentry> root;
  std::shared_ptr<Mount> parent;         // null for the root mount
  std::shared_ptr<Dentry> mountpoint;    // in parent
  std::shared_ptr<SuperBlock> sb;        // shared by bind mounts
  std::string fstype;
  std::string source;
  // Per-mount flags (Linux MNT_*): mount(2)'s MS_RDONLY, MS_NOSUID, ...
  bool read_only = false;
  bool nosuid = false;
  bool nodev = false;
  bool noexec = false;
  bool nosymfollow = false;
  bool noatime = false;
  bool nodiratime = false;
  bool strictatime = false;  // neither noatime nor the default relatime
  // Set by umount2(MNT_EXPIRE), which unmounts on a second call.
  bool expiry_mark = false;

  // Returns whether writes through this mount fail with EROFS because the
  // mount or its filesystem is read-only.
  bool ReadOnly() const { return read_only || (sb && sb->read_only); }
};

struct Path {
  std::shared_ptr<Mount> mount;
  std::shared_ptr<Dentry> dentry;
  bool operator==(const Path& o) const {
    return mount == o.mount && dentry == o.dentry;
  }
  Inode& inode() const { return *dentry->inode; }
};

// The mounts that a group of tasks see.
class MountNamespace {
 public:
  explicit MountNamespace(std::shared_ptr<Mount> root);
  // Empties the dentry cache, so that an exited container's filesystems
  // and their files go with its namespace.
  ~MountNamespace();
  std::shared_ptr<Mount> root() const { return root_; }

  // Mounts `root_dentry` (of a new filesystem) at `at`. A null `sb` gets a
  // superblock of its own.
  std::shared_ptr<Mount> AddMount(const Path& at,
                                  std::shared_ptr<Dentry> root_dentry,
                                  const std::string& fstype,
                                  const std::string& source,
                                  std::shared_ptr<SuperBlock> sb = nullptr);
  // Attaches `m`, a mount not in the namespace yet, on top of `at` and
  // gives it an id.
  void Attach(const std::shared_ptr<Mount>& m, const Path& at);
  // Takes `m` and every mount under it out of the namespace. Files open
  // on them keep working (umount2 with MNT_DETACH).
  void DetachTree(const std::shared_ptr<Mount>& m);
  // Moves `m`, with the mounts under it, to `at`.
  void Move(const std::shared_ptr<Mount>& m, const Path& at);
  // The mount whose mountpoint is `p`, if any.
  std::shared_ptr<Mount> MountAt(const Path& p) const;
  std::vector<std::shared_ptr<Mount>> Mounts() const;
  // The mounts whose parent is `m`.
  std::vector<std::shared_ptr<Mount>> Children(const Mount& m) const;
  // Returns whether `m` is attached to this namespace (Linux check_mnt).
  bool Contains(const Mount& m) const;
  // Returns whether a mount sits on `d` through any mount of its
  // filesystem, which keeps `d` from being removed or renamed (Linux
  // d_mountpoint).
  bool IsMountpoint(const Dentry& d) const;

 private:
  std::shared_ptr<Mount> root_;
  int next_id_ = 1;
  std::map<std::pair<Mount*, Dentry*>, std::shared_ptr<Mount>> mounts_;
  std::vector<std::shared_ptr<Mount>> order_;
};

// The root, working directory and umask of a task (CLONE_FS shares it).
struct FsContext {
  Path root;
  Path cwd;
  uint32_t umask = 022;
};

inline constexpr int kMaxSymlinkDepth = 40;

struct ResolveOptions {
  bool follow_final = true;      // follow a symlink in the last component
  bool must_be_dir = false;
  // openat2 RESOLVE_* flags.
  bool beneath = false;
  bool in_root = false;
  bool no_symlinks = false;
  bool no_magic_links = false;
  bool no_xdev = false;
};

// Resolves `path` relative to `start` for `task`. EFAULT-free: the path is
// already in kernel memory.
Result<Path> ResolvePath(Task& task, const Path& start, const std::string& path,
                         const ResolveOptions& opts);

// Resolves all but the last component. Returns the parent directory and the
// last name ("" when the path is "/" and the like; "." or ".." as written).
Result<std::pair<Path, std::string>> ResolveParent(
    Task& task, const Path& start, const std::string& path,
    const ResolveOptions& opts);

// Looks up one name in a directory, through the dentry cache and across
// mounts.
Result<Path> LookupChild(Task& task, const Path& dir, const std::string& name);

// The absolute path of `p` as seen from `root` (getcwd, /proc links).
// *reachable, if given, is set to false when `p` is not under `root`.
std::string PathName(const Path& p, const Path& root,
                     bool* reachable = nullptr);

// Dentry cache upkeep after a directory operation.
void DentryForget(const Path& dir, const std::string& name);

// Takes `d` out of the dentry cache, which may free it.
void UncacheDentry(Dentry& d);

// Empties the dentry cache, freeing the dentries nothing else references.
void DropUnusedDentries();

// Returns whether `d` is `ancestor` or lies below it in the same filesystem.
bool IsBelow(const Dentry& d, const Dentry& ancestor);

}  // namespace moat
