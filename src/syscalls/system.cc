// System information and per-process settings: uname(2), rlimits,
// prctl(2), arch_prctl(2), scheduling and randomness.
#include <asm/prctl.h>
#include <linux/capability.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/sysinfo.h>
#include <sys/times.h>
#include <sys/utsname.h>

#include <cstring>

#include "mm/memory_file.h"
#include "syscalls/handlers.h"
#include "syscalls/util.h"
#include "util/host_info.h"

namespace moat {

struct rusage RusageOf(const Rusage& r);

namespace {

void CopyField(char* dst, const std::string& src) {
  strncpy(dst, src.c_str(), _UTSNAME_LENGTH - 1);
  dst[_UTSNAME_LENGTH - 1] = 0;
}

int NumCpus() { return SandboxCpuCount(); }

}  // namespace

// Implements uname(2).
int64_t Uname(Task& t, const SyscallArgs& args) {
  struct utsname u = {};
  CopyField(u.sysname, "Linux");
  CopyField(u.nodename, t.kernel().config().hostname);
  CopyField(u.release, kKernelRelease);
  CopyField(u.version, kKernelVersion);
  CopyField(u.machine, "x86_64");
  CopyField(u.domainname, t.kernel().config().domainname);
  return ToReturn(t.mm().Write(args[0], u));
}

int64_t SetName(Task& t, uint64_t addr, int64_t len, std::string* out) {
  if (!t.creds.HasCapability(21)) return -EPERM;  // CAP_SYS_ADMIN
  if (len < 0 || len > 64) return -EINVAL;
  std::string name(len, '\0');
  if (!t.mm().CopyIn(addr, name.data(), len).ok()) return -EFAULT;
  *out = name;
  return 0;
}

// Implements sethostname(2).
int64_t Sethostname(Task& t, const SyscallArgs& args) {
  return SetName(t, args[0], int64_t(args[1]),
                 &t.kernel().config().hostname);
}

// Implements setdomainname(2).
int64_t Setdomainname(Task& t, const SyscallArgs& args) {
  return SetName(t, args[0], int64_t(args[1]),
                 &t.kernel().config().domainname);
}

// Implements prlimit64(2).
int64_t Prlimit64(Task& t, const SyscallArgs& args) {
  int pid = args.Int(0);
  unsigned resource = args[1];
  if (resource >= RLIM_NLIMITS) return -EINVAL;
  auto tg = pid == 0 ? t.tg_ptr() : t.kernel().GroupByTgid(pid);
  if (!tg || tg->zombie) return -ESRCH;
  struct rlimit& lim = tg->rlimits[resource];
  struct rlimit old = lim;
  if (args[2]) {
    auto next = t.mm().Read<struct rlimit>(args[2]);
    if (!next.ok()) return -EFAULT;
    if (next->rlim_cur > next->rlim_max) return -EINVAL;
    if (next->rlim_max > lim.rlim_max && !t.creds.HasCapability(24))
      return -EPERM;  // CAP_SYS_RESOURCE
    if (resource == RLIMIT_NOFILE && next->rlim_max > 1048576) return -EPERM;
    lim = next.value();
    if (resource == RLIMIT_CPU) t.kernel().EnsureCpuTick();
  }
  if (args[3] && !t.mm().Write(args[3], old).ok()) return -EFAULT;
  return 0;
}

// Implements getrlimit(2).
int64_t Getrlimit(Task& t, const SyscallArgs& args) {
  return Prlimit64(t, SyscallArgs{{0, args[0], 0, args[1], 0, 0}});
}

// Implements setrlimit(2).
int64_t Setrlimit(Task& t, const SyscallArgs& args) {
  return Prlimit64(t, SyscallArgs{{0, args[0], args[1], 0, 0, 0}});
}

// Implements getrusage(2).
int64_t Getrusage(Task& t, const SyscallArgs& args) {
  int who = args.Int(0);
  Rusage r;
  switch (who) {
    case RUSAGE_SELF: r = t.tg().TotalRusage(); break;
    case RUSAGE_CHILDREN: r = t.tg().rusage_children; break;
    case RUSAGE_THREAD: r = t.rusage; break;
    default: return -EINVAL;
  }
  r.maxrss_kb = std::max<uint64_t>(r.maxrss_kb,
                                   t.mm().ResidentPages() * kPageSize / 1024);
  return ToReturn(t.mm().Write(args[1], RusageOf(r)));
}

// Implements times(2).
int64_t Times(Task& t, const SyscallArgs& args) {
  auto ticks = [](std::chrono::nanoseconds ns) {
    return clock_t(ns.count() / 10000000);
  };
  if (args[0]) {
    Rusage self = t.tg().TotalRusage();
    Rusage kids = t.tg().rusage_children;
    struct tms tm = {ticks(self.utime), ticks(self.stime), ticks(kids.utime),
                     ticks(kids.stime)};
    if (!t.mm().Write(args[0], tm).ok()) return -EFAULT;
  }
  return ticks(Clock::now() - t.kernel().boot_time()) + 100000;
}

// Implements sysinfo(2) from the sandbox's own view.
int64_t Sysinfo(Task& t, const SyscallArgs& args) {
  struct sysinfo host;
  ::sysinfo(&host);
  struct sysinfo si = {};
  si.uptime = std::chrono::duration_cast<std::chrono::seconds>(
                  Clock::now() - t.kernel().boot_time())
                  .count();
  si.totalram = host.totalram * host.mem_unit;
  // With --memory the limit is the total, so that a program that sizes its
  // caches by the total memory fits in the limit.
  uint64_t limit = MemoryFile::Get().LimitBytes();
  if (limit && limit < si.totalram) si.totalram = limit;
  uint64_t used = MemoryFile::Get().UsedBytes();
  si.freeram = si.totalram > used ? si.totalram - used : 0;
  si.procs = uint16_t(t.kernel().Groups().size());
  si.mem_unit = 1;
  return ToReturn(t.mm().Write(args[0], si));
}

// Implements arch_prctl(2).
int64_t ArchPrctl(Task& t, const SyscallArgs& args) {
  switch (args.Int(0)) {
    case ARCH_SET_FS:
      if (args[1] >= kUserEnd) return -EPERM;
      t.regs.fs_base = args[1];
      return 0;
    case ARCH_GET_FS:
      return ToReturn(t.mm().Write<uint64_t>(args[1], t.regs.fs_base));
    case ARCH_SET_GS:
      if (args[1] >= kUserEnd) return -EPERM;
      // Patched call sites find their way into the kernel through the GS
      // base, which is now the program's (mm/syscall_patch.cc).
      if (args[1] != 0) t.mm().StopPatching();
      t.regs.gs_base = args[1];
      return 0;
    case ARCH_GET_GS:
      return ToReturn(t.mm().Write<uint64_t>(args[1], t.regs.gs_base));
    case ARCH_GET_CPUID:
      return 1;
    case ARCH_SET_CPUID:
      return -ENODEV;
  }
  return -EINVAL;
}

// Implements prctl(2) for the options programs commonly use.
int64_t Prctl(Task& t, const SyscallArgs& args) {
  switch (args.Int(0)) {
    case PR_SET_NAME: {
      auto name = t.mm().CopyInString(args[1], 16);
      std::string n;
      if (name.ok()) {
        n = name.value();
      } else {
        char buf[16];
        if (!t.mm().CopyIn(args[1], buf, 16).ok()) return -EFAULT;
        n.assign(buf, strnlen(buf, 15));
      }
      t.comm = n.substr(0, 15);
      return 0;
    }
    case PR_GET_NAME: {
      char buf[16] = {};
      strncpy(buf, t.comm.c_str(), 15);
      return ToReturn(t.mm().CopyOut(args[1], buf, 16));
    }
    case PR_SET_PDEATHSIG:
      if (args[1] > uint64_t(kMaxSignal)) return -EINVAL;
      t.pdeath_signal = int(args[1]);
      return 0;
    case PR_GET_PDEATHSIG:
      return ToReturn(t.mm().Write<int>(args[1], t.pdeath_signal));
    case PR_GET_DUMPABLE:
      return t.tg().dumpable ? 1 : 0;
    case PR_SET_DUMPABLE:
      if (args[1] > 1) return -EINVAL;
      t.tg().dumpable = args[1] == 1;
      return 0;
    case PR_SET_NO_NEW_PRIVS:
      if (args[1] != 1 || args[2] || args[3] || args[4]) return -EINVAL;
      t.no_new_privs = true;
      return 0;
    case PR_GET_NO_NEW_PRIVS:
      if (args[1] || args[2] || args[3] || args[4]) return -EINVAL;
      return t.no_new_privs ? 1 : 0;
    case PR_GET_SECCOMP:
      return t.seccomp_mode;
    case PR_SET_SECCOMP:
      return PrctlSetSeccomp(t, args[1], args[2]);
    case PR_SET_CHILD_SUBREAPER:
      t.tg().child_subreaper = args[1] != 0;
      return 0;
    case PR_GET_CHILD_SUBREAPER:
      return ToReturn(t.mm().Write<int>(args[1], t.tg().child_subreaper));
    case PR_SET_TIMERSLACK:
      t.timer_slack_ns = args[1] ? args[1] : 50000;
      return 0;
    case PR_GET_TIMERSLACK:
      return int64_t(t.timer_slack_ns);
    case PR_SET_KEEPCAPS:
    case PR_SET_THP_DISABLE:
      return args[1] > 1 ? -EINVAL : 0;
    case PR_GET_KEEPCAPS:
    case PR_GET_THP_DISABLE:
      return 0;
    case PR_CAPBSET_READ:
      if (args[1] > CAP_LAST_CAP) return -EINVAL;
      return (t.creds.cap_bounding >> args[1]) & 1;
    case PR_CAPBSET_DROP:
      if (args[1] > CAP_LAST_CAP) return -EINVAL;
      t.creds.cap_bounding &= ~(1ull << args[1]);
      return 0;
    case PR_CAP_AMBIENT:
      return args[1] == PR_CAP_AMBIENT_IS_SET ? 0 : -EINVAL;
    case PR_SET_MM:
      return -EPERM;
    case PR_SET_VMA:
      return -EINVAL;
  }
  return -EINVAL;
}

// Implements capget(2).
int64_t Capget(Task& t, const SyscallArgs& args) {
  auto hdr = t.mm().Read<struct __user_cap_header_struct>(args[0]);
  if (!hdr.ok()) return -EFAULT;
  if (hdr->version != _LINUX_CAPABILITY_VERSION_3 &&
      hdr->version != _LINUX_CAPABILITY_VERSION_2 &&
      hdr->version != _LINUX_CAPABILITY_VERSION_1) {
    hdr->version = _LINUX_CAPABILITY_VERSION_3;
    (void)t.mm().Write(args[0], hdr.value());
    return args[1] ? -EINVAL : 0;
  }
  if (!args[1]) return 0;
  int words = hdr->version == _LINUX_CAPABILITY_VERSION_1 ? 1 : 2;
  struct __user_cap_data_struct data[2] = {};
  const Credentials& c = t.creds;
  for (int i = 0; i < 2; i++) {
    data[i].effective = uint32_t(c.cap_effective >> (32 * i));
    data[i].permitted = uint32_t(c.cap_permitted >> (32 * i));
    data[i].inheritable = uint32_t(c.cap_inheritable >> (32 * i));
  }
  return ToReturn(t.mm().CopyOut(args[1], data, words * sizeof(data[0])));
}

// Implements capset(2): a task may only drop capabilities.
int64_t Capset(Task& t, const SyscallArgs& args) {
  auto hdr = t.mm().Read<struct __user_cap_header_struct>(args[0]);
  if (!hdr.ok()) return -EFAULT;
  if (hdr->version != _LINUX_CAPABILITY_VERSION_3 &&
      hdr->version != _LINUX_CAPABILITY_VERSION_2)
    return -EINVAL;
  if (hdr->pid != 0 && hdr->pid != t.tid) return -EPERM;
  struct __user_cap_data_struct data[2];
  if (!t.mm().CopyIn(args[1], data, sizeof(data)).ok()) return -EFAULT;
  auto join = [&](auto field) {
    return uint64_t(data[0].*field) | (uint64_t(data[1].*field) << 32);
  };
  uint64_t eff = join(&__user_cap_data_struct::effective);
  uint64_t perm = join(&__user_cap_data_struct::permitted);
  uint64_t inh = join(&__user_cap_data_struct::inheritable);
  Credentials& c = t.creds;
  if (perm & ~c.cap_permitted) return -EPERM;
  if (eff & ~perm) return -EPERM;
  const Credentials before = c;
  c.cap_effective = eff;
  c.cap_permitted = perm;
  c.cap_inheritable = inh;
  DropHostFilesIfChanged(t, before);
  return 0;
}

// Implements personality(2): only PER_LINUX exists here.
int64_t Personality(Task&, const SyscallArgs& args) {
  uint32_t p = uint32_t(args[0]);
  if (p != 0xffffffff && (p & 0xff) != 0) return -EINVAL;
  return 0;
}

// Implements sched_yield(2).
int64_t SchedYield(Task&, const SyscallArgs&) {
  std::this_thread::yield();
  return 0;
}

// Implements sched_getaffinity(2).
int64_t SchedGetaffinity(Task& t, const SyscallArgs& args) {
  uint32_t size = uint32_t(args[1]);  // an unsigned int in Linux
  if (size < sizeof(uint64_t) || size % sizeof(uint64_t)) return -EINVAL;
  int pid = args.Int(0);
  if (pid && !t.kernel().TaskByTid(pid)) return -ESRCH;
  auto target = pid ? t.kernel().TaskByTid(pid) : t.shared_from_this();
  // Only the kernel's mask is written, however long the buffer (Linux
  // kernel/sched/core.c: sched_getaffinity copies cpumask_size() bytes).
  size_t bytes = std::min<size_t>(size, ((NumCpus() + 63) / 64) * 8);
  std::vector<uint64_t> mask(bytes / 8, 0);
  for (int i = 0; i < NumCpus() && i < int(bytes * 8) && i < 32 * 64; i++)
    if (target->sched_affinity[i / 64] >> (i % 64) & 1)
      mask[i / 64] |= 1ull << (i % 64);
  if (!t.mm().CopyOut(args[2], mask.data(), bytes).ok()) return -EFAULT;
  return int64_t(bytes);
}

// Implements sched_setaffinity(2): accepted, as the host schedules.
int64_t SchedSetaffinity(Task& t, const SyscallArgs& args) {
  int pid = args.Int(0);
  auto target = pid ? t.kernel().TaskByTid(pid) : t.shared_from_this();
  if (!target) return -ESRCH;
  std::array<uint64_t, 32> mask{};
  size_t size = std::min<size_t>(args[1], sizeof(mask));
  if (!t.mm().CopyIn(args[2], mask.data(), size).ok()) return -EFAULT;
  // Keep only CPUs that exist; none left is EINVAL.
  bool any = false;
  for (int i = 0; i < 32 * 64; i++) {
    bool on = mask[i / 64] >> (i % 64) & 1;
    if (on && i >= NumCpus()) mask[i / 64] &= ~(1ull << (i % 64));
    any |= on && i < NumCpus();
  }
  if (!any) return -EINVAL;
  target->sched_affinity = mask;
  return 0;
}

// Implements sched_getscheduler(2), sched_getparam(2) and friends for the
// one policy moat has, SCHED_OTHER.
int64_t SchedGetscheduler(Task& t, const SyscallArgs& args) {
  if (args.Int(0) < 0) return -EINVAL;
  auto target = args.Int(0) ? t.kernel().TaskByTid(args.Int(0))
                            : t.shared_from_this();
  if (!target) return -ESRCH;
  return target->sched_policy;
}

// Implements sched_rr_get_interval(2) with Linux's default round-robin
// time slice of 100 ms.
int64_t SchedRrGetInterval(Task& t, const SyscallArgs& args) {
  if (args.Int(0) < 0) return -EINVAL;
  if (args.Int(0) && !t.kernel().TaskByTid(args.Int(0))) return -ESRCH;
  struct timespec slice = {0, 100000000};
  return ToReturn(t.mm().Write(args[1], slice));
}

int64_t SchedGetparam(Task& t, const SyscallArgs& args) {
  if (args.Int(0) < 0 || !args[1]) return -EINVAL;
  if (args.Int(0) && !t.kernel().TaskByTid(args.Int(0))) return -ESRCH;
  struct sched_param p = {0};
  return ToReturn(t.mm().Write(args[1], p));
}

int64_t SchedSetscheduler(Task& t, const SyscallArgs& args) {
  if (args.Int(0) < 0) return -EINVAL;
  int policy = args.Int(1) & ~SCHED_RESET_ON_FORK;
  if (policy != SCHED_OTHER && policy != SCHED_BATCH &&
      policy != SCHED_IDLE && policy != SCHED_FIFO && policy != SCHED_RR)
    return -EINVAL;
  auto param = t.mm().Read<struct sched_param>(args[2]);
  if (!param.ok()) return -EFAULT;
  bool realtime = policy == SCHED_FIFO || policy == SCHED_RR;
  int prio = param->sched_priority;
  if (realtime ? (prio < 1 || prio > 99) : prio != 0) return -EINVAL;
  // TODO: the host schedules stub threads; a real-time policy is accepted
  // but not applied.
  if (realtime && !t.creds.HasCapability(23)) return -EPERM;
  auto target = args.Int(0) ? t.kernel().TaskByTid(args.Int(0))
                            : t.shared_from_this();
  if (!target) return -ESRCH;
  target->sched_policy = policy;
  return 0;
}

int64_t SchedGetPriorityMax(Task&, const SyscallArgs& args) {
  int policy = args.Int(0);
  if (policy == SCHED_FIFO || policy == SCHED_RR) return 99;
  if (policy == SCHED_OTHER || policy == SCHED_BATCH || policy == SCHED_IDLE)
    return 0;
  return -EINVAL;
}

int64_t SchedGetPriorityMin(Task&, const SyscallArgs& args) {
  int policy = args.Int(0);
  if (policy == SCHED_FIFO || policy == SCHED_RR) return 1;
  if (policy == SCHED_OTHER || policy == SCHED_BATCH || policy == SCHED_IDLE)
    return 0;
  return -EINVAL;
}

// Implements getpriority(2) and setpriority(2) for the caller's own
// process; the nice value is recorded but does not change scheduling.
int64_t Getpriority(Task& t, const SyscallArgs& args) {
  if (args.Int(0) < PRIO_PROCESS || args.Int(0) > PRIO_USER) return -EINVAL;
  Task* target = &t;
  std::shared_ptr<Task> other;
  if (args.Int(0) == PRIO_PROCESS && args.Int(1) != 0) {
    other = t.kernel().TaskByTid(args.Int(1));
    if (!other) return -ESRCH;
    target = other.get();
  }
  return 20 - int64_t(target->nice);
}

int64_t Setpriority(Task& t, const SyscallArgs& args) {
  if (args.Int(0) < PRIO_PROCESS || args.Int(0) > PRIO_USER) return -EINVAL;
  int nice = std::clamp(args.Int(2), -20, 19);
  if (nice < int(t.nice) && !t.creds.HasCapability(23)) return -EACCES;
  t.nice = nice;
  return 0;
}

// Implements getcpu(2).
int64_t Getcpu(Task& t, const SyscallArgs& args) {
  // Reports the first CPU the task may run on, as it is pinned there when
  // it has only one.
  uint32_t cpu = 0;
  for (int i = 0; i < NumCpus(); i++)
    if (t.sched_affinity[i / 64] >> (i % 64) & 1) {
      cpu = i;
      break;
    }
  if (args[0] && !t.mm().Write<uint32_t>(args[0], cpu).ok()) return -EFAULT;
  if (args[1] && !t.mm().Write<uint32_t>(args[1], 0).ok()) return -EFAULT;
  return 0;
}

// Implements getrandom(2).
int64_t Getrandom(Task& t, const SyscallArgs& args) {
  unsigned flags = args[2];
  if (flags & ~unsigned(GRND_NONBLOCK | GRND_RANDOM | GRND_INSECURE))
    return -EINVAL;
  if ((flags & GRND_INSECURE) && (flags & GRND_RANDOM)) return -EINVAL;
  size_t len = std::min<size_t>(args[1], 33554431);
  std::vector<uint8_t> buf(std::min<size_t>(len, 1 << 20));
  ssize_t n = ::getrandom(buf.data(), buf.size(), 0);
  if (n < 0) return -errno;
  return t.mm().CopyOut(args[0], buf.data(), n).ok() ? n : -EFAULT;
}

}  // namespace moat

namespace moat {

// Implements rseq(2) as unsupported: glibc then falls back to the plain
// sched_getcpu path. ENOSYS here is deliberate, so it is not logged.
int64_t Rseq(Task&, const SyscallArgs&) { return -ENOSYS; }

}  // namespace moat
