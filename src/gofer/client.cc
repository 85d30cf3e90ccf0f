#include "gofer/client.h"

#include <sys/socket.h>
#include <unistd.h>

#include "util/log.h"

namespace moat::gofer {

Reply::~Reply() {
  if (fd_ >= 0) close(fd_);
}

Client::~Client() { close(sock_); }

Result<Reply> Client::Call(const Encoder& request) {
  std::lock_guard lock(mu_);
  if (broken_) return Err(EIO);
  int error = SendPacket(sock_, request.bytes());
  std::vector<char> packet;
  int fd = -1;
  if (error == 0) error = RecvPacket(sock_, &packet, &fd);
  if (error != 0) {
    spdlog::error("gofer connection lost: {}", strerror(error));
    broken_ = true;
    return Err(EIO);
  }
  Decoder head(packet.data(), packet.size());
  uint32_t status;
  if (!head.U32(&status)) {
    if (fd >= 0) close(fd);
    spdlog::error("gofer sent a reply of {} bytes", packet.size());
    return Err(EIO);
  }
  if (status != 0) {
    if (fd >= 0) close(fd);
    // Only an errno value crosses the trust boundary as an error.
    return Err(status < 4096 ? static_cast<int>(status) : EIO);
  }
  packet.erase(packet.begin(), packet.begin() + 4);
  return Reply(std::move(packet), fd);
}

void Client::Send(const Encoder& request) {
  std::lock_guard lock(mu_);
  if (broken_) return;
  if (int error = SendPacket(sock_, request.bytes()); error != 0) {
    spdlog::error("gofer connection lost: {}", strerror(error));
    broken_ = true;
  }
}

void Client::Disconnect() {
  std::lock_guard lock(mu_);
  shutdown(sock_, SHUT_RDWR);
  broken_ = true;
}

}  // namespace moat::gofer
