#include "vfs/notify.h"

#include <vector>

namespace moat {
namespace {

// Move cookies pair IN_MOVED_FROM with IN_MOVED_TO; Linux counts them
// kernel-wide (fs/notify/fsnotify.c:fsnotify_get_cookie).
uint32_t next_cookie = 0;

bool HasMarks(const Inode& inode) { return !inode.notify_marks.empty(); }

// Hands `mask` to every mark on `inode`. The list is copied because a mark
// may detach itself (IN_ONESHOT) while it handles the event.
void SendTo(Inode& inode, uint32_t mask, const std::string& name,
            uint32_t cookie = 0, bool unlinked_child = false) {
  if (!HasMarks(inode)) return;
  std::vector<std::shared_ptr<NotifyMark>> marks = inode.notify_marks;
  for (auto& m : marks) m->Handle(mask, name, cookie, unlinked_child);
}

// The inode is gone for good: its marks are dropped.
void InodeGone(Inode& inode) {
  std::vector<std::shared_ptr<NotifyMark>> marks;
  marks.swap(inode.notify_marks);
  for (auto& m : marks) m->InodeGone();
}

// The directory that contains `d` within its filesystem, as Linux's
// dget_parent: none for a filesystem root or a file with no path.
Dentry* Parent(const Dentry& d) {
  if (d.stand_in || !d.parent) return nullptr;
  return d.parent.get();
}

uint32_t IsDirBit(Inode& inode) { return inode.IsDir() ? IN_ISDIR : 0; }

// IN_DELETE_SELF, then IN_IGNORED, as Linux's dentry_unlink_inode and the
// eviction that follows report them.
void RemoveSelf(Dentry& d) {
  if (!HasMarks(*d.inode)) return;
  SendTo(*d.inode, IN_DELETE_SELF, "");
  InodeGone(*d.inode);
}

// Whether the inode of a removed entry is gone, or lives on in an open
// file (then it goes at the last close, NotifyLastClose).
void AfterLastLink(Dentry& d) {
  if (!HasMarks(*d.inode)) return;
  auto attr = d.inode->Attr();
  if (attr.ok() && attr->nlink > 0 && !S_ISDIR(attr->mode)) return;
  if (d.open_files > 0) {
    d.remove_pending = true;
    return;
  }
  RemoveSelf(d);
}

}  // namespace

bool NotifyWatched(const Dentry& d) {
  if (d.inode && HasMarks(*d.inode)) return true;
  Dentry* parent = Parent(d);
  return parent && parent->inode && HasMarks(*parent->inode);
}

void NotifyDentry(Dentry& d, uint32_t event) {
  if (!NotifyWatched(d)) return;
  event |= IsDirBit(*d.inode);
  if (Dentry* parent = Parent(d))
    SendTo(*parent->inode, event, d.name, 0, d.deleted);
  SendTo(*d.inode, event, "");
}

void NotifyFile(FileDescription& f, uint32_t event) {
  if (f.dentry && f.notify_open) NotifyDentry(*f.dentry, event);
}

void NotifyChange(Dentry& d, const SetAttrRequest& req) {
  uint32_t mask = 0;
  if (req.mask &
      (SetAttrRequest::kUid | SetAttrRequest::kGid | SetAttrRequest::kMode))
    mask |= IN_ATTRIB;
  if (req.mask & SetAttrRequest::kSize) mask |= IN_MODIFY;
  uint32_t both = SetAttrRequest::kAtime | SetAttrRequest::kMtime;
  if ((req.mask & both) == both)
    mask |= IN_ATTRIB;
  else if (req.mask & SetAttrRequest::kAtime)
    mask |= IN_ACCESS;
  else if (req.mask & SetAttrRequest::kMtime)
    mask |= IN_MODIFY;
  if (mask) NotifyDentry(d, mask);
}

void NotifyCreate(Dentry& dir, const std::string& name, bool is_dir) {
  SendTo(*dir.inode, IN_CREATE | (is_dir ? IN_ISDIR : 0), name);
}

void NotifyLink(Dentry& dir, const std::string& name, Dentry& target) {
  SendTo(*target.inode, IN_ATTRIB, "");
  NotifyCreate(dir, name, false);
}

void NotifyUnlink(Dentry& dir, const std::string& name, Dentry& victim,
                  bool is_dir) {
  if (!is_dir) SendTo(*victim.inode, IN_ATTRIB, "");
  AfterLastLink(victim);
  SendTo(*dir.inode, IN_DELETE | (is_dir ? IN_ISDIR : 0), name);
}

void NotifyRename(Dentry& old_dir, const std::string& old_name, Dentry& new_dir,
                  const std::string& new_name, Dentry& moved,
                  Dentry* replaced) {
  if (!HasMarks(*old_dir.inode) && !HasMarks(*new_dir.inode) &&
      !HasMarks(*moved.inode) && !(replaced && HasMarks(*replaced->inode)))
    return;
  // Renaming a name onto another link of the same file changes nothing.
  if (replaced && replaced->inode == moved.inode) return;
  uint32_t cookie = ++next_cookie;
  uint32_t isdir = IsDirBit(*moved.inode);
  SendTo(*old_dir.inode, IN_MOVED_FROM | isdir, old_name, cookie);
  SendTo(*new_dir.inode, IN_MOVED_TO | isdir, new_name, cookie);
  bool overwrote = replaced != nullptr;
  if (overwrote)
    SendTo(*replaced->inode, IN_ATTRIB | IsDirBit(*replaced->inode), "");
  // The self events carry no IN_ISDIR, as Linux reports them.
  SendTo(*moved.inode, IN_MOVE_SELF, "");
  if (overwrote) AfterLastLink(*replaced);
}

void NotifyLastClose(Dentry& d) {
  if (!d.remove_pending || d.open_files > 0) return;
  d.remove_pending = false;
  RemoveSelf(d);
}

}  // namespace moat
