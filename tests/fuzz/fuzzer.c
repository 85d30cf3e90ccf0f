// fuzzer: a seeded system call fuzzer that runs inside moat.
//
//   fuzzer --seed N --seconds S --procs P --threads T [--last N]
//
// Runs as the sandbox's init (the supervisor). It starts P processes with T
// fuzzing threads each; every thread issues random system calls (numbers
// 0..460) with arguments drawn from interesting values: existing file
// descriptors of every kind, paths, flag masks, pointers into scratch
// memory, at page edges, to read-only and unmapped pages, NULL, kernel-half
// addresses and huge lengths. A process that dies early is replaced. After
// S seconds every process is killed, and the supervisor prints the calls
// made per process and in total, then the last N calls of each thread
// (number and arguments), so that a failure can be replayed with the same
// seed: the calls of a thread depend only on (seed, process, generation,
// thread).
//
// Outside moat (uname's release must name moat) the fuzzer exits with
// status 2 at once: natively it would wreck the host.
//
// Exit status: 0 when the run finished, 1 when a fuzzing thread saw its own
// read-only memory change (the kernel wrote where it must not), 2 on bad
// usage or when the supervisor could not do its job.
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fuzz.h"

struct shared* g_shared;

long raw_syscall(long nr, long a, long b, long c, long d, long e, long f) {
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = e;
  register long r9 __asm__("r9") = f;
  long ret;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                   : "rcx", "r11", "memory");
  return ret;
}

// For fork, vfork, clone and clone3: a child (return value 0) exits at
// once, without touching the stack, which may be a random address.
long raw_clone_syscall(long nr, long a, long b, long c, long d, long e,
                       long f) {
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = e;
  register long r9 __asm__("r9") = f;
  long ret;
  __asm__ volatile(
      "syscall\n\t"
      "test %%rax, %%rax\n\t"
      "jnz 1f\n\t"
      "mov $60, %%eax\n\t"
      "xor %%edi, %%edi\n\t"
      "syscall\n\t"
      "1:"
      : "=a"(ret)
      : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
      : "rcx", "r11", "memory");
  return ret;
}

__asm__(
    ".text\n"
    ".globl restore_rt\n"
    "restore_rt:\n"
    "  mov $15, %eax\n"
    "  syscall\n"
    "  hlt\n");

