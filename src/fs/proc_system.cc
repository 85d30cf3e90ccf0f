// The system-wide files of /proc and /proc/sys, built from the sandbox's
// own state. Only machine facts (total RAM, the CPU) come from the host.
#include <fmt/format.h>
#include <sys/sysinfo.h>
#include <sys/sysmacros.h>

#include <chrono>

#include "fs/inotify.h"
#include "fs/proc_internal.h"
#include "util/host_info.h"
#include "kernel/kernel.h"
#include "kernel/task.h"
#include "mm/memory_file.h"
#include "vfs/vfs.h"

namespace moat::proc {
namespace {

constexpr int kCapSysAdmin = 21;
constexpr uint64_t kTicksPerSecond = 100;

uint64_t Ticks(std::chrono::nanoseconds ns) {
  return uint64_t(ns.count()) / (1000000000 / kTicksPerSecond);
}

// Octal escapes for the characters that would break a mounts line, as
// Linux fs/proc_namespace.c:mangle does.
std::string Mangle(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\\')
      out += fmt::format("\\{:03o}", c);
    else
      out += c;
  }
  return out;
}

// The per-mount options, in the order of Linux
// fs/proc_namespace.c:show_mnt_opts, after "ro" or "rw".
std::string MountOptions(const Mount& m, bool read_only) {
  std::string o = read_only ? "ro" : "rw";
  if (m.nosuid) o += ",nosuid";
  if (m.nodev) o += ",nodev";
  if (m.noexec) o += ",noexec";
  if (m.noatime) o += ",noatime";
  if (m.nodiratime) o += ",nodiratime";
  if (!m.noatime && !m.strictatime) o += ",relatime";
  if (m.nosymfollow) o += ",nosymfollow";
  return o;
}

std::string SuperOptions(const Mount& m) {
  if (!m.sb) return "rw";
  return (m.sb->read_only ? "ro" : "rw") + m.sb->Options();
}

// Returns the path of a mount's root inside its filesystem, which is "/"
// except for a bind mount of a subdirectory.
std::string RootInFilesystem(const Mount& m) {
  std::string out;
  for (const Dentry* d = m.root.get(); d && d->parent; d = d->parent.get())
    out = "/" + d->name + out;
  return out.empty() ? "/" : out;
}

Path ViewRoot(Kernel& k, Task* viewer) {
  if (viewer && viewer->fs) return viewer->fs->root;
  auto root = k.mounts->root();
  return Path{root, root->root};
}

// Returns the mount namespace of `viewer`, or the sandbox's first one for
// a process that has exited.
MountNamespace& ViewMounts(Kernel& k, Task* viewer) {
  if (viewer && viewer->mount_ns) return *viewer->mount_ns;
  return *k.mounts;
}

// CPU time used in the sandbox: every live or zombie process plus the
// children each has reaped.
struct CpuTotals {
  uint64_t user = 0, system = 0, idle = 0, ctxt = 0;
  int running = 0, threads = 0, last_pid = 0;
  double uptime = 0;
};

CpuTotals Totals(Kernel& k) {
  CpuTotals c;
  Rusage all;
  for (auto& g : k.Groups()) {
    all.Add(g->TotalRusage());
    all.Add(g->rusage_children);
    c.last_pid = std::max(c.last_pid, g->tgid);
    for (auto& t : g->tasks) {
      c.threads++;
      c.last_pid = std::max(c.last_pid, t->tid);
      if (StateOf(*g, t.get()) == 'R') c.running++;
    }
  }
  auto up = SinceBoot(Clock::now());
  c.uptime = std::chrono::duration<double>(up).count();
  c.user = Ticks(all.utime);
  c.system = Ticks(all.stime);
  c.ctxt = all.nvcsw + all.nivcsw;
  uint64_t capacity = Ticks(up) * SandboxCpuCount();
  c.idle = capacity > c.user + c.system ? capacity - c.user - c.system : 0;
  return c;
}

std::string CpuLine(const std::string& name, uint64_t user, uint64_t system,
                    uint64_t idle) {
  return fmt::format("{} {} 0 {} {} 0 0 0 0 0 0\n", name, user, system, idle);
}

std::string FormatProcStat(Kernel& k) {
  CpuTotals c = Totals(k);
  int ncpu = SandboxCpuCount();
  std::string out = CpuLine("cpu ", c.user, c.system, c.idle);
  for (int i = 0; i < ncpu; i++)
    out += CpuLine(fmt::format("cpu{}", i), c.user / ncpu, c.system / ncpu,
                   c.idle / ncpu);
  time_t btime = time(nullptr) - time_t(c.uptime);
  out += fmt::format(
      "intr 0\nctxt {}\nbtime {}\nprocesses {}\nprocs_running {}\n"
      "procs_blocked 0\nsoftirq 0 0 0 0 0 0 0 0 0 0 0\n",
      c.ctxt, btime, c.last_pid, std::max(c.running, 1));
  return out;
}

std::string FormatUptime(Kernel& k) {
  CpuTotals c = Totals(k);
  return fmt::format("{:.2f} {:.2f}\n", c.uptime,
                     double(c.idle) / kTicksPerSecond);
}

std::string FormatLoadavg(Kernel& k) {
  CpuTotals c = Totals(k);
  // TODO: keep decaying load averages; these are always zero.
  return fmt::format("0.00 0.00 0.00 {}/{} {}\n", std::max(c.running, 1),
                     c.threads, c.last_pid);
}

std::string MemLine(const char* label, uint64_t kb) {
  return fmt::format("{:<16}{:>8} kB\n", label, kb);
}

// Linux fs/proc/meminfo.c:meminfo_proc_show, with every page the sandbox
// uses counted as anonymous memory.
std::string FormatMeminfo() {
  struct sysinfo si;
  ::sysinfo(&si);
  uint64_t total = uint64_t(si.totalram) * si.mem_unit / 1024;
  // With --memory the limit is the total, so that a program that sizes its
  // caches by the total memory fits in the limit.
  uint64_t limit = MemoryFile::Get().LimitBytes() / 1024;
  if (limit && limit < total) total = limit;
  uint64_t used = std::min(MemoryFile::Get().UsedBytes() / 1024, total);
  uint64_t free = total - used;
  std::string out;
  const std::pair<const char*, uint64_t> rows[] = {
      {"MemTotal:", total},
      {"MemFree:", free},
      {"MemAvailable:", free},
      {"Buffers:", 0},
      {"Cached:", 0},
      {"SwapCached:", 0},
      {"Active:", used},
      {"Inactive:", 0},
      {"Active(anon):", used},
      {"Inactive(anon):", 0},
      {"Active(file):", 0},
      {"Inactive(file):", 0},
      {"Unevictable:", 0},
      {"Mlocked:", 0},
      {"SwapTotal:", 0},
      {"SwapFree:", 0},
      {"Zswap:", 0},
      {"Zswapped:", 0},
      {"Dirty:", 0},
      {"Writeback:", 0},
      {"AnonPages:", used},
      {"Mapped:", 0},
      {"Shmem:", 0},
      {"KReclaimable:", 0},
      {"Slab:", 0},
      {"SReclaimable:", 0},
      {"SUnreclaim:", 0},
      {"KernelStack:", 0},
      {"PageTables:", 0},
      {"NFS_Unstable:", 0},
      {"Bounce:", 0},
      {"WritebackTmp:", 0},
      {"CommitLimit:", total / 2},
      {"Committed_AS:", used},
      {"VmallocTotal:", 34359738367},
      {"VmallocUsed:", 0},
      {"VmallocChunk:", 0},
      {"Percpu:", 0},
      {"HardwareCorrupted:", 0},
      {"AnonHugePages:", 0},
      {"ShmemHugePages:", 0},
      {"ShmemPmdMapped:", 0},
      {"FileHugePages:", 0},
      {"FilePmdMapped:", 0}};
  for (auto& [label, kb] : rows) out += MemLine(label, kb);
  out +=
      "HugePages_Total:       0\nHugePages_Free:        0\n"
      "HugePages_Rsvd:        0\nHugePages_Surp:        0\n";
  out += MemLine("Hugepagesize:", 2048) + MemLine("Hugetlb:", 0) +
         MemLine("DirectMap4k:", total) + MemLine("DirectMap2M:", 0) +
         MemLine("DirectMap1G:", 0);
  return out;
}

// A sysctl string that root may set, such as kernel.hostname. Linux
// kernel/sysctl.c:proc_dostring stops at a newline and truncates.
Writer SetString(Kernel& k, std::string KernelConfig::*field) {
  return [&k, field](Task& w, std::string_view data) -> Status {
    if (!w.creds.HasCapability(kCapSysAdmin)) return Err(EPERM);
    std::string v(data.substr(0, data.find_first_of(std::string("\n\0", 2))));
    k.config().*field = v.substr(0, 64);
    return Ok();
  };
}

Generator Config(Kernel& k, std::string KernelConfig::*field) {
  return [&k, field](Task*) -> Result<std::string> {
    return k.config().*field + "\n";
  };
}

// A sysctl file with one integer that root may change, such as
// /proc/sys/fs/inotify/max_user_watches.
InodePtr IntSysctl(const FsPtr& fs, int* value) {
  Generator read = [value](Task*) -> Result<std::string> {
    return std::to_string(*value) + "\n";
  };
  Writer write = [value](Task& w, std::string_view data) -> Status {
    if (!w.creds.HasCapability(kCapSysAdmin)) return Err(EPERM);
    std::string text(data);
    char* end = nullptr;
    long v = strtol(text.c_str(), &end, 10);
    if (end == text.c_str() || v < 0 || v > INT32_MAX) return Err(EINVAL);
    *value = int(v);
    return Ok();
  };
  return std::make_shared<ProcFile>(fs, 0644, read, write);
}

}  // namespace

