// One fuzzing process: its descriptors, scratch memory, fuzzing threads and
// the kicker (the main thread), which interrupts blocked threads, reaps
// forked children and ends the process at the deadline.
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "fuzz.h"

struct proc g_proc;

static __thread struct thread* self;

static uint8_t pattern(int page, size_t i) {
  return (uint8_t)(0xa5 ^ page ^ (i * 7));
}

// Writes the file of read-only page `page` and returns a read-only
// descriptor of it to map. The other threads pass random descriptors to
// their calls, numbers below 64 among them. A writable descriptor held
// until the mapping was made could be written to or duplicated meanwhile.
// The file and both of its mappings would then change, as Linux allows.
// So the writable descriptor is closed before the mapping.
static int make_ro_file(const char* path, int page) {
  uint8_t buf[PAGE];
  for (size_t i = 0; i < PAGE; i++) buf[i] = pattern(page, i);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return -1;
  ssize_t written = write(fd, buf, PAGE);
  close(fd);
  if (written != (ssize_t)PAGE) return -1;
  return open(path, O_RDONLY);
}

// Maps (or maps again) a thread's scratch area: read-write pages, a guard
// page, then read-only anonymous, private file and shared file pages.
static void map_scratch(struct thread* t, int fixed) {
  size_t len = (SCRATCH_PAGES + 4) * PAGE;
  uint8_t* base =
      mmap(fixed ? t->scratch : NULL, len, PROT_READ | PROT_WRITE,
           MAP_PRIVATE | MAP_ANONYMOUS | (fixed ? MAP_FIXED : 0), -1, 0);
  if (base == MAP_FAILED) _exit(3);
  t->scratch = base;
  t->guard = base + SCRATCH_PAGES * PAGE;
  t->ro_anon = t->guard + PAGE;
  t->ro_file = t->ro_anon + PAGE;
  t->ro_shared = t->ro_file + PAGE;
  for (size_t i = 0; i < SCRATCH_PAGES * PAGE; i++) base[i] = rnd(&t->rng);
  uint8_t* ro[3] = {t->ro_anon, t->ro_file, t->ro_shared};
  for (int p = 0; p < 3; p++)
    for (size_t i = 0; i < PAGE; i++) ro[p][i] = pattern(p, i);
  mprotect(t->guard, PAGE, PROT_NONE);
  mprotect(t->ro_anon, 3 * PAGE, PROT_READ);
  // The file pages replace the anonymous copies when the files can be made
  // (a call may have changed our root or identity).
  for (int p = 1; p < 3; p++) {
    char path[64];
    snprintf(path, sizeof(path), "/tmp/fuzz-ro%d-%d-%d", p, g_proc.pid,
             t->index);
    int fd = make_ro_file(path, p);
    if (fd < 0) continue;
    mmap(ro[p], PAGE, PROT_READ,
         (p == 1 ? MAP_PRIVATE : MAP_SHARED) | MAP_FIXED, fd, 0);
    close(fd);
  }
}

// Checks that the read-only pages still contain their pattern. A fault here
// (a mapping went missing) jumps back to the loop, which maps them again.
static void check_scratch(struct thread* t) {
  t->in_check = 1;
  const uint8_t* pages[3] = {t->ro_anon, t->ro_file, t->ro_shared};
  for (int p = 0; p < 3; p++) {
    for (size_t i = 0; i < PAGE; i++) {
      if (pages[p][i] == pattern(p, i)) continue;
      t->out->corruptions++;
      t->in_check = 0;
      map_scratch(t, 1);
      return;
    }
  }
  // Touch every read-write page too.
  for (size_t i = 0; i < SCRATCH_PAGES * PAGE; i += PAGE) t->scratch[i]++;
  t->in_check = 0;
}

void on_signal(int sig, siginfo_t* si, void* uc) {
  int sync = sig == SIGSEGV || sig == SIGBUS || sig == SIGILL ||
             sig == SIGFPE || sig == SIGTRAP || sig == SIGSYS;
  // Signals sent by a call (kill, tgkill, sigqueue) have si_code <= 0.
  if (!sync || si->si_code <= 0) return;
  if (!self) {  // the supervisor faulted: die of it
    signal(sig, SIG_DFL);
    return;
  }
  ucontext_t* context = uc;
  self->out->faults++;
  self->out->fault_sig = sig;
  self->out->fault_code = si->si_code;
  self->out->fault_addr = (uint64_t)si->si_addr;
  self->out->fault_ip = context->uc_mcontext.gregs[REG_RIP];
  self->out->fault_seq = self->seq;
  for (int i = 0; i < 4; i++)
    self->out->fault_nr[i] = self->out->ring[(self->seq - i) % RING].nr;
  siglongjmp(self->jump, self->in_check ? 2 : 1);
}

