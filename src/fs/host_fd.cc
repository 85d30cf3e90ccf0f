#include "fs/host_fd.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <map>
#include <thread>

#include "fs/tty.h"
#include "kernel/kernel.h"

namespace moat {
namespace {

InodeAttr AttrFromStat(const struct stat& st) {
  InodeAttr a;
  a.dev = st.st_dev;
  a.ino = st.st_ino;
  a.mode = st.st_mode;
  a.nlink = st.st_nlink;
  a.uid = st.st_uid;
  a.gid = st.st_gid;
  a.rdev = st.st_rdev;
  a.size = st.st_size;
  a.blksize = st.st_blksize;
  a.blocks = st.st_blocks;
  a.atime = st.st_atim;
  a.mtime = st.st_mtim;
  a.ctime = st.st_ctim;
  a.btime = st.st_ctim;
  return a;
}

}  // namespace

namespace {

// One epoll thread for every host descriptor the sandbox waits on.
class FdNotifier {
 public:
  static FdNotifier& Get() {
    static FdNotifier* n = new FdNotifier();
    return *n;
  }

  // Called with the kernel lock held.
  uint64_t Add(int fd, WaitQueue* queue) {
    uint64_t id = next_id_++;
    struct epoll_event ev = {};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.u64 = id;
    if (epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) != 0) return 0;
    queues_[id] = {fd, queue};
    return id;
  }

  void Remove(uint64_t id) {
    auto it = queues_.find(id);
    if (it == queues_.end()) return;
    epoll_ctl(epfd_, EPOLL_CTL_DEL, it->second.first, nullptr);
    queues_.erase(it);
  }

 private:
  FdNotifier() {
    epfd_ = epoll_create1(EPOLL_CLOEXEC);
    std::thread([this] { Loop(); }).detach();
  }

  void Loop() {
    struct epoll_event events[16];
    for (;;) {
      int n = epoll_wait(epfd_, events, 16, -1);
      if (n <= 0) continue;
      Kernel* k = Kernel::current;
      if (k == nullptr) continue;
      std::lock_guard lock(k->mu);
      for (int i = 0; i < n; i++) {
        auto it = queues_.find(events[i].data.u64);
        if (it == queues_.end()) continue;
        uint32_t e = events[i].events;
        uint32_t mask = 0;
        if (e & EPOLLIN) mask |= kEventIn;
        if (e & EPOLLOUT) mask |= kEventOut;
        if (e & (EPOLLHUP | EPOLLRDHUP)) mask |= kEventHup | kEventIn;
        if (e & EPOLLERR) mask |= kEventErr;
        it->second.second->Notify(mask);
      }
    }
  }

  int epfd_;
  uint64_t next_id_ = 1;
  std::map<uint64_t, std::pair<int, WaitQueue*>> queues_;
};

}  // namespace

Result<FilePtr> HostFdFile::Create(int fd, int open_flags) {
  struct stat st;
  if (fstat(fd, &st) != 0) return Err(errno);
  bool tty = isatty(fd);
  bool seekable = S_ISREG(st.st_mode) || S_ISBLK(st.st_mode);
  // The front end gave pipes and terminals on stdio descriptions of their
  // own, so O_NONBLOCK set here never reaches the caller's shell.
  auto f = std::shared_ptr<HostFdFile>(new HostFdFile(fd, tty, seekable));
  f->flags = open_flags;
  f->notifier_id_ = FdNotifier::Get().Add(fd, &f->queue_);
  return FilePtr(f);
}

HostFdFile::HostFdFile(int fd, bool is_tty, bool seekable)
    : fd_(fd), is_tty_(is_tty), seekable_(seekable) {}

HostFdFile::~HostFdFile() {
  if (notifier_id_) FdNotifier::Get().Remove(notifier_id_);
  close(fd_);
}

uint32_t HostFdFile::Readiness(uint32_t mask) {
  struct pollfd p = {fd_, 0, 0};
  if (mask & kEventIn) p.events |= POLLIN;
  if (mask & kEventOut) p.events |= POLLOUT;
  if (poll(&p, 1, 0) < 0) return 0;
  uint32_t r = 0;
  if (p.revents & POLLIN) r |= kEventIn;
  if (p.revents & POLLOUT) r |= kEventOut;
  if (p.revents & POLLHUP) r |= kEventHup;
  if (p.revents & POLLERR) r |= kEventErr;
  return r;
}

