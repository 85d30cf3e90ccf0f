// The kernel's seccomp allow-list, built with libseccomp. Every entry is a
// host call that moat's own code makes once the kernel is confined; the
// comment on each group says what needs it. Path-taking calls are absent:
// the kernel has an empty root and no directory descriptor.
#include <execinfo.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <termios.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

#include "platform/trap/trap_platform.h"
#include "sandbox/confine.h"
#include "syscalls/table.h"
#include "util/log.h"

namespace moat {
namespace {

// The clone flags glibc's pthread_create passes: only threads of the kernel
// itself may be created.
constexpr uint64_t kThreadCloneFlags =
    CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD |
    CLONE_SYSVSEM | CLONE_SETTLS | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID;

// Calls allowed with any arguments.
constexpr int kAllowed[] = {
    // I/O on descriptors the kernel holds: host stdio, the MemoryFile,
    // files from the gofer, the gofer socket, epoll and eventfd.
    SYS_read, SYS_write, SYS_readv, SYS_writev, SYS_pread64, SYS_pwrite64,
    SYS_preadv, SYS_pwritev, SYS_lseek, SYS_close, SYS_close_range,
    SYS_fstat, SYS_fsync, SYS_fdatasync, SYS_ftruncate, SYS_fallocate,
    SYS_dup, SYS_dup3, SYS_sendmsg, SYS_recvmsg, SYS_shutdown,
    SYS_epoll_create1, SYS_epoll_ctl, SYS_epoll_wait, SYS_epoll_pwait,
    SYS_eventfd2, SYS_pipe2, SYS_poll, SYS_ppoll, SYS_pidfd_open,
    // An OCI container's control socket (src/oci/control_server.cc). The
    // front end hands the kernel this listening socket, and the kernel has
    // no other, so accept4 reaches nothing new. Requests and their
    // descriptors then come by recvmsg.
    SYS_accept4,
    // Memory of the kernel itself (malloc, thread stacks, the MemoryFile
    // mapping).
    SYS_brk, SYS_munmap, SYS_mremap, SYS_madvise,
    // mincore(2) in the sandbox reads which MemoryFile frames have pages.
    SYS_mincore,
    // Threads, their waits and signals.
    SYS_futex, SYS_set_robust_list, SYS_rseq, SYS_sched_yield,
    SYS_sched_getaffinity, SYS_sched_setaffinity, SYS_rt_sigaction,
    SYS_rt_sigprocmask, SYS_rt_sigreturn, SYS_rt_sigtimedwait,
    SYS_sigaltstack, SYS_restart_syscall, SYS_exit, SYS_exit_group,
    SYS_gettid, SYS_getpid, SYS_getpgrp, SYS_tgkill, SYS_getrusage,
    // Time.
    SYS_clock_gettime, SYS_clock_getres, SYS_gettimeofday, SYS_nanosleep,
    SYS_clock_nanosleep,
    // Stubs: tracing them and ending them. The targets are the kernel's own
    // children, in its own pid namespace.
    SYS_ptrace, SYS_wait4, SYS_waitid, SYS_kill, SYS_pidfd_send_signal,
    // The trap platform's listener for its stubs' vetted calls, which the
    // master stub has first.
    SYS_pidfd_getfd,
    // Randomness for AT_RANDOM and getrandom(2); host memory totals for
    // /proc/meminfo and statfs of tmpfs.
    SYS_getrandom, SYS_sysinfo,
};

// ioctl commands on host terminals and pipes behind the sandbox's stdio.
constexpr unsigned long kIoctls[] = {
    TCGETS,    TCSETS,    TCSETSW,   TCSETSF,    TIOCGWINSZ, TIOCSWINSZ,
    TIOCGPGRP, TIOCSPGRP, TIOCGSID,  TCFLSH,     TCXONC,     TCSBRK,
    FIONREAD,  FIOCLEX,   FIONCLEX,  TIOCSCTTY,  TIOCNOTTY,
    // PIDFD_GET_INFO: how a trap platform stub thread died.
    kPidfdGetInfo,
    // The trap platform's vetting of its stubs' clone calls, and the host
    // files it puts in their processes.
    SECCOMP_IOCTL_NOTIF_RECV, SECCOMP_IOCTL_NOTIF_SEND,
    SECCOMP_IOCTL_NOTIF_ADDFD,
};

constexpr int kFcntls[] = {F_GETFD, F_SETFD, F_GETFL, F_SETFL,
                           F_DUPFD_CLOEXEC};

int g_audit_fd = -1;
std::atomic<uint64_t> g_audited[8];
// "moat: WHO stopped: ...", formatted when the handler is installed.
char g_stopped_prefix[128];

// Formats "prefix NAME (NR)\n" without allocating.
size_t FormatCall(char* buf, size_t size, const char* prefix, int nr) {
  const SyscallInfo* info = LookupSyscall(nr);
  const char* name = info != nullptr ? info->name : "unknown";
  char digits[16];
  int len = 0;
  unsigned v = static_cast<unsigned>(nr);
  do {
    digits[len++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0 && len < 15);
  size_t n = 0;
  for (const char* p = prefix; *p != '\0' && n < size; p++) buf[n++] = *p;
  for (const char* p = name; *p != '\0' && n < size; p++) buf[n++] = *p;
  if (n + 2 < size) {
    buf[n++] = ' ';
    buf[n++] = '(';
  }
  while (len > 0 && n < size) buf[n++] = digits[--len];
  if (n + 2 < size) {
    buf[n++] = ')';
    buf[n++] = '\n';
  }
  return n;
}

// SIGSYS from the filter: a host call outside the list. In audit mode the
// call fails with ENOSYS and is recorded once; otherwise the kernel stops.
void OnForbiddenCall(int, siginfo_t* info, void* context) {
  int nr = info->si_syscall;
  char line[160];
  if (g_audit_fd >= 0) {
    auto* uc = static_cast<ucontext_t*>(context);
    uc->uc_mcontext.gregs[REG_RAX] = -ENOSYS;
    uint64_t bit = 1ull << (nr % 64);
    auto& word = g_audited[(nr / 64) % 8];
    if ((word.fetch_or(bit) & bit) == 0) {
      size_t n = FormatCall(line, sizeof line, "moat: seccomp audit: ", nr);
      (void)!write(g_audit_fd, line, n);
      void* frames[16];
      backtrace_symbols_fd(frames, backtrace(frames, 16), g_audit_fd);
    }
    return;
  }
  size_t n = FormatCall(line, sizeof line, g_stopped_prefix, nr);
  (void)!write(STDERR_FILENO, line, n);
  signal(SIGSYS, SIG_DFL);
  raise(SIGSYS);
}

int AddRules(scmp_filter_ctx ctx) {
  int rc = 0;
  for (int nr : kAllowed) rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
  for (unsigned long cmd : kIoctls) {
    rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
                           SCMP_A1(SCMP_CMP_EQ, cmd));
  }
  for (int cmd : kFcntls) {
    rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(fcntl), 1,
                           SCMP_A1(SCMP_CMP_EQ, static_cast<scmp_datum_t>(cmd)));
  }
  rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
                         SCMP_A0(SCMP_CMP_EQ, kThreadCloneFlags));
  // glibc opens files by itself now and then (free(3) reads
  // /proc/sys/vm/overcommit_memory before it first shrinks a thread's
  // heap) and copes when they are missing, as they are in the empty root.
  // The call fails with ENOENT without being made.
  rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOENT), SCMP_SYS(openat), 0);
  rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOENT), SCMP_SYS(open), 0);
  // glibc falls back to clone(2) when clone3 is missing; clone3's flags sit
  // in memory, where the filter cannot check them.
  rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
  // The kernel never needs executable memory after it starts.
  rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
                         SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
  rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
                         SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
  // fstat(3) is fstatat(fd, "", AT_EMPTY_PATH) in glibc.
  rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(newfstatat), 1,
                         SCMP_A3(SCMP_CMP_EQ, AT_EMPTY_PATH));
  // getrlimit(2) of the kernel itself, which reads and never sets.
  rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prlimit64), 2,
                         SCMP_A0(SCMP_CMP_EQ, 0), SCMP_A2(SCMP_CMP_EQ, 0));
  // adjtimex(2) reads the host clock's state through clock_adjtime. A
  // change would need CAP_SYS_TIME on the host, which the kernel lacks.
  rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clock_adjtime), 1,
                         SCMP_A0(SCMP_CMP_EQ, CLOCK_REALTIME));
  rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
                         SCMP_A0(SCMP_CMP_EQ, PR_SET_NAME));
  return rc;
}

}  // namespace

