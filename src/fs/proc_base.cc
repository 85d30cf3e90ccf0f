// The building blocks of procfs, declared in fs/proc_internal.h.
#include <fmt/format.h>
#include <sys/random.h>

#include <cstring>

#include "fs/proc_internal.h"
#include "fs/tmpfs.h"
#include "kernel/kernel.h"
#include "kernel/task.h"
#include "vfs/vfs.h"

namespace moat::proc {
namespace {

// An open procfs file: the text made at open time.
class SeqFile : public FileDescription {
 public:
  SeqFile(std::string text, Writer writer)
      : text_(std::move(text)), writer_(std::move(writer)) {}

  Result<size_t> PRead(Task&, void* buf, size_t len, uint64_t off) override {
    if (off >= text_.size()) return size_t(0);
    size_t n = std::min<size_t>(len, text_.size() - off);
    memcpy(buf, text_.data() + off, n);
    return n;
  }

  Result<size_t> PWrite(Task& t, const void* buf, size_t len,
                        uint64_t) override {
    // Linux fs/read_write.c:vfs_write: a file without a write method.
    if (!writer_) return Err(EINVAL);
    TRY_STATUS(
        writer_(t, std::string_view(static_cast<const char*>(buf), len)));
    return len;
  }

 private:
  std::string text_;
  Writer writer_;
};

uint8_t DirentType(uint32_t mode) {
  return static_cast<uint8_t>((mode & S_IFMT) >> 12);
}

}  // namespace

std::string NewUuid() {
  uint8_t b[16];
  if (getrandom(b, sizeof(b), 0) != sizeof(b)) memset(b, 0, sizeof(b));
  b[6] = (b[6] & 0x0f) | 0x40;  // version 4
  b[8] = (b[8] & 0x3f) | 0x80;  // RFC 4122 variant
  std::string s;
  for (int i = 0; i < 16; i++) {
    if (i == 4 || i == 6 || i == 8 || i == 10) s += '-';
    s += fmt::format("{:02x}", b[i]);
  }
  return s;
}

ProcFs::ProcFs(Kernel& k) : kernel(k), dev(NewAnonDev()), boot_id(NewUuid()) {}

ProcInode::ProcInode(const FsPtr& fs, uint32_t mode, uint64_t ino) : fs_(fs) {
  attr_.dev = fs->dev;
  attr_.ino = ino ? ino : NewIno();
  attr_.mode = mode;
  attr_.nlink = S_ISDIR(mode) ? 2 : 1;
  attr_.blksize = 1024;
  attr_.atime = attr_.mtime = attr_.ctime = attr_.btime = Now();
}

Result<InodeAttr> ProcInode::Attr() {
  InodeAttr a = attr_;
  if (owner) std::tie(a.uid, a.gid) = owner();
  return a;
}

Result<struct statfs> ProcInode::StatFs() {
  struct statfs s = {};
  s.f_type = fs_->magic;
  s.f_bsize = 4096;
  s.f_namelen = 255;
  s.f_frsize = 4096;
  return s;
}

ProcFile::ProcFile(const FsPtr& fs, uint32_t mode, Generator gen, Writer writer,
                   uint64_t ino)
    : ProcInode(fs, S_IFREG | mode, ino),
      gen_(std::move(gen)),
      writer_(std::move(writer)) {}

Result<FilePtr> ProcFile::Open(int flags) {
  std::string text;
  // A write-only open never reads, and generating could fail needlessly.
  if ((flags & O_ACCMODE) != O_WRONLY) text = TRY(gen_(CurrentTask()));
  auto f = std::make_shared<SeqFile>(std::move(text), writer_);
  f->inode = shared_from_this();
  return FilePtr(f);
}

ProcSymlink::ProcSymlink(const FsPtr& fs,
                         std::function<Result<std::string>()> target,
                         uint64_t ino)
    : ProcInode(fs, S_IFLNK | 0777, ino), target_(std::move(target)) {}

Result<std::string> ProcSymlink::Readlink() { return target_(); }

ProcMagicLink::ProcMagicLink(const FsPtr& fs, uint32_t perm,
                             LinkResolver resolve,
                             std::function<Result<std::string>()> fallback,
                             uint64_t ino)
    : ProcInode(fs, S_IFLNK | perm, ino),
      resolve_(std::move(resolve)),
      fallback_text_(std::move(fallback)) {}

FilePtr ProcMagicLink::MagicLink(Task& task) {
  auto f = resolve_(task);
  return f.ok() ? f.value() : nullptr;
}

Result<std::string> ProcMagicLink::Readlink() {
  // Path resolution calls this when MagicLink returned null. A denied link
  // must not leak its text, but a link whose file is gone still has one.
  if (Task* t = CurrentTask()) {
    auto f = resolve_(*t);
    if (!f.ok() && f.error() != ENOENT) return Err(f.error());
    if (f.ok() && f.value()->dentry && t->fs)
      return PathName(Path{f.value()->mount, f.value()->dentry}, t->fs->root);
    if (f.ok()) return f.value()->Name();
  }
  return fallback_text_();
}

ProcDir::ProcDir(const FsPtr& fs, uint32_t perm, uint64_t ino)
    : ProcInode(fs, S_IFDIR | perm, ino) {}

Result<InodePtr> ProcDir::Lookup(const std::string& name) {
  auto it = entries_.find(name);
  if (it != entries_.end()) return it->second;
  if (lookup_dynamic) return lookup_dynamic(name);
  return Err(ENOENT);
}

Result<std::vector<DirEntry>> ProcDir::ReadDir() {
  std::vector<DirEntry> out;
  for (const std::string& name : order_) {
    auto a = TRY(entries_[name]->Attr());
    out.push_back(DirEntry{name, a.ino, DirentType(a.mode)});
  }
  if (list_dynamic)
    for (DirEntry& e : list_dynamic()) out.push_back(std::move(e));
  return out;
}

Result<FilePtr> ProcDir::Open(int) {
  auto f = std::make_shared<FileDescription>();
  f->inode = shared_from_this();
  return FilePtr(f);
}

void ProcDir::Add(const std::string& name, InodePtr inode) {
  if (!entries_.count(name)) order_.push_back(name);
  if (inode->IsDir()) attr_.nlink++;
  entries_[name] = std::move(inode);
}

void ProcDir::AddFile(const std::string& name, Generator gen, uint32_t perm) {
  Add(name, std::make_shared<ProcFile>(fs_, perm, std::move(gen)));
}

std::shared_ptr<ProcDir> ProcDir::Subdir(const std::string& name) {
  auto it = entries_.find(name);
  if (it != entries_.end())
    return std::static_pointer_cast<ProcDir>(it->second);
  auto dir = std::make_shared<ProcDir>(fs_);
  Add(name, dir);
  return dir;
}

Generator Text(std::string text) {
  return
      [text = std::move(text)](Task*) -> Result<std::string> { return text; };
}

Result<int64_t> ParseInt(std::string_view s) {
  if (!s.empty() && s.back() == '\n') s.remove_suffix(1);
  bool neg = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s.empty() || s.size() > 18) return Err(EINVAL);
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return Err(EINVAL);
    v = v * 10 + (c - '0');
  }
  return neg ? -v : v;
}

uint64_t PidIno(int pid, int tid, int kind, int n) {
  // The key goes through splitmix64. Bit 62 keeps the result apart from
  // the small numbers NewIno returns, and bit 63 stays clear for readers
  // that take inode numbers as signed.
  uint64_t x = (uint64_t(uint32_t(pid)) << 32 | uint32_t(tid)) ^
               (uint64_t(kind) << 56) ^ (uint64_t(uint32_t(n)) * 0x9e37);
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  x ^= x >> 31;
  return (x >> 2) | (1ull << 62);
}

}  // namespace moat::proc