std::chrono::nanoseconds SinceBoot(Clock::time_point t) {
  // steady_clock reads CLOCK_MONOTONIC, which stops while the machine is
  // suspended. CLOCK_BOOTTIME does not, so the gap between them is added.
  struct timespec boot, mono;
  clock_gettime(CLOCK_BOOTTIME, &boot);
  clock_gettime(CLOCK_MONOTONIC, &mono);
  auto gap = std::chrono::seconds(boot.tv_sec - mono.tv_sec) +
             std::chrono::nanoseconds(boot.tv_nsec - mono.tv_nsec);
  return t.time_since_epoch() + gap;
}

std::string FormatMounts(Kernel& k, Task* viewer) {
  Path root = ViewRoot(k, viewer);
  std::string out;
  for (auto& m : ViewMounts(k, viewer).Mounts()) {
    std::string at = m->parent ? PathName(Path{m, m->root}, root) : "/";
    std::string options = MountOptions(*m, m->ReadOnly());
    if (m->sb) options += m->sb->Options();
    out += fmt::format("{} {} {} {} 0 0\n", Mangle(m->source), Mangle(at),
                       m->fstype, options);
  }
  return out;
}

std::string FormatMountInfo(Kernel& k, Task* viewer) {
  Path root = ViewRoot(k, viewer);
  std::string out;
  for (auto& m : ViewMounts(k, viewer).Mounts()) {
    std::string at = m->parent ? PathName(Path{m, m->root}, root) : "/";
    auto a = m->root->inode->Attr();
    uint64_t dev = a.ok() ? a->dev : 0;
    out += fmt::format("{} {} {}:{} {} {} {} - {} {} {}\n", m->id,
                       m->parent ? m->parent->id : m->id, major(dev),
                       minor(dev), Mangle(RootInFilesystem(*m)), Mangle(at),
                       MountOptions(*m, m->read_only), m->fstype,
                       Mangle(m->source), SuperOptions(*m));
  }
  return out;
}

