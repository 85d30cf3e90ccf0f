#include "fs/inotify.h"

#include <sys/ioctl.h>

#include <cstring>

#include "fs/anon_inode.h"
#include "kernel/task.h"

namespace moat {
namespace {

// Instances and watches per user, against the limits (Linux counts them
// per user in fs/notify/inotify/inotify_user.c).
std::map<uint32_t, int>& InstanceCount() {
  static std::map<uint32_t, int> count;
  return count;
}
std::map<uint32_t, int>& WatchCount() {
  static std::map<uint32_t, int> count;
  return count;
}

}  // namespace

InotifyLimits& inotify_limits() {
  static InotifyLimits limits;
  return limits;
}

class InotifyFile::Watch : public NotifyMark {
 public:
  Watch(InotifyFile* owner, int wd, const Path& p, uint32_t mask)
      : owner(owner), wd(wd), path(p), mask(mask) {}

  void Handle(uint32_t event, const std::string& name, uint32_t cookie,
              bool unlinked_child) override {
    uint32_t delivered = event & mask & IN_ALL_EVENTS;
    if (!owner || !delivered) return;
    if (unlinked_child && (mask & IN_EXCL_UNLINK)) return;
    owner->Enqueue(wd, delivered | (event & IN_ISDIR), cookie, name);
    if (mask & IN_ONESHOT) owner->DropWatch(wd);
  }
  void InodeGone() override {
    if (owner) owner->DropWatch(wd);
  }

  InotifyFile* owner;
  int wd;
  // Holding the path keeps its dentry cached, so every later lookup of
  // the file reaches this same inode and its marks.
  Path path;
  uint32_t mask;
};

size_t InotifyFile::Event::Size() const {
  if (name.empty()) return sizeof(struct inotify_event);
  // The name is NUL-padded to a multiple of the header's size (Linux
  // fs/notify/inotify/inotify_user.c:round_event_name_len).
  size_t unit = sizeof(struct inotify_event);
  return unit + (name.size() + 1 + unit - 1) / unit * unit;
}

Result<std::shared_ptr<InotifyFile>> InotifyFile::Create(uint32_t uid) {
  if (InstanceCount()[uid] >= inotify_limits().max_user_instances)
    return Err(EMFILE);
  return std::make_shared<InotifyFile>(uid);
}

InotifyFile::InotifyFile(uint32_t uid) : uid_(uid) {
  inode = NewAnonInode(S_IRUSR | S_IWUSR);
  InstanceCount()[uid_]++;
}

InotifyFile::~InotifyFile() {
  for (auto& [wd, w] : watches_) {
    std::erase(w->path.inode().notify_marks, w);
    w->owner = nullptr;
    WatchCount()[uid_]--;
  }
  InstanceCount()[uid_]--;
}

void InotifyFile::Enqueue(int wd, uint32_t mask, uint32_t cookie,
                          const std::string& name) {
  int max = inotify_limits().max_queued_events;
  if (events_.size() >= size_t(max)) {
    // One IN_Q_OVERFLOW stands for every event lost after the queue
    // filled (Linux fs/notify/notification.c:fsnotify_insert_event).
    if (events_.back().mask == IN_Q_OVERFLOW) return;
    wd = -1;
    mask = IN_Q_OVERFLOW;
    cookie = 0;
  } else if (!events_.empty()) {
    const Event& last = events_.back();
    if (last.wd == wd && last.mask == mask && last.cookie == cookie &&
        last.name == (mask == IN_Q_OVERFLOW ? "" : name))
      return;
  }
  Event e{wd, mask, cookie, mask == IN_Q_OVERFLOW ? "" : name};
  queued_bytes_ += e.Size();
  events_.push_back(std::move(e));
  queue_.Notify(kEventIn);
}

void InotifyFile::DropWatch(int wd) {
  auto it = watches_.find(wd);
  if (it == watches_.end()) return;
  std::shared_ptr<Watch> w = it->second;
  watches_.erase(it);
  std::erase(w->path.inode().notify_marks, w);
  w->owner = nullptr;
  WatchCount()[uid_]--;
  Enqueue(wd, IN_IGNORED, 0, "");
}

Result<int> InotifyFile::AddWatch(const Path& p, uint32_t mask) {
  uint32_t keep = IN_ALL_EVENTS | IN_ONESHOT | IN_EXCL_UNLINK;
  for (auto& [wd, w] : watches_) {
    if (w->path.dentry->inode != p.dentry->inode) continue;
    if (mask & IN_MASK_CREATE) return Err(EEXIST);
    w->mask = (mask & IN_MASK_ADD) ? w->mask | (mask & keep) : mask & keep;
    return wd;
  }
  if (WatchCount()[uid_] >= inotify_limits().max_user_watches)
    return Err(ENOSPC);
  int wd = next_wd_++;
  auto w = std::make_shared<Watch>(this, wd, p, mask & keep);
  watches_[wd] = w;
  p.inode().notify_marks.push_back(w);
  WatchCount()[uid_]++;
  return wd;
}

Status InotifyFile::RemoveWatch(int wd) {
  if (!watches_.count(wd)) return Err(EINVAL);
  DropWatch(wd);
  return Ok();
}

Result<size_t> InotifyFile::Read(Task&, void* buf, size_t len) {
  if (events_.empty()) return Err(EAGAIN);
  if (events_.front().Size() > len) return Err(EINVAL);
  auto* out = static_cast<uint8_t*>(buf);
  size_t done = 0;
  while (!events_.empty() && events_.front().Size() <= len - done) {
    const Event& e = events_.front();
    size_t size = e.Size();
    struct inotify_event header = {e.wd, e.mask, e.cookie,
                                   uint32_t(size - sizeof(header))};
    memcpy(out + done, &header, sizeof(header));
    memset(out + done + sizeof(header), 0, header.len);
    memcpy(out + done + sizeof(header), e.name.data(), e.name.size());
    done += size;
    queued_bytes_ -= size;
    events_.pop_front();
  }
  return done;
}

Result<int64_t> InotifyFile::Ioctl(Task& t, uint64_t cmd, uint64_t arg) {
  if (cmd != FIONREAD) return Err(ENOTTY);
  TRY_STATUS(t.mm().Write<int>(arg, int(queued_bytes_)));
  return 0;
}

uint32_t InotifyFile::Readiness(uint32_t mask) {
  return events_.empty() ? 0 : mask & kEventIn;
}

}  // namespace moat
