// /proc/[pid] and /proc/[pid]/task/[tid]: one directory per process or
// thread, after Linux fs/proc/base.c and fs/proc/fd.c.
#include <dirent.h>
#include <fmt/format.h>
#include <sys/sysinfo.h>

#include "fs/proc_internal.h"
#include "kernel/kernel.h"
#include "kernel/task.h"
#include "mm/memory_file.h"
#include "mm/memory_manager.h"
#include "vfs/fd_table.h"
#include "vfs/vfs.h"

namespace moat::proc {
namespace {

constexpr int kCapSysPtrace = 19;
constexpr size_t kMaxArea = 1 << 20;  // cmdline and environ

// Kinds of per-process inode, for PidIno. Plain files number from
// kFirstFile in the order they are added.
enum Kind {
  kDirKind = 0,
  kFdKind = 1,
  kFdinfoKind = 2,
  kThreadDirKind = kDirKind + 128,
  kFirstFile = 8
};

// The process or thread that a directory shows. It keeps no reference, so
// an open directory does not keep its process alive.
struct Target {
  std::weak_ptr<ThreadGroup> group;
  std::weak_ptr<Task> thread;
  bool has_thread = false;  // a thread's directory, not the process's
  int pid = 0;
  int id = 0;  // pid or tid as shown

  // An inode kind unique to this directory: a thread's directory must not
  // share inode numbers with its process's even when tid == pid.
  int K(int kind) const { return kind + (has_thread ? 128 : 0); }

  std::shared_ptr<ThreadGroup> Group() const { return group.lock(); }
  // The task whose state the files show: the thread, or the process's
  // leader while it lives, then any live thread. Null for a zombie.
  std::shared_ptr<Task> Main() const {
    if (has_thread) {
      auto t = thread.lock();
      return t && !t->exited ? t : nullptr;
    }
    auto tg = group.lock();
    if (!tg) return nullptr;
    if (auto l = tg->Leader(); l && !l->exited) return l;
    return tg->tasks.empty() ? nullptr : tg->tasks.front();
  }
};

// Whether `caller` may look inside the target, as Linux
// kernel/ptrace.c:__ptrace_may_access decides with PTRACE_MODE_FSCREDS.
Status MayInspect(Task& caller, const Target& tgt) {
  auto tg = tgt.Group();
  if (!tg) return Err(ESRCH);
  if (&caller.tg() == tg.get()) return Ok();
  if (caller.creds.HasCapability(kCapSysPtrace)) return Ok();
  auto t = tgt.Main();
  if (!t) return Err(EACCES);
  const Credentials& me = caller.creds;
  const Credentials& c = t->creds;
  bool uids = me.fsuid == c.euid && me.fsuid == c.suid && me.fsuid == c.ruid;
  bool gids = me.fsgid == c.egid && me.fsgid == c.sgid && me.fsgid == c.rgid;
  return uids && gids ? Ok() : Status(Err(EACCES));
}

// A file's text from the target's state. `main` is null for a zombie.
using TargetFn = std::function<Result<std::string>(
    const Target& tgt, ThreadGroup& tg, Task* main, Task* reader)>;

Generator Gen(const Target& tgt, TargetFn fn) {
  return [tgt, fn = std::move(fn)](Task* reader) -> Result<std::string> {
    auto tg = tgt.Group();
    if (!tg) return Err(ESRCH);
    auto main = tgt.Main();
    return fn(tgt, *tg, main.get(), reader);
  };
}

Owner OwnerOf(const Target& tgt) {
  return [tgt]() -> std::pair<uint32_t, uint32_t> {
    auto t = tgt.Main();
    if (!t) return {0, 0};
    return {t->creds.euid, t->creds.egid};
  };
}

// Returns the bytes of [start, end) in the task's memory, or nothing when
// they are not mapped.
std::string ReadArea(Task* t, uint64_t start, uint64_t end) {
  if (!t || !t->mm_ || end <= start) return "";
  std::string s(std::min<uint64_t>(end - start, kMaxArea), '\0');
  if (!t->mm_->CopyIn(start, s.data(), s.size()).ok()) return "";
  return s;
}

FilePtr PathFile(const Path& p) {
  auto f = std::make_shared<FileDescription>();
  f->inode = p.dentry->inode;
  f->mount = p.mount;
  f->dentry = p.dentry;
  f->flags = O_PATH;
  return f;
}

Result<FilePtr> ExeFile(Task&, Task& t) {
  if (!t.mm_ || !t.mm_->exe_dentry) return Err(ENOENT);
  return PathFile(Path{t.mm_->exe_mount, t.mm_->exe_dentry});
}

class DirBuilder {
 public:
  DirBuilder(const FsPtr& fs, const Target& tgt, uint32_t perm, int kind)
      : fs_(fs), tgt_(tgt) {
    dir = std::make_shared<ProcDir>(fs, perm,
                                    PidIno(tgt.pid, tgt.id, tgt.K(kind)));
    dir->owner = OwnerOf(tgt);
  }

