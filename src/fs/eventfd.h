// eventfd(2): a 64-bit counter that reads and writes move.
#pragma once

#include "vfs/inode.h"

namespace moat {

class EventFd : public FileDescription {
 public:
  EventFd(uint64_t initial, bool semaphore);
  Result<size_t> Read(Task& t, void* buf, size_t len) override;
  Result<size_t> Write(Task& t, const void* buf, size_t len) override;
  Result<size_t> PRead(Task&, void*, size_t, uint64_t) override {
    return Err(ESPIPE);
  }
  Result<size_t> PWrite(Task&, const void*, size_t, uint64_t) override {
    return Err(ESPIPE);
  }
  Result<uint64_t> Seek(int64_t, int) override { return Err(ESPIPE); }
  uint32_t Readiness(uint32_t mask) override;
  WaitQueue* Queue() override { return &queue_; }
  std::string Name() override { return "anon_inode:[eventfd]"; }

 private:
  uint64_t count_;
  bool semaphore_;
  WaitQueue queue_;
};

}  // namespace moat
