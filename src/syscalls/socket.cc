// socket(2) and the calls on sockets: AF_UNIX (net/unix.h), and AF_INET
// and AF_INET6 on the sandbox's loopback network (net/inet.h). Other
// families return EAFNOSUPPORT.
#include <linux/capability.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cstring>
#include <functional>

#include "kernel/signal_delivery.h"
#include "net/inet.h"
#include "net/unix.h"
#include "syscalls/handlers.h"
#include "syscalls/util.h"

namespace moat {
namespace {

constexpr int kScmMaxFd = 253;  // Linux SCM_MAX_FD
constexpr size_t kMaxOptionSize = 256;
constexpr size_t kMaxControlSize = 1 << 16;

Result<std::shared_ptr<UnixSocket>> GetSocket(Task& t, int fd) {
  FilePtr f = GetFile(t, fd);
  if (!f) return Err(EBADF);
  auto s = std::dynamic_pointer_cast<UnixSocket>(f);
  if (!s) return Err(ENOTSOCK);
  return s;
}

Result<std::string> CopyInAddress(Task& t, uint64_t addr, int len) {
  if (len < 0 || size_t(len) > sizeof(struct sockaddr_storage))
    return Err(EINVAL);
  std::string out(len, '\0');
  if (len) TRY_STATUS(t.mm().CopyIn(addr, out.data(), len));
  return out;
}

// Copies a socket address out through a (pointer, length pointer) pair,
// truncating to the caller's length and reporting the full one.
Status CopyOutAddress(Task& t, uint64_t addr, uint64_t len_addr,
                      const std::string& name) {
  if (!addr || !len_addr) return Ok();
  int len = TRY(t.mm().Read<int>(len_addr));
  if (len < 0) return Err(EINVAL);
  size_t n = std::min(size_t(len), name.size());
  if (n) TRY_STATUS(t.mm().CopyOut(addr, name.data(), n));
  return t.mm().Write<int>(len_addr, int(name.size()));
}

// Runs one non-blocking socket step until it stops returning EAGAIN. The
// step is retried once after the waiter is registered, so no wakeup is
// lost and a step that stays EAGAIN blocks instead of spinning.
int64_t SocketIo(Task& t, UnixSocket& s, uint32_t events, bool nonblock,
                 const std::function<Result<size_t>()>& op) {
  for (;;) {
    auto r = op();
    if (r.ok()) return int64_t(r.value());
    if (r.error() != EAGAIN || nonblock) return -r.error();
    Waiter w([&t](uint32_t) { t.Wake(); }, events | kEventHup | kEventErr);
    WaitQueueEntry entry(s.Queue(), &w);
    r = op();
    if (r.ok()) return int64_t(r.value());
    if (r.error() != EAGAIN) return -r.error();
    if (t.Block() == BlockResult::kInterrupted) return kERestartSys;
  }
}

bool NonBlocking(UnixSocket& s, int flags) {
  return (s.flags & O_NONBLOCK) || (flags & MSG_DONTWAIT);
}

// The application's buffers of one send or receive call: `total` bytes in
// `iov`. Bytes go in and out a chunk at a time, so that a huge length
// costs the kernel no more memory than one chunk.
struct UserBuffers {
  std::vector<struct iovec> iov;
  size_t total = 0;

  // Copies `len` bytes from byte `offset` of the buffers into `out`.
  Status CopyIn(Task& t, size_t offset, char* out, size_t len) const {
    return Walk(offset, len, [&](uint64_t addr, size_t n) {
      Status s = t.mm().CopyIn(addr, out, n);
      out += n;
      return s;
    });
  }

  // Copies `len` bytes of `data` to byte `offset` of the buffers on.
  Status CopyOut(Task& t, size_t offset, const char* data, size_t len) const {
    return Walk(offset, len, [&](uint64_t addr, size_t n) {
      Status s = t.mm().CopyOut(addr, data, n);
      data += n;
      return s;
    });
  }