  void File(const std::string& name, uint32_t perm, TargetFn fn,
            Writer writer = {}) {
    auto f = std::make_shared<ProcFile>(
        fs_, perm, Gen(tgt_, std::move(fn)), std::move(writer),
        PidIno(tgt_.pid, tgt_.id, tgt_.K(next_kind_++)));
    f->owner = OwnerOf(tgt_);
    dir->Add(name, f);
  }

  // A link to a file of the target's task, which `get` returns. Only exe
  // has a text when the file is gone: the path it was run by.
  void Link(const std::string& name,
            std::function<Result<FilePtr>(Task& caller, Task& t)> get,
            bool is_exe = false) {
    Target tgt = tgt_;
    LinkResolver resolve = [tgt, get](Task& caller) -> Result<FilePtr> {
      TRY_STATUS(MayInspect(caller, tgt));
      auto t = tgt.Main();
      if (!t) return Err(ENOENT);
      return get(caller, *t);
    };
    auto fallback = [tgt, is_exe]() -> Result<std::string> {
      auto t = tgt.Main();
      if (!is_exe || !t || !t->mm_) return Err(ENOENT);
      return t->mm_->exe_path;
    };
    auto link = std::make_shared<ProcMagicLink>(
        fs_, 0777, resolve, fallback,
        PidIno(tgt_.pid, tgt_.id, tgt_.K(next_kind_++)));
    link->owner = OwnerOf(tgt_);
    dir->Add(name, link);
  }

  // Adds a file of its own kind: `make` builds its inode from the inode
  // number.
  void Special(
      const std::string& name,
      const std::function<std::shared_ptr<ProcInode>(uint64_t)>& make) {
    auto inode = make(PidIno(tgt_.pid, tgt_.id, tgt_.K(next_kind_++)));
    inode->owner = OwnerOf(tgt_);
    dir->Add(name, inode);
  }

  std::shared_ptr<ProcDir> dir;

 private:
  FsPtr fs_;
  Target tgt_;
  int next_kind_ = kFirstFile;
};

// An open /proc/[pid]/mem: the target's memory at the file's offsets. It
// keeps to the memory the target had when it was opened, as Linux does, so
// after an exec or an exit it reads and writes nothing.
class MemFile : public FileDescription {
 public:
  explicit MemFile(std::weak_ptr<MemoryManager> mm) : mm_(std::move(mm)) {}

  Result<size_t> PRead(Task&, void* buf, size_t len, uint64_t off) override {
    return Transfer(
        off, len,
        [buf](MemoryManager& mm, uint64_t addr, size_t done, size_t n) {
          return mm.CopyIn(addr, static_cast<char*>(buf) + done, n);
        });
  }

  Result<size_t> PWrite(Task&, const void* buf, size_t len,
                        uint64_t off) override {
    return Transfer(
        off, len,
        [buf](MemoryManager& mm, uint64_t addr, size_t done, size_t n) {
          return mm.CopyOut(addr, static_cast<const char*>(buf) + done, n);
        });
  }

  // Seeks to any address. SEEK_END is invalid, because memory has no end
  // to seek from.
  Result<uint64_t> Seek(int64_t off, int whence) override {
    if (whence != SEEK_SET && whence != SEEK_CUR) return Err(EINVAL);
    return FileDescription::Seek(off, whence);
  }

 private:
  // Copies page by page up to the first page that fails, and returns EIO
  // when not even the first byte could be copied, as Linux's mem_rw does.
  // TODO: reads of PROT_NONE memory and writes to read-only text (a
  // debugger's breakpoint) fail here as the program's own access would.
  // Linux makes both through FOLL_FORCE.
  template <typename Copy>
  Result<size_t> Transfer(uint64_t off, size_t len, Copy copy) {
    auto mm = mm_.lock();
    if (!mm) return size_t{0};
    size_t done = 0;
    while (done < len) {
      uint64_t addr = off + done;
      if (addr < off) break;
      size_t n = std::min<uint64_t>(len - done, kPageSize - addr % kPageSize);
      if (!copy(*mm, addr, done, n).ok()) break;
      done += n;
    }
    if (done == 0 && len > 0) return Err(EIO);
    return done;
  }

