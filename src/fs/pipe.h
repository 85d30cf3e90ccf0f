// Pipes and FIFOs, in the kernel.
#pragma once

#include <deque>

#include "vfs/inode.h"

namespace moat {

inline constexpr size_t kPipeBuf = 4096;  // writes up to this are atomic

class Pipe {
 public:
  size_t capacity = 65536;
  std::deque<char> buffer;
  int readers = 0;
  int writers = 0;
  bool had_writer = false;  // a FIFO opened for reading waits for one
  // Opens of each end so far. A blocked FIFO open waits for the other
  // side's count to move rather than for it to be open right now: the other
  // end may open, write and close again before the waiter runs.
  uint64_t reader_opens = 0;
  uint64_t writer_opens = 0;
  WaitQueue queue;
  InodePtr inode;
};

class PipeEnd;
Result<FilePtr> OpenFifo(std::shared_ptr<class Pipe> pipe, int flags);

class PipeEnd : public FileDescription {
 public:
  PipeEnd(std::shared_ptr<Pipe> pipe, bool write_end);
  ~PipeEnd() override;
  Result<size_t> Read(Task& t, void* buf, size_t len) override;
  Result<size_t> Write(Task& t, const void* buf, size_t len) override;
  Result<size_t> PRead(Task&, void*, size_t, uint64_t) override {
    return Err(ESPIPE);
  }
  Result<size_t> PWrite(Task&, const void*, size_t, uint64_t) override {
    return Err(ESPIPE);
  }
  Result<uint64_t> Seek(int64_t, int) override { return Err(ESPIPE); }
  Result<int64_t> Ioctl(Task& t, uint64_t cmd, uint64_t arg) override;
  uint32_t Readiness(uint32_t mask) override;
  WaitQueue* Queue() override { return &pipe_->queue; }
  std::string Name() override;
  // A new end of the same pipe; it never waits for the other end, which
  // the original descriptor already is or was.
  Result<FilePtr> Reopen(int flags) override {
    FilePtr f = TRY(OpenFifo(pipe_, flags | O_NONBLOCK));
    f->flags = (f->flags & ~O_NONBLOCK) | (flags & O_NONBLOCK);
    return f;
  }
  Pipe& pipe() { return *pipe_; }
  bool also_reader = false;  // an O_RDWR open of a FIFO

 private:
  std::shared_ptr<Pipe> pipe_;
  bool write_end_;
};

// pipe2(2): returns the read and the write end.
std::pair<FilePtr, FilePtr> NewPipe(const Credentials& creds);

// Opens a FIFO inode; `pipe` is the FIFO's shared state.
Result<FilePtr> OpenFifo(std::shared_ptr<Pipe> pipe, int flags);

}  // namespace moat
