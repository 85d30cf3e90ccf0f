// The root of /proc: the fixed entries, /proc/self, and one directory per
// process of the sandbox (Linux fs/proc/root.c and base.c:proc_pid_lookup).
#include "fs/proc.h"

#include <dirent.h>

#include "fs/proc_internal.h"
#include "kernel/kernel.h"
#include "kernel/task.h"

namespace moat {
namespace {

using proc::FsPtr;
using proc::ProcDir;
using proc::ProcSymlink;

// Linux gives the procfs root inode number 1.
constexpr uint64_t kRootIno = 1;

Result<int> ParsePid(const std::string& name) {
  if (name.empty() || name.size() > 9 || name[0] < '1' || name[0] > '9')
    return Err(ENOENT);
  auto v = proc::ParseInt(name);
  if (!v.ok()) return Err(ENOENT);
  return int(v.value());
}

// /proc/[pid] for a process, or for a thread when named by its tid (such
// directories exist but are not listed, as in Linux).
Result<InodePtr> LookupPid(const FsPtr& fs, const std::string& name) {
  int pid = TRY(ParsePid(name));
  Kernel& k = fs->kernel;
  if (auto tg = k.GroupByTgid(pid))
    return proc::NewProcessDir(fs, tg, nullptr, true);
  if (auto t = k.TaskByTid(pid); t && !t->exited)
    return proc::NewProcessDir(fs, t->tg_ptr(), t, true);
  return Err(ENOENT);
}

std::vector<DirEntry> ListPids(const FsPtr& fs) {
  std::vector<DirEntry> out;
  for (auto& g : fs->kernel.Groups())
    out.push_back(DirEntry{std::to_string(g->tgid),
                           proc::PidIno(g->tgid, g->tgid, 0), uint8_t(DT_DIR)});
  return out;
}

void AddSelfLinks(const FsPtr& fs, ProcDir& root) {
  root.Add("self",
           std::make_shared<ProcSymlink>(fs, []() -> Result<std::string> {
             Task* t = CurrentTask();
             if (!t) return Err(ENOENT);
             return std::to_string(t->tg().tgid);
           }));
  root.Add("thread-self",
           std::make_shared<ProcSymlink>(fs, []() -> Result<std::string> {
             Task* t = CurrentTask();
             if (!t) return Err(ENOENT);
             return std::to_string(t->tg().tgid) + "/task/" +
                    std::to_string(t->tid);
           }));
  root.Add("mounts",
           std::make_shared<ProcSymlink>(fs, []() -> Result<std::string> {
             return std::string("self/mounts");
           }));
}

}  // namespace

InodePtr NewProcFs(Kernel& kernel) {
  auto fs = std::make_shared<proc::ProcFs>(kernel);
  auto root = std::make_shared<ProcDir>(fs, 0555, kRootIno);
  AddSelfLinks(fs, *root);
  proc::AddSystemFiles(fs, *root);
  proc::AddSysctlFiles(fs, *root);
  // The root's lambdas keep the filesystem state alive. The state never
  // points back at the root, so the two form no reference cycle.
  root->list_dynamic = [fs]() { return ListPids(fs); };
  root->lookup_dynamic = [fs](const std::string& name) {
    return LookupPid(fs, name);
  };
  return root;
}

}  // namespace moat
