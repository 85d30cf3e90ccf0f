// signalfd(2): a file from which a task reads its own pending signals.
#pragma once

#include "kernel/signal.h"
#include "vfs/inode.h"

namespace moat {

class ThreadGroup;

class SignalFd : public FileDescription {
 public:
  SignalFd(SignalSet mask, std::weak_ptr<ThreadGroup> creator);
  Result<size_t> Read(Task& t, void* buf, size_t len) override;
  Result<size_t> PRead(Task&, void*, size_t, uint64_t) override {
    return Err(ESPIPE);
  }
  Result<uint64_t> Seek(int64_t, int) override { return Err(ESPIPE); }
  uint32_t Readiness(uint32_t mask) override;
  WaitQueue* Queue() override;
  std::string Name() override { return "anon_inode:[signalfd]"; }

  SignalSet mask = 0;

 private:
  // Linux reads the signals of whichever task reads or polls the file; a
  // poll from outside any task (the timer thread) uses the creator's.
  std::weak_ptr<ThreadGroup> creator_;
};

}  // namespace moat