 private:
  Status Walk(size_t offset, size_t len,
              const std::function<Status(uint64_t, size_t)>& fn) const {
    for (const auto& v : iov) {
      if (len == 0) break;
      if (offset >= v.iov_len) {
        offset -= v.iov_len;
        continue;
      }
      size_t n = std::min(v.iov_len - offset, len);
      TRY_STATUS(fn(reinterpret_cast<uint64_t>(v.iov_base) + offset, n));
      len -= n;
      offset = 0;
    }
    return Ok();
  }
};

UserBuffers OneBuffer(uint64_t addr, size_t len) {
  UserBuffers b;
  b.iov.push_back({reinterpret_cast<void*>(addr), len});
  b.total = len;
  return b;
}

// The largest piece of a stream send: half the send buffer, as Linux
// unix_stream_sendmsg keeps two pieces in flight.
size_t StreamPiece(UnixSocket& s) {
  return std::max<size_t>(size_t(s.endpoint().sndbuf) / 2, 1024);
}

int64_t DoSend(Task& t, int fd, const UserBuffers& data, int flags,
               UnixSendRequest& req) {
  auto s = GetSocket(t, fd);
  if (!s.ok()) return -s.error();
  UnixSocket& sock = **s;
  if (flags & MSG_OOB) return -EOPNOTSUPP;
  bool nonblock = NonBlocking(sock, flags);
  bool stream = sock.endpoint().type == SOCK_STREAM;
  std::vector<char> piece;
  size_t sent = 0;
  do {
    size_t len = data.total - sent;
    if (stream) len = std::min(len, StreamPiece(sock));
    // A message larger than the send buffer fails with EMSGSIZE
    // before its data is read, so it is not copied in.
    bool copy = stream || len <= size_t(sock.endpoint().sndbuf);
    piece.resize(copy ? len : 0);
    if (copy && !data.CopyIn(t, sent, piece.data(), len).ok())
      return sent ? int64_t(sent) : -EFAULT;
    int64_t n = SocketIo(t, sock, kEventOut, nonblock,
                         [&] { return sock.Send(t, piece.data(), len, req); });
    if (n < 0) {
      if (sent) return int64_t(sent);
      if (n == -EPIPE && !(flags & MSG_NOSIGNAL))
        (void)SendTaskSignal(t, MakeSigInfo(SIGPIPE, SI_USER, t.tg().tgid),
                             false);
      return n;
    }
    sent += n;
  } while (stream && sent < data.total);
  return int64_t(sent);
}

// The most one Recv step returns: a whole queue or the largest datagram,
// both bounded by the largest socket buffer.
constexpr size_t kRecvPiece = 2 * 212992 + 4096;

// Receives into `into` and copies what arrived out to it; returns the
// count (the full datagram size for MSG_TRUNC) or -errno.
int64_t DoRecv(Task& t, int fd, const UserBuffers& into, int flags,
               UnixRecvResult* result) {
  auto s = GetSocket(t, fd);
  if (!s.ok()) return -s.error();
  UnixSocket& sock = **s;
  if (flags & MSG_OOB) return -EOPNOTSUPP;
  bool nonblock = NonBlocking(sock, flags);
  std::vector<char> buf(std::min(into.total, kRecvPiece));
  int64_t n = SocketIo(t, sock, kEventIn, nonblock, [&] {
    *result = UnixRecvResult();
    return sock.Recv(t, buf.data(), buf.size(), flags, result);
  });
  if (n < 0) return n;
  size_t got = result->length;
  if (got && !into.CopyOut(t, 0, buf.data(), got).ok()) return -EFAULT;
  bool stream = sock.endpoint().type == SOCK_STREAM;
  // MSG_WAITALL keeps a stream read going until the buffers are full.
  while (stream && (flags & MSG_WAITALL) && !(flags & MSG_PEEK) && n > 0 &&
         got < into.total && result->fds.empty()) {
    UnixRecvResult more;
    buf.resize(std::min(into.total - got, kRecvPiece));
    int64_t m = SocketIo(t, sock, kEventIn, nonblock, [&] {
      more = UnixRecvResult();
      return sock.Recv(t, buf.data(), buf.size(), flags, &more);
    });
    if (m <= 0) break;
    if (!into.CopyOut(t, got, buf.data(), more.length).ok()) return -EFAULT;
    got += more.length;
    n += m;
  }
  result->length = got;
  if (stream && sock.endpoint().peer) result->from = *sock.PeerName();
  if (result->from.size() <= sizeof(sa_family_t)) result->from.clear();
  return n;
}

Result<UserBuffers> ReadIovecs(Task& t, const struct msghdr& msg) {
  if (msg.msg_iovlen > IOV_MAX) return Err(EMSGSIZE);
  UserBuffers b;
  b.iov.resize(msg.msg_iovlen);
  uint64_t iov_addr = reinterpret_cast<uint64_t>(msg.msg_iov);
  TRY_STATUS(t.mm().CopyIn(iov_addr, b.iov.data(),
                           b.iov.size() * sizeof(struct iovec)));
  for (auto& v : b.iov) {
    if (int64_t(v.iov_len) < 0) return Err(EINVAL);
    // Linux lib/iov_iter.c: the total is cut at MAX_RW_COUNT.
    v.iov_len = std::min<size_t>(v.iov_len, 0x7ffff000 - b.total);
    b.total += v.iov_len;
  }
  return b;
}

// Parses SCM_RIGHTS and SCM_CREDENTIALS out of sendmsg's control data.
Status ParseControl(Task& t, const struct msghdr& user, UnixSendRequest* req) {
  if (user.msg_controllen == 0) return Ok();
  if (user.msg_controllen > kMaxControlSize) return Err(ENOBUFS);
  std::vector<char> control(user.msg_controllen);
  TRY_STATUS(t.mm().CopyIn(reinterpret_cast<uint64_t>(user.msg_control),
                           control.data(), control.size()));
  struct msghdr local = {};
  local.msg_control = control.data();
  local.msg_controllen = control.size();
  for (struct cmsghdr* c = CMSG_FIRSTHDR(&local); c;
       c = CMSG_NXTHDR(&local, c)) {
    size_t offset = reinterpret_cast<char*>(c) - control.data();
    if (c->cmsg_len < sizeof(struct cmsghdr) ||
        c->cmsg_len > control.size() - offset)
      return Err(EINVAL);
    if (c->cmsg_level != SOL_SOCKET) return Err(EINVAL);
    size_t payload = c->cmsg_len - CMSG_LEN(0);
    if (c->cmsg_type == SCM_RIGHTS) {
      size_t count = payload / sizeof(int);
      if (count + req->fds.size() > size_t(kScmMaxFd)) return Err(EINVAL);
      for (size_t i = 0; i < count; i++) {
        int fd;
        memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
        FilePtr f = GetFile(t, fd);
        if (!f) return Err(EBADF);
        req->fds.push_back(f);
      }
    } else if (c->cmsg_type == SCM_CREDENTIALS) {
      if (c->cmsg_len != CMSG_LEN(sizeof(struct ucred))) return Err(EINVAL);
      struct ucred cred;
      memcpy(&cred, CMSG_DATA(c), sizeof(cred));
      // Linux net/core/scm.c:scm_check_creds.
      const Credentials& me = t.creds;
      if ((cred.pid != t.tg().tgid && !me.HasCapability(21)) ||
          (cred.uid != me.ruid && cred.uid != me.euid && cred.uid != me.suid &&
           !me.HasCapability(7)) ||
          (cred.gid != me.rgid && cred.gid != me.egid && cred.gid != me.sgid &&
           !me.HasCapability(6)))
        return Err(EPERM);
      req->creds = cred;
    } else {
      return Err(EINVAL);
    }
  }
  return Ok();
}

// Builds recvmsg's control data, installing received files. Sets
// MSG_CTRUNC when they do not all fit.
Result<std::vector<char>> BuildControl(Task& t, size_t space, int flags,
                                       UnixRecvResult& result) {
  std::vector<char> out;
  auto add = [&](int type, const void* data, size_t len) -> bool {
    if (out.size() + CMSG_LEN(len) > space) return false;
    struct cmsghdr h = {};
    h.cmsg_len = CMSG_LEN(len);
    h.cmsg_level = SOL_SOCKET;
    h.cmsg_type = type;
    size_t at = out.size();
    out.resize(at + CMSG_SPACE(len), 0);
    memcpy(out.data() + at, &h, sizeof(h));
    memcpy(out.data() + at + CMSG_LEN(0), data, len);
    if (out.size() > space) out.resize(space);
    return true;
  };
  if (result.creds &&
      !add(SCM_CREDENTIALS, &*result.creds, sizeof(struct ucred)))
    result.msg_flags |= MSG_CTRUNC;
  if (!result.fds.empty()) {
    size_t room = space > out.size() + CMSG_LEN(0)
                      ? (space - out.size() - CMSG_LEN(0)) / sizeof(int)
                      : 0;
    size_t count = std::min(room, result.fds.size());
    if (count < result.fds.size()) result.msg_flags |= MSG_CTRUNC;
    std::vector<int> fds;
    for (size_t i = 0; i < count; i++) {
      auto fd = InstallFd(t, result.fds[i], flags & MSG_CMSG_CLOEXEC);
      if (!fd.ok()) {
        result.msg_flags |= MSG_CTRUNC;
        break;
      }
      fds.push_back(fd.value());
    }
    if (!fds.empty()) add(SCM_RIGHTS, fds.data(), fds.size() * sizeof(int));
  }
  return out;
}

int64_t AcceptCommon(Task& t, const SyscallArgs& args, int flags) {
  if (flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)) return -EINVAL;
  auto s = GetSocket(t, args.Int(0));
  if (!s.ok()) return -s.error();
  auto f = (*s)->Accept(t, (*s)->flags & O_NONBLOCK);
  if (!f.ok()) return -f.error();
  auto conn = std::static_pointer_cast<UnixSocket>(f.value());
  conn->flags = O_RDWR | ((flags & SOCK_NONBLOCK) ? O_NONBLOCK : 0);
  std::string peer = conn->PeerName().ok() ? *conn->PeerName() : "";
  Status st = CopyOutAddress(t, args[1], args[2], peer);
  if (!st.ok()) return -st.error();
  return ToReturn(InstallFd(t, conn, flags & SOCK_CLOEXEC));
}

// Returns the error of socketpair(2) for an AF_INET or AF_INET6 family: the
// error of Linux net/ipv4/af_inet.c:inet_create for a type and protocol it
// cannot create, else EOPNOTSUPP because IP sockets have no pairs.
int64_t InetSocketpairError(const Task& t, int type, int protocol) {
  switch (type) {
    case SOCK_STREAM:
      if (protocol != 0 && protocol != IPPROTO_TCP) return -EPROTONOSUPPORT;
      return -EOPNOTSUPP;
    case SOCK_DGRAM:
      if (protocol != 0 && protocol != IPPROTO_UDP &&
          protocol != IPPROTO_UDPLITE)
        return -EPROTONOSUPPORT;
      return -EOPNOTSUPP;
    case SOCK_RAW:
      return t.creds.HasCapability(CAP_NET_RAW) ? -EOPNOTSUPP : -EPERM;
    default:
      return -ESOCKTNOSUPPORT;
  }
}

}  // namespace

