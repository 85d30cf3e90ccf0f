// Argument generation: a call number and values of each argument kind
// (table.c); shape.c then adjusts the calls that could end the fuzzer.
#include "args.h"

#include <fcntl.h>
#include <linux/sched.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>

static const int64_t kInts[] = {
    0,          1,          2,          3,           4,    7,    8,     16,
    31,         32,         63,         64,          127,  128,  255,   256,
    511,        1023,       1024,       4095,        4096, 4097, 65535, 65536,
    0x7fffffff, 0x80000000, 0xffffffff, 0x100000000, -1,   -2,   -4095, -4096,
    INT64_MAX,  INT64_MIN,  1L << 40,   -100 /* AT_FDCWD */};

static const int64_t kLengths[] = {
    0,       1,          2,        7,        8,         16,   24,
    64,      100,        4095,     4096,     4097,      8192, 65536,
    1 << 20, 0x7ffff000, 1L << 32, 1L << 40, INT64_MAX, -1};

static const char* const kPaths[] = {
    "/",
    ".",
    "..",
    "",
    "/tmp",
    "/tmp/fz",
    "/tmp/fz/a",
    "/tmp/fz/b",
    "/tmp/fz/a/../b",
    "/tmp/fzlink",
    "/tmp/fzloop",
    "/tmp/fzfifo",
    "/tmp/fuzz-sock-0",
    "/tmp/fuzz-sock-1",
    "/proc/self/maps",
    "/proc/self/mem",
    "/proc/self/fd/3",
    "/proc/self/fd/200",
    "/proc/self/exe",
    "/proc/self/cwd/x",
    "/proc/1/status",
    "/proc/self/task",
    "/proc/sys/kernel/pid_max",
    "/proc/meminfo",
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/tty",
    "/dev/ptmx",
    "/dev/pts/0",
    "/dev/shm/fz",
    "/etc/passwd",
    "/etc/hostname",
    "/etc",
    "/bin/true",
    "/nonexistent/x",
    "fz-rel",
    "fz-rel/x",
    "/tmp/fz/a/b/c/d/e/f",
    "/./././tmp//fz/",
    "/tmp/fz/a/",
    "/sys",
};

static const char* const kXattrNames[] = {"user.fz",
                                          "user.a",
                                          "trusted.fz",
                                          "security.selinux",
                                          "system.posix_acl_access",
                                          "",
                                          "user.",
                                          "bogus"};

static const int64_t kIoctls[] = {0x5401 /* TCGETS */,
                                  0x5402 /* TCSETS */,
                                  0x5413 /* TIOCGWINSZ */,
                                  0x5414 /* TIOCSWINSZ */,
                                  0x541b /* FIONREAD */,
                                  0x5421 /* FIONBIO */,
                                  0x5451 /* FIOCLEX */,
                                  0x5450 /* FIONCLEX */,
                                  0x5452 /* FIOASYNC */,
                                  0x540f /* TIOCGPGRP */,
                                  0x5410 /* TIOCSPGRP */,
                                  0x540e /* TIOCSCTTY */,
                                  0x5422 /* TIOCNOTTY */,
                                  0x80045430 /* TIOCGPTN */,
                                  0x40045431 /* TIOCSPTLCK */,
                                  0x5441 /* TIOCGPTPEER */,
                                  0x5411 /* TIOCOUTQ */,
                                  0x540b /* TCFLSH */,
                                  0x5409 /* TCSBRK */,
                                  0x5429 /* TIOCGSID */,
                                  0x80086601 /* FS_IOC_GETFLAGS */,
                                  0x5412 /* TIOCSTI */,
                                  0x541c /* TIOCCONS */,
                                  0x5425 /* TCSBRKP */};

static const int64_t kFcntls[] = {
    0,  1,  2,  3,    4,    5,    6,    7,    8,    9,    10,   11,   15,   16,
    36, 37, 38, 1024, 1025, 1026, 1030, 1031, 1032, 1033, 1034, 1035, 1036, -1};

static const int64_t kPrctls[] = {
    1,  2,  3,  4,  7,  8,  15, 16, 21, 23, 24,         26,         29, 30, 33,
    35, 36, 37, 38, 39, 40, 41, 42, 47, 57, 0x53564d41, 0x59616d61, 0,  100};

int64_t any_int(struct thread* t) {
  switch (below(t, 6)) {
    case 0:
      return R(t);
    case 1:
      return (int32_t)R(t);
    case 2:
      return 1L << below(t, 64);
    case 3:
      return below(t, 64);
    default:
      return PICK(t, kInts);
  }
}