void HandleForbiddenCalls(const char* who, bool audit) {
  if (audit) {
    // backtrace(3) loads libgcc_s on first use, which must not happen in
    // the handler, under the filter.
    void* frame;
    backtrace(&frame, 1);
    const std::string& log = LogPath();
    g_audit_fd = log.starts_with("fd:") ? atoi(log.c_str() + 3) : STDERR_FILENO;
  }
  snprintf(g_stopped_prefix, sizeof g_stopped_prefix,
           "moat: %s stopped: it made a host system call outside its "
           "seccomp allow-list: ",
           who);
  struct sigaction sa = {};
  sa.sa_sigaction = OnForbiddenCall;
  sa.sa_flags = SA_SIGINFO;
  sigaction(SIGSYS, &sa, nullptr);
}

Status InstallKernelFilter(bool audit) {
  HandleForbiddenCalls("kernel", audit);

  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_TRAP);
  if (ctx == nullptr) return Err(ENOMEM);
  int rc = AddRules(ctx);
  // Every thread gets the filter, those already running included.
  rc |= seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
  if (rc == 0) rc = seccomp_load(ctx);
  seccomp_release(ctx);
  if (rc != 0) {
    spdlog::error("installing the kernel's seccomp filter failed: {}",
                  strerror(-rc));
    return Err(-rc);
  }
  return Ok();
}

}  // namespace moat
