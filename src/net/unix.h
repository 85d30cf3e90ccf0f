// AF_UNIX sockets: stream, datagram and seqpacket, all inside the kernel.
#pragma once

#include <sys/socket.h>

#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "vfs/inode.h"

namespace moat {

class Task;
struct UnixEndpoint;

// One datagram, or one write's worth of a stream, in a receive queue.
struct UnixMessage {
  std::string data;
  size_t consumed = 0;  // stream bytes already read
  std::vector<FilePtr> fds;  // SCM_RIGHTS
  std::optional<struct ucred> creds;  // SCM_CREDENTIALS
  std::string from;  // the sender's address, for datagrams
  std::weak_ptr<UnixEndpoint> sender;  // woken when space frees up
};

// The extras of a sendmsg call: destination, files and credentials.
struct UnixSendRequest {
  std::optional<std::string> to;  // a raw sockaddr_un, for datagrams
  std::vector<FilePtr> fds;
  std::optional<struct ucred> creds;
};

// The extras that recvmsg returns with the data.
struct UnixRecvResult {
  size_t length = 0;       // bytes copied
  size_t full_length = 0;  // datagram size before truncation
  std::string from;        // raw sockaddr_un, empty when unbound
  std::vector<FilePtr> fds;
  std::optional<struct ucred> creds;
  int msg_flags = 0;
};

// The state of one socket, shared by its file, its peer and a listener's
// accept queue.
struct UnixEndpoint : std::enable_shared_from_this<UnixEndpoint> {
  explicit UnixEndpoint(int type) : type(type) {}
  void Close();
  bool connection_oriented() const { return type != SOCK_DGRAM; }

  int type;
  std::string address;  // raw sockaddr_un as getsockname returns it
  std::optional<std::pair<uint64_t, uint64_t>> path_key;  // (dev, ino)
  std::shared_ptr<UnixEndpoint> peer;
  bool connected = false;  // ever connected (stream and seqpacket)
  bool listening = false;
  int backlog = 0;
  std::deque<std::shared_ptr<UnixEndpoint>> accept_queue;
  std::deque<UnixMessage> messages;
  size_t queued_bytes = 0;
  int shutdown = 0;  // kRcvShutdown | kSendShutdown
  bool closed = false;
  int error = 0;  // SO_ERROR
  bool passcred = false;
  int sndbuf = 212992, rcvbuf = 212992;
  struct ucred creds = {};       // of the task that made the socket
  // SO_PEERCRED; the overflow ids until connected, as Linux reports.
  struct ucred peer_creds = {0, 65534, 65534};
  // Options that are stored and reported but change nothing here.
  std::map<int, std::vector<char>> other_options;
  WaitQueue queue;
};

// An AF_UNIX socket, and the base of loopback AF_INET and AF_INET6 sockets
// (net/inet.h), which move data the same way and differ in their names.
class UnixSocket : public FileDescription {
 public:
  UnixSocket(std::shared_ptr<UnixEndpoint> endpoint);
  ~UnixSocket() override;

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
  WaitQueue* Queue() override { return &ep_->queue; }
  std::string Name() override;

  // The socket calls. `addr` is a raw sockaddr_un of any length; blocking
  // calls wait unless `nonblock`, and return ERESTARTSYS (512) when a
  // signal interrupts them.
  virtual Status Bind(Task& t, const std::string& addr);
  virtual Status Listen(int backlog);
  virtual Status Connect(Task& t, const std::string& addr, bool nonblock);
  Result<FilePtr> Accept(Task& t, bool nonblock);
  // One non-blocking step: EAGAIN when the peer has no room. A datagram
  // or seqpacket message longer than the send buffer fails with EMSGSIZE
  // before `data` is read, so callers need not copy such a message in.
  virtual Result<size_t> Send(Task& t, const char* data, size_t len,
                              UnixSendRequest& req);
  // One non-blocking step: EAGAIN when nothing is queued.
  virtual Result<size_t> Recv(Task& t, char* buf, size_t len, int flags,
                              UnixRecvResult* result);
  Status Shutdown(int how);
  virtual std::string SockName() const;
  virtual Result<std::string> PeerName() const;
  virtual Result<std::vector<char>> GetOption(int level, int name);
  virtual Status SetOption(int level, int name,
                           const std::vector<char>& value);

  UnixEndpoint& endpoint() { return *ep_; }

 protected:
  // The bound endpoint named by `addr`, for connect and sendto.
  virtual Result<std::shared_ptr<UnixEndpoint>> Lookup(
      Task& t, const std::string& addr);
  // The file of a connection taken from the accept queue.
  virtual std::shared_ptr<UnixSocket> Accepted(
      std::shared_ptr<UnixEndpoint> server);
  // Connects a stream or seqpacket socket to the listener `target`; the
  // accepted end's own name is `server_name`.
  Status ConnectTo(Task& t, const std::shared_ptr<UnixEndpoint>& target,
                   const std::string& addr, const std::string& server_name,
                   bool nonblock);

  Result<size_t> SendStream(Task& t, const char* data, size_t len,
                            UnixSendRequest& req);
  Result<size_t> SendDatagram(Task& t, const char* data, size_t len,
                              UnixSendRequest& req);
  Result<size_t> RecvStream(char* buf, size_t len, int flags,
                            UnixRecvResult* result);
  Result<size_t> RecvDatagram(char* buf, size_t len, int flags,
                              UnixRecvResult* result);
  void Enqueue(UnixEndpoint& to, UnixMessage msg);

  std::shared_ptr<UnixEndpoint> ep_;
};

// Waits until `ready` holds, on `q`. False when a signal came first.
bool WaitForSocket(Task& t, WaitQueue& q, uint32_t events,
                   const std::function<bool()>& ready);

inline constexpr int kRcvShutdown = 1;
inline constexpr int kSendShutdown = 2;
// ERESTARTSYS as a Result error, for the blocking socket calls.
inline constexpr int kRestartSysErrno = 512;

// socket(2) and socketpair(2) for AF_UNIX; `type` is without flags.
Result<std::shared_ptr<UnixSocket>> NewUnixSocket(Task& t, int type);
Result<std::pair<FilePtr, FilePtr>> NewUnixSocketPair(Task& t, int type);

}  // namespace moat
