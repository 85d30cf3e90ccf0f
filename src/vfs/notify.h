// Filesystem change notification: the one place where the VFS reports what
// happened to a file, as Linux's fsnotify does. The syscall layer calls these
// hooks after an operation succeeded, whatever the filesystem, and they hand
// the event to the marks (watches) on the inode and on its parent directory.
// inotify (fs/inotify.h) is the only kind of mark so far.
#pragma once

#include <sys/inotify.h>

#include <cstdint>
#include <memory>
#include <string>

#include "vfs/vfs.h"

namespace moat {

// A watch on one inode. Held by its owner (an inotify instance) and by the
// inode's list of marks; the owner detaches it.
// TODO: marks sit on Inode objects, and the overlay makes one object per
// dentry, so a change made through another hard link of a watched overlay
// file is not reported (tmpfs shares one object and is not affected).
class NotifyMark {
 public:
  virtual ~NotifyMark() = default;
  // Delivers `mask` (IN_* bits, possibly with IN_ISDIR). `name` is the
  // child's name when the mark is on the parent directory, else empty.
  // `unlinked_child` is true when the child's entry is already gone.
  virtual void Handle(uint32_t mask, const std::string& name, uint32_t cookie,
                      bool unlinked_child) = 0;
  // The inode went away: the mark is dropped (inotify reports IN_IGNORED).
  virtual void InodeGone() = 0;
};

// Whether anyone watches `d` or its parent; the hooks cost nothing more
// than this when no one does.
bool NotifyWatched(const Dentry& d);

// An event on the file itself: IN_ACCESS, IN_MODIFY, IN_ATTRIB, IN_OPEN,
// IN_CLOSE_WRITE or IN_CLOSE_NOWRITE. Reaches watches on the file and on
// its directory.
void NotifyDentry(Dentry& d, uint32_t event);
// The same for an open file: the events of read(2), write(2) and close(2).
void NotifyFile(FileDescription& f, uint32_t event);
// The event chmod, chown, truncate or utimensat cause (Linux
// include/linux/fsnotify.h:fsnotify_change).
void NotifyChange(Dentry& d, const SetAttrRequest& req);

// A new entry `name` in `dir` (mkdir, creat, mknod, symlink, link).
void NotifyCreate(Dentry& dir, const std::string& name, bool is_dir);
// link(2): the target's link count changed, then the entry appeared.
void NotifyLink(Dentry& dir, const std::string& name, Dentry& target);
// unlink(2) and rmdir(2) of `victim`, which was `name` in `dir`.
void NotifyUnlink(Dentry& dir, const std::string& name, Dentry& victim,
                  bool is_dir);
// rename(2) of `moved`; `replaced` is the entry it overwrote, if any.
void NotifyRename(Dentry& old_dir, const std::string& old_name, Dentry& new_dir,
                  const std::string& new_name, Dentry& moved, Dentry* replaced);
// The last open file of a removed entry closed: the inode is gone now.
void NotifyLastClose(Dentry& d);

}  // namespace moat