int64_t length(struct thread* t) {
  switch (below(t, 5)) {
    case 0:
      return below(t, 256);
    case 1:
      return below(t, SCRATCH_PAGES + 2) * PAGE + below(t, 3) - 1;
    case 2:
      return any_int(t);
    default:
      return PICK(t, kLengths);
  }
}

int64_t flags(struct thread* t) {
  switch (below(t, 5)) {
    case 0:
      return 0;
    case 1:
      return 1L << below(t, 32);
    case 2:
      return R(t) & R(t) & 0xffffffff;
    case 3:
      return (1L << below(t, 32)) | (1L << below(t, 32));
    default:
      return R(t) & R(t) & R(t);
  }
}

int64_t fd(struct thread* t) {
  struct proc* p = &g_proc;
  if (p->nfds > 0 && below(t, 10) < 8) return p->fds[below(t, p->nfds)];
  switch (below(t, 4)) {
    case 0:
      return below(t, 64);
    case 1:
      return -1;
    case 2:
      return PICK(t, kInts);
    default:
      return 1 << below(t, 31);
  }
}

uint64_t mm_addr(struct thread* t) {
  if (one_in(t, 12)) return PICK(t, kBadPointers);
  uint64_t off = below(t, PLAYGROUND_SIZE / PAGE) * PAGE;
  if (one_in(t, 10)) off += below(t, PAGE);
  return (uint64_t)g_proc.playground + off;
}

// A pointer: mostly into the thread's scratch (at page edges too), else
// to read-only, unmapped or kernel memory.
uint64_t pointer(struct thread* t) {
  uint64_t scratch = (uint64_t)t->scratch;
  uint64_t end = scratch + SCRATCH_PAGES * PAGE;
  switch (below(t, 20)) {
    case 0:
    case 1:
    case 2:
    case 3:
    case 4:
    case 5:
    case 6:
    case 7:
      return scratch + below(t, SCRATCH_PAGES * PAGE) / 8 * 8;
    case 8:
    case 9:
      return scratch + below(t, SCRATCH_PAGES) * PAGE;
    case 10:
    case 11:
      return end - 1 - below(t, 64);
    case 12:
      return (uint64_t)t->guard + below(t, PAGE);
    case 13:
      return (uint64_t)t->ro_anon + below(t, PAGE);
    case 14:
      return (uint64_t)(one_in(t, 2) ? t->ro_file : t->ro_shared);
    case 15:
      return mm_addr(t);
    case 16:
    case 17:
      return PICK(t, kBadPointers);
    case 18:
      return (uint64_t)PICK(t, kPaths);
    default:
      return R(t);
  }
}

// Fills a few words of scratch around `at` with values of many kinds, so
// that structures in memory (iovecs, msghdrs, sigevents) contain pointers,
// descriptors and sizes as well as noise.
static void fill(struct thread* t, uint64_t at) {
  uint64_t scratch = (uint64_t)t->scratch;
  uint64_t end = scratch + SCRATCH_PAGES * PAGE;
  if (at < scratch || at >= end || !one_in(t, 3)) return;
  int64_t* w = (int64_t*)(at & ~7UL);
  int n = (int)below(t, 32);
  for (int i = 0; i < n && (uint64_t)(w + i + 1) <= end; i++) {
    switch (below(t, 6)) {
      case 0:
        w[i] = pointer(t);
        break;
      case 1:
        w[i] = fd(t);
        break;
      case 2:
        w[i] = length(t);
        break;
      case 3:
        w[i] = 0;
        break;
      case 4:
        w[i] = below(t, 16);
        break;
      default:
        w[i] = R(t);
    }
  }
}

// A buffer of `size` bytes that the caller fills in. Buffers of one call
// come one after another in the last pages of scratch (pages 8 to 11 are
// the alternate stack a sigaltstack call may set), so they do not overlap.
#define SLOT_BASE (12 * PAGE)
void* slot(struct thread* t, size_t size) {
  size = (size + 15) & ~15UL;
  if (t->slot_off + size > SCRATCH_PAGES * PAGE - SLOT_BASE) t->slot_off = 0;
  void* p = t->scratch + SLOT_BASE + t->slot_off;
  t->slot_off += size;
  return p;
}