Result<size_t> HostFdFile::Read(Task&, void* buf, size_t len) {
  if (!seekable_ && !(Readiness(kEventIn) & (kEventIn | kEventHup)))
    return Err(EAGAIN);
  ssize_t n = read(fd_, buf, len);
  if (n < 0) return Err(errno == EWOULDBLOCK ? EAGAIN : errno);
  return size_t(n);
}

Result<size_t> HostFdFile::Write(Task&, const void* buf, size_t len) {
  ssize_t n = write(fd_, buf, len);
  if (n < 0) return Err(errno == EWOULDBLOCK ? EAGAIN : errno);
  return size_t(n);
}

Result<size_t> HostFdFile::PRead(Task&, void* buf, size_t len,
                                 uint64_t off) {
  if (!seekable_) return Err(ESPIPE);
  ssize_t n = pread(fd_, buf, len, off);
  if (n < 0) return Err(errno);
  return size_t(n);
}

Result<size_t> HostFdFile::PWrite(Task&, const void* buf, size_t len,
                                  uint64_t off) {
  if (!seekable_) return Err(ESPIPE);
  ssize_t n = pwrite(fd_, buf, len, off);
  if (n < 0) return Err(errno);
  return size_t(n);
}

Result<uint64_t> HostFdFile::Seek(int64_t off, int whence) {
  off_t r = lseek(fd_, off, whence);
  if (r < 0) return Err(errno);
  return uint64_t(r);
}

Result<InodeAttr> HostFdFile::Stat() {
  struct stat st;
  if (fstat(fd_, &st) != 0) return Err(errno);
  return AttrFromStat(st);
}

Status HostFdFile::Truncate(uint64_t size) {
  if (ftruncate(fd_, size) != 0) return Err(errno);
  return Ok();
}

Status HostFdFile::Fsync() { return Ok(); }

Result<int64_t> HostFdFile::Ioctl(Task& t, uint64_t cmd, uint64_t arg) {
  MemoryManager& mm = t.mm();
  switch (cmd) {
    case FIONREAD: {
      int n = 0;
      if (ioctl(fd_, FIONREAD, &n) != 0) return Err(errno);
      TRY_STATUS(mm.Write<int>(arg, n));
      return 0;
    }
    case FIOCLEX:
    case FIONCLEX:
      return 0;  // handled by the syscall layer
  }
  if (!is_tty_) return Err(ENOTTY);
  switch (cmd) {
    case TCGETS: {
      // The kernel's struct termios, not glibc's larger one.
      KernelTermios tio;
      if (ioctl(fd_, TCGETS, &tio) != 0) return Err(errno);
      TRY_STATUS(mm.Write(arg, tio));
      return 0;
    }
    case TCSETS:
    case TCSETSW:
    case TCSETSF: {
      auto tio = TRY(mm.Read<KernelTermios>(arg));
      if (ioctl(fd_, cmd, &tio) != 0) return Err(errno);
      return 0;
    }
    case TIOCGWINSZ: {
      struct winsize ws;
      if (ioctl(fd_, TIOCGWINSZ, &ws) != 0) return Err(errno);
      TRY_STATUS(mm.Write(arg, ws));
      return 0;
    }
    case TIOCSWINSZ: {
      auto ws = TRY(mm.Read<struct winsize>(arg));
      if (ioctl(fd_, TIOCSWINSZ, &ws) != 0) return Err(errno);
      return 0;
    }
    case TIOCGPGRP:
      TRY_STATUS(mm.Write<int>(arg, foreground_pgrp));
      return 0;
    case TIOCSPGRP:
      foreground_pgrp = TRY(mm.Read<int>(arg));
      return 0;
    case TIOCGSID:
      TRY_STATUS(mm.Write<int>(arg, session));
      return 0;
    case TIOCSCTTY:
    case TIOCNOTTY:
      return 0;
    case TCFLSH:
    case TCXONC:
    case TCSBRK:
      if (ioctl(fd_, cmd, arg) != 0) return Err(errno);
      return 0;
  }
  return Err(ENOTTY);
}

std::string HostFdFile::Name() {
  // Pipes and sockets keep their kernel names; host paths are not shown.
  struct stat st;
  if (fstat(fd_, &st) != 0) return "host:[unknown]";
  if (S_ISFIFO(st.st_mode)) return fmt::format("pipe:[{}]", st.st_ino);
  if (S_ISSOCK(st.st_mode)) return fmt::format("socket:[{}]", st.st_ino);
  return is_tty_ ? "/dev/console" : "host:[" + std::to_string(fd_) + "]";
}

}  // namespace moat
