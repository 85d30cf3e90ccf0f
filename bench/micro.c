// micro: system-call microbenchmarks for comparing sandboxes.
//
// Usage: micro WORKLOAD ITERATIONS
// Runs ITERATIONS operations of WORKLOAD after its setup and prints one line
//   WORKLOAD ITERATIONS NS ns/op
// where NS is the mean wall time (CLOCK_MONOTONIC) of one operation.
// Exits 1 with a message on stderr if any call fails, 2 on a usage error.
//
// Workloads (one operation each):
//   getppid         getppid()
//   read            read() of 1 byte from /dev/zero
//   openclose       open() and close() of /etc/passwd
//   stat            stat() of /etc/passwd
//   pipe_pingpong   1-byte round trip between two processes over two pipes
//   futex_pingpong  wake-and-wait round trip between two threads on futexes
//   fork_wait       fork(), child _exit(0), parent waitpid()
//   fork_exec       fork(), child execve("/bin/true"), parent waitpid()
//   mmap_touch      mmap() of 1 MiB anonymous memory, a write to every page,
//                   munmap()
//   compute_read    200,000 steps of arithmetic (about 200 us on the test
//                   VMs), then read() of 4 KiB from /dev/zero: a call that
//                   comes after a gap longer than a sandbox spins for
//   sigsys          getppid() that the program's own seccomp filter turns
//                   into a SIGSYS, whose handler sets the result: what one
//                   host signal round trip costs, which a sandbox that
//                   traps calls by signal pays at least once per call
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/futex.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#define FILE_PATH "/etc/passwd"
#define MAP_BYTES (1L << 20)
#define COMPUTE_STEPS 200000

static void fail(const char *call) {
  fprintf(stderr, "micro: %s failed: %s\n", call, strerror(errno));
  exit(1);
}

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void bench_getppid(long n) {
  for (long i = 0; i < n; i++) getppid();
}

static int zero_fd = -1;
static void setup_read(void) {
  zero_fd = open("/dev/zero", O_RDONLY);
  if (zero_fd < 0) fail("open /dev/zero");
}
static void bench_read(long n) {
  char c;
  for (long i = 0; i < n; i++)
    if (read(zero_fd, &c, 1) != 1) fail("read /dev/zero");
}

static void bench_openclose(long n) {
  for (long i = 0; i < n; i++) {
    int fd = open(FILE_PATH, O_RDONLY);
    if (fd < 0) fail("open " FILE_PATH);
    close(fd);
  }
}

static void bench_stat(long n) {
  struct stat st;
  for (long i = 0; i < n; i++)
    if (stat(FILE_PATH, &st) != 0) fail("stat " FILE_PATH);
}

// Pipe ping-pong: the parent writes to `to_child`, the child echoes the byte
// back on `to_parent`.
static int to_child[2], to_parent[2];
static pid_t echo_child;
static void setup_pipe(long n) {
  if (pipe(to_child) != 0 || pipe(to_parent) != 0) fail("pipe");
  echo_child = fork();
  if (echo_child < 0) fail("fork");
  if (echo_child == 0) {
    char c;
    for (long i = 0; i < n; i++) {
      if (read(to_child[0], &c, 1) != 1) _exit(1);
      if (write(to_parent[1], &c, 1) != 1) _exit(1);
    }
    _exit(0);
  }
}
static void bench_pipe(long n) {
  char c = 'x';
  for (long i = 0; i < n; i++) {
    if (write(to_child[1], &c, 1) != 1) fail("write pipe");
    if (read(to_parent[0], &c, 1) != 1) fail("read pipe");
  }
}
static void teardown_pipe(void) {
  int status;
  if (waitpid(echo_child, &status, 0) != echo_child) fail("waitpid");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, "micro: pipe echo child failed (status %#x)\n", status);
    exit(1);
  }
}

// Futex ping-pong: `turn` is 0 when the main thread may go and 1 when the
// partner may go. Each side flips it, wakes the other and sleeps on the
// futex until it is flipped back, so every operation is two wakes and
// (usually) two waits.
static _Atomic int turn;
static long futex_rounds;
static long futex_op(int op, int val) {
  return syscall(SYS_futex, &turn, op | FUTEX_PRIVATE_FLAG, val, NULL, NULL, 0);
}
static void wait_while(int val) {
  while (atomic_load(&turn) == val)
    if (futex_op(FUTEX_WAIT, val) != 0 && errno != EAGAIN && errno != EINTR)
      fail("futex wait");
}
static void *futex_partner(void *arg) {
  (void)arg;
  for (long i = 0; i < futex_rounds; i++) {
    wait_while(0);
    atomic_store(&turn, 0);
    if (futex_op(FUTEX_WAKE, 1) < 0) fail("futex wake");
  }
  return NULL;
}
static pthread_t partner;
static void setup_futex(long n) {
  futex_rounds = n;
  atomic_store(&turn, 0);
  int err = pthread_create(&partner, NULL, futex_partner, NULL);
  if (err != 0) {
    errno = err;
    fail("pthread_create");
  }
}
static void bench_futex(long n) {
  for (long i = 0; i < n; i++) {
    atomic_store(&turn, 1);
    if (futex_op(FUTEX_WAKE, 1) < 0) fail("futex wake");
    wait_while(1);
  }
}
static void teardown_futex(void) { pthread_join(partner, NULL); }

