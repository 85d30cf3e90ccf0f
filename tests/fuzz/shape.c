// Shaping of the calls that could end the fuzzer itself: fatal signals at
// ourselves, unmapping our code or stacks, a new thread pointer, handlers
// we cannot return from; and what a call may have taken from the fuzzer,
// restored after it.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#include "args.h"

static int is_sync(int sig) {
  return sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE ||
         sig == SIGTRAP || sig == SIGSYS;
}

static int is_safe_signal(int64_t sig) {
  for (size_t i = 0; i < N(kSafeSignals); i++)
    if (sig == kSafeSignals[i]) return 1;
  return 0;
}

static void safe_signal(struct thread* t, int64_t* sig) {
  if (!is_safe_signal(*sig)) *sig = PICK(t, kSafeSignals);
}

static int is_bad_pointer(uint64_t p) {
  for (size_t i = 0; i < N(kBadPointers); i++)
    if (p == kBadPointers[i]) return 1;
  return 0;
}

// A range that calls may unmap or change: in the playground, or at
// addresses that are never ours, with a length that cannot reach our own
// mappings (code at 0x400000, stacks below moat's stub page).
static void own_range(struct thread* t, int64_t* addr, int64_t* len) {
  uint64_t p = (uint64_t)*addr, base = (uint64_t)g_proc.playground;
  uint64_t end = base + PLAYGROUND_SIZE;
  if (!is_bad_pointer(p) && (p < base || p >= end)) p = *addr = mm_addr(t);
  if (p >= 0x800000000000) return;  // never mapped, whatever the length
  uint64_t room = p >= base && p < end  ? end - p
                  : p < 0x100000        ? 0x100000 - p
                  : p >= 0x7fffffe00000 ? 0x800000000000 - p
                                        : 0;
  if (len && (uint64_t)*len > room) *len = room ? below(t, room) + 1 : 0;
}

// A pointer the kernel only reads a structure from, that we build: it is
// kept when it cannot be read at all.
static int keep_unreadable(struct thread* t, int64_t p) {
  return (is_bad_pointer(p) && p) || (uint64_t)p - (uint64_t)t->guard < PAGE;
}

// The kernel reads the signal number as an int, so only its low half
// counts.
static int64_t sigaction_struct(struct thread* t, int sig) {
  int64_t* sa = slot(t, 32);
  uint64_t fl = flags(t) & ~0x80000000UL;  // no SA_RESETHAND
  int ours = is_sync(sig) || sig == SIGUSR2 || one_in(t, 2);
  int dfl_ok =
      sig == SIGCHLD || sig == SIGURG || sig == SIGWINCH || sig == SIGCONT;
  if (ours) {
    sa[0] = (int64_t)on_signal;
    fl |= SA_SIGINFO | SA_ONSTACK;
  } else {
    sa[0] = dfl_ok && one_in(t, 2) ? (int64_t)SIG_DFL : (int64_t)SIG_IGN;
  }
  if (sig == SIGUSR2) fl &= ~(uint64_t)SA_RESTART;
  sa[1] = fl | 0x04000000;  // SA_RESTORER
  sa[2] = (int64_t)restore_rt;
  sa[3] = R(t);
  return (int64_t)sa;
}

// A signal mask for a call that waits with it: SIGUSR2, which the kicker
// sends, stays deliverable.
static int64_t wait_mask(struct thread* t) {
  uint64_t* set = slot(t, 8);
  *set = R(t) & ~(1UL << (SIGUSR2 - 1));
  return (int64_t)set;
}

static void shape_clone3(struct thread* t, int64_t a[6]) {
  if (keep_unreadable(t, a[0])) return;
  int64_t* ca = slot(t, 88);
  ca[0] = flags(t) & ~0xffL;
  for (int i = 1; i < 4; i++) ca[i] = one_in(t, 2) ? pointer(t) : 0;
  ca[4] = PICK(t, kSafeSignals);
  ca[5] = one_in(t, 2) ? pointer(t) : 0;
  ca[6] = one_in(t, 2) ? length(t) : 0;
  ca[7] = one_in(t, 4) ? pointer(t) : 0;
  ca[8] = one_in(t, 4) ? pointer(t) : 0;
  ca[9] = one_in(t, 4) ? (int64_t)below(t, 4) : 0;
  ca[10] = one_in(t, 4) ? fd(t) : 0;
  a[0] = (int64_t)ca;
  a[1] = (int64_t[]){64, 80, 88, 96, 8}[below(t, 5)];
}

static void shape_exec(struct thread* t, int64_t* path, int64_t* argv,
                       int64_t* envp) {
  if (!one_in(t, 64)) return;
  int64_t* v = slot(t, 32);
  if (one_in(t, 2)) {
    *path = (int64_t) "/proc/self/exe";
    v[0] = (int64_t) "fuzz-exec";
  } else {
    *path = (int64_t) "/bin/true";
    v[0] = (int64_t) "true";
  }
  v[1] = 0;
  *argv = (int64_t)v;
  *envp = 0;
}

static int64_t sigevent(struct thread* t, int64_t p) {
  if (keep_unreadable(t, p) || !p) return p;
  int32_t* ev = slot(t, 64);
  *(int64_t*)ev = R(t);
  ev[2] = PICK(t, kSafeSignals);
  ev[3] = (int32_t[]){0, 1, 2, 4, 4 | 2, (int32_t)R(t)}[below(t, 6)];
  ev[4] = g_proc.tids[below(t, g_proc.opt.threads)];
  return (int64_t)ev;
}