// Implements socket(2).
int64_t Socket(Task& t, const SyscallArgs& args) {
  int domain = args.Int(0), type = args.Int(1), protocol = args.Int(2);
  int flags = type & (SOCK_NONBLOCK | SOCK_CLOEXEC);
  type &= ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (type & ~0xf) return -EINVAL;
  Result<std::shared_ptr<UnixSocket>> s = Err(EAFNOSUPPORT);
  if (domain == AF_INET || domain == AF_INET6) {
    // TODO: with --network=host, IP sockets still reach only the
    // sandbox's own loopback; host sockets are to come.
    s = NewInetSocket(t, domain, type, protocol);
  } else if (domain == AF_UNIX) {
    if (protocol != 0 && protocol != PF_UNIX) return -EPROTONOSUPPORT;
    if (type == SOCK_RAW) type = SOCK_DGRAM;  // as Linux unix_create does
    if (type != SOCK_STREAM && type != SOCK_DGRAM && type != SOCK_SEQPACKET)
      return -ESOCKTNOSUPPORT;
    s = NewUnixSocket(t, type);
  }
  if (!s.ok()) return -s.error();
  if (flags & SOCK_NONBLOCK) (*s)->flags |= O_NONBLOCK;
  return ToReturn(InstallFd(t, s.value(), flags & SOCK_CLOEXEC));
}

