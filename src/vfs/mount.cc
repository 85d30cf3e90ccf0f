// The mount tree of a namespace: attaching, detaching and moving mounts.
#include <algorithm>

#include "vfs/vfs.h"

namespace moat {

MountNamespace::MountNamespace(std::shared_ptr<Mount> root)
    : root_(std::move(root)) {
  root_->id = next_id_++;
  if (!root_->sb) root_->sb = std::make_shared<SuperBlock>();
  order_.push_back(root_);
}

std::shared_ptr<Mount> MountNamespace::AddMount(
    const Path& at, std::shared_ptr<Dentry> root_dentry,
    const std::string& fstype, const std::string& source,
    std::shared_ptr<SuperBlock> sb) {
  auto m = std::make_shared<Mount>();
  m->root = std::move(root_dentry);
  m->sb = sb ? std::move(sb) : std::make_shared<SuperBlock>();
  m->fstype = fstype;
  m->source = source;
  Attach(m, at);
  return m;
}

void MountNamespace::Attach(const std::shared_ptr<Mount>& m, const Path& at) {
  // A mount on a spot that is already covered goes on top of the mount
  // there, which is where path resolution ends up.
  Path top = at;
  while (auto covering = MountAt(top)) top = Path{covering, covering->root};
  m->id = next_id_++;
  m->parent = top.mount;
  m->mountpoint = top.dentry;
  mounts_[{top.mount.get(), top.dentry.get()}] = m;
  order_.push_back(m);
}

void MountNamespace::DetachTree(const std::shared_ptr<Mount>& m) {
  std::vector<std::shared_ptr<Mount>> tree{m};
  for (size_t i = 0; i < tree.size(); i++)
    for (auto& child : Children(*tree[i])) tree.push_back(child);
  for (auto& gone : tree) {
    mounts_.erase({gone->parent.get(), gone->mountpoint.get()});
    std::erase(order_, gone);
  }
  // The mounts below keep their places in the detached tree.
  m->parent.reset();
  m->mountpoint.reset();
  // The dentry cache would otherwise keep the detached filesystems and
  // their files alive.
  DropUnusedDentries();
}

MountNamespace::~MountNamespace() { DropUnusedDentries(); }

void MountNamespace::Move(const std::shared_ptr<Mount>& m, const Path& at) {
  mounts_.erase({m->parent.get(), m->mountpoint.get()});
  Path top = at;
  while (auto covering = MountAt(top)) top = Path{covering, covering->root};
  m->parent = top.mount;
  m->mountpoint = top.dentry;
  mounts_[{top.mount.get(), top.dentry.get()}] = m;
}

std::shared_ptr<Mount> MountNamespace::MountAt(const Path& p) const {
  auto it = mounts_.find({p.mount.get(), p.dentry.get()});
  return it == mounts_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<Mount>> MountNamespace::Mounts() const {
  return order_;
}

std::vector<std::shared_ptr<Mount>> MountNamespace::Children(
    const Mount& m) const {
  std::vector<std::shared_ptr<Mount>> out;
  for (auto& other : order_)
    if (other->parent.get() == &m) out.push_back(other);
  return out;
}

bool MountNamespace::Contains(const Mount& m) const {
  return std::any_of(order_.begin(), order_.end(),
                     [&m](const auto& other) { return other.get() == &m; });
}

bool MountNamespace::IsMountpoint(const Dentry& d) const {
  return std::any_of(order_.begin(), order_.end(),
                     [&d](const auto& m) { return m->mountpoint.get() == &d; });
}

bool IsBelow(const Dentry& d, const Dentry& ancestor) {
  for (const Dentry* cur = &d; cur != nullptr; cur = cur->parent.get())
    if (cur == &ancestor) return true;
  return false;
}

}  // namespace moat
