// read(2), write(2) and the other calls that move file data.
#include <sys/uio.h>

#include <vector>

#include "kernel/signal_delivery.h"
#include "syscalls/handlers.h"
#include "syscalls/util.h"
#include "vfs/notify.h"

namespace moat {
namespace {

// Data moves through a kernel buffer of at most this size per step.
constexpr size_t kChunk = 256 << 10;
constexpr size_t kMaxRw = 0x7ffff000;  // Linux MAX_RW_COUNT
// A long copy lets other tasks have the kernel after this many steps.
constexpr size_t kStepsPerYield = 32;

// Called between the steps of a copy. Returns true when the copy should
// stop with what is done, because a fatal signal is pending (as in Linux).
// Now and then it also lets the rest of the kernel run.
bool StopBetweenSteps(Task& t, size_t step) {
  if (t.FatalSignalPending()) return true;
  if (step % kStepsPerYield == kStepsPerYield - 1) t.YieldKernel();
  return false;
}

bool IsStream(FileDescription& f) { return f.Queue() != nullptr; }

// Reads up to `len` bytes into the application at `addr`. With `offset`,
// reads at that position without moving the file offset.
int64_t ReadInto(Task& t, FileDescription& f, uint64_t addr, size_t len,
                 std::optional<uint64_t> offset) {
  if (!f.readable()) return -EBADF;
  len = std::min(len, kMaxRw);
  if (!t.mm().RangeAccessible(addr, len, PROT_WRITE)) return -EFAULT;
  std::vector<char> buf(std::min(len, kChunk));
  size_t done = 0;
  while (done < len) {
    size_t want = std::min(len - done, buf.size());
    int64_t n = BlockingIo(t, f, kEventIn, [&]() -> Result<size_t> {
      if (offset) return f.PRead(t, buf.data(), want, *offset + done);
      return f.Read(t, buf.data(), want);
    });
    if (n < 0) return done ? int64_t(done) : n;
    if (n == 0) break;
    if (!t.mm().CopyOut(addr + done, buf.data(), n).ok())
      return done ? int64_t(done) : -EFAULT;
    done += n;
    // A pipe or terminal returns what it has; a file fills the request.
    if (size_t(n) < want || IsStream(f)) break;
    if (done < len && StopBetweenSteps(t, done / kChunk)) break;
  }
  if (done > 0) NotifyFile(f, IN_ACCESS);
  return int64_t(done);
}

int64_t WriteFrom(Task& t, FileDescription& f, uint64_t addr, size_t len,
                  std::optional<uint64_t> offset) {
  if (!f.writable()) return -EBADF;
  len = std::min(len, kMaxRw);
  if (!IsStream(f) && len > 0) {
    uint64_t limit = t.tg().rlimits[RLIMIT_FSIZE].rlim_cur;
    auto attr = f.Stat();
    if (attr.ok() && S_ISREG(attr->mode) && limit != RLIM_INFINITY) {
      uint64_t pos = offset ? *offset
                     : (f.flags & O_APPEND) ? attr->size
                                           : f.offset;
      if (pos >= limit) {
        SendTaskSignal(t, MakeSigInfo(SIGXFSZ, SI_KERNEL), false);
        return -EFBIG;
      }
      len = std::min<uint64_t>(len, limit - pos);
    }
  }
  if (!t.mm().RangeAccessible(addr, len, PROT_READ)) return -EFAULT;
  std::vector<char> buf(std::min(len, kChunk));
  size_t done = 0;
  while (done < len || len == 0) {
    size_t want = std::min(len - done, buf.size());
    if (!t.mm().CopyIn(addr + done, buf.data(), want).ok())
      return done ? int64_t(done) : -EFAULT;
    size_t sent = 0;
    while (sent < want || want == 0) {
      int64_t n = BlockingIo(t, f, kEventOut, [&]() -> Result<size_t> {
        if (offset)
          return f.PWrite(t, buf.data() + sent, want - sent,
                          *offset + done + sent);
        return f.Write(t, buf.data() + sent, want - sent);
      });
      if (n == -EPIPE) {
        SendTaskSignal(t, MakeSigInfo(SIGPIPE, SI_USER, t.tg().tgid),
                       false);
      }
      if (n < 0) {
        size_t total = done + sent;
        return total ? int64_t(total) : n;
      }
      sent += n;
      if (want == 0) break;
    }
    done += sent;
    if (len == 0) break;
    if (done < len && StopBetweenSteps(t, done / kChunk)) break;
  }
  if (done > 0) NotifyFile(f, IN_MODIFY);
  return int64_t(done);
}

Result<std::vector<struct iovec>> CopyInIovecs(Task& t, uint64_t addr,
                                               int count) {
  if (count < 0 || count > IOV_MAX) return Err(EINVAL);
  std::vector<struct iovec> iov(count);
  TRY_STATUS(t.mm().CopyIn(addr, iov.data(), count * sizeof(struct iovec)));
  size_t total = 0;
  for (auto& v : iov) {
    if (int64_t(v.iov_len) < 0) return Err(EINVAL);
    total += v.iov_len;
    if (int64_t(total) < 0) return Err(EINVAL);
  }
  return iov;
}

int64_t VectorIo(Task& t, int fd, uint64_t iov_addr, int count, bool write,
                 std::optional<uint64_t> offset) {
  FilePtr f = GetFile(t, fd);
  if (!f) return -EBADF;
  auto iov = CopyInIovecs(t, iov_addr, count);
  if (!iov.ok()) return -iov.error();
  int64_t total = 0;
  for (auto& v : iov.value()) {
    if (v.iov_len == 0) continue;
    std::optional<uint64_t> at;
    if (offset) at = *offset + total;
    uint64_t base = reinterpret_cast<uint64_t>(v.iov_base);
    int64_t n = write ? WriteFrom(t, *f, base, v.iov_len, at)
                      : ReadInto(t, *f, base, v.iov_len, at);
    if (n < 0) return total ? total : n;
    total += n;
    if (size_t(n) < v.iov_len) break;
  }
  if (total == 0 && write && !f->writable()) return -EBADF;
  if (total == 0 && !write && !f->readable()) return -EBADF;
  return total;
}

}  // namespace

// Implements read(2).
int64_t Read(Task& t, const SyscallArgs& args) {
  FilePtr f = GetFile(t, args.Int(0));
  if (!f) return -EBADF;
  if (f->inode && f->inode->IsDir()) return -EISDIR;
  return ReadInto(t, *f, args[1], args[2], std::nullopt);
}

// Implements write(2).
int64_t Write(Task& t, const SyscallArgs& args) {
  FilePtr f = GetFile(t, args.Int(0));
  if (!f) return -EBADF;
  return WriteFrom(t, *f, args[1], args[2], std::nullopt);
}

// Implements pread64(2).
int64_t Pread64(Task& t, const SyscallArgs& args) {
  FilePtr f = GetFile(t, args.Int(0));
  if (!f) return -EBADF;
  if (int64_t(args[3]) < 0) return -EINVAL;
  if (f->inode && f->inode->IsDir()) return -EISDIR;
  return ReadInto(t, *f, args[1], args[2], args[3]);
}

// Implements pwrite64(2).
int64_t Pwrite64(Task& t, const SyscallArgs& args) {
  FilePtr f = GetFile(t, args.Int(0));
  if (!f) return -EBADF;
  if (int64_t(args[3]) < 0) return -EINVAL;
  // Linux writes at the end for O_APPEND whatever the offset (pwrite(2),
  // BUGS).
  if (f->flags & O_APPEND) {
    auto attr = f->Stat();
    if (!attr.ok()) return -attr.error();
    return WriteFrom(t, *f, args[1], args[2], attr->size);
  }
  return WriteFrom(t, *f, args[1], args[2], args[3]);
}

// Implements readv(2).
int64_t Readv(Task& t, const SyscallArgs& args) {
  return VectorIo(t, args.Int(0), args[1], args.Int(2), false, std::nullopt);
}

// Implements writev(2).
int64_t Writev(Task& t, const SyscallArgs& args) {
  return VectorIo(t, args.Int(0), args[1], args.Int(2), true, std::nullopt);
}

// Implements preadv(2).
int64_t Preadv(Task& t, const SyscallArgs& args) {
  if (int64_t(args[3]) < 0) return -EINVAL;
  return VectorIo(t, args.Int(0), args[1], args.Int(2), false, args[3]);
}

// Implements pwritev(2).
int64_t Pwritev(Task& t, const SyscallArgs& args) {
  if (int64_t(args[3]) < 0) return -EINVAL;
  return VectorIo(t, args.Int(0), args[1], args.Int(2), true, args[3]);
}

// Implements preadv2(2); flags other than 0 are not supported.
int64_t Preadv2(Task& t, const SyscallArgs& args) {
  if (args[5] != 0) return -EOPNOTSUPP;
  if (int64_t(args[3]) == -1)
    return VectorIo(t, args.Int(0), args[1], args.Int(2), false,
                    std::nullopt);
  return Preadv(t, args);
}

// Implements pwritev2(2); flags other than 0 are not supported.
int64_t Pwritev2(Task& t, const SyscallArgs& args) {
  if (args[5] != 0) return -EOPNOTSUPP;
  if (int64_t(args[3]) == -1)
    return VectorIo(t, args.Int(0), args[1], args.Int(2), true,
                    std::nullopt);
  return Pwritev(t, args);
}

// Implements lseek(2).
int64_t Lseek(Task& t, const SyscallArgs& args) {
  FilePtr f = GetFile(t, args.Int(0));
  if (!f) return -EBADF;
  return ToReturn(f->Seek(int64_t(args[1]), args.Int(2)));
}

// Moves up to `count` bytes between two files through the kernel, for
// sendfile(2) and copy_file_range(2).
int64_t CopyBetween(Task& t, FileDescription& in, std::optional<uint64_t>* in_off,
                    FileDescription& out, std::optional<uint64_t>* out_off,
                    size_t count) {
  std::vector<char> buf(std::min(count, kChunk));
  size_t done = 0;
  while (done < count) {
    size_t want = std::min(count - done, buf.size());
    int64_t n = BlockingIo(t, in, kEventIn, [&]() -> Result<size_t> {
      if (*in_off) return in.PRead(t, buf.data(), want, **in_off);
      return in.Read(t, buf.data(), want);
    });
    if (n <= 0) return done ? int64_t(done) : n;
    size_t sent = 0;
    while (sent < size_t(n)) {
      int64_t w = BlockingIo(t, out, kEventOut, [&]() -> Result<size_t> {
        if (*out_off)
          return out.PWrite(t, buf.data() + sent, n - sent, **out_off + sent);
        return out.Write(t, buf.data() + sent, n - sent);
      });
      if (w < 0) return done + sent ? int64_t(done + sent) : w;
      sent += w;
    }
    if (*in_off) **in_off += n;
    if (*out_off) **out_off += n;
    done += n;
    if (size_t(n) < want) break;
  }
  if (done > 0) {
    NotifyFile(in, IN_ACCESS);
    NotifyFile(out, IN_MODIFY);
  }
  return int64_t(done);
}

// A file splice takes as its pipe end: one that can wait and cannot seek.
// An epoll or pidfd descriptor can wait but seeks, so it is none.
static bool IsPipeLike(FileDescription& f) {
  if (!f.Queue()) return false;
  auto pos = f.Seek(0, SEEK_CUR);
  return !pos.ok() && pos.error() == ESPIPE;
}

// Implements splice(2) by copying through the kernel; one end must be a
// pipe, as on Linux.
int64_t Splice(Task& t, const SyscallArgs& args) {
  FilePtr in = GetFile(t, args.Int(0));
  FilePtr out = GetFile(t, args.Int(2));
  if (!in || !out) return -EBADF;
  if (!in->readable() || !out->writable()) return -EBADF;
  if (args[5] & ~0xfull) return -EINVAL;
  bool in_pipe = IsPipeLike(*in), out_pipe = IsPipeLike(*out);
  if (!in_pipe && !out_pipe) return -EINVAL;
  if ((in_pipe && args[1]) || (out_pipe && args[3])) return -ESPIPE;
  if (out->flags & O_APPEND) return -EINVAL;
  std::optional<uint64_t> in_off, out_off;
  for (auto [addr, off] : {std::pair{args[1], &in_off},
                           std::pair{args[3], &out_off}}) {
    if (!addr) continue;
    auto v = t.mm().Read<int64_t>(addr);
    if (!v.ok()) return -EFAULT;
    if (v.value() < 0) return -EINVAL;
    *off = uint64_t(v.value());
  }
  // One step only: splice returns after the first chunk moved.
  int64_t n = CopyBetween(t, *in, &in_off, *out, &out_off,
                          std::min<size_t>(args[4], kChunk));
  if (n >= 0) {
    if (args[1]) (void)t.mm().Write<int64_t>(args[1], *in_off);
    if (args[3]) (void)t.mm().Write<int64_t>(args[3], *out_off);
  }
  return n;
}

// Implements sendfile(2).
int64_t Sendfile(Task& t, const SyscallArgs& args) {
  FilePtr out = GetFile(t, args.Int(0));
  FilePtr in = GetFile(t, args.Int(1));
  if (!out || !in) return -EBADF;
  if (!in->readable() || !out->writable()) return -EBADF;
  if (out->flags & O_APPEND) return -EINVAL;
  std::optional<uint64_t> in_off, out_off;
  if (args[2]) {
    auto off = t.mm().Read<int64_t>(args[2]);
    if (!off.ok()) return -EFAULT;
    if (off.value() < 0) return -EINVAL;
    in_off = uint64_t(off.value());
  }
  int64_t n = CopyBetween(t, *in, &in_off, *out, &out_off,
                          std::min<size_t>(args[3], kMaxRw));
  if (args[2] && n >= 0 && !t.mm().Write<int64_t>(args[2], *in_off).ok())
    return -EFAULT;
  return n;
}

// Implements copy_file_range(2).
int64_t CopyFileRange(Task& t, const SyscallArgs& args) {
  FilePtr in = GetFile(t, args.Int(0));
  FilePtr out = GetFile(t, args.Int(2));
  if (!in || !out) return -EBADF;
  if (args[5] != 0) return -EINVAL;
  if (!in->readable() || !out->writable() || (out->flags & O_APPEND))
    return -EBADF;
  auto in_attr = in->Stat();
  auto out_attr = out->Stat();
  if (!in_attr.ok() || !out_attr.ok()) return -EBADF;
  if (S_ISDIR(in_attr->mode) || S_ISDIR(out_attr->mode)) return -EISDIR;
  if (!S_ISREG(in_attr->mode) || !S_ISREG(out_attr->mode)) return -EINVAL;
  std::optional<uint64_t> in_off, out_off;
  for (auto [addr, off] : {std::pair{args[1], &in_off},
                           std::pair{args[3], &out_off}}) {
    if (!addr) continue;
    auto v = t.mm().Read<int64_t>(addr);
    if (!v.ok()) return -EFAULT;
    if (v.value() < 0) return -EINVAL;
    *off = uint64_t(v.value());
  }
  size_t len = std::min<size_t>(args[4], kMaxRw);
  if (in->inode && in->inode == out->inode) {
    uint64_t a = in_off ? *in_off : in->offset;
    uint64_t b = out_off ? *out_off : out->offset;
    if (a < b + len && b < a + len) return -EINVAL;
  }
  int64_t n = CopyBetween(t, *in, &in_off, *out, &out_off, len);
  if (n >= 0) {
    if (args[1]) (void)t.mm().Write<int64_t>(args[1], *in_off);
    if (args[3]) (void)t.mm().Write<int64_t>(args[3], *out_off);
  }
  return n;
}

}  // namespace moat

namespace moat {

// Implements fadvise64(2): the advice is checked and then ignored, as
// there is no readahead to tune.
int64_t Fadvise64(Task& t, const SyscallArgs& args) {
  FilePtr f = GetFile(t, args.Int(0));
  if (!f) return -EBADF;
  int advice = args.Int(3);
  if (advice < POSIX_FADV_NORMAL || advice > POSIX_FADV_NOREUSE)
    return -EINVAL;
  if (int64_t(args[2]) < 0) return -EINVAL;
  auto attr = f->Stat();
  if (attr.ok() && S_ISFIFO(attr->mode)) return -ESPIPE;
  return 0;
}

}  // namespace moat