static uint64_t path(struct thread* t) {
  switch (below(t, 10)) {
    case 0:
      return pointer(t);
    case 1: {
      // A long or deep path in scratch, sometimes not terminated before
      // the guard page.
      size_t len = below(t, 2) ? below(t, 300) : below(t, 6000);
      char* s = (char*)t->scratch + SCRATCH_PAGES * PAGE - len - 1;
      for (size_t i = 0; i < len; i++) s[i] = (i % 3 == 0) ? '/' : 'a' + i % 26;
      s[len] = one_in(t, 4) ? 'x' : 0;
      return (uint64_t)s;
    }
    default:
      return (uint64_t)PICK(t, kPaths);
  }
}

static uint64_t iovec(struct thread* t) {
  if (one_in(t, 8)) return pointer(t);
  int n = (int)below(t, 8);
  int64_t* v = slot(t, 16 * 8);
  for (int i = 0; i < n; i++) {
    v[2 * i] = pointer(t);
    v[2 * i + 1] = one_in(t, 4) ? length(t) : (int64_t)below(t, 512);
  }
  return (uint64_t)v;
}

static uint64_t timespec(struct thread* t) {
  if (one_in(t, 6)) return pointer(t);
  if (one_in(t, 8)) return 0;
  int64_t* ts = slot(t, 32);
  for (int i = 0; i < 4; i++)
    ts[i] = one_in(t, 5) ? any_int(t) : (int64_t)below(t, 2000000);
  if (!one_in(t, 5)) ts[0] = ts[2] = 0;
  return (uint64_t)ts;
}

static uint64_t sig_set(struct thread* t) {
  if (one_in(t, 6)) return pointer(t);
  uint64_t* s = slot(t, 8);
  *s = one_in(t, 2) ? R(t) : 1UL << below(t, 64);
  return (uint64_t)s;
}

// Only loopback and AF_UNIX addresses: nothing may leave the machine.
static uint64_t sockaddr(struct thread* t) {
  if (one_in(t, 8)) return below(t, 2) ? 0 : PICK(t, kBadPointers);
  uint8_t* b = slot(t, 128);
  memset(b, 0, 128);
  switch (below(t, 4)) {
    case 0:
    case 1: {
      struct sockaddr_un* u = (void*)b;
      u->sun_family = AF_UNIX;
      const char* name = PICK(t, kPaths);
      if (one_in(t, 3)) {
        u->sun_path[0] = 0;  // abstract
        name = "fz";
      }
      strncpy(u->sun_path + !u->sun_path[0], name, 100);
      break;
    }
    case 2: {
      struct sockaddr_in* in = (void*)b;
      in->sin_family = AF_INET;
      in->sin_port = htons(below(t, 65536));
      in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      break;
    }
    default: {
      struct sockaddr_in6* in6 = (void*)b;
      in6->sin6_family = AF_INET6;
      in6->sin6_port = htons(below(t, 65536));
      in6->sin6_addr = in6addr_loopback;
    }
  }
  return (uint64_t)b;
}

static uint64_t msghdr(struct thread* t) {
  if (one_in(t, 8)) return pointer(t);
  int64_t* m = slot(t, 64);
  m[0] = one_in(t, 2) ? sockaddr(t) : 0;
  m[1] = below(t, 130);
  m[2] = iovec(t);
  m[3] = below(t, 9);
  m[4] = one_in(t, 2) ? pointer(t) : 0;  // control
  m[5] = one_in(t, 2) ? length(t) : (int64_t)below(t, 128);
  m[6] = flags(t);
  // SCM_RIGHTS with our descriptors, now and then.
  if (m[4] && m[4] >= (int64_t)t->scratch &&
      m[4] + 40 <= (int64_t)(t->scratch + SCRATCH_PAGES * PAGE) &&
      one_in(t, 2)) {
    int32_t* c = (int32_t*)(m[4] & ~7L);
    m[4] = (int64_t)c;
    *(int64_t*)c = 24;
    c[2] = SOL_SOCKET;
    c[3] = below(t, 3);  // SCM_RIGHTS is 1, SCM_CREDENTIALS 2
    c[4] = fd(t);
    c[5] = fd(t);
    m[5] = 24;
  }
  return (uint64_t)m;
}

static int64_t pid(struct thread* t) {
  struct proc* p = &g_proc;
  switch (below(t, 10)) {
    case 0:
      return 0;
    case 1:
      return -1;
    case 2:
      return 1;
    case 3:
      return p->pid;
    case 4:
      return p->tids[below(t, p->opt.threads)];
    case 5:
      return g_shared->procs[below(t, g_shared->nprocs)].pid;
    case 6:
      return -p->pid;
    case 7:
      return below(t, 1000);
    default:
      return any_int(t);
  }
}

