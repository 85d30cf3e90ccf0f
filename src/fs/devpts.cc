#include "fs/devpts.h"

#include <dirent.h>
#include <sys/sysmacros.h>

#include <map>

#include "fs/tmpfs.h"
#include "kernel/kernel.h"

namespace moat {
namespace {

constexpr int kPtyMajor = 136;
constexpr int kMaxPtys = 4096;  // Linux /proc/sys/kernel/pty/max
constexpr uint32_t kTtyGid = 5;  // the "tty" group of Debian and others
constexpr int64_t kDevptsMagic = 0x1cd1;

// The ptys of the sandbox by number. One kernel runs per moat process.
std::map<int, std::weak_ptr<Tty>>& Ptys() {
  static auto* ptys = new std::map<int, std::weak_ptr<Tty>>();
  return *ptys;
}

std::weak_ptr<Tty>& Console() {
  static auto* console = new std::weak_ptr<Tty>();
  return *console;
}

std::shared_ptr<Tty> PtyByIndex(int index) {
  auto it = Ptys().find(index);
  return it == Ptys().end() ? nullptr : it->second.lock();
}

uint64_t DevptsDev() {
  static uint64_t dev = NewAnonDev();
  return dev;
}

InodeAttr NodeAttr(uint64_t ino, uint32_t mode, uint64_t rdev) {
  static struct timespec mounted = Now();
  InodeAttr a;
  a.dev = DevptsDev();
  a.ino = ino;
  a.mode = mode;
  a.rdev = rdev;
  a.blksize = 1024;
  a.atime = a.mtime = a.ctime = a.btime = mounted;
  return a;
}

Result<FilePtr> OpenPtmx(int flags) {
  Task* t = CurrentTask();
  auto master = TRY(NewPty(t ? t->creds.fsuid : 0));
  master->flags = flags;
  return FilePtr(master);
}

// /dev/pts/N. It names the pty by number, so a stale cached entry reaches
// the pty that has the number now, as a fresh lookup would.
class PtyNode : public Inode {
 public:
  explicit PtyNode(int index) : index_(index) {}
  Result<InodeAttr> Attr() override {
    // Linux numbers devpts inodes from 3 on, after the root and ptmx.
    InodeAttr a = NodeAttr(index_ + 3, S_IFCHR | 0620,
                           makedev(kPtyMajor, index_));
    if (auto tty = PtyByIndex(index_)) a.uid = tty->uid;
    a.gid = kTtyGid;
    return a;
  }
  Result<FilePtr> Open(int flags) override {
    auto tty = PtyByIndex(index_);
    if (!tty) return Err(EIO);
    return OpenPtySlave(CurrentTask(), tty, flags);
  }
  std::string FsType() const override { return "devpts"; }
  Result<struct statfs> StatFs() override {
    return SimpleStatFs(kDevptsMagic);
  }

 private:
  int index_;
};

class PtmxNode : public Inode {
 public:
  Result<InodeAttr> Attr() override {
    return NodeAttr(2, S_IFCHR | 0666, makedev(5, 2));
  }
  Result<FilePtr> Open(int flags) override { return OpenPtmx(flags); }
  std::string FsType() const override { return "devpts"; }
  Result<struct statfs> StatFs() override {
    return SimpleStatFs(kDevptsMagic);
  }
};

class DevptsRoot : public Inode {
 public:
  Result<InodeAttr> Attr() override {
    InodeAttr a = NodeAttr(1, S_IFDIR | 0755, 0);
    a.nlink = 2;
    return a;
  }
  Result<InodePtr> Lookup(const std::string& name) override {
    if (name == "ptmx") return InodePtr(std::make_shared<PtmxNode>());
    if (name.empty() || name.size() > 9 ||
        name.find_first_not_of("0123456789") != std::string::npos ||
        (name.size() > 1 && name[0] == '0'))
      return Err(ENOENT);
    int index = std::stoi(name);
    if (!PtyByIndex(index)) return Err(ENOENT);
    return InodePtr(std::make_shared<PtyNode>(index));
  }
  Result<std::vector<DirEntry>> ReadDir() override {
    std::vector<DirEntry> out{{"ptmx", 2, DT_CHR}};
    for (auto& [index, tty] : Ptys())
      if (!tty.expired())
        out.push_back({std::to_string(index), uint64_t(index) + 3, DT_CHR});
    return out;
  }
  Result<FilePtr> Open(int) override {
    auto f = std::make_shared<FileDescription>();
    f->inode = shared_from_this();
    return FilePtr(f);
  }
  Result<InodePtr> Create(const std::string&, uint32_t,
                          const Credentials&) override {
    return Err(EACCES);
  }
  std::string FsType() const override { return "devpts"; }
  Result<struct statfs> StatFs() override {
    return SimpleStatFs(kDevptsMagic);
  }
};

}  // namespace

InodePtr NewDevpts() { return std::make_shared<DevptsRoot>(); }

Result<std::shared_ptr<PtyMasterFile>> NewPty(uint32_t owner_uid) {
  int index = 0;
  while (PtyByIndex(index)) index++;
  if (index >= kMaxPtys) return Err(ENOSPC);
  auto tty = std::make_shared<Tty>(index);
  tty->uid = owner_uid;
  Ptys()[index] = tty;
  auto master = std::make_shared<PtyMasterFile>(tty);
  master->flags = O_RDWR;
  master->inode = std::make_shared<PtmxNode>();
  return master;
}

void ForgetPty(int index) { Ptys().erase(index); }

Result<FilePtr> OpenPtySlave(Task* t, std::shared_ptr<Tty> tty, int flags) {
  if (tty->locked || tty->hung_up()) return Err(EIO);
  auto f = std::make_shared<TtyFile>(tty, true);
  f->flags = flags & ~O_NOCTTY;
  f->inode = std::make_shared<PtyNode>(tty->index());
  // Linux tty_open: a session leader without a terminal acquires the
  // first one it opens.
  if (t && !(flags & O_NOCTTY) && t->tg().pgrp && t->tg().pgrp->session &&
      t->tg().pgrp->session->sid == t->tg().tgid &&
      !t->tg().pgrp->session->controlling_tty && tty->session.expired())
    tty->AttachSession(*t);
  return FilePtr(f);
}

void SetConsoleTty(std::shared_ptr<Tty> tty) { Console() = tty; }

void RegisterTtyDevices() {
  RegisterDevice(makedev(5, 0), [](InodePtr, int flags) -> Result<FilePtr> {
    Task* t = CurrentTask();
    if (t == nullptr || !t->tg().pgrp || !t->tg().pgrp->session)
      return Err(ENXIO);
    FilePtr ctty = t->tg().pgrp->session->controlling_tty;
    if (!ctty) return Err(ENXIO);
    // A host terminal passed through as it is (stdin not a terminal).
    if (!dynamic_cast<TtyFile*>(ctty.get())) return ctty;
    return OpenPtySlave(t, ControllingTty(*t), flags | O_NOCTTY);
  });
  RegisterDevice(makedev(5, 1), [](InodePtr, int flags) -> Result<FilePtr> {
    auto tty = Console().lock();
    if (!tty) return Err(ENXIO);
    return OpenPtySlave(CurrentTask(), tty, flags);
  });
  RegisterDevice(makedev(5, 2), [](InodePtr, int flags) {
    return OpenPtmx(flags);
  });
}

}  // namespace moat
