// /proc/[pid]/stat, status, statm and limits, in the formats of Linux
// fs/proc/array.c and fs/proc/base.c:proc_pid_limits.
#include <fmt/format.h>
#include <sys/sysmacros.h>

#include "fs/host_fd.h"
#include "fs/proc_internal.h"
#include "util/host_info.h"
#include "kernel/kernel.h"
#include "kernel/seccomp.h"
#include "kernel/task.h"
#include "vfs/fd_table.h"

namespace moat::proc {
namespace {

constexpr uint64_t kTicksPerSecond = 100;
// All capabilities up to CAP_CHECKPOINT_RESTORE (40), matching
// /proc/sys/kernel/cap_last_cap.
constexpr uint64_t kCapMask = (1ull << 41) - 1;
// PF_RANDOMIZE: what a plain user process shows in stat's flags field.
constexpr uint64_t kTaskFlags = 0x00400000;

uint64_t Ticks(std::chrono::nanoseconds ns) {
  return uint64_t(ns.count()) / (1000000000 / kTicksPerSecond);
}

struct MemStats {
  uint64_t size = 0, rss = 0, data = 0, stack = 0, exe = 0, lib = 0;
  uint64_t start_code = 0, end_code = 0, start_data = 0, end_data = 0;
};

MemStats MemOf(const MemoryManager& mm) {
  MemStats s;
  s.size = mm.VirtualSize();
  s.rss = mm.ResidentPages() * kPageSize;
  for (auto& [start, v] : mm.vmas()) {
    uint64_t len = v.end - v.start;
    bool is_exe = !mm.exe_path.empty() && v.name == mm.exe_path;
    if (v.growsdown || v.name == "[stack]") {
      s.stack += len;
    } else if ((v.prot & PROT_WRITE) && !v.shared) {
      s.data += len;
    }
    if (v.prot & PROT_EXEC) {
      if (is_exe) {
        s.exe += len;
        if (!s.start_code) s.start_code = v.start, s.end_code = v.end;
      } else if (!v.name.empty() && v.name[0] == '/') {
        s.lib += len;
      }
    }
    if (is_exe && (v.prot & PROT_WRITE) && !s.start_data)
      s.start_data = v.start, s.end_data = v.end;
  }
  return s;
}

// Linux's new_encode_dev, as stat's tty_nr field carries it.
uint64_t EncodeDev(uint64_t dev) {
  uint64_t ma = major(dev), mi = minor(dev);
  return (mi & 0xff) | (ma << 8) | ((mi & ~0xffull) << 12);
}

struct TtyInfo {
  uint64_t nr = 0;
  int pgrp = -1;
};

TtyInfo TtyOf(ThreadGroup& tg) {
  TtyInfo info;
  if (!tg.pgrp || !tg.pgrp->session) return info;
  auto tty = tg.pgrp->session->controlling_tty;
  if (!tty) return info;
  if (auto a = tty->Stat(); a.ok() && S_ISCHR(a->mode))
    info.nr = EncodeDev(a->rdev);
  if (auto* host = dynamic_cast<HostFdFile*>(tty.get()))
    info.pgrp = host->foreground_pgrp;
  return info;
}

// Signals whose handler is SIG_IGN, and those with a handler.
std::pair<SignalSet, SignalSet> Dispositions(Task* task) {
  SignalSet ign = 0, cgt = 0;
  if (!task || !task->handlers) return {0, 0};
  for (int sig = 1; sig <= kMaxSignal; sig++) {
    uint64_t h = task->handlers->actions[sig].handler;
    if (h == uint64_t(SIG_IGN))
      ign |= SigBit(sig);
    else if (h != uint64_t(SIG_DFL))
      cgt |= SigBit(sig);
  }
  return {ign, cgt};
}

std::string Kb(const char* label, uint64_t bytes) {
  return fmt::format("{}\t{:>8} kB\n", label, bytes / 1024);
}

// The CPUs a task may run on, as Linux's "%*pb": 32-bit hex words, comma
// separated. Every CPU, as sched_getaffinity(2) reports.
std::string CpuMask(int ncpu) {
  std::string out;
  int words = (ncpu + 31) / 32;
  for (int w = words - 1; w >= 0; w--) {
    int bits = std::min(32, ncpu - w * 32);
    uint32_t word = bits == 32 ? ~0u : (1u << bits) - 1;
    if (w == words - 1)
      out += fmt::format("{:0{}x}", word, (bits + 3) / 4);
    else
      out += fmt::format(",{:08x}", word);
  }
  return out;
}

int FdSize(Task* task) {
  int max_fd = 0;
  if (task && task->fds && !task->fds->entries().empty())
    max_fd = task->fds->entries().rbegin()->first;
  int n = 64;
  while (n <= max_fd) n *= 2;
  return n;
}

std::string StatusIds(ThreadGroup& tg, Task* task, int id) {
  auto parent = tg.parent.lock();
  const Credentials& c = task ? task->creds : Credentials();
  std::string groups;
  for (uint32_t g : c.groups) groups += fmt::format("{} ", g);
  int pgid = tg.pgrp ? tg.pgrp->pgid : 0;
  int sid = tg.pgrp && tg.pgrp->session ? tg.pgrp->session->sid : 0;
  return fmt::format(
      "Tgid:\t{}\nNgid:\t0\nPid:\t{}\nPPid:\t{}\nTracerPid:\t0\n"
      "Uid:\t{}\t{}\t{}\t{}\nGid:\t{}\t{}\t{}\t{}\nFDSize:\t{}\n"
      "Groups:\t{}\nNStgid:\t{}\nNSpid:\t{}\nNSpgid:\t{}\nNSsid:\t{}\n"
      "Kthread:\t0\n",
      tg.tgid, id, parent ? parent->tgid : 0, c.ruid, c.euid, c.suid, c.fsuid,
      c.rgid, c.egid, c.sgid, c.fsgid, FdSize(task), groups, tg.tgid, id, pgid,
      sid);
}

std::string StatusMem(Task* task) {
  if (!task || !task->mm_) return "";
  MemStats m = MemOf(*task->mm_);
  uint64_t pte_kb = (m.size / kPageSize / 512 + 1) * 4;
  return Kb("VmPeak:", m.size) + Kb("VmSize:", m.size) + Kb("VmLck:", 0) +
         Kb("VmPin:", 0) + Kb("VmHWM:", m.rss) + Kb("VmRSS:", m.rss) +
         Kb("RssAnon:", m.rss) + Kb("RssFile:", 0) + Kb("RssShmem:", 0) +
         Kb("VmData:", m.data) + Kb("VmStk:", m.stack) + Kb("VmExe:", m.exe) +
         Kb("VmLib:", m.lib) + Kb("VmPTE:", pte_kb * 1024) + Kb("VmSwap:", 0) +
         Kb("HugetlbPages:", 0);
}

std::string StatusSignals(ThreadGroup& tg, Task* task) {
  auto [ign, cgt] = Dispositions(task);
  SignalSet pending = task ? task->pending.set() : 0;
  SignalSet blocked = task ? task->blocked : 0;
  return fmt::format(
      "Threads:\t{}\nSigQ:\t0/{}\nSigPnd:\t{:016x}\nShdPnd:\t{:016x}\n"
      "SigBlk:\t{:016x}\nSigIgn:\t{:016x}\nSigCgt:\t{:016x}\n",
      tg.tasks.size(), tg.rlimits[RLIMIT_SIGPENDING].rlim_cur, pending,
      tg.shared_pending.set(), blocked, ign, cgt);
}

int SeccompFilterCount(Task* task) {
  if (task == nullptr || !task->seccomp_filter) return 0;
  return task->seccomp_filter->count;
}

std::string StatusRest(Task* task) {
  const Credentials& c = task ? task->creds : Credentials();
  int ncpu = SandboxCpuCount();
  Rusage r = task ? task->rusage : Rusage();
  return fmt::format(
      "CapInh:\t{:016x}\nCapPrm:\t{:016x}\nCapEff:\t{:016x}\n"
      "CapBnd:\t{:016x}\nCapAmb:\t{:016x}\nNoNewPrivs:\t{:d}\nSeccomp:\t{}\n"
      "Seccomp_filters:\t{}\nSpeculation_Store_Bypass:\tunknown\n"
      "SpeculationIndirectBranch:\tunknown\nCpus_allowed:\t{}\n"
      "Cpus_allowed_list:\t{}\nMems_allowed:\t00000001\n"
      "Mems_allowed_list:\t0\nvoluntary_ctxt_switches:\t{}\n"
      "nonvoluntary_ctxt_switches:\t{}\n",
      c.cap_inheritable & kCapMask, c.cap_permitted & kCapMask,
      c.cap_effective & kCapMask, c.cap_bounding & kCapMask, 0,
      task != nullptr && task->no_new_privs,
      task != nullptr ? task->seccomp_mode : 0, SeccompFilterCount(task),
      CpuMask(ncpu),
      ncpu > 1 ? fmt::format("0-{}", ncpu - 1) : "0", r.nvcsw, r.nivcsw);
}

}  // namespace

char StateOf(ThreadGroup& tg, Task* task) {
  // A leader that exited before its other threads stays a zombie until
  // the whole group is gone, as on Linux.
  if (!task || task->exited) return tg.reaped ? 'X' : 'Z';
  if (tg.stopped) return 'T';
  if (task == CurrentTask()) return 'R';
  return task->is_sleeping() ? 'S' : 'R';
}

std::string FormatStatus(ThreadGroup& tg, Task* task, int id) {
  static const std::map<char, const char*> kStates = {{'R', "R (running)"},
                                                      {'S', "S (sleeping)"},
                                                      {'T', "T (stopped)"},
                                                      {'Z', "Z (zombie)"},
                                                      {'X', "X (dead)"}};
  std::string name = task ? task->comm : tg.comm();
  uint32_t umask = task && task->fs ? task->fs->umask : 022;
  return fmt::format("Name:\t{}\nUmask:\t{:04o}\nState:\t{}\n", name, umask,
                     kStates.at(StateOf(tg, task))) +
         StatusIds(tg, task, id) + StatusMem(task) +
         "CoreDumping:\t0\nTHP_enabled:\t1\n" + StatusSignals(tg, task) +
         StatusRest(task);
}

// The state of /proc/[pid]/stat: a process whose leader exited before its
// other threads shows the leader's zombie state, as on Linux.
char ProcessState(ThreadGroup& tg, Task* task, bool whole) {
  if (whole && !tg.reaped) {
    auto leader = tg.Leader();
    if (!leader || leader->exited) return 'Z';
  }
  return StateOf(tg, task);
}

std::string FormatStat(ThreadGroup& tg, Task* task, int id, bool whole) {
  auto parent = tg.parent.lock();
  TtyInfo tty = TtyOf(tg);
  // A process shows the sum over its threads, and a thread its own.
  Rusage r = whole ? tg.TotalRusage() : (task ? task->rusage : Rusage());
  const Rusage& kids = tg.rusage_children;
  MemStats m = task && task->mm_ ? MemOf(*task->mm_) : MemStats();
  MemoryManager* mm = task ? task->mm_.get() : nullptr;
  auto [ign, cgt] = Dispositions(task);
  SignalSet pending = task ? task->pending.set() : 0;
  if (whole) pending |= tg.shared_pending.set();
  int nice = task ? int(task->nice) : 0;
  uint64_t start = task ? Ticks(SinceBoot(task->start_time)) : 0;
  std::string out = fmt::format(
      "{} ({}) {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} 0 {} "
      "{} {} {} ",
      id, task ? task->comm : tg.comm(), ProcessState(tg, task, whole),
      parent ? parent->tgid : 0, tg.pgrp ? tg.pgrp->pgid : 0,
      tg.pgrp && tg.pgrp->session ? tg.pgrp->session->sid : 0, tty.nr, tty.pgrp,
      kTaskFlags, r.minflt, kids.minflt, r.majflt, kids.majflt, Ticks(r.utime),
      Ticks(r.stime), Ticks(kids.utime), Ticks(kids.stime), 20 + nice, nice,
      tg.tasks.size(), start, m.size, m.rss / kPageSize,
      tg.rlimits[RLIMIT_RSS].rlim_cur);
  // Linux prints the signal fields cut to 31 bits for old readers, and
  // status has the full sets.
  out += fmt::format(
      "{} {} {} 0 0 {} {} {} {} 0 0 0 {} 0 0 0 0 0 0 {} {} {} {} {} {} {} {}"
      "\n",
      m.start_code, m.end_code, mm ? mm->arg_start : 0, pending & 0x7fffffff,
      (task ? task->blocked : 0) & 0x7fffffff, ign & 0x7fffffff,
      cgt & 0x7fffffff, tg.exit_signal, m.start_data, m.end_data,
      mm ? mm->brk_start : 0, mm ? mm->arg_start : 0, mm ? mm->arg_end : 0,
      mm ? mm->env_start : 0, mm ? mm->env_end : 0,
      tg.zombie ? tg.group_exit_status : 0);
  return out;
}

std::string FormatStatm(Task* task) {
  if (!task || !task->mm_) return "0 0 0 0 0 0 0\n";
  MemStats m = MemOf(*task->mm_);
  return fmt::format("{} {} 0 {} 0 {} 0\n", m.size / kPageSize,
                     m.rss / kPageSize, m.exe / kPageSize,
                     (m.data + m.stack) / kPageSize);
}

std::string FormatLimits(ThreadGroup& tg) {
  struct Row {
    const char* name;
    const char* unit;
  };
  static constexpr Row kRows[RLIM_NLIMITS] = {
      {"Max cpu time", "seconds"},        {"Max file size", "bytes"},
      {"Max data size", "bytes"},         {"Max stack size", "bytes"},
      {"Max core file size", "bytes"},    {"Max resident set", "bytes"},
      {"Max processes", "processes"},     {"Max open files", "files"},
      {"Max locked memory", "bytes"},     {"Max address space", "bytes"},
      {"Max file locks", "locks"},        {"Max pending signals", "signals"},
      {"Max msgqueue size", "bytes"},     {"Max nice priority", nullptr},
      {"Max realtime priority", nullptr}, {"Max realtime timeout", "us"}};
  auto value = [](rlim_t v) {
    return v == RLIM_INFINITY ? std::string("unlimited") : std::to_string(v);
  };
  std::string out = fmt::format("{:<25} {:<20} {:<20} {:<10}\n", "Limit",
                                "Soft Limit", "Hard Limit", "Units");
  for (int i = 0; i < RLIM_NLIMITS; i++) {
    out += fmt::format("{:<25} {:<20} {:<20} ", kRows[i].name,
                       value(tg.rlimits[i].rlim_cur),
                       value(tg.rlimits[i].rlim_max));
    out += kRows[i].unit ? fmt::format("{:<10}\n", kRows[i].unit) : "\n";
  }
  return out;
}

}  // namespace moat::proc
