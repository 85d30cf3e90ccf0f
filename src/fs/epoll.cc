#include "fs/epoll.h"

#include <poll.h>

#include "fs/anon_inode.h"

namespace moat {
namespace {

// Bits of an item that are options, not events (Linux EP_PRIVATE_BITS).
constexpr uint32_t kPrivateBits =
    EPOLLWAKEUP | EPOLLONESHOT | EPOLLET | EPOLLEXCLUSIVE;
// Linux fs/eventpoll.c EP_MAX_NESTS.
constexpr int kMaxNesting = 4;

// The wait queue bits that can make an item with `events` ready.
uint32_t WakeMask(uint32_t events) {
  uint32_t mask = kEventErr | kEventHup;
  if (events & (EPOLLIN | EPOLLRDNORM | EPOLLRDBAND)) mask |= kEventIn;
  if (events & (EPOLLOUT | EPOLLWRNORM | EPOLLWRBAND)) mask |= kEventOut;
  if (events & EPOLLPRI) mask |= kEventPri;
  if (events & EPOLLRDHUP) mask |= kEventRdHup | kEventIn;
  return mask;
}

}  // namespace

uint32_t PollReadiness(FileDescription& f, uint32_t events) {
  uint32_t r = f.Readiness(kEventIn | kEventOut | kEventPri | kEventRdHup);
  if (r & kEventIn) r |= POLLRDNORM;
  if (r & kEventOut) r |= POLLWRNORM;
  return r & (events | POLLERR | POLLHUP);
}

bool CanPoll(FileDescription& f) {
  if (f.Queue() == nullptr) return false;
  auto attr = f.Stat();
  return !attr.ok() || !(S_ISREG(attr->mode) || S_ISDIR(attr->mode));
}

EpollFile::EpollFile() { inode = NewAnonInode(S_IRUSR | S_IWUSR); }

EpollFile::~EpollFile() {
  ready_.clear();
  items_.clear();
}

EpollFile::Item* EpollFile::Find(FileDescription* file, int fd) {
  auto it = items_.find({file, fd});
  if (it == items_.end()) return nullptr;
  // A file that died and whose address came back is a different file.
  if (it->second->file.expired()) {
    Unlink(it->second.get());
    items_.erase(it);
    return nullptr;
  }
  return it->second.get();
}

void EpollFile::Unlink(Item* item) {
  if (item->on_ready_list) ready_.remove(item);
  item->on_ready_list = false;
}

Status EpollFile::Add(const FilePtr& file, int fd,
                      const struct epoll_event& ev) {
  if (Find(file.get(), fd)) return Err(EEXIST);
  auto item = std::make_unique<Item>();
  Item* raw = item.get();
  raw->file = file;
  raw->key = file.get();
  raw->fd = fd;
  raw->events = ev.events;
  raw->data = ev.data.u64;
  raw->waiter = std::make_unique<Waiter>(
      [this, raw](uint32_t) { MarkReady(raw); }, WakeMask(ev.events));
  items_[{file.get(), fd}] = std::move(item);
  if (WaitQueue* q = file->Queue()) q->Add(raw->waiter.get());
  // The first epoll_wait looks at the file whatever happened before.
  MarkReady(raw);
  return Ok();
}

Status EpollFile::Modify(FileDescription* file, int fd,
                         const struct epoll_event& ev) {
  Item* item = Find(file, fd);
  if (!item) return Err(ENOENT);
  if (item->events & EPOLLEXCLUSIVE) return Err(EINVAL);
  item->events = ev.events;
  item->data = ev.data.u64;
  item->waiter->set_mask(WakeMask(ev.events));
  MarkReady(item);
  return Ok();
}

Status EpollFile::Remove(FileDescription* file, int fd) {
  Item* item = Find(file, fd);
  if (!item) return Err(ENOENT);
  Unlink(item);
  items_.erase({file, fd});
  return Ok();
}

void EpollFile::MarkReady(Item* item) {
  if (!(item->events & ~kPrivateBits)) return;  // a spent EPOLLONESHOT
  if (!item->on_ready_list) {
    item->on_ready_list = true;
    ready_.push_back(item);
  }
  queue_.Notify(kEventIn);
}

std::vector<struct epoll_event> EpollFile::Collect(size_t max) {
  std::vector<struct epoll_event> out;
  // Each item is looked at once; level-triggered ones go back to the end
  // of the list, which shares the events out fairly.
  for (size_t n = ready_.size(); n > 0 && out.size() < max; n--) {
    Item* item = ready_.front();
    ready_.pop_front();
    item->on_ready_list = false;
    FilePtr file = item->file.lock();
    if (!file) {  // closed: Linux drops the item with the file
      items_.erase({item->key, item->fd});
      continue;
    }
    uint32_t requested = item->events & ~kPrivateBits;
    if (!requested) continue;
    uint32_t ready = PollReadiness(*file, requested);
    if (!ready) continue;
    struct epoll_event ev = {};
    ev.events = ready;
    ev.data.u64 = item->data;
    out.push_back(ev);
    if (item->events & EPOLLONESHOT) {
      item->events &= kPrivateBits;
    } else if (!(item->events & EPOLLET)) {
      item->on_ready_list = true;
      ready_.push_back(item);
    }
  }
  return out;
}

bool EpollFile::Reaches(const EpollFile* target, int depth) const {
  if (this == target || depth > kMaxNesting) return true;
  for (auto& [key, item] : items_) {
    auto file = item->file.lock();
    auto* inner = dynamic_cast<EpollFile*>(file.get());
    if (inner && inner->Reaches(target, depth + 1)) return true;
  }
  return false;
}

uint32_t EpollFile::Readiness(uint32_t mask) {
  for (auto it = ready_.begin(); it != ready_.end();) {
    Item* item = *it;
    FilePtr file = item->file.lock();
    uint32_t requested = item->events & ~kPrivateBits;
    if (file && requested && PollReadiness(*file, requested))
      return mask & kEventIn;
    // Not ready after all: Linux drops such items from the list here too.
    item->on_ready_list = false;
    it = ready_.erase(it);
  }
  return 0;
}

}  // namespace moat
