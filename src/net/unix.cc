// Data transfer, readiness and closing of AF_UNIX sockets. Names, connecting
// and options are in unix_names.cc.
#include "net/unix.h"

#include <fmt/format.h>
#include <sys/ioctl.h>

#include <cstring>

#include "fs/anon_inode.h"
#include "kernel/task.h"
#include "net/unix_gc.h"

namespace moat {
namespace {

// Linux's default net.unix.max_dgram_qlen.
constexpr size_t kMaxDatagramQueue = 10;

uint32_t AllEvents() {
  return kEventIn | kEventOut | kEventHup | kEventRdHup | kEventErr;
}

// Whether `to` has room for `len` more bytes. Linux charges a sender's
// buffer; this charges the receiver's queue, which bounds memory alike.
bool SameCreds(const std::optional<struct ucred>& a,
               const std::optional<struct ucred>& b) {
  if (!a || !b) return a.has_value() == b.has_value();
  return a->pid == b->pid && a->uid == b->uid && a->gid == b->gid;
}

bool HasRoom(const UnixEndpoint& to, size_t len) {
  if (to.type == SOCK_DGRAM && to.messages.size() >= kMaxDatagramQueue)
    return false;
  return to.queued_bytes == 0 || to.queued_bytes + len <= size_t(to.rcvbuf);
}

}  // namespace

void UnixEndpoint::Close() {
  if (closed) return;
  closed = true;
  for (auto& pending : accept_queue) pending->Close();
  accept_queue.clear();
  if (peer && connection_oriented()) {
    // The peer reads EOF, or ECONNRESET if we dropped unread data (Linux
    // net/unix/af_unix.c:unix_release_sock).
    peer->shutdown = kRcvShutdown | kSendShutdown;
    if (!messages.empty()) peer->error = ECONNRESET;
    peer->queue.Notify(AllEvents());
  }
  peer.reset();
  messages.clear();  // drops the files in flight
  queued_bytes = 0;
  queue.Notify(AllEvents());
}

UnixSocket::UnixSocket(std::shared_ptr<UnixEndpoint> endpoint)
    : ep_(std::move(endpoint)) {
  inode = NewAnonInode(S_IFSOCK | 0777);
  RegisterUnixSocket(this);
}

UnixSocket::~UnixSocket() {
  // Unregistered first: closing drops the files in flight, which may close
  // other sockets, and this socket's queue is half-gone meanwhile.
  UnregisterUnixSocket(this);
  ep_->Close();
  ScheduleUnixCollection(std::chrono::steady_clock::duration::zero());
}

std::string UnixSocket::Name() {
  return fmt::format("socket:[{}]", inode->Attr()->ino);
}

Result<size_t> UnixSocket::Read(Task& t, void* buf, size_t len) {
  UnixRecvResult result;
  return Recv(t, static_cast<char*>(buf), len, 0, &result);
}

Result<size_t> UnixSocket::Write(Task& t, const void* buf, size_t len) {
  UnixSendRequest req;
  return Send(t, static_cast<const char*>(buf), len, req);
}

Result<int64_t> UnixSocket::Ioctl(Task& t, uint64_t cmd, uint64_t arg) {
  if (cmd == FIONREAD || cmd == TIOCOUTQ) {
    int n = 0;
    if (cmd == FIONREAD && ep_->type == SOCK_STREAM)
      n = int(ep_->queued_bytes);
    else if (cmd == FIONREAD && !ep_->messages.empty())
      n = int(ep_->messages.front().data.size());
    else if (cmd == TIOCOUTQ && ep_->peer)
      n = int(ep_->peer->queued_bytes);
    TRY_STATUS(t.mm().Write<int>(arg, n));
    return 0;
  }
  return Err(ENOTTY);
}

// Follows Linux net/unix/af_unix.c:unix_poll and unix_dgram_poll.
uint32_t UnixSocket::Readiness(uint32_t mask) {
  UnixEndpoint& e = *ep_;
  uint32_t ready = 0;
  if (e.error) ready |= kEventErr;
  if (e.shutdown & kRcvShutdown) ready |= kEventRdHup | kEventIn;
  if (e.shutdown == (kRcvShutdown | kSendShutdown)) ready |= kEventHup;
  if (!e.messages.empty() || !e.accept_queue.empty()) ready |= kEventIn;
  if (e.listening) return ready & (mask | kEventErr | kEventHup);
  if (e.connection_oriented() && !e.peer && !e.connected) ready |= kEventHup;
  bool writable;
  if (e.connection_oriented())
    writable = !e.peer || HasRoom(*e.peer, 1);
  else
    writable = !e.peer || e.peer->closed || HasRoom(*e.peer, 1);
  if (writable) ready |= kEventOut;
  return ready & (mask | kEventErr | kEventHup);
}

void UnixSocket::Enqueue(UnixEndpoint& to, UnixMessage msg) {
  msg.sender = ep_;
  size_t sockets = 0;
  for (auto& f : msg.fds)
    if (dynamic_cast<UnixSocket*>(f.get()) != nullptr) sockets++;
  if (sockets > 0) NoteSocketsSent(sockets);  // see net/unix_gc.h
  to.queued_bytes += msg.data.size();
  to.messages.push_back(std::move(msg));
  to.queue.Notify(kEventIn);
}

Result<size_t> UnixSocket::Send(Task& t, const char* data, size_t len,
                                UnixSendRequest& req) {
  // Linux attaches the sender's credentials when either side set
  // SO_PASSCRED.
  struct ucred self = {t.tg().tgid, t.creds.ruid, t.creds.rgid};
  if (!req.creds && (ep_->passcred || (ep_->peer && ep_->peer->passcred)))
    req.creds = self;
  if (ep_->type == SOCK_DGRAM) return SendDatagram(t, data, len, req);
  return SendStream(t, data, len, req);
}

Result<size_t> UnixSocket::SendStream(Task& t, const char* data, size_t len,
                                      UnixSendRequest& req) {
  UnixEndpoint& e = *ep_;
  if (req.to && e.type == SOCK_STREAM)
    return Err(e.connected ? EISCONN : EOPNOTSUPP);
  if (!e.connected) return Err(ENOTCONN);
  if ((e.shutdown & kSendShutdown) || !e.peer || e.peer->closed ||
      (e.peer->shutdown & kRcvShutdown))
    return Err(EPIPE);
  UnixEndpoint& peer = *e.peer;
  if (e.type == SOCK_SEQPACKET) {
    if (len > size_t(e.sndbuf)) return Err(EMSGSIZE);
    if (!HasRoom(peer, len)) return Err(EAGAIN);
  } else {
    if (len == 0) return size_t(0);
    if (!HasRoom(peer, 1)) return Err(EAGAIN);
    size_t room = peer.queued_bytes >= size_t(peer.rcvbuf)
                      ? 0 : size_t(peer.rcvbuf) - peer.queued_bytes;
    len = std::min(len, std::max<size_t>(room, 1));
  }
  UnixMessage msg;
  msg.data.assign(data, len);
  msg.fds = std::move(req.fds);
  msg.creds = req.creds;
  Enqueue(peer, std::move(msg));
  return len;
}

Result<size_t> UnixSocket::SendDatagram(Task& t, const char* data, size_t len,
                                        UnixSendRequest& req) {
  UnixEndpoint& e = *ep_;
  if (e.shutdown & kSendShutdown) return Err(EPIPE);
  std::shared_ptr<UnixEndpoint> target;
  if (req.to) {
    target = TRY(Lookup(t, *req.to));
  } else {
    if (!e.peer) return Err(ENOTCONN);
    target = e.peer;
  }
  if (target->closed) {
    if (target == e.peer) e.peer.reset();
    return Err(ECONNREFUSED);
  }
  // A socket connected elsewhere takes datagrams only from its peer.
  if (target->peer && target->peer != ep_) return Err(EPERM);
  if (target->shutdown & kRcvShutdown) return Err(EPIPE);
  if (len > size_t(e.sndbuf) - 32) return Err(EMSGSIZE);
  if (!HasRoom(*target, len)) return Err(EAGAIN);
  UnixMessage msg;
  msg.data.assign(data, len);
  msg.fds = std::move(req.fds);
  msg.creds = req.creds;
  msg.from = e.address;
  Enqueue(*target, std::move(msg));
  return len;
}

Result<size_t> UnixSocket::Recv(Task& t, char* buf, size_t len, int flags,
                                UnixRecvResult* result) {
  UnixEndpoint& e = *ep_;
  if (e.error && e.messages.empty()) {
    int err = e.error;
    e.error = 0;
    return Err(err);
  }
  size_t n = TRY(e.type == SOCK_STREAM ? RecvStream(buf, len, flags, result)
                                       : RecvDatagram(buf, len, flags,
                                                      result));
  if (e.passcred && !result->creds && n > 0)
    result->creds = ucred{0, 65534, 65534};  // overflow ids, as Linux
  return n;
}

Result<size_t> UnixSocket::RecvStream(char* buf, size_t len, int flags,
                                      UnixRecvResult* result) {
  UnixEndpoint& e = *ep_;
  if (e.listening || !e.connected) return Err(EINVAL);
  bool peek = flags & MSG_PEEK;
  size_t copied = 0;
  for (size_t i = 0; i < e.messages.size() && copied < len;) {
    UnixMessage& msg = e.messages[i];
    // Files and credentials end a read, so they arrive with their bytes.
    if (copied > 0 && (!msg.fds.empty() || !SameCreds(msg.creds, result->creds)))
      break;
    if (copied == 0) result->creds = msg.creds;
    size_t take = std::min(msg.data.size() - msg.consumed, len - copied);
    memcpy(buf + copied, msg.data.data() + msg.consumed, take);
    copied += take;
    bool had_fds = !msg.fds.empty();
    if (had_fds) {
      result->fds = msg.fds;
      if (!peek) msg.fds.clear();
    }
    if (peek) {
      i++;
    } else {
      msg.consumed += take;
      e.queued_bytes -= take;
      if (msg.consumed == msg.data.size()) {
        if (auto sender = msg.sender.lock()) sender->queue.Notify(kEventOut);
        e.messages.pop_front();
      }
    }
    if (had_fds) break;
  }
  if (copied == 0 && len > 0 && e.messages.empty()) {
    if (e.shutdown & kRcvShutdown) return size_t(0);
    return Err(EAGAIN);
  }
  result->length = result->full_length = copied;
  return copied;
}

Result<size_t> UnixSocket::RecvDatagram(char* buf, size_t len, int flags,
                                        UnixRecvResult* result) {
  UnixEndpoint& e = *ep_;
  if (e.type == SOCK_SEQPACKET && (e.listening || !e.connected))
    return Err(ENOTCONN);
  if (e.messages.empty()) {
    if (e.shutdown & kRcvShutdown) return size_t(0);
    return Err(EAGAIN);
  }
  UnixMessage& msg = e.messages.front();
  size_t n = std::min(len, msg.data.size());
  memcpy(buf, msg.data.data(), n);
  result->length = n;
  result->full_length = msg.data.size();
  if (n < msg.data.size()) result->msg_flags |= MSG_TRUNC;
  result->from = msg.from;
  result->creds = msg.creds;
  result->fds = msg.fds;
  if (!(flags & MSG_PEEK)) {
    e.queued_bytes -= msg.data.size();
    if (auto sender = msg.sender.lock()) sender->queue.Notify(kEventOut);
    e.messages.pop_front();
  }
  return (flags & MSG_TRUNC) ? result->full_length : n;
}

Status UnixSocket::Shutdown(int how) {
  if (how < SHUT_RD || how > SHUT_RDWR) return Err(EINVAL);
  int bits = (how + 1) & (kRcvShutdown | kSendShutdown);
  ep_->shutdown |= bits;
  ep_->queue.Notify(AllEvents());
  auto& peer = ep_->peer;
  if (peer && ep_->connection_oriented()) {
    // Our send side is the peer's receive side and the other way round.
    int mirrored = ((bits & kRcvShutdown) ? kSendShutdown : 0) |
                   ((bits & kSendShutdown) ? kRcvShutdown : 0);
    peer->shutdown |= mirrored;
    peer->queue.Notify(AllEvents());
  }
  return Ok();
}

}  // namespace moat