static int64_t kind_value(struct thread* t, char k) {
  switch (k) {
    case 'f':
      return fd(t);
    case 'd':
      return one_in(t, 3) ? -100 : fd(t);
    case 'p':
      return path(t);
    case 'b': {
      uint64_t p = pointer(t);
      fill(t, p);
      return p;
    }
    case 'l':
      return length(t);
    case 'o':
      return flags(t) & 0x7fffff;
    case 'm':
      return one_in(t, 2) ? 0644 | (below(t, 8) << 12) : any_int(t);
    case 'i':
      return any_int(t);
    case 'F':
      return flags(t);
    case 's':
      return below(t, 70) - 1;
    case 'K':
      return PICK(t, kSafeSignals);
    case 'P':
      return pid(t);
    case 'u':
      return one_in(t, 2) ? (int64_t)below(t, 3) * 1000 : any_int(t);
    case 'a':
      return mm_addr(t);
    case 'A':
      return below(t, 4) ? below(t, 8) : flags(t);
    case 'M':
      return (below(t, 3) + 1) | (flags(t) & ~0xfL);
    case 'c':
      return flags(t) & ~0xffL;
    case 'v':
      return iovec(t);
    case 'n':
      return below(t, 4) ? below(t, 10) : any_int(t);
    case 'S':
      return sockaddr(t);
    case 'L':
      return below(t, 2) ? 110 : length(t);
    case 't':
      return timespec(t);
    case 'z':
      return sig_set(t);
    case 'Z':
      return below(t, 6) ? 8 : length(t);
    case 'r':
      return below(t, 4) ? below(t, 17) : any_int(t);
    case 'C':
      return below(t, 3) ? below(t, 12) : any_int(t);
    case 'w':
      return below(t, 4) ? below(t, 16) : any_int(t);
    case 'I':
      return below(t, 4) ? PICK(t, kIoctls) : any_int(t);
    case 'T':
      return below(t, 3) ? below(t, 4) : any_int(t);
    case 'k':
      return below(t, 3) ? (int64_t[]){1, 2, 10, 16}[below(t, 4)] : any_int(t);
    case 'y':
      return (below(t, 5) + 1) | (flags(t) & 0x80800);
    case 'q':
      return below(t, 2) ? 1 : any_int(t);
    case 'O':
      return below(t, 2) ? below(t, 70) : any_int(t);
    case 'g':
      return msghdr(t);
    case 'e': {
      uint64_t p = pointer(t);
      fill(t, p);
      return p;
    }
    case 'E':
      return below(t, 5);
    case 'W':
      return flags(t) & 0x6100000f;
    case 'J':
      return below(t, 3) ? below(t, 20) : any_int(t);
    case 'N':
      return below(t, 6) ? (uint64_t)PICK(t, kXattrNames) : path(t);
    case 'Q':
      return PICK(t, kFcntls);
    case 'U':
      return below(t, 14) | (below(t, 2) ? 128 : 0) | (one_in(t, 8) ? 256 : 0);
    case 'R':
      return below(t, 5) ? PICK(t, kPrctls) : any_int(t);
    default:
      return one_in(t, 2) ? any_int(t) : (int64_t)pointer(t);
  }
}

static int pick_nr(struct thread* t) {
  for (;;) {
    int nr = (int)below(t, MAX_NR);
    // Numbers no kernel has (335..423) get few calls.
    if (nr > 334 && nr < 424 && !one_in(t, 16)) continue;
    switch (nr) {
      case SYS_rt_sigreturn:
      case SYS_exit:
      case SYS_exit_group:
      case SYS_seccomp:  // a filter or strict mode would only kill us
        continue;
    }
    return nr;
  }
}

int gen_call(struct thread* t, int64_t a[6]) {
  int nr = pick_nr(t);
  t->slot_off = below(t, 256) * 16;
  const char* k = kinds[nr] ? kinds[nr] : "xxxxxx";
  for (int i = 0; i < 6; i++)
    a[i] = k[i] ? kind_value(t, k[i]) : (one_in(t, 8) ? any_int(t) : 0);
  // Now and then an argument of the wrong kind altogether.
  if (one_in(t, 16)) a[below(t, 6)] = kind_value(t, 'x');
  shape(t, nr, a);
  return nr;
}
