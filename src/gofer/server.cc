#include "gofer/server.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "util/log.h"

namespace moat::gofer {
namespace {

// More nodes than this at once means a runaway or hostile kernel.
constexpr size_t kMaxNodes = 1 << 20;

// Host filesystems that describe the host itself rather than files. The
// sandbox has its own /proc and /sys, so to a walk these do not exist even
// where a root contains them.
bool HostOnlyFilesystem(int fd) {
  struct statfs s;
  if (fstatfs(fd, &s) != 0) return true;
  switch (static_cast<uint64_t>(s.f_type)) {
    case PROC_SUPER_MAGIC:
    case SYSFS_MAGIC:
    case DEBUGFS_MAGIC:
    case TRACEFS_MAGIC:
    case SECURITYFS_MAGIC:
    case CGROUP_SUPER_MAGIC:
    case CGROUP2_SUPER_MAGIC:
    case BPF_FS_MAGIC:
    case DEVPTS_SUPER_MAGIC:
    case 0x62656570:  // configfs
    case 0xf97cff8c:  // selinuxfs
    case 0x6e736673:  // nsfs
      return true;
    default:
      return false;
  }
}

WireStat ToWire(const struct stat& st) {
  WireStat w{};
  w.dev = st.st_dev;
  w.ino = st.st_ino;
  w.nlink = st.st_nlink;
  w.rdev = st.st_rdev;
  w.size = st.st_size;
  w.blksize = st.st_blksize;
  w.blocks = st.st_blocks;
  w.mode = st.st_mode;
  w.uid = st.st_uid;
  w.gid = st.st_gid;
  w.atime_sec = st.st_atim.tv_sec;
  w.atime_nsec = st.st_atim.tv_nsec;
  w.mtime_sec = st.st_mtim.tv_sec;
  w.mtime_nsec = st.st_mtim.tv_nsec;
  w.ctime_sec = st.st_ctim.tv_sec;
  w.ctime_nsec = st.st_ctim.tv_nsec;
  return w;
}

int StatOf(int fd, Encoder& out) {
  struct stat st;
  if (fstat(fd, &st) != 0) return errno;
  out.Stat(ToWire(st));
  return 0;
}

// SetAttrRequest's bits, repeated here so the gofer needs no kernel header.
enum : uint32_t { kMode = 1, kUid = 2, kGid = 4, kSize = 8, kAtime = 16,
                  kMtime = 32 };

}  // namespace

std::string Server::Open(std::vector<Root> roots, Server** out) {
  auto* s = new Server();
  s->proc_fd_ = open("/proc/self/fd", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (s->proc_fd_ < 0) {
    delete s;
    return fmt::format("gofer: cannot open /proc/self/fd: {}",
                       strerror(errno));
  }
  for (auto& r : roots) {
    int fd = open(r.host_path.c_str(),
                  O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
      std::string msg = fmt::format("gofer: cannot open root {}: {}",
                                    r.host_path, strerror(errno));
      delete s;
      return msg;
    }
    s->root_fds_.push_back(fd);
  }
  s->roots_ = std::move(roots);
  *out = s;
  return "";
}

Server::~Server() {
  for (auto& [handle, n] : nodes_) close(n.fd);
  for (int fd : root_fds_) close(fd);
  if (proc_fd_ >= 0) close(proc_fd_);
}

Server::Reply Server::Handle(const char* data, size_t size) {
  Reply reply;
  Decoder in(data, size);
  Encoder out;
  uint32_t op = 0;
  int error = EINVAL;
  if (in.U32(&op)) error = Dispatch(op, in, out, &reply.fd);
  if (op == uint32_t(Op::kRelease)) {
    // Release has no reply, so the kernel never waits on one.
    if (error != 0) spdlog::debug("gofer: release failed: {}", strerror(error));
    reply.send = false;
    return reply;
  }
  if (error == 0 && !in.AtEnd()) error = EINVAL;
  if (error != 0 && reply.fd >= 0) {
    close(reply.fd);
    reply.fd = -1;
  }
  Encoder head;
  head.U32(static_cast<uint32_t>(error));
  reply.bytes = head.bytes();
  if (error == 0) {
    reply.bytes.insert(reply.bytes.end(), out.bytes().begin(),
                       out.bytes().end());
  }
  return reply;
}

int Server::Dispatch(uint32_t op, Decoder& in, Encoder& out, int* fd) {
  switch (static_cast<Op>(op)) {
    case Op::kAttach: return Attach(in, out);
    case Op::kWalk: return Walk(in, out);
    case Op::kStat: return Stat(in, out);
    case Op::kReadlink: return Readlink(in, out);
    case Op::kOpen: return OpenFile(in, out, fd);
    case Op::kReadDir: return ReadDir(in, out);
    case Op::kStatFs: return StatFs(in, out);
    case Op::kRelease: {
      uint64_t handle;
      if (!in.U64(&handle) || !in.AtEnd()) return EINVAL;
      auto it = nodes_.find(handle);
      if (it == nodes_.end()) return EBADF;
      close(it->second.fd);
      nodes_.erase(it);
      return 0;
    }
    case Op::kCreate: return Create(in, out, fd);
    case Op::kMkdir: return Mkdir(in, out);
    case Op::kMknod: return Mknod(in, out);
    case Op::kSymlink: return Symlink(in, out);
    case Op::kLink: return Link(in, out);
    case Op::kUnlink: return Unlink(in, out);
    case Op::kRename: return Rename(in, out);
    case Op::kSetAttr: return SetAttr(in, out);
  }
  return ENOSYS;
}

Server::Node* Server::NodeOf(Decoder& in) {
  uint64_t handle;
  if (!in.U64(&handle)) return nullptr;
  auto it = nodes_.find(handle);
  return it == nodes_.end() ? nullptr : &it->second;
}

Server::Node* Server::DirOf(Decoder& in, int* error) {
  Node* n = NodeOf(in);
  if (n == nullptr) {
    *error = in.ok() ? EBADF : EINVAL;
  } else if (!S_ISDIR(n->mode)) {
    *error = ENOTDIR;
    return nullptr;
  }
  return n;
}

int Server::AddNode(int fd, uint32_t root, Encoder& out) {
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int error = errno;
    close(fd);
    return error;
  }
  if (nodes_.size() >= kMaxNodes) {
    close(fd);
    return ENFILE;
  }
  uint64_t handle = next_handle_++;
  nodes_[handle] = Node{fd, root, st.st_mode & S_IFMT};
  out.U64(handle);
  out.Stat(ToWire(st));
  return 0;
}

int Server::Reopen(const Node& n, int flags) {
  std::string name = std::to_string(n.fd);
  return openat(proc_fd_, name.c_str(), flags | O_CLOEXEC | O_NOCTTY);
}

int Server::Attach(Decoder& in, Encoder& out) {
  uint32_t index;
  if (!in.U32(&index)) return EINVAL;
  if (index >= root_fds_.size()) return ENOENT;
  int fd = fcntl(root_fds_[index], F_DUPFD_CLOEXEC, 0);
  if (fd < 0) return errno;
  return AddNode(fd, index, out);
}

int Server::Walk(Decoder& in, Encoder& out) {
  int error = 0;
  Node* dir = DirOf(in, &error);
  std::string name;
  if (dir == nullptr) return error;
  if (!in.Str(&name, kMaxName) || !ValidName(name)) return EINVAL;
  int fd = openat(dir->fd, name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return errno;
  if (HostOnlyFilesystem(fd)) {
    close(fd);
    return ENOENT;
  }
  return AddNode(fd, dir->root, out);
}

int Server::Stat(Decoder& in, Encoder& out) {
  Node* n = NodeOf(in);
  if (n == nullptr) return in.ok() ? EBADF : EINVAL;
  return StatOf(n->fd, out);
}

int Server::Readlink(Decoder& in, Encoder& out) {
  Node* n = NodeOf(in);
  if (n == nullptr) return in.ok() ? EBADF : EINVAL;
  if (!S_ISLNK(n->mode)) return EINVAL;
  char buf[kMaxLinkTarget + 1];
  ssize_t len = readlinkat(n->fd, "", buf, sizeof buf);
  if (len < 0) return errno;
  if (size_t(len) > kMaxLinkTarget) return ENAMETOOLONG;
  out.Str(std::string_view(buf, len));
  return 0;
}

int Server::OpenFile(Decoder& in, Encoder& out, int* fd) {
  Node* n = NodeOf(in);
  uint32_t flags;
  if (n == nullptr) return in.ok() ? EBADF : EINVAL;
  if (!in.U32(&flags)) return EINVAL;
  // Only regular files leave the gofer: a directory fd would let its holder
  // walk out of any root with openat(fd, "..").
  if (S_ISDIR(n->mode)) return EISDIR;
  if (!S_ISREG(n->mode)) return EACCES;
  const uint32_t allowed = O_ACCMODE | O_TRUNC | O_APPEND | O_SYNC | O_DSYNC;
  if ((flags & ~allowed) != 0 || (flags & O_ACCMODE) == O_ACCMODE)
    return EINVAL;
  bool writes = (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
  if (writes && !Writable(*n)) return EROFS;
  int file = Reopen(*n, static_cast<int>(flags));
  if (file < 0) return errno;
  int error = StatOf(file, out);
  if (error != 0) {
    close(file);
    return error;
  }
  *fd = file;
  return 0;
}

int Server::ReadDir(Decoder& in, Encoder& out) {
  int error = 0;
  Node* dir = DirOf(in, &error);
  uint64_t cookie;
  if (dir == nullptr) return error;
  if (!in.U64(&cookie)) return EINVAL;
  int fd = Reopen(*dir, O_RDONLY | O_DIRECTORY);
  if (fd < 0) return errno;
  if (lseek(fd, static_cast<off_t>(cookie), SEEK_SET) < 0) {
    error = errno;
    close(fd);
    return error;
  }
  // Entries go into a packet until it is nearly full; the last cookie gives
  // the kernel the place to continue from.
  Encoder entries;
  uint32_t count = 0;
  char buf[8192];
  bool full = false;
  while (!full) {
    long len = syscall(SYS_getdents64, fd, buf, sizeof buf);
    if (len < 0) {
      error = errno;
      break;
    }
    if (len == 0) break;
    for (long pos = 0; pos < len;) {
      auto* d = reinterpret_cast<struct dirent64*>(buf + pos);
      pos += d->d_reclen;
      std::string_view name = d->d_name;
      if (entries.size() + name.size() + 64 > kMaxPacket - 64) {
        full = true;
        break;
      }
      if (name == "." || name == "..") continue;
      entries.Entry(WireDirEntry{std::string(name), d->d_ino,
                                 static_cast<uint64_t>(d->d_off), d->d_type});
      count++;
    }
  }
  close(fd);
  if (error != 0) return error;
  out.U32(count);
  out.Append(entries);
  // Whether entries are left: without it, every listing would take one
  // more request that comes back empty.
  out.U8(full ? 1 : 0);
  return 0;
}

int Server::StatFs(Decoder& in, Encoder& out) {
  Node* n = NodeOf(in);
  if (n == nullptr) return in.ok() ? EBADF : EINVAL;
  struct statfs s;
  if (fstatfs(n->fd, &s) != 0) return errno;
  out.U64(static_cast<uint64_t>(s.f_type));
  out.U64(s.f_bsize);
  out.U64(s.f_blocks);
  out.U64(s.f_bfree);
  out.U64(s.f_bavail);
  out.U64(s.f_files);
  out.U64(s.f_ffree);
  out.U64(s.f_namelen);
  out.U64(s.f_frsize);
  out.U64(s.f_flags | (Writable(*n) ? 0 : ST_RDONLY));
  return 0;
}

int Server::Create(Decoder& in, Encoder& out, int* fd) {
  int error = 0;
  Node* dir = DirOf(in, &error);
  std::string name;
  uint32_t flags, mode, uid, gid;
  if (dir == nullptr) return error;
  if (!in.Str(&name, kMaxName) || !in.U32(&flags) || !in.U32(&mode) ||
      !in.U32(&uid) || !in.U32(&gid) || !ValidName(name))
    return EINVAL;
  if (!Writable(*dir)) return EROFS;
  const uint32_t allowed = O_ACCMODE | O_APPEND | O_SYNC | O_DSYNC;
  if ((flags & ~allowed) != 0 || (flags & O_ACCMODE) == O_ACCMODE)
    return EINVAL;
  int file = openat(dir->fd, name.c_str(),
                    static_cast<int>(flags) | O_CREAT | O_EXCL | O_NOFOLLOW |
                        O_CLOEXEC | O_NOCTTY,
                    mode & 07777);
  if (file < 0) return errno;
  // Ownership follows the sandbox's credentials where the host allows it.
  if (fchown(file, uid, gid) != 0 && errno != EPERM && errno != EINVAL) {
    spdlog::debug("gofer: chown of new file {} failed: {}", name,
                  strerror(errno));
  }
  std::string self = std::to_string(file);
  int path = openat(proc_fd_, self.c_str(), O_PATH | O_CLOEXEC);
  if (path < 0) {
    error = errno;
    close(file);
    return error;
  }
  error = AddNode(path, dir->root, out);
  if (error != 0) {
    close(file);
    return error;
  }
  *fd = file;
  return 0;
}

int Server::ReadNewNode(Decoder& in, NewNode* node) {
  int error = 0;
  node->dir = DirOf(in, &error);
  if (node->dir == nullptr) return error;
  if (!in.Str(&node->name, kMaxName) || !in.U32(&node->mode) ||
      !in.U32(&node->uid) || !in.U32(&node->gid) || !ValidName(node->name))
    return EINVAL;
  return 0;
}

int Server::AddMadeNode(const NewNode& node, int open_flags, Encoder& out) {
  int fd = openat(node.dir->fd, node.name.c_str(),
                  O_PATH | O_NOFOLLOW | O_CLOEXEC | open_flags);
  if (fd < 0) return errno;
  fchownat(fd, "", node.uid, node.gid, AT_EMPTY_PATH);
  return AddNode(fd, node.dir->root, out);
}

int Server::Mkdir(Decoder& in, Encoder& out) {
  NewNode node;
  int error = ReadNewNode(in, &node);
  if (error != 0) return error;
  if (!Writable(*node.dir)) return EROFS;
  if (mkdirat(node.dir->fd, node.name.c_str(), node.mode & 07777) != 0)
    return errno;
  return AddMadeNode(node, O_DIRECTORY, out);
}

// Only FIFOs: the kernel serves their data itself and never opens them
// on the host; a device or socket node would be a host object.
int Server::Mknod(Decoder& in, Encoder& out) {
  NewNode node;
  int error = ReadNewNode(in, &node);
  if (error != 0) return error;
  if (!S_ISFIFO(node.mode)) return EPERM;
  if (!Writable(*node.dir)) return EROFS;
  if (mknodat(node.dir->fd, node.name.c_str(), S_IFIFO | (node.mode & 07777),
              0) != 0)
    return errno;
  return AddMadeNode(node, 0, out);
}

int Server::Symlink(Decoder& in, Encoder& out) {
  int error = 0;
  Node* dir = DirOf(in, &error);
  std::string name, target;
  uint32_t uid, gid;
  if (dir == nullptr) return error;
  if (!in.Str(&name, kMaxName) || !in.Str(&target, kMaxLinkTarget) ||
      !in.U32(&uid) || !in.U32(&gid) || !ValidName(name) || target.empty() ||
      target.find('\0') != std::string::npos)
    return EINVAL;
  if (!Writable(*dir)) return EROFS;
  if (symlinkat(target.c_str(), dir->fd, name.c_str()) != 0) return errno;
  int fd = openat(dir->fd, name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return errno;
  fchownat(fd, "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW);
  return AddNode(fd, dir->root, out);
}

int Server::Link(Decoder& in, Encoder& out) {
  int error = 0;
  Node* dir = DirOf(in, &error);
  std::string name;
  if (dir == nullptr) return error;
  if (!in.Str(&name, kMaxName) || !ValidName(name)) return EINVAL;
  Node* target = NodeOf(in);
  if (target == nullptr) return in.ok() ? EBADF : EINVAL;
  if (!Writable(*dir)) return EROFS;
  if (target->root != dir->root) return EXDEV;
  if (S_ISDIR(target->mode)) return EPERM;
  std::string self = std::to_string(target->fd);
  if (linkat(proc_fd_, self.c_str(), dir->fd, name.c_str(),
             AT_SYMLINK_FOLLOW) != 0)
    return errno;
  return StatOf(target->fd, out);
}

int Server::Unlink(Decoder& in, Encoder& out) {
  int error = 0;
  Node* dir = DirOf(in, &error);
  std::string name;
  uint32_t flags;
  if (dir == nullptr) return error;
  if (!in.Str(&name, kMaxName) || !in.U32(&flags) || !ValidName(name) ||
      (flags & ~uint32_t(AT_REMOVEDIR)) != 0)
    return EINVAL;
  if (!Writable(*dir)) return EROFS;
  if (unlinkat(dir->fd, name.c_str(), static_cast<int>(flags)) != 0)
    return errno;
  return 0;
}

int Server::Rename(Decoder& in, Encoder& out) {
  int error = 0;
  Node* dir = DirOf(in, &error);
  std::string name, new_name;
  uint32_t flags;
  if (dir == nullptr) return error;
  if (!in.Str(&name, kMaxName)) return EINVAL;
  Node* new_dir = DirOf(in, &error);
  if (new_dir == nullptr) return error;
  if (!in.Str(&new_name, kMaxName) || !in.U32(&flags) || !ValidName(name) ||
      !ValidName(new_name))
    return EINVAL;
  const uint32_t allowed = RENAME_NOREPLACE | RENAME_EXCHANGE;
  if ((flags & ~allowed) != 0) return EINVAL;
  if (!Writable(*dir) || !Writable(*new_dir)) return EROFS;
  if (dir->root != new_dir->root) return EXDEV;
  if (syscall(SYS_renameat2, dir->fd, name.c_str(), new_dir->fd,
              new_name.c_str(), flags) != 0)
    return errno;
  return 0;
}

int Server::SetAttr(Decoder& in, Encoder& out) {
  Node* n = NodeOf(in);
  WireSetAttr a;
  if (n == nullptr) return in.ok() ? EBADF : EINVAL;
  if (!in.SetAttr(&a)) return EINVAL;
  if (!Writable(*n)) return EROFS;
  std::string self = std::to_string(n->fd);
  // The /proc/self/fd link reaches the node itself, which is never a
  // symlink for these calls: chmod and utimes of a link are refused.
  bool link = S_ISLNK(n->mode);
  if ((a.mask & kMode) != 0) {
    if (link) return EOPNOTSUPP;
    if (fchmodat(proc_fd_, self.c_str(), a.mode & 07777, 0) != 0) return errno;
  }
  if ((a.mask & (kUid | kGid)) != 0) {
    uid_t uid = (a.mask & kUid) ? a.uid : uid_t(-1);
    gid_t gid = (a.mask & kGid) ? a.gid : gid_t(-1);
    if (fchownat(n->fd, "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) !=
        0)
      return errno;
  }
  if ((a.mask & kSize) != 0) {
    if (!S_ISREG(n->mode)) return S_ISDIR(n->mode) ? EISDIR : EINVAL;
    int fd = Reopen(*n, O_WRONLY);
    if (fd < 0) return errno;
    int rc = ftruncate(fd, static_cast<off_t>(a.size));
    int error = errno;
    close(fd);
    if (rc != 0) return error;
  }
  if ((a.mask & (kAtime | kMtime)) != 0) {
    if (link) return EOPNOTSUPP;
    struct timespec ts[2] = {{0, UTIME_OMIT}, {0, UTIME_OMIT}};
    if (a.mask & kAtime) ts[0] = {a.atime_sec, a.atime_nsec};
    if (a.mask & kMtime) ts[1] = {a.mtime_sec, a.mtime_nsec};
    if (utimensat(proc_fd_, self.c_str(), ts, 0) != 0) return errno;
  }
  return StatOf(n->fd, out);
}

int Server::Serve(int sock) {
  std::vector<char> packet;
  for (;;) {
    int fd = -1;
    int error = RecvPacket(sock, &packet, &fd);
    if (error == ECONNRESET) return 0;
    if (fd >= 0) close(fd);  // the kernel never sends descriptors
    Reply reply;
    if (error == EMSGSIZE) {
      Encoder head;
      head.U32(EINVAL);
      reply.bytes = head.bytes();
    } else if (error != 0) {
      spdlog::error("gofer: receiving a request failed: {}", strerror(error));
      return 1;
    } else {
      reply = Handle(packet.data(), packet.size());
    }
    if (!reply.send) continue;
    error = SendPacket(sock, reply.bytes, reply.fd);
    if (reply.fd >= 0) close(reply.fd);
    if (error == ECONNRESET) return 0;
    if (error != 0) {
      spdlog::error("gofer: sending a reply failed: {}", strerror(error));
      return 1;
    }
  }
}

}  // namespace moat::gofer
