// The gofer's wire protocol: the messages that the kernel and the gofer
// exchange over one SOCK_SEQPACKET socket, and their encoding.
//
// Every request is one packet: a 32-bit operation code followed by the
// operation's fields. Every reply is one packet: a 32-bit errno (0 on
// success) followed by the reply's fields, with at most one host file
// descriptor attached by SCM_RIGHTS. Integers are little-endian fixed width
// and strings are a 32-bit length followed by the bytes. A decoder that runs
// out of bytes or meets a field it cannot accept fails, and the gofer then
// answers EINVAL; nothing in a packet is trusted.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace moat::gofer {

// The largest packet either side sends or accepts.
inline constexpr size_t kMaxPacket = 64 * 1024;
// The longest name and the longest symlink target a request may carry.
inline constexpr size_t kMaxName = 255;
inline constexpr size_t kMaxLinkTarget = 4095;

enum class Op : uint32_t {
  kAttach = 1,  // mount index -> root handle, stat
  kWalk,        // dir handle, name -> handle, stat
  kStat,        // handle -> stat
  kReadlink,    // handle -> target
  kOpen,        // handle, open flags -> stat, fd
  kReadDir,     // dir handle, cookie -> entries, whether more are left
  kStatFs,      // handle -> statfs
  kRelease,     // handle -> (no reply)
  kCreate,      // dir handle, name, flags, mode, uid, gid -> handle, stat, fd
  kMkdir,       // dir handle, name, mode, uid, gid -> handle, stat
  kSymlink,     // dir handle, name, target, uid, gid -> handle, stat
  kLink,        // dir handle, name, target handle -> stat of the target
  kUnlink,      // dir handle, name, flags (AT_REMOVEDIR) -> nothing
  kRename,      // dir handle, name, new dir handle, new name, flags
  kSetAttr,     // handle, SetAttr fields -> stat
  kMknod,       // dir handle, name, mode (a FIFO's), uid, gid -> handle, stat
};

// The part of struct stat that crosses the wire.
struct WireStat {
  uint64_t dev, ino, nlink, rdev, size, blksize, blocks;
  uint32_t mode, uid, gid;
  int64_t atime_sec, atime_nsec, mtime_sec, mtime_nsec, ctime_sec,
      ctime_nsec;
};

struct WireDirEntry {
  std::string name;
  uint64_t ino = 0;
  uint64_t cookie = 0;  // where the listing goes on after this entry
  uint8_t type = 0;     // DT_*
};

// SetAttr's fields; `mask` uses SetAttrRequest's bits.
struct WireSetAttr {
  uint32_t mask = 0, mode = 0, uid = 0, gid = 0;
  uint64_t size = 0;
  int64_t atime_sec = 0, atime_nsec = 0, mtime_sec = 0, mtime_nsec = 0;
};

class Encoder {
 public:
  void U8(uint8_t v) { Raw(&v, 1); }
  void U32(uint32_t v) { Raw(&v, 4); }
  void U64(uint64_t v) { Raw(&v, 8); }
  void I64(int64_t v) { Raw(&v, 8); }
  void Str(std::string_view s) {
    U32(static_cast<uint32_t>(s.size()));
    Raw(s.data(), s.size());
  }
  void Stat(const WireStat& st);
  void Entry(const WireDirEntry& e);
  void SetAttr(const WireSetAttr& a);
  void Append(const Encoder& e) { Raw(e.buf_.data(), e.buf_.size()); }
  const std::vector<char>& bytes() const { return buf_; }
  size_t size() const { return buf_.size(); }

 private:
  void Raw(const void* p, size_t n) {
    auto* c = static_cast<const char*>(p);
    buf_.insert(buf_.end(), c, c + n);
  }
  std::vector<char> buf_;
};

class Decoder {
 public:
  Decoder(const char* data, size_t size) : p_(data), end_(data + size) {}

  // Each returns false, and leaves the decoder failed, when the packet is
  // too short or a length is larger than `max`.
  bool U8(uint8_t* v) { return Raw(v, 1); }
  bool U32(uint32_t* v) { return Raw(v, 4); }
  bool U64(uint64_t* v) { return Raw(v, 8); }
  bool I64(int64_t* v) { return Raw(v, 8); }
  bool Str(std::string* s, size_t max);
  bool Stat(WireStat* st);
  bool Entry(WireDirEntry* e);
  bool SetAttr(WireSetAttr* a);
  bool AtEnd() const { return ok_ && p_ == end_; }
  bool ok() const { return ok_; }

 private:
  bool Raw(void* out, size_t n) {
    if (!ok_ || size_t(end_ - p_) < n) return ok_ = false;
    memcpy(out, p_, n);
    p_ += n;
    return true;
  }
  const char* p_;
  const char* end_;
  bool ok_ = true;
};

// Whether `name` may be used as one path component: not empty, not "." or
// "..", no '/' or NUL, and at most kMaxName bytes.
bool ValidName(std::string_view name);

}  // namespace moat::gofer

namespace moat::gofer {

// Sends one packet with `fd` attached when it is not -1. Returns 0 or an
// errno value.
int SendPacket(int sock, const std::vector<char>& bytes, int fd = -1);

// Receives one packet into `out` (resized to its length) and the attached
// descriptor, if any, into *fd (else -1); extra descriptors are closed.
// Returns 0, ECONNRESET when the peer has gone, or an errno value.
int RecvPacket(int sock, std::vector<char>* out, int* fd);

}  // namespace moat::gofer
