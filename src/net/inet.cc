// Loopback AF_INET and AF_INET6 sockets: names, ports and options. Linux's
// behaviour here is in net/ipv4/af_inet.c, inet_connection_sock.c (port
// conflicts), tcp.c and udp.c, and net/ipv6/af_inet6.c.
#include "net/inet.h"

#include <arpa/inet.h>
#include <linux/capability.h>
#include <netinet/tcp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernel/task.h"

namespace moat {
namespace {

// Linux's default net.ipv4.ip_local_port_range.
constexpr uint16_t kEphemeralFirst = 32768, kEphemeralLast = 60999;
// Largest UDP payloads: 65535 less the IP and UDP headers.
constexpr size_t kMaxUdpV4 = 65507, kMaxUdpV6 = 65527;
// TCP_MAXSEG on loopback (MTU 65536 less the headers and timestamps), and
// before a connection exists.
constexpr int kLoopbackMss = 65483, kDefaultMss = 536;
// The size of struct tcp_info that Linux 6.x copies out.
constexpr size_t kTcpInfoSize = 232;
// tcp_info.tcpi_state values (include/net/tcp_states.h).
constexpr uint8_t kTcpEstablished = 1, kTcpClose = 7, kTcpCloseWait = 8,
                  kTcpListen = 10;

// Sockets holding a name, by protocol and port.
std::map<std::pair<int, uint16_t>, std::vector<InetSocket*>>& Bound() {
  static auto* bound =
      new std::map<std::pair<int, uint16_t>, std::vector<InetSocket*>>;
  return *bound;
}

InetAddress V4(uint32_t network_order_addr, uint16_t port) {
  InetAddress a;
  a.addr.s6_addr[10] = a.addr.s6_addr[11] = 0xff;
  memcpy(&a.addr.s6_addr[12], &network_order_addr, 4);
  a.port = port;
  return a;
}

bool SameAddress(const InetAddress& a, const InetAddress& b) {
  return memcmp(&a.addr, &b.addr, sizeof a.addr) == 0;
}

// A destination of 0.0.0.0 or :: means this host (Linux
// ip_route_connect, ip6_datagram_connect).
InetAddress Destination(InetAddress d) {
  if (!d.IsAny()) return d;
  if (d.IsV4()) return V4(htonl(INADDR_LOOPBACK), d.port);
  d.addr = in6addr_loopback;
  return d;
}

// The address a packet from a socket bound to `local` carries to `to`.
InetAddress SourceFor(const InetAddress& local, const InetAddress& to) {
  if (!local.IsAny()) return local;
  InetAddress from = to.IsV4() ? V4(htonl(INADDR_LOOPBACK), 0)
                               : InetAddress{in6addr_loopback, 0};
  from.port = local.port;
  return from;
}

std::vector<char> IntValue(int v) {
  std::vector<char> out(sizeof(int));
  memcpy(out.data(), &v, sizeof(int));
  return out;
}

int IntOf(const std::vector<char>& value) {
  int v = 0;
  memcpy(&v, value.data(), std::min(value.size(), sizeof v));
  return v;
}

// Reads a sockaddr_in or sockaddr_in6, whatever the socket's family.
Result<InetAddress> ParseAny(const std::string& raw) {
  sa_family_t family = AF_UNSPEC;
  if (raw.size() >= sizeof family) memcpy(&family, raw.data(), sizeof family);
  if (family == AF_INET && raw.size() >= sizeof(sockaddr_in)) {
    sockaddr_in in;
    memcpy(&in, raw.data(), sizeof in);
    return V4(in.sin_addr.s_addr, ntohs(in.sin_port));
  }
  if (family == AF_INET6 && raw.size() >= sizeof(sockaddr_in6)) {
    sockaddr_in6 in6;
    memcpy(&in6, raw.data(), sizeof in6);
    InetAddress a;
    a.addr = in6.sin6_addr;
    a.port = ntohs(in6.sin6_port);
    return a;
  }
  return Err(EINVAL);
}

std::string FormatFor(int family, const InetAddress& a) {
  if (family == AF_INET) {
    sockaddr_in in = {};
    in.sin_family = AF_INET;
    in.sin_port = htons(a.port);
    memcpy(&in.sin_addr, &a.addr.s6_addr[12], 4);
    return std::string(reinterpret_cast<char*>(&in), sizeof in);
  }
  sockaddr_in6 in6 = {};
  in6.sin6_family = AF_INET6;
  in6.sin6_port = htons(a.port);
  in6.sin6_addr = a.addr;
  return std::string(reinterpret_cast<char*>(&in6), sizeof in6);
}

}  // namespace

bool InetAddress::IsV4() const {
  static const uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff,
                                      0xff};
  return memcmp(addr.s6_addr, kMapped, 12) == 0;
}

