// AF_UNIX socket names, connecting, accepting and options. Linux's
// behaviour here is in net/unix/af_unix.c.
#include <fmt/format.h>
#include <sys/un.h>

#include <cstring>

#include "kernel/task.h"
#include "net/unix.h"
#include "vfs/vfs.h"

namespace moat {
namespace {

// Bound names: abstract ones by their bytes, filesystem ones by the
// (dev, ino) of the socket inode that bind made.
std::map<std::string, std::weak_ptr<UnixEndpoint>>& AbstractNames() {
  static auto* names = new std::map<std::string, std::weak_ptr<UnixEndpoint>>;
  return *names;
}
std::map<std::pair<uint64_t, uint64_t>, std::weak_ptr<UnixEndpoint>>&
PathNames() {
  static auto* names =
      new std::map<std::pair<uint64_t, uint64_t>, std::weak_ptr<UnixEndpoint>>;
  return *names;
}

constexpr size_t kFamilySize = sizeof(sa_family_t);
constexpr int kSomaxconn = 4096;  // Linux's default net.core.somaxconn
constexpr int kMaxBuffer = 212992;  // net.core.wmem_max and rmem_max

struct UnixName {
  bool abstract = false;
  std::string name;  // the path, or the abstract bytes after the NUL
  std::string raw;   // the sockaddr_un that getsockname returns
};

std::string FamilyOnly() {
  sa_family_t family = AF_UNIX;
  return std::string(reinterpret_cast<char*>(&family), kFamilySize);
}

// Parses a sockaddr_un of `addr.size()` bytes; an empty name means
// "pick one" (autobind).
Result<UnixName> ParseName(const std::string& addr) {
  if (addr.size() < kFamilySize || addr.size() > sizeof(sockaddr_un))
    return Err(EINVAL);
  sa_family_t family;
  memcpy(&family, addr.data(), kFamilySize);
  if (family != AF_UNIX) return Err(EINVAL);
  UnixName n;
  std::string path = addr.substr(kFamilySize);
  if (path.empty()) return n;
  if (path[0] == '\0') {
    n.abstract = true;
    n.name = path.substr(1);
    n.raw = addr;
    return n;
  }
  n.name = path.substr(0, strnlen(path.data(), path.size()));
  n.raw = FamilyOnly() + n.name + '\0';
  return n;
}

Path StartOf(Task& t, const std::string& path) {
  return path[0] == '/' ? t.fs->root : t.fs->cwd;
}

Status BindPath(Task& t, const std::string& path,
                std::shared_ptr<UnixEndpoint> ep) {
  auto [dir, name] = TRY(ResolveParent(t, StartOf(t, path), path, {}));
  if (name.empty() || name == "." || name == "..") return Err(EADDRINUSE);
  auto dir_attr = TRY(dir.inode().Attr());
  TRY_STATUS(CheckAccess(dir_attr, t.creds, W_OK | X_OK));
  if (dir.mount->ReadOnly()) return Err(EROFS);
  if (LookupChild(t, dir, name).ok()) return Err(EADDRINUSE);
  auto inode = TRY(dir.inode().Mknod(
      name, S_IFSOCK | (0777 & ~t.fs->umask), 0, t.creds));
  DentryForget(dir, name);
  auto attr = TRY(inode->Attr());
  ep->path_key = std::make_pair(attr.dev, attr.ino);
  PathNames()[*ep->path_key] = ep;
  return Ok();
}

std::vector<char> IntValue(int v) {
  std::vector<char> out(sizeof(int));
  memcpy(out.data(), &v, sizeof(int));
  return out;
}

}  // namespace

bool WaitForSocket(Task& t, WaitQueue& q, uint32_t events,
                   const std::function<bool()>& ready) {
  Waiter w([&t](uint32_t) { t.Wake(); }, events | kEventHup | kEventErr);
  WaitQueueEntry entry(&q, &w);
  while (!ready()) {
    if (t.Block() == BlockResult::kInterrupted) return false;
  }
  return true;
}

Result<std::shared_ptr<UnixSocket>> NewUnixSocket(Task& t, int type) {
  auto ep = std::make_shared<UnixEndpoint>(type);
  ep->creds = {t.tg().tgid, t.creds.euid, t.creds.egid};
  auto f = std::make_shared<UnixSocket>(ep);
  f->flags = O_RDWR;
  return f;
}

Result<std::pair<FilePtr, FilePtr>> NewUnixSocketPair(Task& t, int type) {
  auto a = TRY(NewUnixSocket(t, type));
  auto b = TRY(NewUnixSocket(t, type));
  UnixEndpoint& ea = a->endpoint();
  UnixEndpoint& eb = b->endpoint();
  ea.peer = eb.shared_from_this();
  eb.peer = ea.shared_from_this();
  ea.connected = eb.connected = true;
  ea.peer_creds = eb.creds;
  eb.peer_creds = ea.creds;
  return std::make_pair(FilePtr(a), FilePtr(b));
}

Status UnixSocket::Bind(Task& t, const std::string& addr) {
  UnixName n = TRY(ParseName(addr));
  if (!ep_->address.empty()) {
    // Linux makes the node first, so an existing path wins over EINVAL.
    if (!n.abstract && !n.name.empty() &&
        ResolvePath(t, StartOf(t, n.name), n.name, {}).ok())
      return Err(EADDRINUSE);
    return Err(EINVAL);
  }
  if (n.raw.empty()) {
    // Autobind: an abstract name of five hex digits (Linux unix_autobind).
    static uint32_t next = 0;
    do {
      n.name = fmt::format("{:05x}", next++ & 0xfffff);
    } while (!AbstractNames()[n.name].expired());
    n.abstract = true;
    n.raw = FamilyOnly() + '\0' + n.name;
  }
  if (n.abstract) {
    auto& slot = AbstractNames()[n.name];
    if (!slot.expired()) return Err(EADDRINUSE);
    slot = ep_;
  } else {
    TRY_STATUS(BindPath(t, n.name, ep_));
  }
  ep_->address = n.raw;
  return Ok();
}

Result<std::shared_ptr<UnixEndpoint>> UnixSocket::Lookup(
    Task& t, const std::string& addr) {
  UnixName n = TRY(ParseName(addr));
  if (n.raw.empty()) return Err(EINVAL);
  std::shared_ptr<UnixEndpoint> target;
  if (n.abstract) {
    auto it = AbstractNames().find(n.name);
    if (it != AbstractNames().end()) target = it->second.lock();
  } else {
    Path p = TRY(ResolvePath(t, StartOf(t, n.name), n.name, {}));
    auto attr = TRY(p.inode().Attr());
    TRY_STATUS(CheckAccess(attr, t.creds, W_OK));
    if (!S_ISSOCK(attr.mode)) return Err(ECONNREFUSED);
    auto it = PathNames().find({attr.dev, attr.ino});
    if (it != PathNames().end()) target = it->second.lock();
  }
  if (!target || target->closed) return Err(ECONNREFUSED);
  if (target->type != ep_->type) return Err(EPROTOTYPE);
  return target;
}

Status UnixSocket::Listen(int backlog) {
  if (ep_->type == SOCK_DGRAM) return Err(EOPNOTSUPP);
  if (ep_->address.empty() || ep_->connected) return Err(EINVAL);
  if (backlog < 0 || backlog > kSomaxconn) backlog = kSomaxconn;
  ep_->backlog = backlog;
  ep_->listening = true;
  return Ok();
}

Status UnixSocket::Connect(Task& t, const std::string& addr, bool nonblock) {
  UnixEndpoint& e = *ep_;
  sa_family_t family = AF_UNIX;
  if (addr.size() >= kFamilySize) memcpy(&family, addr.data(), kFamilySize);
  if (e.type == SOCK_DGRAM && family == AF_UNSPEC) {
    e.peer.reset();  // dissolves the association
    return Ok();
  }
  if (addr.size() <= kFamilySize) return Err(EINVAL);
  if (e.type == SOCK_DGRAM) {
    e.peer = TRY(Lookup(t, addr));
    return Ok();
  }
  if (e.listening) return Err(EINVAL);
  if (e.connected) return Err(EISCONN);
  auto target = TRY(Lookup(t, addr));
  return ConnectTo(t, target, addr, target->address, nonblock);
}

Status UnixSocket::ConnectTo(Task& t,
                             const std::shared_ptr<UnixEndpoint>& first,
                             const std::string& addr,
                             const std::string& server_name, bool nonblock) {
  UnixEndpoint& e = *ep_;
  std::shared_ptr<UnixEndpoint> target = first;
  for (;;) {
    if (!target->listening) return Err(ECONNREFUSED);
    if (target->accept_queue.size() <= size_t(target->backlog)) break;
    if (nonblock) return Err(EAGAIN);
    auto room = [&] {
      return target->closed ||
             target->accept_queue.size() <= size_t(target->backlog);
    };
    if (!WaitForSocket(t, target->queue, kEventOut, room))
      return Err(kRestartSysErrno);
    // The listener may have closed, or another taken its name, meanwhile.
    target = TRY(Lookup(t, addr));
  }
  auto server = std::make_shared<UnixEndpoint>(e.type);
  server->address = server_name;
  server->connected = true;
  server->creds = target->creds;
  server->passcred = target->passcred;
  server->peer = ep_;
  server->peer_creds = {t.tg().tgid, t.creds.euid, t.creds.egid};
  e.peer = server;
  e.connected = true;
  e.peer_creds = target->creds;
  target->accept_queue.push_back(server);
  target->queue.Notify(kEventIn);
  e.queue.Notify(kEventOut);
  return Ok();
}

Result<FilePtr> UnixSocket::Accept(Task& t, bool nonblock) {
  UnixEndpoint& e = *ep_;
  if (e.type == SOCK_DGRAM) return Err(EOPNOTSUPP);
  if (!e.listening) return Err(EINVAL);
  if (e.accept_queue.empty()) {
    if (nonblock) return Err(EAGAIN);
    if (!WaitForSocket(t, e.queue, kEventIn,
                 [&] { return !e.accept_queue.empty() || e.closed; }))
      return Err(kRestartSysErrno);
    if (e.accept_queue.empty()) return Err(EINVAL);
  }
  auto server = e.accept_queue.front();
  e.accept_queue.pop_front();
  e.queue.Notify(kEventOut);  // a blocked connect may go on
  auto f = Accepted(server);
  f->flags = O_RDWR;
  return FilePtr(f);
}

std::shared_ptr<UnixSocket> UnixSocket::Accepted(
    std::shared_ptr<UnixEndpoint> server) {
  return std::make_shared<UnixSocket>(std::move(server));
}

std::string UnixSocket::SockName() const {
  return ep_->address.empty() ? FamilyOnly() : ep_->address;
}

Result<std::string> UnixSocket::PeerName() const {
  if (!ep_->peer) return Err(ENOTCONN);
  return ep_->peer->address.empty() ? FamilyOnly() : ep_->peer->address;
}

Result<std::vector<char>> UnixSocket::GetOption(int level, int name) {
  if (level != SOL_SOCKET) return Err(EOPNOTSUPP);
  UnixEndpoint& e = *ep_;
  switch (name) {
    case SO_TYPE: return IntValue(e.type);
    case SO_DOMAIN: return IntValue(AF_UNIX);
    case SO_PROTOCOL: return IntValue(0);
    case SO_ACCEPTCONN: return IntValue(e.listening);
    case SO_PASSCRED: return IntValue(e.passcred);
    case SO_SNDBUF: return IntValue(e.sndbuf);
    case SO_RCVBUF: return IntValue(e.rcvbuf);
    case SO_ERROR: {
      int err = e.error;
      e.error = 0;
      return IntValue(err);
    }
    case SO_PEERCRED: {
      std::vector<char> out(sizeof(struct ucred));
      memcpy(out.data(), &e.peer_creds, out.size());
      return out;
    }
  }
  auto it = e.other_options.find(name);
  if (it != e.other_options.end()) return it->second;
  switch (name) {
    case SO_REUSEADDR: case SO_REUSEPORT: case SO_KEEPALIVE:
    case SO_BROADCAST: case SO_OOBINLINE: case SO_DONTROUTE:
    case SO_PASSSEC: case SO_TIMESTAMP: case SO_PRIORITY:
      return IntValue(0);
    case SO_RCVLOWAT: case SO_SNDLOWAT:
      return IntValue(1);
    case SO_LINGER: return std::vector<char>(sizeof(struct linger), 0);
    case SO_RCVTIMEO_OLD: case SO_SNDTIMEO_OLD:
      return std::vector<char>(sizeof(struct timeval), 0);
  }
  return Err(ENOPROTOOPT);
}

Status UnixSocket::SetOption(int level, int name,
                             const std::vector<char>& value) {
  if (level != SOL_SOCKET) return Err(EOPNOTSUPP);
  UnixEndpoint& e = *ep_;
  if (name == SO_LINGER || name == SO_RCVTIMEO_OLD ||
      name == SO_SNDTIMEO_OLD) {
    size_t need = name == SO_LINGER ? sizeof(struct linger)
                                    : sizeof(struct timeval);
    if (value.size() < need) return Err(EINVAL);
    // TODO: SO_RCVTIMEO and SO_SNDTIMEO are stored but blocking socket
    // calls do not time out yet.
    e.other_options[name].assign(value.begin(), value.begin() + need);
    return Ok();
  }
  if (value.size() < sizeof(int)) return Err(EINVAL);
  int v;
  memcpy(&v, value.data(), sizeof(int));
  switch (name) {
    case SO_PASSCRED: e.passcred = v != 0; return Ok();
    // Linux doubles the value for its bookkeeping and reports the double.
    case SO_SNDBUF: case SO_SNDBUFFORCE:
      e.sndbuf = std::max(std::min(v, kMaxBuffer) * 2, 4608);
      return Ok();
    case SO_RCVBUF: case SO_RCVBUFFORCE:
      e.rcvbuf = std::max(std::min(v, kMaxBuffer) * 2, 2304);
      return Ok();
    case SO_REUSEADDR: case SO_REUSEPORT: case SO_KEEPALIVE:
    case SO_BROADCAST: case SO_OOBINLINE: case SO_DONTROUTE:
    case SO_PASSSEC: case SO_TIMESTAMP: case SO_PRIORITY:
    case SO_RCVLOWAT: case SO_SNDLOWAT:
      e.other_options[name] = IntValue(name == SO_PRIORITY ? v : v != 0);
      return Ok();
  }
  return Err(ENOPROTOOPT);
}

}  // namespace moat
