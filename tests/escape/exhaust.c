/* Exhaustion attacks. `exhaust OP` runs one until it is stopped; the runner
 * checks that the host and a second sandbox still start and finish quickly
 * meanwhile, and that the attacked sandbox ends soon after SIGTERM. Each
 * attack stops by itself at a cap well below what would hurt this machine,
 * and prints "UNLIMITED:" when it got there: nothing in moat limited it.
 *   forkbomb  fork until fork fails (needs --pids)
 *   membomb   touch memory in a child until allocation fails or the OOM
 *             killer ends it, again and again (needs --memory)
 *   fdbomb    open host files until EMFILE, in 16 processes
 *   sparse    map 64 TiB and touch pages far apart
 *   pipe      write 1 GiB of untouched memory into a pipe nobody reads
 *   bigio     write 2 GiB of untouched memory to /dev/null and read 2 GiB
 *             from /dev/zero in single calls, again and again: each call
 *             must still end soon after a SIGTERM
 *   symlinks  resolve links that expand exponentially, for 3 seconds
 *   sigstack  overflow the stack inside a SIGSEGV handler, with and
 *             without an alternate signal stack */
#include "escape.h"

#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>

/* Reports that an attack reached its own cap. */
static int unlimited(const char* what, size_t amount) {
  printf("UNLIMITED: %s %zu without a limit\n", what, amount);
  pause(); /* keep what was taken until the runner stops us */
  return 10;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int op_forkbomb(void) {
  const int kCap = 1000;
  int made = 0;
  while (made < kCap) {
    pid_t pid = fork();
    if (pid < 0) {
      note("fork failed after %d processes: %s", made, strerror(errno));
      return 0;
    }
    if (pid == 0) {
      pause();
      _exit(0);
    }
    made++;
  }
  return unlimited("made processes:", made);
}

/* One bomb: touches memory until mmap fails or the OOM killer ends it.
 * `touched` is shared with the parent, which reports it. */
static void membomb_child(volatile size_t* touched) {
  const size_t kChunk = 64 << 20, kCap = 4ul << 30;
  while (*touched < kCap) {
    char* p = mmap(NULL, kChunk, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
      note("mmap failed after %zu MiB: %s", *touched >> 20, strerror(errno));
      _exit(0);
    }
    for (size_t i = 0; i < kChunk; i += 4096) {
      p[i] = 1;
      *touched += 4096;
    }
  }
  _exit(unlimited("touched MiB:", *touched >> 20));
}

/* Under a memory limit, Linux's memory cgroup (and moat's --memory) lets
 * mmap succeed and kills the process with the most memory once touching it
 * finds none left. So the bomb runs in a child, again and again until the
 * runner stops it, and this small parent, which the OOM killer passes over,
 * checks how each one ended. */
static int op_membomb(void) {
  volatile size_t* touched = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                                  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (touched == MAP_FAILED) return 1;
  for (int round = 1;; round++) {
    *touched = 0;
    double start = now();
    pid_t child = fork();
    if (child < 0) return 1;
    if (child == 0) membomb_child(touched);
    int status;
    if (waitpid(child, &status, 0) != child) return 1;
    int killed = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
    if (round == 1 || !killed) {
      note("bomb %d ended (status %#x) after touching %zu MiB in %.2f s",
           round, status, *touched >> 20, now() - start);
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 10) return 10;
    if (!killed && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
      return 1;
  }
}

static int op_fdbomb(void) {
  /* Host files: each open keeps one host descriptor open in moat. */
  int ready[2];
  if (pipe(ready) != 0) return 1;
  for (int i = 0; i < 16; i++) {
    if (fork() == 0) {
      struct rlimit rl = {1 << 20, 1 << 20};
      setrlimit(RLIMIT_NOFILE, &rl);
      int n = 0;
      char* path = in_root("/bin/exhaust");
      while (open(path, O_RDONLY) >= 0) n++;
      if (i == 0) note("opened %d descriptors, then: %s", n, strerror(errno));
      if (write(ready[1], "x", 1) != 1) _exit(1);
      pause();
      _exit(0);
    }
  }
  char c;
  for (int i = 0; i < 16; i++)
    if (read(ready[0], &c, 1) != 1) return 1;
  /* Now a new process that makes no system calls: moat must still be able
   * to interrupt it when the sandbox is stopped. */
  if (fork() == 0) {
    for (;;) {
    }
  }
  note("forked a busy process after the bomb");
  pause();
  return 0;
}

static int op_sparse(void) {
  const size_t kSize = 64ul << 40;
  char* p = mmap(NULL, kSize, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) {
    note("mmap of 64 TiB: %s", strerror(errno));
    return 0;
  }
  for (size_t off = 0; off < kSize; off += kSize / 2048) p[off] = 1;
  note("touched 2048 pages over 64 TiB");
  munmap(p, kSize);
  pause();
  return 0;
}

static int op_pipe(void) {
  int fds[2];
  if (pipe(fds) != 0) return 1;
  const size_t kSize = 1ul << 30;
  char* p = mmap(NULL, kSize, PROT_READ,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  ssize_t n = write(fds[1], p, kSize);
  note("write returned %zd", n);
  return 0;
}

static int op_bigio(void) {
  /* Linux caps one read or write at 2 GiB less a page. */
  const size_t kSize = 0x7ffff000;
  int devnull = open("/dev/null", O_WRONLY);
  int zero = open("/dev/zero", O_RDONLY);
  for (;;) {
    char* p = mmap(NULL, kSize, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return 1;
    double start = now();
    ssize_t n = write(devnull, p, kSize);
    note("write of 2 GiB untouched to /dev/null: %zd in %.1f s", n,
         now() - start);
    start = now();
    n = read(zero, p, kSize);
    note("read of 2 GiB from /dev/zero: %zd in %.1f s", n, now() - start);
    munmap(p, kSize);
  }
}

static int op_symlinks(void) {
  /* l0 -> l1/l1/.../l1 (8 times), l1 -> l2/..., l9 -> ".": resolving
   * l0/x would take 8^10 steps without the total limit of 40. */
  char* dir = in_root("/tmp/escape-links");
  mkdir(dir, 0755);
  if (chdir(dir) != 0) return 1;
  for (int i = 0; i < 10; i++) {
    char name[16], target[256] = "";
    snprintf(name, sizeof(name), "l%d", i);
    for (int j = 0; j < 8; j++) {
      char part[16];
      snprintf(part, sizeof(part), "%sl%d", j ? "/" : "", i + 1);
      strcat(target, part);
    }
    if (i == 9) strcpy(target, ".");
    unlink(name);
    if (symlink(target, name) != 0) return 1;
  }
  double start = now(), slowest = 0;
  long calls = 0;
  while (now() - start < 3) {
    double t = now();
    int fd = open("l0/x", O_RDONLY);
    if (fd >= 0) close(fd);
    t = now() - t;
    if (t > slowest) slowest = t;
    calls++;
  }
  note("%ld lookups, slowest %.3f s", calls, slowest);
  if (slowest > 1) return unlimited("ms for one lookup:", slowest * 1000);
  return 0;
}

static volatile long depth;

#pragma GCC diagnostic ignored "-Winfinite-recursion"
/* Recurses until the stack runs out; the work after the call keeps it from
 * becoming a loop. */
static void recurse(int sig) {
  volatile char pad[1024];
  pad[0] = (char)sig;
  depth++;
  recurse(sig + pad[0] * 0);
  depth--;
}

/* Overflows the stack in a SIGSEGV handler. On the normal stack the
 * handler is re-entered (SA_NODEFER) until no frame fits; on an alternate
 * stack with a guard page below it, the overflow faults while SIGSEGV is
 * blocked. Either way the kernel must kill the process. */
static void overflow_child(int altstack) {
  if (altstack) {
    char* area = mmap(NULL, 17 * 4096, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (area == MAP_FAILED || mprotect(area, 4096, PROT_NONE) != 0) _exit(1);
    stack_t ss = {.ss_sp = area + 4096, .ss_size = 16 * 4096};
    sigaltstack(&ss, NULL);
  }
  struct sigaction sa = {.sa_handler = recurse,
                         .sa_flags = altstack ? SA_ONSTACK : SA_NODEFER};
  sigaction(SIGSEGV, &sa, NULL);
  raise(SIGSEGV);
  _exit(0);
}

static int op_sigstack(void) {
  for (int altstack = 0; altstack < 2; altstack++) {
    pid_t child = fork();
    if (child == 0) overflow_child(altstack);
    double start = now();
    int status = 0;
    while (waitpid(child, &status, WNOHANG) == 0 && now() - start < 4)
      usleep(10000);
    if (now() - start >= 4) {
      printf("UNLIMITED: the overflowing handler (altstack %d) still runs\n",
             altstack);
      kill(child, SIGKILL);
      waitpid(child, &status, 0);
    } else {
      note("altstack %d: ended with status %#x after %.2f s", altstack,
           status, now() - start);
    }
  }
  return 0;
}

int main(int argc, char** argv) {
  const char* op = argc > 1 ? argv[1] : "";
  struct {
    const char* name;
    int (*fn)(void);
  } ops[] = {{"forkbomb", op_forkbomb}, {"membomb", op_membomb},
             {"fdbomb", op_fdbomb},     {"sparse", op_sparse},
             {"pipe", op_pipe},         {"bigio", op_bigio},
             {"symlinks", op_symlinks},
             {"sigstack", op_sigstack}};
  for (size_t i = 0; i < sizeof(ops) / sizeof(*ops); i++)
    if (strcmp(op, ops[i].name) == 0) return ops[i].fn();
  broken("usage: exhaust OP");
  return escape_finish();
}