bool InetAddress::IsAny() const {
  if (IsV4()) return addr.s6_addr32[3] == 0;
  return IN6_IS_ADDR_UNSPECIFIED(&addr);
}

bool InetAddress::IsLoopback() const {
  if (IsV4()) return addr.s6_addr[12] == 127;
  return IN6_IS_ADDR_LOOPBACK(&addr);
}

InetSocket::InetSocket(std::shared_ptr<UnixEndpoint> endpoint, int family,
                       int protocol)
    : UnixSocket(std::move(endpoint)), family_(family), protocol_(protocol) {
  if (family_ == AF_INET) local_ = V4(0, 0);
}

InetSocket::~InetSocket() {
  if (!bound_) return;
  auto it = Bound().find({protocol_, local_.port});
  if (it == Bound().end()) return;
  std::erase(it->second, this);
  if (it->second.empty()) Bound().erase(it);
}

std::string InetSocket::Format(const InetAddress& a) const {
  return FormatFor(family_, a);
}

Result<InetAddress> InetSocket::Parse(const std::string& raw,
                                      bool for_bind) const {
  sa_family_t family = AF_UNSPEC;
  if (raw.size() >= sizeof family) memcpy(&family, raw.data(), sizeof family);
  if (family_ == AF_INET) {
    if (raw.size() < sizeof(sockaddr_in)) return Err(EINVAL);
    sockaddr_in in;
    memcpy(&in, raw.data(), sizeof in);
    InetAddress a = V4(in.sin_addr.s_addr, ntohs(in.sin_port));
    // Linux accepts AF_UNSPEC for binding INADDR_ANY, for old programs.
    if (family == AF_INET || (for_bind && family == AF_UNSPEC && a.IsAny()))
      return a;
    return Err(EAFNOSUPPORT);
  }
  // An IPv6 socket reaches IPv4 peers through AF_INET addresses too.
  if (family == AF_INET && !for_bind) {
    if (v6only_) return Err(ENETUNREACH);
    return ParseAny(raw);
  }
  if (raw.size() < 24) return Err(EINVAL);  // SIN6_LEN_RFC2133
  if (family != AF_INET6) return Err(EAFNOSUPPORT);
  std::string full = raw.substr(0, sizeof(sockaddr_in6));
  full.resize(sizeof(sockaddr_in6), '\0');
  return ParseAny(full);
}

namespace {

// Whether a socket bound to `bound` gets packets sent to `dest`.
bool Receives(const InetSocket& s, const InetAddress& bound,
              bool v6only, const InetAddress& dest) {
  if (SameAddress(bound, dest)) return true;
  if (!bound.IsAny()) return false;
  if (s.family() == AF_INET) return dest.IsV4();
  return !dest.IsV4() || !v6only;
}

}  // namespace

Status InetSocket::TakeName(InetAddress want) {
  auto conflicts = [&](uint16_t port) {
    auto it = Bound().find({protocol_, port});
    if (it == Bound().end()) return false;
    for (InetSocket* other : it->second) {
      InetAddress theirs = other->local_;
      bool overlap = SameAddress(theirs, want) ||
                     (theirs.IsAny() && Receives(*other, theirs,
                                                 other->v6only_, want)) ||
                     (want.IsAny() && Receives(*this, want, v6only_, theirs));
      if (!overlap) continue;
      if (reuse_port_ && other->reuse_port_) continue;
      if (reuse_address_ && other->reuse_address_ &&
          !other->endpoint().listening)
        continue;
      return true;
    }
    return false;
  };
  if (want.port == 0) {
    static uint16_t next = kEphemeralFirst;
    int span = kEphemeralLast - kEphemeralFirst + 1;
    int tries = 0;
    for (; tries < span; tries++) {
      uint16_t port = next;
      next = next == kEphemeralLast ? kEphemeralFirst : next + 1;
      if (!conflicts(port)) {
        want.port = port;
        break;
      }
    }
    if (tries == span) return Err(EADDRINUSE);
  } else if (conflicts(want.port)) {
    return Err(EADDRINUSE);
  }
  local_ = want;
  bound_ = true;
  Bound()[{protocol_, want.port}].push_back(this);
  endpoint().address = Format(local_);
  return Ok();
}

Status InetSocket::AutoBind() {
  if (bound_) return Ok();
  InetAddress any = family_ == AF_INET ? V4(0, 0) : InetAddress{};
  return TakeName(any);
}