uint64_t rnd(uint64_t* state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t seed_for(uint64_t seed, int proc, int generation, int thread) {
  uint64_t s = seed ^ ((uint64_t)proc << 48) ^ ((uint64_t)generation << 24) ^
               (uint64_t)thread;
  rnd(&s);
  return rnd(&s);
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void usage(void) {
  fprintf(stderr,
          "usage: fuzzer --seed N --seconds S --procs P --threads T "
          "[--last N]\n");
  exit(2);
}

static struct options parse(int argc, char** argv) {
  struct options o = {.seed = 1, .seconds = 10, .procs = 2, .threads = 2};
  for (int i = 1; i < argc; i++) {
    if (i + 1 >= argc) usage();
    const char* v = argv[++i];
    if (!strcmp(argv[i - 1], "--seed"))
      o.seed = strtoull(v, NULL, 0);
    else if (!strcmp(argv[i - 1], "--seconds"))
      o.seconds = atoi(v);
    else if (!strcmp(argv[i - 1], "--procs"))
      o.procs = atoi(v);
    else if (!strcmp(argv[i - 1], "--threads"))
      o.threads = atoi(v);
    else if (!strcmp(argv[i - 1], "--last"))
      o.last = atoi(v);
    else
      usage();
  }
  if (o.procs < 1 || o.procs > MAX_PROCS || o.threads < 1 ||
      o.threads > MAX_THREADS || o.seconds < 1 || o.last < 0 || o.last > RING)
    usage();
  return o;
}

static void print_calls(int proc, int thread, const struct thread_shared* t,
                        int n) {
  // The ring is written by a process that may have died mid-update; the
  // sequence numbers order what is there.
  uint64_t last = 0;
  for (int i = 0; i < RING; i++)
    if (t->ring[i].seq > last) last = t->ring[i].seq;
  for (uint64_t s = last >= (uint64_t)n ? last - n + 1 : 1; s <= last; s++) {
    const struct call_record* r = &t->ring[s % RING];
    if (r->seq != s) continue;
    printf("  p%d t%d #%llu: %d(%#llx, %#llx, %#llx, %#llx, %#llx, %#llx)",
           proc, thread, (unsigned long long)s, r->nr,
           (unsigned long long)r->args[0], (unsigned long long)r->args[1],
           (unsigned long long)r->args[2], (unsigned long long)r->args[3],
           (unsigned long long)r->args[4], (unsigned long long)r->args[5]);
    if (r->done)
      printf(" = %lld\n", (long long)r->ret);
    else
      printf(" (running)\n");
  }
}

// The supervisor's own limits at the start. A fuzzing process may lower
// them with prlimit64 on pid 1 (RLIMIT_NOFILE to 0, say), which would make
// every later process fail its set-up and the clean-up fail to open /tmp.
static struct rlimit g_limits[RLIM_NLIMITS];

static void save_limits(void) {
  for (int r = 0; r < RLIM_NLIMITS; r++) getrlimit(r, &g_limits[r]);
}

// Puts the saved limits back: root inside the sandbox may raise them again.
static void restore_limits(void) {
  for (int r = 0; r < RLIM_NLIMITS; r++) setrlimit(r, &g_limits[r]);
}

static void spawn(const struct options* o, int index) {
  struct proc_shared* ps = &g_shared->procs[index];
  restore_limits();
  for (;;) {
    pid_t pid = fork();
    if (pid == 0) run_child(o, index, ps->generation);
    if (pid > 0) {
      ps->pid = pid;
      return;
    }
    // A fuzzing process may have lowered a limit of ours; try again.
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
}

static void describe_death(int index, int status, int threads) {
  struct proc_shared* ps = &g_shared->procs[index];
  ps->deaths++;
  // Deaths happen (a successful execve ends a process); the first few are
  // shown with their last calls.
  if (ps->reported >= 3) return;
  ps->reported++;
  if (WIFSIGNALED(status))
    printf("proc %d generation %d: killed by signal %d\n", index,
           ps->generation, WTERMSIG(status));
  else
    printf("proc %d generation %d: exited with status %d\n", index,
           ps->generation, WEXITSTATUS(status));
  for (int t = 0; t < threads; t++) print_calls(index, t, &ps->threads[t], 4);
  fflush(stdout);
}

// Reaps every exited process; a fuzzing process is replaced while the run
// lasts.
static void reap(const struct options* o, int respawn) {
  int status;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG | __WALL)) > 0) {
    for (int i = 0; i < o->procs; i++) {
      struct proc_shared* ps = &g_shared->procs[i];
      if (ps->pid != pid) continue;
      ps->pid = 0;
      if (!respawn) break;
      describe_death(i, status, o->threads);
      ps->generation++;
      spawn(o, i);
    }
  }
}

// Kills everything but the supervisor and waits until nothing is left.
// Returns 0, or -1 when processes did not die.
static int kill_all(const struct options* o) {
  double give_up = now() + 20;
  for (;;) {
    kill(-1, SIGKILL);
    reap(o, 0);
    if (waitpid(-1, NULL, WNOHANG | __WALL) < 0 && errno == ECHILD) return 0;
    if (now() > give_up) return -1;
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
}

static int remove_one(const char* path, const struct stat* st, int type,
                      struct FTW* ftw) {
  (void)st;
  (void)type;
  if (ftw->level > 0) remove(path);
  return 0;
}

// Removes what the fuzzing processes left in the filesystems, so that
// memory still in use after the run is a leak, not a file: everything in
// /tmp and /dev/shm, and the relative names the calls use, in the
// directories they may have moved to.
// Host files that calls open for writing: the overlay keeps their copies,
// which writes may have grown, so they go back to their first size.
static const char* const kHostFiles[] = {"/etc/passwd", "/etc/hostname"};
static off_t host_sizes[2];

static void clean_up(void) {
  restore_limits();
  for (int i = 0; i < 2; i++)
    if (host_sizes[i] >= 0) truncate(kHostFiles[i], host_sizes[i]);
  nftw("/tmp", remove_one, 16, FTW_DEPTH | FTW_PHYS);
  nftw("/dev/shm", remove_one, 16, FTW_DEPTH | FTW_PHYS);
  const char* dirs[] = {".", "..", "/", "/etc", "/dev", "/tmp"};
  char path[4096];
  for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
    snprintf(path, sizeof(path), "%s/fz-rel/x", dirs[i]);
    remove(path);
    snprintf(path, sizeof(path), "%s/fz-rel", dirs[i]);
    remove(path);
  }
}