void AddSystemFiles(const FsPtr& fs, ProcDir& root) {
  Kernel& k = fs->kernel;
  root.AddFile("meminfo",
               [](Task*) -> Result<std::string> { return FormatMeminfo(); });
  root.AddFile("cpuinfo",
               [](Task*) -> Result<std::string> { return FormatCpuinfo(); });
  root.AddFile(
      "stat", [&k](Task*) -> Result<std::string> { return FormatProcStat(k); });
  root.AddFile("uptime",
               [&k](Task*) -> Result<std::string> { return FormatUptime(k); });
  root.AddFile("loadavg",
               [&k](Task*) -> Result<std::string> { return FormatLoadavg(k); });
  root.AddFile("version",
               Text(fmt::format("Linux version {} (moat@moat) (moat) {}\n",
                                kKernelRelease, kKernelVersion)));
  root.AddFile("filesystems",
               Text("nodev\ttmpfs\nnodev\tproc\nnodev\tdevtmpfs\n"
                    "nodev\tdevpts\nnodev\tpipefs\nnodev\toverlay\n"));
  root.AddFile("cmdline", Text("moat\n"));
  auto sysvipc = root.Subdir("sysvipc");
  IpcNamespace& ns = *k.ipc;
  sysvipc->AddFile(
      "shm", [&ns](Task*) -> Result<std::string> { return FormatSysvShm(ns); });
  sysvipc->AddFile(
      "sem", [&ns](Task*) -> Result<std::string> { return FormatSysvSem(ns); });
  sysvipc->AddFile(
      "msg", [&ns](Task*) -> Result<std::string> { return FormatSysvMsg(ns); });
}

