// Path resolution, after Linux fs/namei.c: one component at a time, with
// symlinks read and walked here, ".." clamped at the task's root and mounts
// crossed in both directions.
#include "vfs/vfs.h"

#include <deque>
#include <list>

#include "kernel/kernel.h"
#include "kernel/task.h"

namespace moat {

namespace {

MountNamespace& Mounts(Task& t) { return *t.mount_ns; }

// The inode behind /proc/[pid]/fd/N for a file that has no path.
class ReopenInode : public Inode {
 public:
  explicit ReopenInode(FilePtr file) : file_(std::move(file)) {}
  Result<InodeAttr> Attr() override { return file_->Stat(); }
  Result<FilePtr> Open(int flags) override {
    FilePtr f = TRY(file_->Reopen(flags));
    return f;
  }
  Result<struct statfs> StatFs() override {
    if (!file_->inode) return Inode::StatFs();
    return file_->inode->StatFs();
  }

 private:
  FilePtr file_;
};

// Steps from a mountpoint into what is mounted on it.
Path CrossMounts(Task& t, Path p) {
  while (auto m = Mounts(t).MountAt(p)) p = Path{m, m->root};
  return p;
}

// ".." of `p`, not leaving `root`.
Path Parent(const Path& p, const Path& root) {
  Path cur = p;
  for (;;) {
    if (cur == root) return cur;
    if (cur.dentry != cur.mount->root) break;
    if (!cur.mount->parent) return cur;  // the namespace root
    cur = Path{cur.mount->parent, cur.mount->mountpoint};
  }
  if (!cur.dentry->parent) return cur;
  return Path{cur.mount, cur.dentry->parent};
}

std::deque<std::string> Split(const std::string& path) {
  std::deque<std::string> parts;
  size_t i = 0;
  while (i < path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    if (j > i) parts.emplace_back(path.substr(i, j - i));
    i = j + 1;
  }
  return parts;
}

// The dentries used last, most recent first, kept alive after their last
// user lets go, as Linux keeps unused dentries on its LRU list. A path
// walked again then finds its dentries and inodes instead of making them
// anew: a compiler looks up the same headers in every run. A cached dentry
// keeps its parents alive too.
constexpr size_t kCachedDentries = 4096;
std::list<std::shared_ptr<Dentry>>& DentryCache() {
  static auto* cache = new std::list<std::shared_ptr<Dentry>>();
  return *cache;
}

void CacheDentry(const std::shared_ptr<Dentry>& d) {
  auto& cache = DentryCache();
  if (d->in_cache) {
    cache.splice(cache.begin(), cache, d->cached);
    return;
  }
  if (!d->inode->CacheWhenUnused()) return;
  cache.push_front(d);
  d->cached = cache.begin();
  d->in_cache = true;
  if (cache.size() > kCachedDentries) {
    std::shared_ptr<Dentry> last = std::move(cache.back());
    last->in_cache = false;
    cache.pop_back();
  }
}

}  // namespace

void UncacheDentry(Dentry& d) {
  if (!d.in_cache) return;
  d.in_cache = false;
  DentryCache().erase(d.cached);  // may free `d`
}

Result<Path> LookupChild(Task& t, const Path& dir, const std::string& name) {
  Dentry& d = *dir.dentry;
  if (auto it = d.children.find(name); it != d.children.end()) {
    if (auto child = it->second.lock(); child && !child->deleted) {
      CacheDentry(child);
      return CrossMounts(t, Path{dir.mount, child});
    }
    d.children.erase(it);
  }
  InodePtr inode = TRY(d.inode->Lookup(name));
  auto child = std::make_shared<Dentry>(name, dir.dentry, std::move(inode));
  d.children[name] = child;
  // Entries of a deleted directory are not cached, since no path leads
  // to them.
  if (!d.deleted) CacheDentry(child);
  return CrossMounts(t, Path{dir.mount, child});
}

void DentryForget(const Path& dir, const std::string& name) {
  auto& children = dir.dentry->children;
  auto it = children.find(name);
  if (it == children.end()) return;
  if (auto child = it->second.lock()) {
    child->deleted = true;
    UncacheDentry(*child);
  }
  children.erase(it);
}

void DropUnusedDentries() {
  auto& cache = DentryCache();
  for (auto& d : cache) d->in_cache = false;
  cache.clear();
}

namespace {

// Walks `parts` from `start`. With `stop_before_last`, the last component
// is left in *last instead of being walked.
// `root` is where ".." stops and absolute symlinks restart: the task's
// root, or the starting directory for RESOLVE_BENEATH and RESOLVE_IN_ROOT.
Result<Path> Walk(Task& t, const Path& root, Path cur,
                  std::deque<std::string> parts, const ResolveOptions& opts,
                  bool stop_before_last, bool trailing_slash,
                  std::string* last) {
  int links = 0;
  while (!parts.empty()) {
    std::string name = std::move(parts.front());
    parts.pop_front();
    if (name.size() > 255) return Err(ENAMETOOLONG);
    bool is_last = parts.empty();
    if (is_last && stop_before_last) {
      *last = name;
      return cur;
    }
    if (!cur.inode().IsDir()) return Err(ENOTDIR);
    if (!t.creds.OverridesDac()) {
      auto attr = TRY(cur.inode().Attr());
      TRY_STATUS(CheckAccess(attr, t.creds, X_OK));
    }
    if (name == ".") continue;
    if (name == "..") {
      if (opts.beneath && cur == root) return Err(EXDEV);
      cur = Parent(cur, root);
      continue;
    }
    Path next = TRY(LookupChild(t, cur, name));
    if (opts.no_xdev && next.mount != cur.mount) return Err(EXDEV);
    bool follow = !is_last || opts.follow_final || trailing_slash;
    if (follow) {
      if (FilePtr magic = next.inode().MagicLink(t)) {
        if (opts.no_magic_links || next.mount->nosymfollow) return Err(ELOOP);
        // Linux refuses magic links under RESOLVE_BENEATH/IN_ROOT, as they
        // can point anywhere.
        if (opts.beneath || opts.in_root) return Err(EXDEV);
        if (++links > kMaxSymlinkDepth) return Err(ELOOP);
        if (!magic->mount || !magic->dentry) {
          // A file with no path (a pipe, a host descriptor): resolve to a
          // stand-in whose open reopens that file.
          if (!parts.empty()) return Err(ENOTDIR);
          auto stand_in = std::make_shared<Dentry>(
              next.dentry->name, next.dentry->parent,
              std::make_shared<ReopenInode>(magic));
          stand_in->stand_in = true;
          cur = Path{next.mount, stand_in};
          continue;
        }
        cur = Path{magic->mount, magic->dentry};
        continue;
      }
    }
    if (follow && next.inode().IsSymlink()) {
      // MS_NOSYMFOLLOW: a symlink on such a mount is never followed.
      if (opts.no_symlinks || next.mount->nosymfollow) return Err(ELOOP);
      if (++links > kMaxSymlinkDepth) return Err(ELOOP);
      std::string target = TRY(next.inode().Readlink());
      if (target.empty()) return Err(ENOENT);
      auto more = Split(target);
      for (auto it = more.rbegin(); it != more.rend(); ++it)
        parts.push_front(*it);
      if (target[0] == '/') {
        if (opts.beneath) return Err(EXDEV);
        cur = root;
      }
      if (parts.empty() && stop_before_last) {
        *last = ".";
        return cur;
      }
      continue;
    }
    cur = next;
  }
  if (stop_before_last) *last = "";
  return cur;
}

}  // namespace

Result<Path> ResolvePath(Task& t, const Path& start, const std::string& path,
                         const ResolveOptions& opts) {
  if (path.empty()) return Err(ENOENT);
  if (path.size() >= 4096) return Err(ENAMETOOLONG);
  Path root = (opts.beneath || opts.in_root) ? start : t.fs->root;
  Path cur = start;
  if (path[0] == '/') {
    if (opts.beneath) return Err(EXDEV);
    cur = root;
  }
  bool trailing_slash = path.back() == '/';
  Path p = TRY(Walk(t, root, cur, Split(path), opts, false, trailing_slash,
                    nullptr));
  if ((trailing_slash || opts.must_be_dir) && !p.inode().IsDir())
    return Err(ENOTDIR);
  return p;
}

Result<std::pair<Path, std::string>> ResolveParent(
    Task& t, const Path& start, const std::string& path,
    const ResolveOptions& opts) {
  if (path.empty()) return Err(ENOENT);
  if (path.size() >= 4096) return Err(ENAMETOOLONG);
  Path root = (opts.beneath || opts.in_root) ? start : t.fs->root;
  if (path[0] == '/' && opts.beneath) return Err(EXDEV);
  Path cur = path[0] == '/' ? root : start;
  auto parts = Split(path);
  if (parts.empty()) return std::make_pair(cur, std::string());
  std::string last;
  Path dir = TRY(Walk(t, root, cur, std::move(parts), opts, true, false,
                      &last));
  if (!dir.inode().IsDir()) return Err(ENOTDIR);
  if (last.size() > 255) return Err(ENAMETOOLONG);
  return std::make_pair(dir, last);
}

std::string PathName(const Path& p, const Path& root, bool* reachable) {
  std::vector<std::string> names;
  Path cur = p;
  if (reachable) *reachable = false;
  for (int guard = 0; guard < 4096; guard++) {
    if (cur == root) {
      if (reachable) *reachable = true;
      break;
    }
    if (cur.dentry == cur.mount->root) {
      if (!cur.mount->parent) break;
      cur = Path{cur.mount->parent, cur.mount->mountpoint};
      continue;
    }
    names.push_back(cur.dentry->name);
    if (!cur.dentry->parent) break;
    cur = Path{cur.mount, cur.dentry->parent};
  }
  std::string out;
  for (auto it = names.rbegin(); it != names.rend(); ++it) out += "/" + *it;
  if (out.empty()) out = "/";
  if (p.dentry->deleted) out += " (deleted)";
  return out;
}

}  // namespace moat
