#include "gofer/wire.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>

namespace moat::gofer {

void Encoder::Stat(const WireStat& st) {
  U64(st.dev);
  U64(st.ino);
  U64(st.nlink);
  U64(st.rdev);
  U64(st.size);
  U64(st.blksize);
  U64(st.blocks);
  U32(st.mode);
  U32(st.uid);
  U32(st.gid);
  I64(st.atime_sec);
  I64(st.atime_nsec);
  I64(st.mtime_sec);
  I64(st.mtime_nsec);
  I64(st.ctime_sec);
  I64(st.ctime_nsec);
}

bool Decoder::Stat(WireStat* st) {
  return U64(&st->dev) && U64(&st->ino) && U64(&st->nlink) &&
         U64(&st->rdev) && U64(&st->size) && U64(&st->blksize) &&
         U64(&st->blocks) && U32(&st->mode) && U32(&st->uid) &&
         U32(&st->gid) && I64(&st->atime_sec) && I64(&st->atime_nsec) &&
         I64(&st->mtime_sec) && I64(&st->mtime_nsec) &&
         I64(&st->ctime_sec) && I64(&st->ctime_nsec);
}

void Encoder::Entry(const WireDirEntry& e) {
  Str(e.name);
  U64(e.ino);
  U64(e.cookie);
  U8(e.type);
}

bool Decoder::Entry(WireDirEntry* e) {
  return Str(&e->name, kMaxName) && U64(&e->ino) && U64(&e->cookie) &&
         U8(&e->type);
}

void Encoder::SetAttr(const WireSetAttr& a) {
  U32(a.mask);
  U32(a.mode);
  U32(a.uid);
  U32(a.gid);
  U64(a.size);
  I64(a.atime_sec);
  I64(a.atime_nsec);
  I64(a.mtime_sec);
  I64(a.mtime_nsec);
}

bool Decoder::SetAttr(WireSetAttr* a) {
  return U32(&a->mask) && U32(&a->mode) && U32(&a->uid) && U32(&a->gid) &&
         U64(&a->size) && I64(&a->atime_sec) && I64(&a->atime_nsec) &&
         I64(&a->mtime_sec) && I64(&a->mtime_nsec);
}

bool Decoder::Str(std::string* s, size_t max) {
  uint32_t n;
  if (!U32(&n)) return false;
  if (n > max || size_t(end_ - p_) < n) return ok_ = false;
  s->assign(p_, n);
  p_ += n;
  return true;
}

bool ValidName(std::string_view name) {
  return !name.empty() && name.size() <= kMaxName && name != "." &&
         name != ".." && name.find('/') == std::string_view::npos &&
         name.find('\0') == std::string_view::npos;
}

int SendPacket(int sock, const std::vector<char>& bytes, int fd) {
  struct iovec iov = {const_cast<char*>(bytes.data()), bytes.size()};
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  if (fd >= 0) {
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof fd);
  }
  ssize_t n;
  do {
    n = sendmsg(sock, &msg, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return errno == EPIPE ? ECONNRESET : errno;
  return 0;
}

int RecvPacket(int sock, std::vector<char>* out, int* fd) {
  // Received into a buffer of the thread's own and copied out at its real
  // length: resizing `out` to kMaxPacket would zero 64 KiB per packet.
  thread_local std::unique_ptr<char[]> buffer(new char[kMaxPacket]);
  *fd = -1;
  struct iovec iov = {buffer.get(), kMaxPacket};
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(struct cmsghdr) char control[CMSG_SPACE(4 * sizeof(int))];
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  do {
    n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return errno;
  if (n == 0) return ECONNRESET;
  for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr;
       c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; i++) {
      int received;
      memcpy(&received, CMSG_DATA(c) + i * sizeof(int), sizeof received);
      if (*fd < 0) {
        *fd = received;
      } else {
        close(received);
      }
    }
  }
  out->assign(buffer.get(), buffer.get() + n);
  if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
    return EMSGSIZE;
  }
  return 0;
}

}  // namespace moat::gofer
