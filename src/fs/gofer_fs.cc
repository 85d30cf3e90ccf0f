#include "fs/gofer_fs.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <deque>

#include "fs/pipe.h"
#include "fs/tmpfs.h"

namespace moat {

using gofer::Decoder;
using gofer::Encoder;
using gofer::Op;

namespace {

InodeAttr AttrFromWire(const gofer::WireStat& st) {
  InodeAttr a;
  a.dev = st.dev;
  a.ino = st.ino;
  a.mode = st.mode;
  a.nlink = st.nlink;
  a.uid = st.uid;
  a.gid = st.gid;
  a.rdev = st.rdev;
  a.size = st.size;
  a.blksize = st.blksize;
  a.blocks = st.blocks;
  a.atime = {st.atime_sec, st.atime_nsec};
  a.mtime = {st.mtime_sec, st.mtime_nsec};
  a.ctime = {st.ctime_sec, st.ctime_nsec};
  a.btime = a.ctime;
  return a;
}

// Host descriptors held by open host files, across the sandbox.
std::atomic<int> g_open_host_files{0};

// The most host files the sandbox may hold open at once: the kernel's own
// descriptor limit, less a reserve for what the kernel needs to keep
// running (pidfds of new tasks, stdio, epoll), so that a sandbox that opens
// files without end gets ENFILE instead of stopping the kernel.
int HostFileLimit() {
  static const int limit = [] {
    constexpr int kReserve = 1024;
    struct rlimit r;
    if (getrlimit(RLIMIT_NOFILE, &r) != 0) return 1024;
    return std::max<int>(64, static_cast<int>(r.rlim_cur) - kReserve);
  }();
  return limit;
}

// The inodes looked up last under read-only roots, kept alive so that a
// path used again needs no request to the gofer. Entries may repeat; the
// bound is on the queue, so on the gofer handles it keeps open.
constexpr size_t kRecentInodes = 4096;
std::deque<InodePtr>& RecentInodes() {
  static auto* recent = new std::deque<InodePtr>();
  return *recent;
}

}  // namespace

void ForgetRecentGoferInodes() { RecentInodes().clear(); }

namespace {

void KeepRecent(const InodePtr& inode) {
  auto& recent = RecentInodes();
  recent.push_back(inode);
  if (recent.size() > kRecentInodes) recent.pop_front();
}

Encoder Request(Op op, uint64_t handle) {
  Encoder e;
  e.U32(static_cast<uint32_t>(op));
  e.U64(handle);
  return e;
}

}  // namespace

GoferInode::GoferInode(std::shared_ptr<gofer::Client> client, uint64_t handle,
                       const gofer::WireStat& st, bool read_only)
    : client_(std::move(client)),
      handle_(handle),
      attr_(AttrFromWire(st)),
      read_only_(read_only) {}

GoferInode::~GoferInode() { client_->Send(Request(Op::kRelease, handle_)); }

Result<InodePtr> GoferInode::Attach(std::shared_ptr<gofer::Client> client,
                                    uint32_t index, bool read_only) {
  Encoder e;
  e.U32(static_cast<uint32_t>(Op::kAttach));
  e.U32(index);
  gofer::Reply r = TRY(client->Call(e));
  Decoder in = r.fields();
  uint64_t handle;
  gofer::WireStat st;
  if (!in.U64(&handle) || !in.Stat(&st)) return Err(EIO);
  return InodePtr(
      std::make_shared<GoferInode>(std::move(client), handle, st, read_only));
}

Result<InodePtr> GoferInode::NewChild(Decoder& in) {
  uint64_t handle;
  gofer::WireStat st;
  if (!in.U64(&handle) || !in.Stat(&st)) return Err(EIO);
  return InodePtr(
      std::make_shared<GoferInode>(client_, handle, st, read_only_));
}

Result<InodePtr> GoferInode::Lookup(const std::string& name) {
  if (read_only_) {
    if (missing_.contains(name)) return Err(ENOENT);
    auto it = children_.find(name);
    if (it != children_.end()) {
      if (InodePtr child = it->second.lock()) {
        KeepRecent(child);
        return child;
      }
    }
  }
  Encoder e = Request(Op::kWalk, handle_);
  e.Str(name);
  auto r = client_->Call(e);
  if (!r.ok()) {
    if (read_only_ && r.error() == ENOENT) {
      if (missing_.size() >= kRecentInodes) missing_.clear();
      missing_.insert(name);
    }
    return Err(r.error());
  }
  Decoder in = r->fields();
  InodePtr child = TRY(NewChild(in));
  if (read_only_) {
    if (children_.size() >= kRecentInodes) std::erase_if(children_, [](auto& c) {
      return c.second.expired();
    });
    children_[name] = child;
    KeepRecent(child);
  }
  return child;
}

Result<InodePtr> GoferInode::Create(const std::string& name, uint32_t mode,
                                    const Credentials& creds) {
  if (!S_ISREG(mode) && (mode & S_IFMT) != 0) return Err(EPERM);
  Encoder e = Request(Op::kCreate, handle_);
  e.Str(name);
  e.U32(O_RDONLY);
  e.U32(mode & 07777);
  e.U32(creds.fsuid);
  e.U32(creds.fsgid);
  gofer::Reply r = TRY(client_->Call(e));
  Decoder in = r.fields();
  return NewChild(in);
}

Result<InodePtr> GoferInode::Mkdir(const std::string& name, uint32_t mode,
                                   const Credentials& creds) {
  Encoder e = Request(Op::kMkdir, handle_);
  e.Str(name);
  e.U32(mode & 07777);
  e.U32(creds.fsuid);
  e.U32(creds.fsgid);
  gofer::Reply r = TRY(client_->Call(e));
  Decoder in = r.fields();
  attr_.nlink++;
  return NewChild(in);
}

Result<InodePtr> GoferInode::Mknod(const std::string& name, uint32_t mode,
                                   uint64_t dev, const Credentials& creds) {
  (void)dev;
  if (!S_ISFIFO(mode)) return Err(EPERM);
  Encoder e = Request(Op::kMknod, handle_);
  e.Str(name);
  e.U32(mode & (S_IFMT | 07777));
  e.U32(creds.fsuid);
  e.U32(creds.fsgid);
  gofer::Reply r = TRY(client_->Call(e));
  Decoder in = r.fields();
  return NewChild(in);
}

Result<InodePtr> GoferInode::Symlink(const std::string& name,
                                     const std::string& target,
                                     const Credentials& creds) {
  Encoder e = Request(Op::kSymlink, handle_);
  e.Str(name);
  e.Str(target);
  e.U32(creds.fsuid);
  e.U32(creds.fsgid);
  gofer::Reply r = TRY(client_->Call(e));
  Decoder in = r.fields();
  return NewChild(in);
}

Status GoferInode::Link(const std::string& name, InodePtr target) {
  auto* other = dynamic_cast<GoferInode*>(target.get());
  if (other == nullptr || other->client_ != client_) return Err(EXDEV);
  Encoder e = Request(Op::kLink, handle_);
  e.Str(name);
  e.U64(other->handle_);
  gofer::Reply r = TRY(client_->Call(e));
  Decoder in = r.fields();
  gofer::WireStat st;
  if (!in.Stat(&st)) return Err(EIO);
  other->attr_ = AttrFromWire(st);
  return Ok();
}

Status GoferInode::RemoveEntry(const std::string& name, uint32_t flags) {
  Encoder e = Request(Op::kUnlink, handle_);
  e.Str(name);
  e.U32(flags);
  TRY(client_->Call(e));
  return Ok();
}

Status GoferInode::Unlink(const std::string& name) {
  return RemoveEntry(name, 0);
}

Status GoferInode::Rmdir(const std::string& name) {
  TRY_STATUS(RemoveEntry(name, AT_REMOVEDIR));
  if (attr_.nlink > 2) attr_.nlink--;
  return Ok();
}

Status GoferInode::Rename(const std::string& old_name, Inode& new_dir,
                          const std::string& new_name, unsigned flags) {
  auto* other = dynamic_cast<GoferInode*>(&new_dir);
  if (other == nullptr || other->client_ != client_) return Err(EXDEV);
  Encoder e = Request(Op::kRename, handle_);
  e.Str(old_name);
  e.U64(other->handle_);
  e.Str(new_name);
  e.U32(flags);
  TRY(client_->Call(e));
  return Ok();
}

Result<std::vector<DirEntry>> GoferInode::ReadDir() {
  std::vector<DirEntry> out;
  uint64_t cookie = 0;
  for (;;) {
    Encoder e = Request(Op::kReadDir, handle_);
    e.U64(cookie);
    gofer::Reply r = TRY(client_->Call(e));
    Decoder in = r.fields();
    uint32_t count;
    if (!in.U32(&count)) return Err(EIO);
    if (count == 0) return out;
    for (uint32_t i = 0; i < count; i++) {
      gofer::WireDirEntry d;
      if (!in.Entry(&d)) return Err(EIO);
      out.push_back(DirEntry{std::move(d.name), d.ino, d.type});
      cookie = d.cookie;
    }
    uint8_t more;
    if (!in.U8(&more)) return Err(EIO);
    if (!more) return out;
  }
}

Result<std::string> GoferInode::Readlink() {
  if (!S_ISLNK(attr_.mode)) return Err(EINVAL);
  if (link_target_.empty()) {
    gofer::Reply r = TRY(client_->Call(Request(Op::kReadlink, handle_)));
    Decoder in = r.fields();
    if (!in.Str(&link_target_, gofer::kMaxLinkTarget)) return Err(EIO);
  }
  return link_target_;
}

Result<FilePtr> GoferInode::Open(int flags) {
  if (S_ISLNK(attr_.mode)) return Err(ELOOP);
  if (S_ISDIR(attr_.mode)) {
    auto f = std::make_shared<FileDescription>();
    f->inode = shared_from_this();
    return FilePtr(f);
  }
  // A FIFO is a pipe in the kernel that all opens of the inode share. The
  // host FIFO is never opened, so nothing outside can feed or drain it.
  if (S_ISFIFO(attr_.mode)) {
    if (!fifo_) {
      fifo_ = std::make_shared<Pipe>();
      fifo_->inode = shared_from_this();
    }
    return OpenFifo(fifo_, flags);
  }
  // Only regular files are opened on the host; devices and sockets found
  // in a host tree are not reachable from the sandbox.
  if (!S_ISREG(attr_.mode)) return Err(EACCES);
  bool reads = (flags & O_ACCMODE) == O_RDONLY && !(flags & O_TRUNC);
  auto fd = TRY(reads && read_only_ ? SharedReadFd() : OpenOnHost(flags));
  auto f = std::make_shared<GoferFile>(std::move(fd));
  f->inode = shared_from_this();
  return FilePtr(f);
}

Result<std::shared_ptr<HostFd>> GoferInode::OpenOnHost(int flags) {
  if (g_open_host_files.load() >= HostFileLimit()) return Err(ENFILE);
  Encoder e = Request(Op::kOpen, handle_);
  // The kernel keeps the offset and places O_APPEND writes itself.
  e.U32(static_cast<uint32_t>(flags & (O_ACCMODE | O_TRUNC)));
  gofer::Reply r = TRY(client_->Call(e));
  Decoder in = r.fields();
  gofer::WireStat st;
  int fd = r.TakeFd();
  if (fd < 0 || !in.Stat(&st)) {
    if (fd >= 0) close(fd);
    return Err(EIO);
  }
  attr_ = AttrFromWire(st);
  return std::make_shared<HostFd>(fd);
}

Result<std::shared_ptr<HostFd>> GoferInode::SharedReadFd() {
  if (read_fd_) return read_fd_;
  auto fd = TRY(OpenOnHost(O_RDONLY));
  // Descriptors kept for later must not crowd out files the sandbox
  // opens: past half the limit, each reader gets its own.
  if (g_open_host_files.load() < HostFileLimit() / 2) read_fd_ = fd;
  return fd;
}

Status GoferInode::SetAttr(const SetAttrRequest& req) {
  Encoder e = Request(Op::kSetAttr, handle_);
  gofer::WireSetAttr a;
  a.mask = req.mask;
  a.mode = req.mode;
  a.uid = req.uid;
  a.gid = req.gid;
  a.size = req.size;
  a.atime_sec = req.atime.tv_sec;
  a.atime_nsec = req.atime.tv_nsec;
  a.mtime_sec = req.mtime.tv_sec;
  a.mtime_nsec = req.mtime.tv_nsec;
  e.SetAttr(a);
  gofer::Reply r = TRY(client_->Call(e));
  Decoder in = r.fields();
  gofer::WireStat st;
  if (!in.Stat(&st)) return Err(EIO);
  attr_ = AttrFromWire(st);
  return Ok();
}

Result<struct statfs> GoferInode::StatFs() {
  gofer::Reply r = TRY(client_->Call(Request(Op::kStatFs, handle_)));
  Decoder in = r.fields();
  uint64_t v[10];
  for (auto& x : v) {
    if (!in.U64(&x)) return Err(EIO);
  }
  struct statfs s = {};
  s.f_type = static_cast<__fsword_t>(v[0]);
  s.f_bsize = static_cast<__fsword_t>(v[1]);
  s.f_blocks = v[2];
  s.f_bfree = v[3];
  s.f_bavail = v[4];
  s.f_files = v[5];
  s.f_ffree = v[6];
  s.f_namelen = static_cast<__fsword_t>(v[7]);
  s.f_frsize = static_cast<__fsword_t>(v[8]);
  s.f_flags = static_cast<__fsword_t>(v[9]);
  return s;
}

Result<std::shared_ptr<MemoryObject>> GoferInode::Mappable() {
  if (!S_ISREG(attr_.mode)) return Err(ENODEV);
  auto fd = TRY(read_only_ ? SharedReadFd() : OpenOnHost(O_RDONLY));
  return HostFileObject::Get(fd->fd(), attr_.dev, attr_.ino, attr_.size);
}

void GoferInode::NoteWrite(uint64_t end) {
  if (end > attr_.size) attr_.size = end;
  attr_.mtime = attr_.ctime = Now();
}

HostFd::HostFd(int fd) : fd_(fd) { g_open_host_files++; }

HostFd::~HostFd() {
  close(fd_);
  g_open_host_files--;
}

GoferFile::GoferFile(std::shared_ptr<HostFd> fd) : fd_(std::move(fd)) {}

GoferFile::~GoferFile() = default;

Result<size_t> GoferFile::PRead(Task&, void* buf, size_t len, uint64_t off) {
  ssize_t n;
  do {
    n = pread(fd_->fd(), buf, len, static_cast<off_t>(off));
  } while (n < 0 && errno == EINTR);
  if (n < 0) return Err(errno);
  return size_t(n);
}

Result<size_t> GoferFile::PWrite(Task&, const void* buf, size_t len,
                                 uint64_t off) {
  if (!writable()) return Err(EBADF);
  ssize_t n;
  do {
    n = pwrite(fd_->fd(), buf, len, static_cast<off_t>(off));
  } while (n < 0 && errno == EINTR);
  if (n < 0) return Err(errno);
  static_cast<GoferInode&>(*inode).NoteWrite(off + size_t(n));
  return size_t(n);
}

Status GoferFile::Fsync() {
  if (fsync(fd_->fd()) != 0) return Err(errno);
  return Ok();
}

Status GoferFile::Truncate(uint64_t size) {
  SetAttrRequest req;
  req.mask = SetAttrRequest::kSize;
  req.size = size;
  return inode->SetAttr(req);
}

Result<std::shared_ptr<MemoryObject>> GoferFile::Mappable() {
  auto attr = TRY(inode->Attr());
  return HostFileObject::Get(fd_->fd(), attr.dev, attr.ino, attr.size);
}

}  // namespace moat