static void bench_fork_wait(long n) {
  for (long i = 0; i < n; i++) {
    pid_t pid = fork();
    if (pid < 0) fail("fork");
    if (pid == 0) _exit(0);
    int status;
    if (waitpid(pid, &status, 0) != pid) fail("waitpid");
  }
}

static void bench_fork_exec(long n) {
  char *const argv[] = {"true", NULL};
  char *const envp[] = {NULL};
  for (long i = 0; i < n; i++) {
    pid_t pid = fork();
    if (pid < 0) fail("fork");
    if (pid == 0) {
      execve("/bin/true", argv, envp);
      _exit(127);
    }
    int status;
    if (waitpid(pid, &status, 0) != pid) fail("waitpid");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      fprintf(stderr, "micro: /bin/true failed (status %#x)\n", status);
      exit(1);
    }
  }
}

static void bench_mmap(long n) {
  long page = sysconf(_SC_PAGESIZE);
  for (long i = 0; i < n; i++) {
    char *p = mmap(NULL, MAP_BYTES, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) fail("mmap");
    for (long off = 0; off < MAP_BYTES; off += page) p[off] = 1;
    if (munmap(p, MAP_BYTES) != 0) fail("munmap");
  }
}

struct workload {
  const char *name;
  void (*setup)(long n);
  void (*run)(long n);
  void (*teardown)(void);
};

static void setup_read_n(long n) { (void)n; setup_read(); }

// A linear congruential generator's steps, each depending on the last, so
// that the compiler cannot shorten the loop.
static volatile unsigned long compute_sink;
static void bench_compute_read(long n) {
  static char buf[4096];
  unsigned long x = 1;
  for (long i = 0; i < n; i++) {
    for (long step = 0; step < COMPUTE_STEPS; step++)
      x = x * 6364136223846793005ul + 1442695040888963407ul;
    compute_sink = x;
    if (read(zero_fd, buf, sizeof buf) != (ssize_t)sizeof buf)
      fail("read /dev/zero");
  }
}

static void on_sigsys(int sig, siginfo_t *info, void *context) {
  (void)sig;
  (void)info;
  ((ucontext_t *)context)->uc_mcontext.gregs[REG_RAX] = 1;
}

// Traps getppid and lets every other call through. The filter stays for
// the rest of the process, which ends after this one workload.
static void setup_sigsys(long n) {
  (void)n;
  struct sigaction sa = {0};
  sa.sa_sigaction = on_sigsys;
  sa.sa_flags = SA_SIGINFO;
  if (sigaction(SIGSYS, &sa, NULL) != 0) fail("sigaction SIGSYS");
  struct sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog prog = {sizeof filter / sizeof filter[0], filter};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) fail("PR_SET_NO_NEW_PRIVS");
  if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0)
    fail("PR_SET_SECCOMP");
}

static void bench_sigsys(long n) {
  for (long i = 0; i < n; i++)
    if (syscall(SYS_getppid) != 1) fail("getppid through SIGSYS");
}

static const struct workload workloads[] = {
    {"getppid", NULL, bench_getppid, NULL},
    {"read", setup_read_n, bench_read, NULL},
    {"openclose", NULL, bench_openclose, NULL},
    {"stat", NULL, bench_stat, NULL},
    {"pipe_pingpong", setup_pipe, bench_pipe, teardown_pipe},
    {"futex_pingpong", setup_futex, bench_futex, teardown_futex},
    {"fork_wait", NULL, bench_fork_wait, NULL},
    {"fork_exec", NULL, bench_fork_exec, NULL},
    {"mmap_touch", NULL, bench_mmap, NULL},
    {"compute_read", setup_read_n, bench_compute_read, NULL},
    {"sigsys", setup_sigsys, bench_sigsys, NULL},
};

int main(int argc, char **argv) {
  const size_t count = sizeof workloads / sizeof workloads[0];
  char *end = NULL;
  long n = argc == 3 ? strtol(argv[2], &end, 10) : 0;
  const struct workload *w = NULL;
  for (size_t i = 0; argc == 3 && i < count; i++)
    if (strcmp(argv[1], workloads[i].name) == 0) w = &workloads[i];
  if (!w || !end || *end != '\0' || n <= 0) {
    fprintf(stderr, "usage: micro WORKLOAD ITERATIONS\nworkloads:");
    for (size_t i = 0; i < count; i++) fprintf(stderr, " %s", workloads[i].name);
    fprintf(stderr, "\n");
    return 2;
  }
  if (w->setup) w->setup(n);
  double start = now_ns();
  w->run(n);
  double elapsed = now_ns() - start;
  if (w->teardown) w->teardown();
  printf("%s %ld %.1f ns/op\n", w->name, n, elapsed / (double)n);
  return 0;
}