Status InetSocket::Bind(Task& t, const std::string& raw) {
  InetAddress want = TRY(Parse(raw, true));
  if (bound_) return Err(EINVAL);
  if (!want.IsAny() && !want.IsLoopback()) return Err(EADDRNOTAVAIL);
  if (want.port != 0 && want.port < 1024 &&
      !t.creds.HasCapability(CAP_NET_BIND_SERVICE))
    return Err(EACCES);
  return TakeName(want);
}

Status InetSocket::Listen(int backlog) {
  if (protocol_ != IPPROTO_TCP) return Err(EOPNOTSUPP);
  if (endpoint().connected) return Err(EINVAL);
  TRY_STATUS(AutoBind());
  return UnixSocket::Listen(backlog);
}

Result<std::shared_ptr<UnixEndpoint>> InetSocket::Lookup(
    Task&, const std::string& raw) {
  InetAddress dest = Destination(TRY(Parse(raw, false)));
  if (!dest.IsLoopback()) return Err(ENETUNREACH);
  auto it = Bound().find({protocol_, dest.port});
  if (it == Bound().end()) return Err(ECONNREFUSED);
  // An exact address wins over a wildcard (Linux's compute_score).
  InetSocket* best = nullptr;
  for (InetSocket* s : it->second) {
    if (protocol_ == IPPROTO_TCP && !s->endpoint().listening) continue;
    if (!Receives(*s, s->local_, s->v6only_, dest)) continue;
    if (!best || !s->local_.IsAny()) best = s;
  }
  if (!best) return Err(ECONNREFUSED);
  return best->endpoint().shared_from_this();
}

Status InetSocket::Connect(Task& t, const std::string& raw, bool nonblock) {
  UnixEndpoint& e = endpoint();
  sa_family_t family = AF_UNSPEC;
  if (raw.size() >= sizeof family) memcpy(&family, raw.data(), sizeof family);
  if (family == AF_UNSPEC && raw.size() >= sizeof family) {
    // Dissolves a UDP association (Linux udp_disconnect).
    if (protocol_ == IPPROTO_UDP) udp_peer_.reset();
    return Ok();
  }
  InetAddress dest = Destination(TRY(Parse(raw, false)));
  if (!dest.IsLoopback()) return Err(ENETUNREACH);
  if (protocol_ == IPPROTO_UDP) {
    TRY_STATUS(AutoBind());
    udp_peer_ = dest;
    return Ok();
  }

  if (e.listening) return Err(EINVAL);
  if (e.connected) return Err(EISCONN);
  auto target = TRY(Lookup(t, raw));
  TRY_STATUS(AutoBind());
  // The connection leaves from the loopback address, whatever was bound.
  e.address = Format(SourceFor(local_, dest));
  auto* listener = static_cast<InetSocket*>(nullptr);
  for (InetSocket* s : Bound()[{protocol_, dest.port}])
    if (&s->endpoint() == target.get()) listener = s;
  int server_family = listener ? listener->family_ : family_;
  TRY_STATUS(ConnectTo(t, target, raw, FormatFor(server_family, dest),
                       nonblock));
  // A non-blocking connect reports EINPROGRESS, as Linux's does on
  // loopback, although the connection is already made.
  if (nonblock) return Err(EINPROGRESS);
  return Ok();
}

Result<size_t> InetSocket::Send(Task& t, const char* data, size_t len,
                                UnixSendRequest& req) {
  // Linux's __sock_cmsg_send ignores SCM_RIGHTS and SCM_CREDENTIALS on IP
  // sockets: nothing but bytes travels.
  req.fds.clear();
  req.creds.reset();
  if (protocol_ == IPPROTO_TCP) {
    req.to.reset();  // TCP ignores a destination (Linux tcp_sendmsg)
    return UnixSocket::Send(t, data, len, req);
  }
  UnixEndpoint& e = endpoint();
  if (e.error) {  // an earlier datagram found no receiver (sock_error)
    int error = e.error;
    e.error = 0;
    return Err(error);
  }
  if (e.shutdown & kSendShutdown) return Err(EPIPE);
  InetAddress dest;
  if (req.to) {
    dest = Destination(TRY(Parse(*req.to, false)));
  } else if (udp_peer_) {
    dest = *udp_peer_;
  } else {
    return Err(EDESTADDRREQ);
  }
  if (!dest.IsLoopback()) return Err(ENETUNREACH);
  if (len > (family_ == AF_INET ? kMaxUdpV4 : kMaxUdpV6)) return Err(EMSGSIZE);
  TRY_STATUS(AutoBind());
  InetAddress from = SourceFor(local_, dest);
  // A datagram that no socket takes is dropped, as on a network. A
  // connected sender learns of it from its next call, as from an ICMP
  // port unreachable.
  InetSocket* target = nullptr;
  auto it = Bound().find({IPPROTO_UDP, dest.port});
  if (it != Bound().end()) {
    for (InetSocket* s : it->second) {
      if (!Receives(*s, s->local_, s->v6only_, dest)) continue;
      // A connected socket takes datagrams only from its peer.
      if (s->udp_peer_ && (!SameAddress(*s->udp_peer_, from) ||
                           s->udp_peer_->port != from.port))
        continue;
      if (!target || !s->local_.IsAny()) target = s;
    }
  }
  if (!target) {
    if (!req.to && udp_peer_) e.error = ECONNREFUSED;
    return len;
  }
  UnixEndpoint& to = target->endpoint();
  bool room = to.queued_bytes == 0 || to.queued_bytes + len <= size_t(to.rcvbuf);
  if (!room || (to.shutdown & kRcvShutdown)) return len;  // dropped
  UnixMessage msg;
  msg.data.assign(data, len);
  msg.from = FormatFor(AF_INET6, from);
  Enqueue(to, std::move(msg));
  return len;
}

