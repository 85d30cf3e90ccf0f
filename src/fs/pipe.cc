#include "fs/pipe.h"

#include <fmt/format.h>
#include <sys/ioctl.h>

#include "fs/tmpfs.h"
#include "kernel/kernel.h"
#include "kernel/task.h"
#include "mm/memory_manager.h"

namespace moat {
namespace {

class PipeInode : public Inode {
 public:
  // Linux's get_pipe_inode gives the inode its creator's fsuid and fsgid,
  // which decide who may reopen it through /proc/PID/fd.
  PipeInode(uint32_t uid, uint32_t gid) {
    attr_.uid = uid;
    attr_.gid = gid;
    attr_.dev = pipefs_dev();
    attr_.ino = NewIno();
    attr_.mode = S_IFIFO | 0600;
    attr_.atime = attr_.mtime = attr_.ctime = Now();
  }
  Result<InodeAttr> Attr() override { return attr_; }
  Result<struct statfs> StatFs() override {
    return SimpleStatFs(0x50495045);  // PIPEFS_MAGIC
  }
  static uint64_t pipefs_dev() {
    static uint64_t dev = NewAnonDev();
    return dev;
  }
  InodeAttr attr_;
};

}  // namespace

PipeEnd::PipeEnd(std::shared_ptr<Pipe> pipe, bool write_end)
    : pipe_(std::move(pipe)), write_end_(write_end) {
  if (write_end_) {
    pipe_->writers++;
    pipe_->writer_opens++;
    pipe_->had_writer = true;
  } else {
    pipe_->readers++;
    pipe_->reader_opens++;
  }
  inode = pipe_->inode;
}

PipeEnd::~PipeEnd() {
  if (write_end_)
    pipe_->writers--;
  else
    pipe_->readers--;
  if (also_reader) pipe_->readers--;
  pipe_->queue.Notify(kEventIn | kEventOut | kEventHup | kEventErr);
}

Result<size_t> PipeEnd::Read(Task&, void* buf, size_t len) {
  if (write_end_ && !also_reader) return Err(EBADF);
  if (len == 0) return size_t(0);
  Pipe& p = *pipe_;
  if (p.buffer.empty()) {
    if (p.writers == 0) return size_t(0);
    return Err(EAGAIN);
  }
  size_t n = std::min(len, p.buffer.size());
  std::copy_n(p.buffer.begin(), n, static_cast<char*>(buf));
  p.buffer.erase(p.buffer.begin(), p.buffer.begin() + n);
  p.queue.Notify(kEventOut);
  return n;
}

Result<size_t> PipeEnd::Write(Task&, const void* buf, size_t len) {
  if (!write_end_) return Err(EBADF);
  Pipe& p = *pipe_;
  if (p.readers == 0) return Err(EPIPE);
  if (len == 0) return size_t(0);
  size_t space = p.capacity - p.buffer.size();
  if (space == 0 || (len <= kPipeBuf && space < len)) return Err(EAGAIN);
  size_t n = std::min(len, space);
  auto* in = static_cast<const char*>(buf);
  p.buffer.insert(p.buffer.end(), in, in + n);
  p.queue.Notify(kEventIn);
  return n;
}

Result<int64_t> PipeEnd::Ioctl(Task& t, uint64_t cmd, uint64_t arg) {
  if (cmd == FIONREAD) {
    TRY_STATUS(t.mm().Write<int>(arg, int(pipe_->buffer.size())));
    return 0;
  }
  return Err(ENOTTY);
}

uint32_t PipeEnd::Readiness(uint32_t mask) {
  Pipe& p = *pipe_;
  uint32_t ready = 0;
  if (write_end_) {
    if (p.readers == 0) ready |= kEventErr | kEventOut;
    else if (p.capacity - p.buffer.size() >= kPipeBuf) ready |= kEventOut;
  }
  if (!write_end_ || also_reader) {
    if (!p.buffer.empty()) ready |= kEventIn;
    if (p.writers == 0 && p.had_writer) ready |= kEventHup;
  }
  return ready & (mask | kEventErr | kEventHup);
}

std::string PipeEnd::Name() {
  return fmt::format("pipe:[{}]", pipe_->inode->Attr()->ino);
}

std::pair<FilePtr, FilePtr> NewPipe(const Credentials& creds) {
  auto pipe = std::make_shared<Pipe>();
  pipe->inode = std::make_shared<PipeInode>(creds.fsuid, creds.fsgid);
  auto r = std::make_shared<PipeEnd>(pipe, false);
  auto w = std::make_shared<PipeEnd>(pipe, true);
  r->flags = O_RDONLY;
  w->flags = O_WRONLY;
  return {r, w};
}

Result<FilePtr> OpenFifo(std::shared_ptr<Pipe> pipe, int flags) {
  int mode = flags & O_ACCMODE;
  if (mode == O_RDWR) {
    // Linux lets O_RDWR open at once; it counts as a reader and a writer.
    auto f = std::make_shared<PipeEnd>(pipe, true);
    f->flags = flags;
    pipe->readers++;
    pipe->reader_opens++;
    f->also_reader = true;
    return FilePtr(f);
  }
  bool write = mode == O_WRONLY;
  if (write && pipe->readers == 0 && (flags & O_NONBLOCK)) return Err(ENXIO);
  auto f = std::make_shared<PipeEnd>(pipe, write);
  f->flags = flags;
  pipe->queue.Notify(kEventIn | kEventOut);
  if (flags & O_NONBLOCK) return FilePtr(f);
  // Wait for the other end.
  Task* t = CurrentTask();
  if (t == nullptr) return FilePtr(f);
  Waiter w([t](uint32_t) { t->Wake(); });
  WaitQueueEntry entry(&pipe->queue, &w);
  // Counts opens like Linux's fs/pipe.c:wait_for_partner().
  const uint64_t& peer_opens = write ? pipe->reader_opens : pipe->writer_opens;
  const uint64_t seen = peer_opens;
  while ((write ? pipe->readers : pipe->writers) == 0 && peer_opens == seen) {
    if (t->Block() == BlockResult::kInterrupted) return Err(EINTR);
  }
  return FilePtr(f);
}

}  // namespace moat
