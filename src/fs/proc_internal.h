// The pieces procfs is built from: generated files, symlinks whose target
// is computed when read, magic links, and directories whose entries come
// from kernel state. Private to src/fs/proc*.cc.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "vfs/inode.h"

namespace moat {

class Kernel;
class Task;
class ThreadGroup;
struct Mount;

namespace proc {

// State shared by every inode of one procfs instance.
struct ProcFs {
  explicit ProcFs(Kernel& k);
  Kernel& kernel;
  uint64_t dev;
  std::string boot_id;  // /proc/sys/kernel/random/boot_id
  // What statfs and /proc/mounts call the filesystem: sysfs is built from
  // the same pieces.
  std::string fstype = "proc";
  uint32_t magic = 0x9fa0;  // PROC_SUPER_MAGIC
};
using FsPtr = std::shared_ptr<ProcFs>;

// Produces a file's text when it is opened. `reader` is the opening task,
// null when there is none (unit tests).
using Generator = std::function<Result<std::string>(Task* reader)>;
// Applies one write(2) to a file.
using Writer = std::function<Status(Task& writer, std::string_view data)>;
// The owner of a file: the euid and egid of its process.
using Owner = std::function<std::pair<uint32_t, uint32_t>()>;

class ProcInode : public Inode {
 public:
  // `ino` 0 takes a fresh inode number.
  ProcInode(const FsPtr& fs, uint32_t mode, uint64_t ino = 0);
  Result<InodeAttr> Attr() override;
  Result<struct statfs> StatFs() override;
  std::string FsType() const override { return fs_->fstype; }

  Owner owner;  // unset: owned by root

 protected:
  FsPtr fs_;
  InodeAttr attr_;
};

// A file whose text is produced at open and kept by the open file, so that
// reads at any offset see one consistent snapshot (Linux's seq_file).
class ProcFile : public ProcInode {
 public:
  ProcFile(const FsPtr& fs, uint32_t mode, Generator gen, Writer writer = {},
           uint64_t ino = 0);
  Result<FilePtr> Open(int flags) override;

 private:
  Generator gen_;
  Writer writer_;
};

class ProcSymlink : public ProcInode {
 public:
  ProcSymlink(const FsPtr& fs, std::function<Result<std::string>()> target,
              uint64_t ino = 0);
  Result<std::string> Readlink() override;

 private:
  std::function<Result<std::string>()> target_;
};

// A link that resolves to an open file rather than to a path string:
// /proc/[pid]/fd/N, exe, cwd, root.
using LinkResolver = std::function<Result<FilePtr>(Task& caller)>;
class ProcMagicLink : public ProcInode {
 public:
  ProcMagicLink(const FsPtr& fs, uint32_t perm, LinkResolver resolve,
                std::function<Result<std::string>()> fallback_text,
                uint64_t ino = 0);
  FilePtr MagicLink(Task& task) override;
  Result<std::string> Readlink() override;

 private:
  LinkResolver resolve_;
  std::function<Result<std::string>()> fallback_text_;
};

// A directory of fixed entries plus entries computed on each lookup.
class ProcDir : public ProcInode {
 public:
  ProcDir(const FsPtr& fs, uint32_t perm = 0555, uint64_t ino = 0);
  Result<InodePtr> Lookup(const std::string& name) override;
  Result<std::vector<DirEntry>> ReadDir() override;
  Result<FilePtr> Open(int flags) override;

  void Add(const std::string& name, InodePtr inode);
  // Adds a read-only file.
  void AddFile(const std::string& name, Generator gen, uint32_t perm = 0444);
  // Returns the subdirectory `name`, making it if needed.
  std::shared_ptr<ProcDir> Subdir(const std::string& name);

  std::function<std::vector<DirEntry>()> list_dynamic;
  std::function<Result<InodePtr>(const std::string&)> lookup_dynamic;

 private:
  std::map<std::string, InodePtr> entries_;
  std::vector<std::string> order_;  // entries in the order they were added
};

// A fixed text, for files whose value never changes.
Generator Text(std::string text);
// Parses a decimal integer the way kstrtoint does: optional sign, digits,
// optional trailing newline.
Result<int64_t> ParseInt(std::string_view s);

// The time since boot of a steady_clock instant, on the clock that
// CLOCK_BOOTTIME reads in the sandbox (the host's), so that /proc/uptime
// and process start times agree with clock_gettime.
std::chrono::nanoseconds SinceBoot(std::chrono::steady_clock::time_point t);

// A random version 4 UUID, as /proc/sys/kernel/random/uuid gives.
std::string NewUuid();
// /proc/[pid]/mounts and /proc/[pid]/mountinfo for a process whose root
// is seen by `viewer`.
std::string FormatMounts(Kernel& k, Task* viewer);
std::string FormatMountInfo(Kernel& k, Task* viewer);

// System-wide files at the top of /proc and under /proc/sys.
void AddSystemFiles(const FsPtr& fs, ProcDir& root);
void AddSysctlFiles(const FsPtr& fs, ProcDir& root);
std::string FormatCpuinfo();

// The directory of a process (`whole`: /proc/[pid]) or of a thread
// (/proc/[pid]/task/[tid]). `thread` null shows the process's leader.
InodePtr NewProcessDir(const FsPtr& fs, std::shared_ptr<ThreadGroup> tg,
                       std::shared_ptr<Task> thread, bool whole);

// The single-letter state of ps and /proc/[pid]/stat.
char StateOf(ThreadGroup& tg, Task* task);
// The files of Linux fs/proc/array.c. `task` is the thread shown (null for
// a zombie), `id` its pid or tid; `whole` sums over the thread group.
std::string FormatStatus(ThreadGroup& tg, Task* task, int id);
std::string FormatStat(ThreadGroup& tg, Task* task, int id, bool whole);
std::string FormatStatm(Task* task);
std::string FormatLimits(ThreadGroup& tg);

// Inode numbers for per-process entries: stable across lookups, so that
// tools which compare inode numbers see the same file twice.
uint64_t PidIno(int pid, int tid, int kind, int n = 0);

}  // namespace proc
}  // namespace moat