void install_handlers(int flags) {
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_sigaction = on_signal;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | flags;
  sigemptyset(&sa.sa_mask);
  for (int sig = 1; sig < 65; sig++) {
    if (sig == SIGKILL || sig == SIGSTOP || sig == 32 || sig == 33) continue;
    sigaction(sig, &sa, NULL);
  }
}

void setup_altstack(void) {
  static __thread uint8_t* stack;
  if (!stack)
    stack = mmap(NULL, 64 * 1024, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  stack_t ss = {.ss_sp = stack, .ss_size = 64 * 1024, .ss_flags = 0};
  sigaltstack(&ss, NULL);
}

static void add_fd(struct proc* p, int fd) {
  if (fd >= 0 && p->nfds < MAX_FDS) p->fds[p->nfds++] = fd;
}

// Opens descriptors of every kind the kernel has, for calls to use.
void open_fds(struct proc* p) {
  char path[64];
  p->nfds = 0;
  snprintf(path, sizeof(path), "/tmp/fuzz-file-%d", p->pid);
  add_fd(p, open(path, O_RDWR | O_CREAT, 0644));
  add_fd(p, open("/tmp", O_RDONLY | O_DIRECTORY));
  add_fd(p, open("/", O_RDONLY | O_DIRECTORY));
  add_fd(p, open("/proc/self", O_RDONLY | O_DIRECTORY));
  add_fd(p, open("/proc/self/maps", O_RDONLY));
  add_fd(p, open("/proc/self/status", O_RDONLY));
  add_fd(p, open("/dev/zero", O_RDWR));
  add_fd(p, open("/dev/urandom", O_RDONLY));
  add_fd(p, open("/etc/passwd", O_RDONLY));
  add_fd(p, open("/etc", O_PATH));
  add_fd(p, open("/dev/ptmx", O_RDWR | O_NOCTTY));
  int pfd[2];
  if (pipe2(pfd, O_NONBLOCK) == 0) add_fd(p, pfd[0]), add_fd(p, pfd[1]);
  if (pipe(pfd) == 0) add_fd(p, pfd[0]), add_fd(p, pfd[1]);
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0)
    add_fd(p, sv[0]), add_fd(p, sv[1]);
  if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, sv) == 0)
    add_fd(p, sv[0]), add_fd(p, sv[1]);
  if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) == 0)
    add_fd(p, sv[0]), add_fd(p, sv[1]);
  int ls = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
  struct sockaddr_un sun = {.sun_family = AF_UNIX};
  snprintf(sun.sun_path, sizeof(sun.sun_path), "/tmp/fuzz-sock-%d", p->index);
  unlink(sun.sun_path);
  if (ls >= 0 && bind(ls, (struct sockaddr*)&sun, sizeof(sun)) == 0)
    listen(ls, 8);
  add_fd(p, ls);
  add_fd(p, socket(AF_UNIX, SOCK_DGRAM, 0));
  add_fd(p, eventfd(1, EFD_NONBLOCK));
  add_fd(p, eventfd(0, EFD_SEMAPHORE));
  int ep = epoll_create1(EPOLL_CLOEXEC);
  for (int i = 0; ep >= 0 && i < p->nfds; i++) {
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.u64 = i};
    epoll_ctl(ep, EPOLL_CTL_ADD, p->fds[i], &ev);
  }
  add_fd(p, ep);
  add_fd(p, timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK));
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  sigaddset(&set, SIGCHLD);
  add_fd(p, signalfd(-1, &set, 0));
  add_fd(p, memfd_create("fuzz", MFD_ALLOW_SEALING));
  // A pidfd of our own: one of the supervisor would let pidfd_getfd take
  // its standard output, a host file, and fill it with garbage.
  add_fd(p, syscall(SYS_pidfd_open, getpid(), 0));
  add_fd(p, dup2(p->fds[0], 200));
}

// Replaces descriptors that calls closed, now and then.
static void refresh_fds(struct proc* p) {
  int lost = 0;
  for (int i = 0; i < p->nfds; i++)
    if (raw_syscall(SYS_fcntl, p->fds[i], F_GETFD, 0, 0, 0, 0) < 0) lost++;
  if (lost > p->nfds / 2) open_fds(p);
}