// Implements socketpair(2).
int64_t Socketpair(Task& t, const SyscallArgs& args) {
  int domain = args.Int(0), type = args.Int(1), protocol = args.Int(2);
  int flags = type & (SOCK_NONBLOCK | SOCK_CLOEXEC);
  type &= ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (type & ~0xf) return -EINVAL;
  if (domain == AF_INET || domain == AF_INET6)
    return InetSocketpairError(t, type, protocol);
  if (domain != AF_UNIX) return -EAFNOSUPPORT;
  if (protocol != 0 && protocol != PF_UNIX) return -EPROTONOSUPPORT;
  if (type == SOCK_RAW) type = SOCK_DGRAM;
  if (type != SOCK_STREAM && type != SOCK_DGRAM && type != SOCK_SEQPACKET)
    return -ESOCKTNOSUPPORT;
  auto pair = NewUnixSocketPair(t, type);
  if (!pair.ok()) return -pair.error();
  auto [a, b] = pair.value();
  if (flags & SOCK_NONBLOCK) {
    a->flags |= O_NONBLOCK;
    b->flags |= O_NONBLOCK;
  }
  auto fa = InstallFd(t, a, flags & SOCK_CLOEXEC);
  if (!fa.ok()) return -fa.error();
  auto fb = InstallFd(t, b, flags & SOCK_CLOEXEC);
  if (!fb.ok()) {
    (void)t.fds->Remove(fa.value());
    return -fb.error();
  }
  int fds[2] = {fa.value(), fb.value()};
  if (!t.mm().Write(args[3], fds).ok()) {
    (void)t.fds->Remove(fds[0]);
    (void)t.fds->Remove(fds[1]);
    return -EFAULT;
  }
  return 0;
}