static void shape_rlimit(struct thread* t, int64_t resource, int64_t* new) {
  (void)t;
  uint32_t r = (uint32_t)resource;
  if (r == RLIMIT_CPU || r == RLIMIT_AS || r == RLIMIT_RTTIME) *new = 0;
}

void shape(struct thread* t, int nr, int64_t a[6]) {
  switch (nr) {
    case SYS_kill:
    case SYS_tkill:
    case SYS_rt_sigqueueinfo:
    case SYS_pidfd_send_signal:
      safe_signal(t, &a[1]);
      break;
    case SYS_tgkill:
    case SYS_rt_tgsigqueueinfo:
      safe_signal(t, &a[2]);
      break;
    case SYS_rt_sigaction:
      if (!a[1] && one_in(t, 2)) break;
      if (!keep_unreadable(t, a[1])) a[1] = sigaction_struct(t, (int)a[0]);
      break;
    case SYS_rt_sigsuspend:
      a[0] = wait_mask(t);
      break;
    case SYS_ppoll:
      if (a[3]) a[3] = wait_mask(t);
      break;
    case SYS_epoll_pwait:
    case SYS_epoll_pwait2:
      if (a[4]) a[4] = wait_mask(t);
      break;
    case SYS_pselect6:
      if (a[5]) {
        int64_t* m = slot(t, 16);
        m[0] = wait_mask(t);
        m[1] = 8;
        a[5] = (int64_t)m;
      }
      break;
    case SYS_sigaltstack:
      if (!keep_unreadable(t, a[0]) && a[0]) {
        int64_t* ss = slot(t, 24);
        ss[0] = (int64_t)(t->scratch + 8 * PAGE);
        ss[1] = (int64_t)(below(t, 4) ? 0 : flags(t));
        ss[2] = one_in(t, 4) ? length(t) : (int64_t)(4 * PAGE);
        a[0] = (int64_t)ss;
      }
      break;
    case SYS_arch_prctl:
      a[0] =
          (int64_t[]){0x1001, 0x1002, 0x1003, 0x1004,
                      0x1011, 0x1012, 0x2001, 0x2002,
                      0x2003, 0x3001, 0x3002, (int64_t)below(t, 0x4000)}[below(
              t, 12)];
      if (a[0] == 0x1002) a[1] = t->fs_base;  // ARCH_SET_FS
      break;
    case SYS_prctl:
      if ((uint32_t)a[0] == 22) a[0] = 21;  // no PR_SET_SECCOMP
      break;
    case SYS_setrlimit:
      shape_rlimit(t, a[0], &a[1]);
      break;
    case SYS_prlimit64:
      shape_rlimit(t, a[1], &a[2]);
      break;
    case SYS_clone:
      a[0] = (a[0] & ~0xffL) | PICK(t, kSafeSignals);
      break;
    case SYS_clone3:
      shape_clone3(t, a);
      break;
    case SYS_execve:
      shape_exec(t, &a[0], &a[1], &a[2]);
      break;
    case SYS_execveat:
      shape_exec(t, &a[1], &a[2], &a[3]);
      break;
    case SYS_timer_create:
      a[1] = sigevent(t, a[1]);
      break;
    case SYS_mq_notify:
      a[1] = sigevent(t, a[1]);
      break;
    case SYS_fcntl:
      if ((uint32_t)a[1] == 10) safe_signal(t, &a[2]);  // F_SETSIG
      break;
    case SYS_brk:
      if (a[0] && !is_bad_pointer(a[0]) && !one_in(t, 8))
        a[0] = g_proc.initial_brk + (1 << 20) + below(t, 4096) * PAGE;
      break;
    case SYS_mmap:
      // A hint without MAP_FIXED may be anything.
      if (a[3] & (MAP_FIXED | MAP_FIXED_NOREPLACE)) own_range(t, &a[0], &a[1]);
      break;
    case SYS_mprotect:
    case SYS_munmap:
    case SYS_msync:
    case SYS_madvise:
    case SYS_remap_file_pages:
    case SYS_pkey_mprotect:
    case SYS_mlock:
    case SYS_munlock:
    case SYS_mlock2:
    case 453 /* map_shadow_stack */:
    case SYS_mbind:
      own_range(t, &a[0], &a[1]);
      break;
    case SYS_shmdt:
      own_range(t, &a[0], NULL);
      break;
    case SYS_mremap:
      own_range(t, &a[0], &a[1]);
      own_range(t, &a[4], &a[2]);
      break;
    case SYS_shmat:
      own_range(t, &a[1], NULL);
      break;
    case SYS_pidfd_open:
      // The supervisor's descriptors are the host's output.
      if ((int)a[0] == g_shared->supervisor_pid) a[0] = g_proc.pid;
      break;
    case SYS_process_madvise: {
      int64_t* v = slot(t, 64);
      for (int i = 0; i < 4; i++) v[2 * i] = mm_addr(t), v[2 * i + 1] = PAGE;
      a[1] = (int64_t)v;
      break;
    }
  }
}

static void unblock_ours(void) {
  uint64_t set = 0;
  int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS, SIGUSR2};
  for (size_t i = 0; i < N(sigs); i++) set |= 1UL << (sigs[i] - 1);
  raw_syscall(SYS_rt_sigprocmask, SIG_UNBLOCK, (long)&set, 0, 8, 0, 0);
}

void after_call(struct thread* t, int nr) {
  (void)t;
  if (nr == SYS_rt_sigprocmask || nr < 0) unblock_ours();
  if (nr == SYS_sigaltstack || nr < 0) setup_altstack();
}
