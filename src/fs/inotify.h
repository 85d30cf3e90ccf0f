// inotify(7): a file that reads the changes watched files went through.
// Events come from the VFS hooks (vfs/notify.h) through one Watch per
// watched inode.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <string>

#include "vfs/notify.h"

namespace moat {

// The limits of /proc/sys/fs/inotify, with Linux's defaults.
struct InotifyLimits {
  int max_user_instances = 128;
  int max_user_watches = 65536;
  int max_queued_events = 16384;
};
InotifyLimits& inotify_limits();

class InotifyFile : public FileDescription {
 public:
  // Fails with EMFILE past max_user_instances for `uid`.
  static Result<std::shared_ptr<InotifyFile>> Create(uint32_t uid);
  explicit InotifyFile(uint32_t uid);
  ~InotifyFile() override;

  Result<size_t> Read(Task& t, void* buf, size_t len) override;
  Result<size_t> Write(Task&, const void*, size_t) override {
    return Err(EINVAL);
  }
  Result<size_t> PRead(Task&, void*, size_t, uint64_t) override {
    return Err(ESPIPE);
  }
  Result<size_t> PWrite(Task&, const void*, size_t, uint64_t) override {
    return Err(ESPIPE);
  }
  Result<uint64_t> Seek(int64_t, int) override { return Err(ESPIPE); }
  Result<int64_t> Ioctl(Task& t, uint64_t cmd, uint64_t arg) override;
  uint32_t Readiness(uint32_t mask) override;
  WaitQueue* Queue() override { return &queue_; }
  std::string Name() override { return "anon_inode:inotify"; }

  // inotify_add_watch(2) on the file at `p`; returns the watch descriptor.
  Result<int> AddWatch(const Path& p, uint32_t mask);
  // inotify_rm_watch(2).
  Status RemoveWatch(int wd);

  // Queues one event, merging it with an identical last one.
  void Enqueue(int wd, uint32_t mask, uint32_t cookie, const std::string& name);
  // Drops watch `wd` and queues its IN_IGNORED.
  void DropWatch(int wd);

 private:
  class Watch;
  struct Event {
    int wd;
    uint32_t mask;
    uint32_t cookie;
    std::string name;
    size_t Size() const;
  };

  uint32_t uid_;
  int next_wd_ = 1;
  std::map<int, std::shared_ptr<Watch>> watches_;
  std::deque<Event> events_;
  size_t queued_bytes_ = 0;
  WaitQueue queue_;
};

}  // namespace moat