static int supervise(const struct options* o) {
  g_shared = mmap(NULL, sizeof(struct shared), PROT_READ | PROT_WRITE,
                  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (g_shared == MAP_FAILED) return 2;
  g_shared->supervisor_pid = getpid();
  g_shared->nprocs = o->procs;
  save_limits();
  printf("fuzz: seed %llu, %d processes of %d threads, %d s\n",
         (unsigned long long)o->seed, o->procs, o->threads, o->seconds);
  fflush(stdout);
  // Signals that siblings send (they are safe, but many end a process by
  // default) must not kill a new process before it has its own handlers.
  for (int i = 0; i < 2; i++) {
    struct stat st;
    host_sizes[i] = stat(kHostFiles[i], &st) == 0 ? st.st_size : -1;
  }
  install_handlers(SA_RESTART);
  int null = open("/dev/null", O_RDWR);
  if (null < 0 || dup2(null, NULL_FD) != NULL_FD) return 2;
  close(null);
  for (int i = 0; i < o->procs; i++) spawn(o, i);
  double end = now() + o->seconds;
  while (now() < end) {
    struct timespec ts = {0, 50 * 1000 * 1000};
    nanosleep(&ts, NULL);
    reap(o, 1);
  }
  int stuck = kill_all(o);
  clean_up();
  uint64_t total = 0, faults = 0, corrupt = 0, remaps = 0;
  int deaths = 0;
  for (int i = 0; i < o->procs; i++) {
    struct proc_shared* ps = &g_shared->procs[i];
    uint64_t calls = 0;
    for (int t = 0; t < o->threads; t++) {
      calls += ps->threads[t].calls;
      faults += ps->threads[t].faults;
      corrupt += ps->threads[t].corruptions;
      remaps += ps->threads[t].remaps;
    }
    printf("proc %d: %llu calls, %d generations\n", i,
           (unsigned long long)calls, ps->generation + 1);
    deaths += ps->deaths;
    total += calls;
  }
  for (int i = 0; i < o->procs; i++)
    for (int t = 0; t < o->threads; t++) {
      const struct thread_shared* ts = &g_shared->procs[i].threads[t];
      if (ts->faults == 0) continue;
      printf(
          "p%d t%d: %llu faults, the last signal %d code %d at %#llx, ip "
          "%#llx, after call #%llu (calls %d %d %d %d)\n",
          i, t, (unsigned long long)ts->faults, ts->fault_sig, ts->fault_code,
          (unsigned long long)ts->fault_addr, (unsigned long long)ts->fault_ip,
          (unsigned long long)ts->fault_seq, ts->fault_nr[3], ts->fault_nr[2],
          ts->fault_nr[1], ts->fault_nr[0]);
    }
  if (o->last) {
    printf("last %d calls of each thread:\n", o->last);
    for (int i = 0; i < o->procs; i++)
      for (int t = 0; t < o->threads; t++)
        print_calls(i, t, &g_shared->procs[i].threads[t], o->last);
  }
  printf("faults %llu, remaps %llu, corruptions %llu, early deaths %d\n",
         (unsigned long long)faults, (unsigned long long)remaps,
         (unsigned long long)corrupt, deaths);
  printf("total: %llu calls\n", (unsigned long long)total);
  if (stuck) printf("fuzz: processes did not die after SIGKILL\n");
  fflush(stdout);
  if (stuck) return 2;
  return corrupt ? 1 : 0;
}

int main(int argc, char** argv) {
  // A successful execve of /proc/self/exe by a fuzzing process lands here.
  if (argc > 0 && !strcmp(argv[0], "fuzz-exec")) return 0;
  if (argc == 0) return 0;
  struct utsname u;
  if (uname(&u) != 0 || !strstr(u.release, "moat")) {
    fprintf(stderr, "fuzzer: not inside moat (uname release %s); exiting\n",
            u.release);
    return 2;
  }
  struct options o = parse(argc, argv);
  setvbuf(stdout, NULL, _IOLBF, 0);
  return supervise(&o);
}