// Implements bind(2).
int64_t Bind(Task& t, const SyscallArgs& args) {
  auto s = GetSocket(t, args.Int(0));
  if (!s.ok()) return -s.error();
  auto addr = CopyInAddress(t, args[1], args.Int(2));
  if (!addr.ok()) return -addr.error();
  return ToReturn((*s)->Bind(t, addr.value()));
}

// Implements listen(2).
int64_t Listen(Task& t, const SyscallArgs& args) {
  auto s = GetSocket(t, args.Int(0));
  if (!s.ok()) return -s.error();
  return ToReturn((*s)->Listen(args.Int(1)));
}

// Implements connect(2).
int64_t Connect(Task& t, const SyscallArgs& args) {
  auto s = GetSocket(t, args.Int(0));
  if (!s.ok()) return -s.error();
  auto addr = CopyInAddress(t, args[1], args.Int(2));
  if (!addr.ok()) return -addr.error();
  return ToReturn((*s)->Connect(t, addr.value(), (*s)->flags & O_NONBLOCK));
}

// Implements accept(2).
int64_t Accept(Task& t, const SyscallArgs& args) {
  return AcceptCommon(t, args, 0);
}

// Implements accept4(2).
int64_t Accept4(Task& t, const SyscallArgs& args) {
  return AcceptCommon(t, args, args.Int(3));
}

// Implements sendto(2).
int64_t Sendto(Task& t, const SyscallArgs& args) {
  UserBuffers data =
      OneBuffer(args[1], std::min<uint64_t>(args[2], 0x7ffff000));
  UnixSendRequest req;
  if (args[4]) {
    auto addr = CopyInAddress(t, args[4], args.Int(5));
    if (!addr.ok()) return -addr.error();
    req.to = addr.value();
  }
  return DoSend(t, args.Int(0), data, args.Int(3), req);
}

// Implements recvfrom(2).
int64_t Recvfrom(Task& t, const SyscallArgs& args) {
  size_t len = std::min<uint64_t>(args[2], 0x7ffff000);
  if (!t.mm().RangeAccessible(args[1], len, PROT_WRITE)) return -EFAULT;
  UnixRecvResult result;
  int64_t n =
      DoRecv(t, args.Int(0), OneBuffer(args[1], len), args.Int(3), &result);
  if (n < 0) return n;
  Status s = CopyOutAddress(t, args[4], args[5], result.from);
  return s.ok() ? n : -s.error();
}

