// Host descriptors that the sandbox uses directly: the standard input,
// output and error that moat was started with. Reads and writes never block
// the kernel: they are made non-blocking, and an epoll thread (the fd
// notifier) wakes waiting tasks when the host descriptor becomes ready.
#pragma once

#include "vfs/inode.h"

namespace moat {

class HostFdFile : public FileDescription {
 public:
  // Takes ownership of `fd`.
  static Result<FilePtr> Create(int fd, int open_flags);
  ~HostFdFile() override;

  Result<size_t> Read(Task& t, void* buf, size_t len) override;
  Result<size_t> Write(Task& t, const void* buf, size_t len) override;
  Result<size_t> PRead(Task& t, void* buf, size_t len, uint64_t off) override;
  Result<size_t> PWrite(Task& t, const void* buf, size_t len,
                        uint64_t off) override;
  Result<uint64_t> Seek(int64_t off, int whence) override;
  Result<InodeAttr> Stat() override;
  Result<int64_t> Ioctl(Task& t, uint64_t cmd, uint64_t arg) override;
  uint32_t Readiness(uint32_t mask) override;
  WaitQueue* Queue() override { return &queue_; }
  std::string Name() override;
  Status Truncate(uint64_t size) override;
  Status Fsync() override;

  bool is_tty() const { return is_tty_; }
  int host_fd() const { return fd_; }
  // The foreground process group of the terminal, inside the sandbox.
  int foreground_pgrp = 0;
  int session = 0;

 private:
  HostFdFile(int fd, bool is_tty, bool seekable);
  int fd_;
  bool is_tty_;
  bool seekable_;
  uint64_t notifier_id_ = 0;
  WaitQueue queue_;
};

}  // namespace moat