static void fuzz_loop(struct thread* t) {
  struct call_record* ring = t->out->ring;
  int jumped = sigsetjmp(t->jump, 1);
  if (jumped == 2) {
    t->in_check = 0;
    t->out->remaps++;
    map_scratch(t, 1);
  }
  if (jumped) after_call(t, -1);
  for (;;) {
    int64_t a[6];
    int nr = gen_call(t, a);
    uint64_t seq = ++t->seq;
    struct call_record* r = &ring[seq % RING];
    r->done = 0;
    r->nr = nr;
    memcpy(r->args, a, sizeof(a));
    r->seq = seq;
    long ret;
    if (nr == SYS_fork || nr == SYS_vfork || nr == SYS_clone ||
        nr == SYS_clone3)
      ret = raw_clone_syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
    else
      ret = raw_syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
    r->ret = ret;
    r->done = 1;
    t->out->calls++;
    after_call(t, nr);
    if ((seq & 1023) == 0) check_scratch(t);
    if (t->index == 0 && (seq & 4095) == 0) refresh_fds(&g_proc);
  }
}

static void* thread_main(void* arg) {
  struct thread* t = arg;
  self = t;
  t->tid = gettid();
  g_proc.tids[t->index] = t->tid;
  setup_altstack();
  raw_syscall(SYS_arch_prctl, 0x1003 /* ARCH_GET_FS */, (long)&t->fs_base, 0, 0,
              0, 0);
  map_scratch(t, 0);
  fuzz_loop(t);
  return NULL;
}

static double now(void) {
  struct timespec ts;
  raw_syscall(SYS_clock_gettime, CLOCK_MONOTONIC, (long)&ts, 0, 0, 0, 0);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

// The kicker: a fuzzing thread that has made no call for 20 ms gets
// SIGUSR2, so that a call blocked with a long timeout fails with EINTR and
// the thread goes on. It also reaps forked children.
static void kick(struct proc* p, double end) {
  uint64_t last[MAX_THREADS] = {0};
  int status;
  while (now() < end) {
    struct timespec ts = {0, 10 * 1000 * 1000};
    raw_syscall(SYS_nanosleep, (long)&ts, 0, 0, 0, 0, 0);
    for (int i = 0; i < p->opt.threads; i++) {
      uint64_t seq = p->threads[i].seq;
      if (p->tids[i] > 0 && seq == last[i])
        raw_syscall(SYS_tgkill, p->pid, p->tids[i], SIGUSR2, 0, 0, 0);
      last[i] = seq;
    }
    while (raw_syscall(SYS_wait4, -1, (long)&status, WNOHANG | __WALL, 0, 0,
                       0) > 0) {
    }
  }
  raw_syscall(SYS_exit_group, 0, 0, 0, 0, 0, 0);
}

void run_child(const struct options* opt, int index, int generation) {
  struct proc* p = &g_proc;
  double end = now() + opt->seconds + 1;
  p->opt = *opt;
  p->index = index;
  p->generation = generation;
  p->pid = getpid();
  p->out = &g_shared->procs[index];
  // The fuzzer's own output is the supervisor's; calls that write to 0, 1
  // and 2 go nowhere.
  // The supervisor opened /dev/null before any call could delete it; if
  // these dup2 calls failed, 0 to 2 would be the host's output.
  for (int fd = 0; fd < 3; fd++)
    if (dup2(NULL_FD, fd) != fd) _exit(3);
  close(NULL_FD);
  // Memory is bounded: a 2 GiB address space per process.
  struct rlimit as = {2UL << 30, 2UL << 30};
  setrlimit(RLIMIT_AS, &as);
  p->initial_brk = (uint64_t)sbrk(0);
  p->playground = mmap(NULL, PLAYGROUND_SIZE, PROT_NONE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p->playground == MAP_FAILED) _exit(3);
  open_fds(p);
  install_handlers(0);
  setup_altstack();
  for (int i = 0; i < opt->threads; i++) {
    struct thread* t = &p->threads[i];
    t->index = i;
    t->rng = seed_for(opt->seed, index, generation, i);
    t->out = &p->out->threads[i];
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    pthread_t th;
    if (pthread_create(&th, &attr, thread_main, t) != 0) _exit(3);
  }
  kick(p, end);
}