// Implements sendmsg(2).
int64_t Sendmsg(Task& t, const SyscallArgs& args) {
  auto msg = t.mm().Read<struct msghdr>(args[1]);
  if (!msg.ok()) return -EFAULT;
  auto data = ReadIovecs(t, msg.value());
  if (!data.ok()) return -data.error();
  UnixSendRequest req;
  if (msg->msg_name && msg->msg_namelen) {
    auto addr = CopyInAddress(t, reinterpret_cast<uint64_t>(msg->msg_name),
                              int(msg->msg_namelen));
    if (!addr.ok()) return -addr.error();
    req.to = addr.value();
  }
  Status s = ParseControl(t, msg.value(), &req);
  if (!s.ok()) return -s.error();
  return DoSend(t, args.Int(0), data.value(), args.Int(2), req);
}

// Implements recvmsg(2).
int64_t Recvmsg(Task& t, const SyscallArgs& args) {
  auto msg = t.mm().Read<struct msghdr>(args[1]);
  if (!msg.ok()) return -EFAULT;
  auto into = ReadIovecs(t, msg.value());
  if (!into.ok()) return -into.error();
  int flags = args.Int(2);
  UnixRecvResult result;
  int64_t n = DoRecv(t, args.Int(0), into.value(), flags, &result);
  if (n < 0) return n;
  struct msghdr out = msg.value();
  if (out.msg_name) {
    size_t copy = std::min<size_t>(out.msg_namelen, result.from.size());
    if (copy && !t.mm()
                     .CopyOut(reinterpret_cast<uint64_t>(out.msg_name),
                              result.from.data(), copy)
                     .ok())
      return -EFAULT;
    out.msg_namelen = result.from.size();
  }
  auto control =
      BuildControl(t, out.msg_control ? out.msg_controllen : 0, flags, result);
  if (!control.ok()) return -control.error();
  if (!control->empty() &&
      !t.mm()
           .CopyOut(reinterpret_cast<uint64_t>(out.msg_control),
                    control->data(), control->size())
           .ok())
    return -EFAULT;
  out.msg_controllen = control->size();
  out.msg_flags = result.msg_flags;
  if (!t.mm().Write(args[1], out).ok()) return -EFAULT;
  return n;
}

// Implements shutdown(2).
int64_t Shutdown(Task& t, const SyscallArgs& args) {
  auto s = GetSocket(t, args.Int(0));
  if (!s.ok()) return -s.error();
  return ToReturn((*s)->Shutdown(args.Int(1)));
}

// Implements getsockname(2).
int64_t Getsockname(Task& t, const SyscallArgs& args) {
  auto s = GetSocket(t, args.Int(0));
  if (!s.ok()) return -s.error();
  return ToReturn(CopyOutAddress(t, args[1], args[2], (*s)->SockName()));
}

// Implements getpeername(2).
int64_t Getpeername(Task& t, const SyscallArgs& args) {
  auto s = GetSocket(t, args.Int(0));
  if (!s.ok()) return -s.error();
  auto name = (*s)->PeerName();
  if (!name.ok()) return -name.error();
  return ToReturn(CopyOutAddress(t, args[1], args[2], name.value()));
}

// Implements getsockopt(2).
int64_t Getsockopt(Task& t, const SyscallArgs& args) {
  auto s = GetSocket(t, args.Int(0));
  if (!s.ok()) return -s.error();
  auto len = t.mm().Read<int>(args[4]);
  if (!len.ok()) return -EFAULT;
  if (len.value() < 0) return -EINVAL;
  auto value = (*s)->GetOption(args.Int(1), args.Int(2));
  if (!value.ok()) return -value.error();
  size_t n = std::min(size_t(len.value()), value->size());
  if (n && !t.mm().CopyOut(args[3], value->data(), n).ok()) return -EFAULT;
  return ToReturn(t.mm().Write<int>(args[4], int(n)));
}

// Implements setsockopt(2).
int64_t Setsockopt(Task& t, const SyscallArgs& args) {
  auto s = GetSocket(t, args.Int(0));
  if (!s.ok()) return -s.error();
  int len = args.Int(4);
  if (len < 0) return -EINVAL;
  std::vector<char> value(std::min<size_t>(len, kMaxOptionSize));
  if (!value.empty() &&
      !t.mm().CopyIn(args[3], value.data(), value.size()).ok())
    return -EFAULT;
  return ToReturn((*s)->SetOption(args.Int(1), args.Int(2), value));
}

}  // namespace moat
