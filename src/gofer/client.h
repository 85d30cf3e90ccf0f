// The kernel's end of the gofer connection: synchronous calls over one
// socket, one at a time.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "gofer/wire.h"
#include "util/result.h"

namespace moat::gofer {

// A reply: its fields, and the descriptor that came with it, owned.
class Reply {
 public:
  Reply() = default;
  Reply(std::vector<char> bytes, int fd) : bytes_(std::move(bytes)), fd_(fd) {}
  Reply(Reply&& o) noexcept : bytes_(std::move(o.bytes_)), fd_(o.fd_) {
    o.fd_ = -1;
  }
  Reply& operator=(Reply&&) = delete;
  ~Reply();

  Decoder fields() const { return Decoder(bytes_.data(), bytes_.size()); }
  // Hands over the descriptor; -1 when the reply had none.
  int TakeFd() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  std::vector<char> bytes_;
  int fd_ = -1;
};

class Client {
 public:
  explicit Client(int sock) : sock_(sock) {}
  ~Client();

  // Sends `request` and returns the reply's fields, or the errno that the
  // gofer returned. A lost connection is EIO.
  Result<Reply> Call(const Encoder& request);
  // Sends a request that has no reply.
  void Send(const Encoder& request);
  // Ends the connection, which makes the gofer exit. Later calls fail
  // with EIO.
  void Disconnect();

 private:
  std::mutex mu_;
  int sock_;
  bool broken_ = false;
};

}  // namespace moat::gofer