// The System V IPC limits under /proc/sys/kernel.
void AddIpcSysctls(const FsPtr& fs, ProcDir& kernel) {
  IpcLimits& l = fs->kernel.ipc->limits;
  kernel.AddFile("shmmax", [&l](Task*) -> Result<std::string> {
    return std::to_string(l.shmmax) + "\n";
  });
  kernel.AddFile("shmall", [&l](Task*) -> Result<std::string> {
    return std::to_string(l.shmall) + "\n";
  });
  kernel.Add("shmmni", IntSysctl(fs, &l.shmmni));
  kernel.AddFile("sem", [&l](Task*) -> Result<std::string> {
    return fmt::format("{}\t{}\t{}\t{}\n", l.semmsl, l.semmns, l.semopm,
                       l.semmni);
  });
  kernel.Add("msgmax", IntSysctl(fs, &l.msgmax));
  kernel.Add("msgmnb", IntSysctl(fs, &l.msgmnb));
  kernel.Add("msgmni", IntSysctl(fs, &l.msgmni));
}

void AddSysctlFiles(const FsPtr& fs, ProcDir& root) {
  Kernel& k = fs->kernel;
  auto sys = root.Subdir("sys");
  auto kernel = sys->Subdir("kernel");
  kernel->Add("hostname", std::make_shared<ProcFile>(
                              fs, 0644, Config(k, &KernelConfig::hostname),
                              SetString(k, &KernelConfig::hostname)));
  kernel->Add("domainname", std::make_shared<ProcFile>(
                                fs, 0644, Config(k, &KernelConfig::domainname),
                                SetString(k, &KernelConfig::domainname)));
  kernel->AddFile("osrelease", Text(std::string(kKernelRelease) + "\n"));
  kernel->AddFile("ostype", Text("Linux\n"));
  kernel->AddFile("version", Text(std::string(kKernelVersion) + "\n"));
  kernel->AddFile("pid_max", Text("4194304\n"));
  kernel->AddFile("threads-max", Text("126582\n"));
  kernel->AddFile("ngroups_max", Text("65536\n"));
  kernel->AddFile("cap_last_cap", Text("40\n"));
  AddIpcSysctls(fs, *kernel);

  auto random = kernel->Subdir("random");
  random->AddFile("boot_id", Text(fs->boot_id + "\n"));
  random->AddFile(
      "uuid", [](Task*) -> Result<std::string> { return NewUuid() + "\n"; });

  auto vm = sys->Subdir("vm");
  vm->AddFile("overcommit_memory", Text("0\n"));
  vm->AddFile("max_map_count", Text("65530\n"));

  auto fsdir = sys->Subdir("fs");
  fsdir->AddFile("file-max", Text("9223372036854775807\n"));
  fsdir->AddFile("nr_open", Text("1048576\n"));
  auto inotify = fsdir->Subdir("inotify");
  InotifyLimits& limits = inotify_limits();
  inotify->Add("max_queued_events", IntSysctl(fs, &limits.max_queued_events));
  inotify->Add("max_user_instances", IntSysctl(fs, &limits.max_user_instances));
  inotify->Add("max_user_watches", IntSysctl(fs, &limits.max_user_watches));
  sys->Subdir("net")->Subdir("core")->AddFile("somaxconn", Text("4096\n"));
}

}  // namespace moat::proc
