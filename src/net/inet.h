// AF_INET and AF_INET6 sockets on the sandbox's loopback network. With
// --network=none (the default) the sandbox has only a loopback interface,
// as a new Linux network namespace does: TCP and UDP between processes of
// the sandbox work on 127.0.0.0/8 and ::1, and every other destination is
// unreachable. Data moves as between AF_UNIX sockets, so these are
// UnixSockets with Internet names, ports and options.
#pragma once

#include <netinet/in.h>

#include <map>

#include "net/unix.h"

namespace moat {

// An Internet address kept in IPv6 form: an IPv4 address a.b.c.d is the
// mapped address ::ffff:a.b.c.d.
struct InetAddress {
  in6_addr addr = {};
  uint16_t port = 0;  // host byte order

  bool IsV4() const;
  bool IsAny() const;       // 0.0.0.0 or ::
  bool IsLoopback() const;  // 127.0.0.0/8 or ::1
};

class InetSocket : public UnixSocket {
 public:
  InetSocket(std::shared_ptr<UnixEndpoint> endpoint, int family,
             int protocol);
  ~InetSocket() override;

  int family() const { return family_; }

  Status Bind(Task& t, const std::string& addr) override;
  Status Listen(int backlog) override;
  Status Connect(Task& t, const std::string& addr, bool nonblock) override;
  Result<size_t> Send(Task& t, const char* data, size_t len,
                      UnixSendRequest& req) override;
  Result<size_t> Recv(Task& t, char* buf, size_t len, int flags,
                      UnixRecvResult* result) override;
  std::string SockName() const override;
  Result<std::string> PeerName() const override;
  Result<std::vector<char>> GetOption(int level, int name) override;
  Status SetOption(int level, int name,
                   const std::vector<char>& value) override;

 protected:
  Result<std::shared_ptr<UnixEndpoint>> Lookup(
      Task& t, const std::string& addr) override;
  std::shared_ptr<UnixSocket> Accepted(
      std::shared_ptr<UnixEndpoint> server) override;

 private:
  // Takes a name: `want`, or a free port when its port is 0.
  Status TakeName(InetAddress want);
  // Binds to an ephemeral port of the wildcard address if not bound.
  Status AutoBind();
  // The raw sockaddr of `a` in this socket's family.
  std::string Format(const InetAddress& a) const;
  Result<InetAddress> Parse(const std::string& raw, bool for_bind) const;

  int family_;
  int protocol_;
  bool bound_ = false;
  InetAddress local_;
  std::optional<InetAddress> udp_peer_;  // a connected UDP socket's peer
  bool v6only_ = false;
  bool reuse_address_ = false;
  bool reuse_port_ = false;
  bool nodelay_ = false;
  // Options of levels other than SOL_SOCKET that are stored and reported
  // but change nothing here.
  std::map<std::pair<int, int>, std::vector<char>> ip_options_;
};

// socket(2) for AF_INET and AF_INET6; `type` is without flags.
Result<std::shared_ptr<UnixSocket>> NewInetSocket(Task& t, int family,
                                                  int type, int protocol);

}  // namespace moat