  std::weak_ptr<MemoryManager> mm_;
};

class MemInode : public ProcInode {
 public:
  MemInode(const FsPtr& fs, const Target& tgt, uint64_t ino)
      : ProcInode(fs, S_IFREG | 0600, ino), tgt_(tgt) {}

  // Opens the file for a caller with ptrace access to the target, which the
  // other files of its memory require too. A zombie's file reads nothing.
  Result<FilePtr> Open(int flags) override {
    Task* caller = CurrentTask();
    if (caller == nullptr) return Err(EACCES);
    TRY_STATUS(MayInspect(*caller, tgt_));
    auto t = tgt_.Main();
    auto f = std::make_shared<MemFile>(t ? std::weak_ptr<MemoryManager>(t->mm_)
                                         : std::weak_ptr<MemoryManager>());
    f->inode = shared_from_this();
    return FilePtr(f);
  }

 private:
  Target tgt_;
};

std::string FormatFdinfo(FileDescription& f, bool cloexec) {
  // The kernel's O_LARGEFILE: the C library defines it as 0 on 64-bit.
  constexpr int kLargeFile = 0100000;
  int flags = f.flags | (cloexec ? O_CLOEXEC : 0);
  if (!(f.flags & O_PATH)) flags |= kLargeFile;
  auto a = f.Stat();
  return fmt::format("pos:\t{}\nflags:\t0{:o}\nmnt_id:\t{}\nino:\t{}\n",
                     f.offset, flags, f.mount ? f.mount->id : 0,
                     a.ok() ? a->ino : 0);
}

Result<int> ParseFd(const std::string& name) {
  if (name.empty() || name.size() > 9 || (name[0] == '0' && name.size() > 1))
    return Err(ENOENT);
  auto v = ParseInt(name);
  if (!v.ok() || name[0] == '+' || name[0] == '-') return Err(ENOENT);
  return int(v.value());
}

InodePtr FdEntry(const FsPtr& fs, const Target& tgt, int fd,
                 const FdTable::Entry& e, bool info) {
  if (info) {
    Generator gen = [tgt, fd](Task*) -> Result<std::string> {
      auto t = tgt.Main();
      auto* e = t && t->fds ? t->fds->GetEntry(fd) : nullptr;
      if (!e) return Err(ENOENT);
      return FormatFdinfo(*e->file, e->cloexec);
    };
    auto f = std::make_shared<ProcFile>(
        fs, 0400, gen, Writer{},
        PidIno(tgt.pid, tgt.id, tgt.K(kFdinfoKind), fd));
    f->owner = OwnerOf(tgt);
    return f;
  }
  // The mode bits follow the file's access mode, as in Linux
  // fs/proc/fd.c:proc_fd_instantiate.
  uint32_t perm =
      (e.file->readable() ? 0500 : 0) | (e.file->writable() ? 0300 : 0);
  LinkResolver resolve = [tgt, fd](Task& caller) -> Result<FilePtr> {
    TRY_STATUS(MayInspect(caller, tgt));
    auto t = tgt.Main();
    FilePtr f = t && t->fds ? t->fds->Get(fd) : nullptr;
    if (!f) return Err(ENOENT);
    return f;
  };
  auto link = std::make_shared<ProcMagicLink>(
      fs, perm, resolve, []() -> Result<std::string> { return Err(ENOENT); },
      PidIno(tgt.pid, tgt.id, tgt.K(kFdKind), fd));
  link->owner = OwnerOf(tgt);
  return link;
}

// /proc/[pid]/fd (links) or /proc/[pid]/fdinfo (files).
InodePtr FdDir(const FsPtr& fs, const Target& tgt, bool info) {
  auto dir = std::make_shared<ProcDir>(
      fs, info ? 0555 : 0500,
      PidIno(tgt.pid, tgt.id, tgt.K(info ? kFdinfoKind : kFdKind), -1));
  dir->owner = OwnerOf(tgt);
  dir->list_dynamic = [tgt, info]() {
    std::vector<DirEntry> out;
    auto t = tgt.Main();
    if (!t || !t->fds) return out;
    for (auto& [fd, e] : t->fds->entries())
      out.push_back(DirEntry{
          std::to_string(fd),
          PidIno(tgt.pid, tgt.id, tgt.K(info ? kFdinfoKind : kFdKind), fd),
          uint8_t(info ? DT_REG : DT_LNK)});
    return out;
  };
  dir->lookup_dynamic = [fs, tgt,
                         info](const std::string& name) -> Result<InodePtr> {
    int fd = TRY(ParseFd(name));
    auto t = tgt.Main();
    auto* e = t && t->fds ? t->fds->GetEntry(fd) : nullptr;
    if (!e) return Err(ENOENT);
    return FdEntry(fs, tgt, fd, *e, info);
  };
  return dir;
}

InodePtr TaskDir(const FsPtr& fs, const Target& tgt) {
  auto dir = std::make_shared<ProcDir>(fs, 0555,
                                       PidIno(tgt.pid, tgt.id, kDirKind, -1));
  dir->owner = OwnerOf(tgt);
  dir->list_dynamic = [tgt]() {
    std::vector<DirEntry> out;
    if (auto tg = tgt.Group())
      for (auto& t : tg->tasks)
        out.push_back(DirEntry{std::to_string(t->tid),
                               PidIno(tgt.pid, t->tid, kThreadDirKind),
                               uint8_t(DT_DIR)});
    return out;
  };
  dir->lookup_dynamic = [fs, tgt](const std::string& name) -> Result<InodePtr> {
    int tid = TRY(ParseFd(name));
    auto tg = tgt.Group();
    if (!tg) return Err(ENOENT);
    for (auto& t : tg->tasks)
      if (t->tid == tid) return NewProcessDir(fs, tg, t, false);
    return Err(ENOENT);
  };
  return dir;
}

Status WriteComm(const Target& tgt, Task& writer, std::string_view data) {
  auto tg = tgt.Group();
  auto t = tgt.Main();
  if (!tg || !t) return Err(ESRCH);
  // Linux fs/proc/base.c:comm_write: only a process's own threads, and
  // the bytes are taken as they are, newline included.
  if (&writer.tg() != tg.get()) return Err(EINVAL);
  std::string name(data.substr(0, 15));
  t->comm = name.substr(0, name.find('\0'));
  return Ok();
}

// Sets the value that the OOM killer of --memory weighs (kernel/oom.cc).
Status WriteOomScoreAdj(const Target& tgt, Task&, std::string_view data) {
  int64_t v = TRY(ParseInt(data));
  if (v < -1000 || v > 1000) return Err(EINVAL);
  auto tg = tgt.Group();
  if (!tg) return Err(ESRCH);
  tg->oom_score_adj = int(v);
  return Ok();
}

void AddFiles(DirBuilder& b, const FsPtr& fs, const Target& tgt) {
  Kernel& k = fs->kernel;
  b.File("environ", 0400, [](auto&, auto&, Task* t, Task*) {
    return Result<std::string>(
        t && t->mm_ ? ReadArea(t, t->mm_->env_start, t->mm_->env_end) : "");
  });
  b.File("auxv", 0400, [](auto&, auto&, Task* t, Task*) {
    std::string s;
    if (t && t->mm_)
      s.assign(reinterpret_cast<const char*>(t->mm_->auxv.data()),
               t->mm_->auxv.size() * sizeof(uint64_t));
    return Result<std::string>(s);
  });
  b.File("status", 0444,
         [](const Target& tg_, ThreadGroup& tg, Task* t, Task*) {
           return Result<std::string>(FormatStatus(tg, t, tg_.id));
         });
  b.File("limits", 0444, [](auto&, ThreadGroup& tg, Task*, Task*) {
    return Result<std::string>(FormatLimits(tg));
  });
  b.File("cgroup", 0444, [](auto&, auto&, Task*, Task*) {
    return Result<std::string>("0::/\n");
  });
  auto oom = [](const Target& tgt) {
    auto tg = tgt.Group();
    return tg ? tg->oom_score_adj : 0;
  };
  b.File("oom_score", 0444, [oom](const Target& tgt, auto&, Task* t, Task*) {
    // Linux fs/proc/base.c:proc_oom_score: 1000 plus the per-mille of
    // memory the process holds plus its adjustment.
    struct sysinfo si;
    ::sysinfo(&si);
    uint64_t total = uint64_t(si.totalram) * si.mem_unit / kPageSize;
    // Under --memory, of the limit, as in a memory cgroup.
    uint64_t limit = MemoryFile::Get().LimitBytes() / kPageSize;
    if (limit) total = std::min(total, limit);
    uint64_t rss = t && t->mm_ ? t->mm_->ResidentPages() : 0;
    int64_t share = int64_t(rss * 1000 / std::max<uint64_t>(total, 1));
    int64_t points = 1000 + oom(tgt) + share;
    return Result<std::string>(fmt::format("{}\n", points));
  });
  b.File("oom_adj", 0444, [oom](const Target& tgt, auto&, Task*, Task*) {
    return Result<std::string>(fmt::format("{}\n", oom(tgt) * 17 / 1000));
  });
  b.File(
      "oom_score_adj", 0644,
      [oom](const Target& tgt, auto&, Task*, Task*) {
        return Result<std::string>(fmt::format("{}\n", oom(tgt)));
      },
      [tgt](Task& w, std::string_view d) {
        return WriteOomScoreAdj(tgt, w, d);
      });
  b.File("cmdline", 0444, [](auto&, auto&, Task* t, Task*) {
    return Result<std::string>(
        t && t->mm_ ? ReadArea(t, t->mm_->arg_start, t->mm_->arg_end) : "");
  });
  b.File(
      "comm", 0644,
      [](auto&, ThreadGroup& tg, Task* t, Task*) {
        return Result<std::string>((t ? t->comm : tg.comm()) + "\n");
      },
      [tgt](Task& w, std::string_view d) { return WriteComm(tgt, w, d); });
  b.File("stat", 0444, [](const Target& tgt, ThreadGroup& tg, Task* t, Task*) {
    return Result<std::string>(FormatStat(tg, t, tgt.id, !tgt.has_thread));
  });
  b.File("statm", 0444, [](auto&, auto&, Task* t, Task*) {
    return Result<std::string>(FormatStatm(t));
  });
  b.File("maps", 0444,
         [](const Target& tgt, auto&, Task* t,
            Task* reader) -> Result<std::string> {
           if (reader) TRY_STATUS(MayInspect(*reader, tgt));
           return t && t->mm_ ? t->mm_->Maps() : "";
         });
  b.File("mounts", 0444, [&k](auto&, auto&, Task* t, Task*) {
    return Result<std::string>(FormatMounts(k, t));
  });
  b.File("mountinfo", 0444, [&k](auto&, auto&, Task* t, Task*) {
    return Result<std::string>(FormatMountInfo(k, t));
  });
  b.Special("mem", [&fs, &tgt](uint64_t ino) {
    return std::make_shared<MemInode>(fs, tgt, ino);
  });
}

void AddLinks(DirBuilder& b) {
  b.Link("cwd", [](Task&, Task& t) -> Result<FilePtr> {
    if (!t.fs) return Err(ENOENT);
    return PathFile(t.fs->cwd);
  });
  b.Link("root", [](Task&, Task& t) -> Result<FilePtr> {
    if (!t.fs) return Err(ENOENT);
    return PathFile(t.fs->root);
  });
  b.Link("exe", ExeFile, true);
  // No audit: the ids are unset, printed without a newline as Linux does.
  b.File("loginuid", 0644, [](auto&, auto&, Task*, Task*) {
    return Result<std::string>("4294967295");
  });
  b.File("sessionid", 0444, [](auto&, auto&, Task*, Task*) {
    return Result<std::string>("4294967295");
  });
  b.File("wchan", 0444,
         [](auto&, auto&, Task*, Task*) { return Result<std::string>("0"); });
}

}  // namespace

InodePtr NewProcessDir(const FsPtr& fs, std::shared_ptr<ThreadGroup> tg,
                       std::shared_ptr<Task> thread, bool whole) {
  Target tgt;
  tgt.group = tg;
  tgt.thread = thread;
  tgt.has_thread = thread != nullptr;
  tgt.pid = tg->tgid;
  tgt.id = thread ? thread->tid : tg->tgid;
  DirBuilder b(fs, tgt, 0555, kDirKind);
  if (whole) b.dir->Add("task", TaskDir(fs, tgt));
  b.dir->Add("fd", FdDir(fs, tgt, false));
  b.dir->Add("fdinfo", FdDir(fs, tgt, true));
  AddFiles(b, fs, tgt);
  AddLinks(b);
  return b.dir;
}

}  // namespace moat::proc