Result<size_t> InetSocket::Recv(Task& t, char* buf, size_t len, int flags,
                                UnixRecvResult* result) {
  size_t n = TRY(UnixSocket::Recv(t, buf, len, flags, result));
  if (!result->from.empty()) {
    auto from = ParseAny(result->from);
    result->from = from.ok() ? Format(*from) : std::string();
  }
  result->creds.reset();
  return n;
}

std::string InetSocket::SockName() const {
  if (!ep_->address.empty()) return ep_->address;
  return Format(local_);
}

Result<std::string> InetSocket::PeerName() const {
  if (protocol_ == IPPROTO_UDP) {
    if (!udp_peer_) return Err(ENOTCONN);
    return Format(*udp_peer_);
  }
  auto raw = TRY(UnixSocket::PeerName());
  return Format(TRY(ParseAny(raw)));
}

std::shared_ptr<UnixSocket> InetSocket::Accepted(
    std::shared_ptr<UnixEndpoint> server) {
  auto s = std::make_shared<InetSocket>(server, family_, protocol_);
  if (auto local = ParseAny(server->address); local.ok()) s->local_ = *local;
  return s;
}

Result<std::vector<char>> InetSocket::GetOption(int level, int name) {
  UnixEndpoint& e = endpoint();
  auto stored = ip_options_.find({level, name});
  if (level == SOL_SOCKET) {
    switch (name) {
      case SO_DOMAIN: return IntValue(family_);
      case SO_PROTOCOL: return IntValue(protocol_);
      case SO_REUSEADDR: return IntValue(reuse_address_);
      case SO_REUSEPORT: return IntValue(reuse_port_);
      case SO_PASSCRED: return IntValue(0);
      case SO_PEERCRED: {
        // No credentials travel over IP: pid 0 and the overflow ids.
        struct ucred none = {0, 65534, 65534};
        std::vector<char> out(sizeof none);
        memcpy(out.data(), &none, sizeof none);
        return out;
      }
    }
    return UnixSocket::GetOption(level, name);
  }
  if (level == IPPROTO_TCP && protocol_ == IPPROTO_TCP) {
    switch (name) {
      case TCP_NODELAY: return IntValue(nodelay_);
      case TCP_MAXSEG: return IntValue(e.connected ? kLoopbackMss
                                                   : kDefaultMss);
      case TCP_INFO: {
        std::vector<char> info(kTcpInfoSize, 0);
        uint8_t state = e.listening                         ? kTcpListen
                        : !e.connected                      ? kTcpClose
                        : (e.shutdown & kRcvShutdown) != 0  ? kTcpCloseWait
                                                            : kTcpEstablished;
        info[0] = static_cast<char>(state);
        return info;
      }
      case TCP_CONGESTION: {
        if (stored != ip_options_.end()) return stored->second;
        std::vector<char> out(16, 0);
        memcpy(out.data(), "cubic", 5);
        return out;
      }
    }
    if (stored != ip_options_.end()) return stored->second;
    switch (name) {
      case TCP_KEEPIDLE: return IntValue(7200);
      case TCP_KEEPINTVL: return IntValue(75);
      case TCP_KEEPCNT: return IntValue(9);
      case TCP_SYNCNT: return IntValue(6);
      case TCP_QUICKACK: return IntValue(1);
      case TCP_CORK: case TCP_DEFER_ACCEPT: case TCP_USER_TIMEOUT:
      case TCP_FASTOPEN: case TCP_WINDOW_CLAMP: case TCP_LINGER2:
        return IntValue(0);
    }
    return Err(ENOPROTOOPT);
  }
  if (level == IPPROTO_IP) {
    if (stored != ip_options_.end()) return stored->second;
    switch (name) {
      case IP_TTL: return IntValue(64);
      case IP_MULTICAST_TTL: case IP_MULTICAST_LOOP: return IntValue(1);
      case IP_MTU_DISCOVER: return IntValue(IP_PMTUDISC_WANT);
      case IP_TOS: case IP_RECVERR: case IP_PKTINFO: case IP_RECVTOS:
      case IP_RECVTTL: case IP_FREEBIND: case IP_TRANSPARENT:
        return IntValue(0);
    }
    return Err(ENOPROTOOPT);
  }
  if (level == IPPROTO_IPV6 && family_ == AF_INET6) {
    if (name == IPV6_V6ONLY) return IntValue(v6only_);
    if (stored != ip_options_.end()) return stored->second;
    switch (name) {
      case IPV6_UNICAST_HOPS: return IntValue(64);
      case IPV6_MULTICAST_HOPS: case IPV6_MULTICAST_LOOP: return IntValue(1);
      case IPV6_RECVPKTINFO: case IPV6_TCLASS: case IPV6_RECVERR:
        return IntValue(0);
    }
    return Err(ENOPROTOOPT);
  }
  if (level == IPPROTO_UDP && protocol_ == IPPROTO_UDP) {
    if (stored != ip_options_.end()) return stored->second;
    return Err(ENOPROTOOPT);
  }
  return Err(EOPNOTSUPP);
}

