#include "syscalls/util.h"

#include <fcntl.h>

#include "kernel/signal_delivery.h"
#include "util/log.h"

namespace moat {

FilePtr GetFile(Task& t, int fd) {
  if (fd < 0 || !t.fds) return nullptr;
  return t.fds->Get(fd);
}

Result<std::string> CopyInPath(Task& t, uint64_t addr, bool allow_empty) {
  std::string s = TRY(t.mm().CopyInString(addr, kPathMax));
  if (s.empty() && !allow_empty) return Err(ENOENT);
  return s;
}

Result<Path> StartPath(Task& t, int dirfd, const std::string& path) {
  if (!path.empty() && path[0] == '/') return t.fs->root;
  if (dirfd == AT_FDCWD) return t.fs->cwd;
  FilePtr f = GetFile(t, dirfd);
  if (!f) return Err(EBADF);
  if (!f->dentry || !f->mount) return Err(ENOTDIR);
  if (!f->dentry->inode->IsDir()) return Err(ENOTDIR);
  return Path{f->mount, f->dentry};
}

Result<Path> ResolveAt(Task& t, int dirfd, uint64_t path_addr, int flags,
                       bool follow_default) {
  std::string path = TRY(CopyInPath(t, path_addr, flags & AT_EMPTY_PATH));
  if (path.empty()) {
    if (dirfd == AT_FDCWD) return t.fs->cwd;
    FilePtr f = GetFile(t, dirfd);
    if (!f) return Err(EBADF);
    if (!f->dentry) return Err(ENOENT);
    return Path{f->mount, f->dentry};
  }
  Path start = TRY(StartPath(t, dirfd, path));
  ResolveOptions opts;
  opts.follow_final = follow_default && !(flags & AT_SYMLINK_NOFOLLOW);
  if (flags & AT_SYMLINK_FOLLOW) opts.follow_final = true;
  return ResolvePath(t, start, path, opts);
}

uint64_t NofileLimit(Task& t) {
  return t.tg().rlimits[RLIMIT_NOFILE].rlim_cur;
}

void DropHostFiles(Task& t) {
  Status dropped = t.mm().address_space().DropHostFiles();
  if (dropped.ok()) return;
  spdlog::warn(
      "task {}: host files stay open after an identity change ({}); "
      "killing its process",
      t.tid, strerror(dropped.error()));
  siginfo_t info = {};
  info.si_signo = SIGKILL;
  (void)SendGroupSignal(t.tg(), info, false);
}

void DropHostFilesIfChanged(Task& t, const Credentials& before) {
  if (!(t.creds == before)) DropHostFiles(t);
}

Result<int> InstallFd(Task& t, FilePtr f, bool cloexec, int min_fd) {
  return t.fds->Add(std::move(f), cloexec, min_fd, NofileLimit(t));
}

int64_t BlockingIo(Task& t, FileDescription& f, uint32_t events,
                   const std::function<Result<size_t>()>& op) {
  for (;;) {
    auto r = op();
    if (r.ok()) return int64_t(r.value());
    if (r.error() != EAGAIN || (f.flags & O_NONBLOCK)) return -r.error();
    WaitQueue* q = f.Queue();
    if (q == nullptr) return -EAGAIN;
    Waiter w([&t](uint32_t) { t.Wake(); },
             events | kEventHup | kEventErr);
    WaitQueueEntry entry(q, &w);
    // Try once more now that a wakeup cannot be lost. Readiness is no
    // test here: an eventfd is writable while a large write still does not
    // fit, and looping on it spun forever holding the kernel lock.
    r = op();
    if (r.ok()) return int64_t(r.value());
    if (r.error() != EAGAIN) return -r.error();
    if (t.Block() == BlockResult::kInterrupted) return kERestartSys;
  }
}

bool SleepUntil(Task& t, Clock::time_point deadline, bool* interrupted) {
  *interrupted = false;
  for (;;) {
    if (Clock::now() >= deadline) return true;
    BlockResult r = t.Block(deadline);
    if (r == BlockResult::kTimedOut) return true;
    if (r == BlockResult::kInterrupted) {
      *interrupted = true;
      return false;
    }
  }
}

Result<struct timespec> CopyInTimespec(Task& t, uint64_t addr) {
  auto ts = TRY(t.mm().Read<struct timespec>(addr));
  if (ts.tv_sec < 0 || ts.tv_nsec < 0 || ts.tv_nsec >= 1000000000)
    return Err(EINVAL);
  return ts;
}

std::chrono::nanoseconds TimespecToNanos(const struct timespec& ts) {
  return std::chrono::seconds(ts.tv_sec) +
         std::chrono::nanoseconds(ts.tv_nsec);
}

struct timespec NanosToTimespec(std::chrono::nanoseconds ns) {
  if (ns.count() < 0) ns = std::chrono::nanoseconds(0);
  return {time_t(ns.count() / 1000000000), long(ns.count() % 1000000000)};
}

Clock::time_point DeadlineFromTimespec(const struct timespec& ts) {
  auto now = Clock::now();
  auto max = std::chrono::hours(24 * 365 * 100);
  auto d = TimespecToNanos(ts);
  if (d > max) return now + max;
  return now + std::chrono::duration_cast<Clock::duration>(d);
}

struct stat ToStat(const InodeAttr& a) {
  struct stat st = {};
  st.st_dev = a.dev;
  st.st_ino = a.ino;
  st.st_mode = a.mode;
  st.st_nlink = a.nlink;
  st.st_uid = a.uid;
  st.st_gid = a.gid;
  st.st_rdev = a.rdev;
  st.st_size = a.size;
  st.st_blksize = a.blksize;
  st.st_blocks = a.blocks;
  st.st_atim = a.atime;
  st.st_mtim = a.mtime;
  st.st_ctim = a.ctime;
  return st;
}

}  // namespace moat
