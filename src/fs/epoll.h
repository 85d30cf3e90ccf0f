// epoll(7): a file that watches other files and reports the ready ones.
#pragma once

#include <sys/epoll.h>

#include <list>
#include <map>
#include <vector>

#include "vfs/inode.h"

namespace moat {

// The poll(2) bits that `f` has ready among `events`, plus POLLERR and
// POLLHUP, which are always reported. poll, select and epoll share it.
uint32_t PollReadiness(FileDescription& f, uint32_t events);

// Whether epoll can watch `f`: Linux refuses files without a poll
// operation, such as regular files and directories.
bool CanPoll(FileDescription& f);

class EpollFile : public FileDescription {
 public:
  EpollFile();
  ~EpollFile() override;

  // epoll_ctl(2). `ev.events` already contains EPOLLERR and EPOLLHUP.
  Status Add(const FilePtr& file, int fd, const struct epoll_event& ev);
  Status Modify(FileDescription* file, int fd, const struct epoll_event& ev);
  Status Remove(FileDescription* file, int fd);
  // Takes up to `max` events off the ready list, as epoll_wait(2) reports
  // them.
  std::vector<struct epoll_event> Collect(size_t max);
  // Whether `target` is this file or is watched from it within the
  // nesting limit (for ELOOP).
  bool Reaches(const EpollFile* target, int depth) const;

  uint32_t Readiness(uint32_t mask) override;
  WaitQueue* Queue() override { return &queue_; }
  std::string Name() override { return "anon_inode:[eventpoll]"; }

 private:
  struct Item {
    std::weak_ptr<FileDescription> file;
    FileDescription* key = nullptr;  // the file's address, for items_
    int fd = -1;
    uint32_t events = 0;
    uint64_t data = 0;
    bool on_ready_list = false;
    std::unique_ptr<Waiter> waiter;
  };
  using Key = std::pair<FileDescription*, int>;

  Item* Find(FileDescription* file, int fd);
  void MarkReady(Item* item);
  void Unlink(Item* item);

  std::map<Key, std::unique_ptr<Item>> items_;
  std::list<Item*> ready_;
  WaitQueue queue_;
};

}  // namespace moat