Status InetSocket::SetOption(int level, int name,
                             const std::vector<char>& value) {
  if (level == SOL_SOCKET) {
    if (name == SO_REUSEADDR || name == SO_REUSEPORT) {
      if (value.size() < sizeof(int)) return Err(EINVAL);
      (name == SO_REUSEADDR ? reuse_address_ : reuse_port_) = IntOf(value);
      return Ok();
    }
    if (name == SO_PASSCRED) return Ok();  // nothing to pass over IP
    return UnixSocket::SetOption(level, name, value);
  }
  bool known_level =
      (level == IPPROTO_TCP && protocol_ == IPPROTO_TCP) ||
      level == IPPROTO_IP ||
      (level == IPPROTO_IPV6 && family_ == AF_INET6) ||
      (level == IPPROTO_UDP && protocol_ == IPPROTO_UDP);
  if (!known_level) return Err(EOPNOTSUPP);
  if (level == IPPROTO_TCP && name == TCP_CONGESTION) {
    std::string algorithm(value.begin(), value.end());
    algorithm.resize(strnlen(algorithm.c_str(), algorithm.size()));
    if (algorithm != "cubic" && algorithm != "reno") return Err(ENOENT);
    std::vector<char> out(16, 0);
    memcpy(out.data(), algorithm.data(), algorithm.size());
    ip_options_[{level, name}] = out;
    return Ok();
  }
  if (value.size() < sizeof(int)) return Err(EINVAL);
  int v = IntOf(value);
  if (level == IPPROTO_TCP && name == TCP_NODELAY) {
    nodelay_ = v != 0;
    return Ok();
  }
  if (level == IPPROTO_IPV6 && name == IPV6_V6ONLY) {
    if (bound_) return Err(EINVAL);
    v6only_ = v != 0;
    return Ok();
  }
  ip_options_[{level, name}] = IntValue(v);
  return Ok();
}

Result<std::shared_ptr<UnixSocket>> NewInetSocket(Task& t, int family,
                                                  int type, int protocol) {
  int expected;
  switch (type) {
    case SOCK_STREAM: expected = IPPROTO_TCP; break;
    case SOCK_DGRAM:
      // Ping sockets need net.ipv4.ping_group_range, empty by default.
      if (protocol == IPPROTO_ICMP || protocol == IPPROTO_ICMPV6)
        return Err(EACCES);
      expected = IPPROTO_UDP;
      break;
    case SOCK_RAW:
      return Err(t.creds.HasCapability(CAP_NET_RAW) ? EPROTONOSUPPORT
                                                     : EPERM);
    default:
      return Err(ESOCKTNOSUPPORT);
  }
  if (protocol != 0 && protocol != expected) return Err(EPROTONOSUPPORT);
  auto ep = std::make_shared<UnixEndpoint>(type);
  ep->creds = {t.tg().tgid, t.creds.euid, t.creds.egid};
  auto s = std::make_shared<InetSocket>(ep, family, expected);
  s->flags = O_RDWR;
  return std::shared_ptr<UnixSocket>(s);
}

}  // namespace moat
