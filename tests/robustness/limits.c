// limits: checks the sandbox-wide limits of `moat do` from inside. Each
// mode expects the moat option named with it, and tests/robustness/run
// passes both. Natively nothing sets these limits, so it runs only under
// moat. The modes:
//
// pids N (--pids N): threads and processes count. Fork beyond N fails with
// EAGAIN. A zombie counts until it is reaped.
//
// memory MIB (--memory MIBM): the sandbox shows MIB MiB of memory. A child
// that touches more is killed by SIGKILL while this parent lives on, and
// its memory comes back. A process with oom_score_adj -1000 is passed over.
//
// cpus N (--cpus between N-1 and N): N CPUs are visible.
//
// hold: sleeps 3 s, so that the runner can look at the host cgroup.
//
// Exit status: 0 when every check passed, else 1. Each failed check prints
// one line.
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sysinfo.h>
#include <sys/wait.h>
#include <unistd.h>

static int failures;

#define CHECK(cond, ...)                       \
  do {                                         \
    if (!(cond)) {                             \
      printf("FAIL %s:%d: ", __FILE__, __LINE__); \
      printf(__VA_ARGS__);                     \
      printf("\n");                            \
      failures++;                              \
    }                                          \
  } while (0)

static int gate[2];  // children wait for EOF on gate[0]

static void* idle_thread(void* arg) {
  char c;
  (void)arg;
  (void)!read(gate[0], &c, 1);
  return NULL;
}

// Forks children that wait on the gate until fork fails; returns how many.
static int fork_until_failure(pid_t* pids, int max, int* error) {
  int forked = 0;
  while (forked < max) {
    pid_t pid = fork();
    if (pid < 0) {
      *error = errno;
      return forked;
    }
    if (pid == 0) {
      close(gate[1]);
      idle_thread(NULL);
      _exit(0);
    }
    pids[forked++] = pid;
  }
  *error = 0;
  return forked;
}

static int check_pids(int limit) {
  pid_t pids[4096];
  if (limit < 3 || limit > 4096 || pipe(gate) != 0) return 2;
  pthread_t thread;
  CHECK(pthread_create(&thread, NULL, idle_thread, NULL) == 0,
        "pthread_create under the limit failed");

  // This process's two threads count, so limit - 2 children fit.
  int error;
  int forked = fork_until_failure(pids, 4096, &error);
  CHECK(forked == limit - 2,
        "forked %d children under --pids %d, expected %d", forked, limit,
        limit - 2);
  CHECK(error == EAGAIN, "fork beyond the limit: %s, expected EAGAIN",
        strerror(error));
  pthread_t extra;
  int r = pthread_create(&extra, NULL, idle_thread, NULL);
  CHECK(r == EAGAIN, "pthread_create beyond the limit: %s, expected EAGAIN",
        strerror(r));

  // A dead child is a zombie until it is reaped, and counts until then.
  kill(pids[0], SIGKILL);
  siginfo_t info;
  CHECK(waitid(P_PID, pids[0], &info, WEXITED | WNOWAIT) == 0, "waitid");
  pid_t late = fork();
  if (late == 0) _exit(0);
  int late_error = errno;
  CHECK(late < 0, "fork with a zombie at the limit succeeded");
  CHECK(late_error == EAGAIN, "fork with a zombie at the limit: %s",
        strerror(late_error));
  CHECK(waitpid(pids[0], NULL, 0) == pids[0], "waitpid");
  forked = fork_until_failure(pids, 4096, &error);
  CHECK(forked == 1, "after reaping one: forked %d, expected 1", forked);
  CHECK(error == EAGAIN, "after reaping one: %s, expected EAGAIN",
        strerror(error));

  close(gate[1]);
  while (wait(NULL) > 0) {
  }
  pthread_join(thread, NULL);
  return failures ? 1 : 0;
}

// Touches memory until the OOM killer ends this child; `touched` is shared
// with the parent. Exits 4 at four times the limit, which no limit stopped.
static void memory_bomb(volatile size_t* touched, size_t limit) {
  const size_t kChunk = 16 << 20;
  while (*touched < 4 * limit) {
    char* p = mmap(NULL, kChunk, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) _exit(3);
    for (size_t i = 0; i < kChunk; i += 4096) {
      p[i] = 1;
      *touched += 4096;
    }
  }
  _exit(4);
}

// Touches `bytes` of fresh memory.
static int touch(size_t bytes) {
  char* p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return -1;
  for (size_t i = 0; i < bytes; i += 4096) p[i] = 1;
  return 0;
}

// A process with oom_score_adj -1000 is passed over even when it has the
// most memory, so the OOM killer takes a smaller bomb.
static void check_oom_score_adj(size_t limit, volatile size_t* touched) {
  int ready[2];
  if (pipe(ready) != 0) return;
  pid_t big = fork();
  if (big == 0) {
    FILE* f = fopen("/proc/self/oom_score_adj", "w");
    if (!f || fprintf(f, "-1000\n") < 0 || fclose(f) != 0) _exit(5);
    if (touch(limit / 8 * 5) != 0) _exit(3);
    (void)!write(ready[1], "x", 1);
    pause();
    _exit(0);
  }
  close(ready[1]);
  char c;
  CHECK(read(ready[0], &c, 1) == 1, "the protected process did not start");
  *touched = 0;
  pid_t bomb = fork();
  if (bomb == 0) memory_bomb(touched, limit);
  int status = 0;
  CHECK(waitpid(bomb, &status, 0) == bomb, "waitpid");
  CHECK(WIFSIGNALED(status), "the bomb beside a protected process ended "
        "with status %#x", status);
  CHECK(WTERMSIG(status) == SIGKILL, "the bomb beside a protected process "
        "ended with signal %d", WTERMSIG(status));
  CHECK(waitpid(big, &status, WNOHANG) == 0,
        "the process with oom_score_adj -1000 ended: status %#x", status);
  kill(big, SIGKILL);
  waitpid(big, NULL, 0);
  close(ready[0]);
}

static unsigned long meminfo_total_kb(void) {
  FILE* f = fopen("/proc/meminfo", "r");
  unsigned long kb = 0;
  if (f) {
    if (fscanf(f, "MemTotal: %lu kB", &kb) != 1) kb = 0;
    fclose(f);
  }
  return kb;
}

static int check_memory(unsigned long mib) {
  struct sysinfo si;
  CHECK(sysinfo(&si) == 0, "sysinfo: %s", strerror(errno));
  unsigned long total = (unsigned long)si.totalram * si.mem_unit;
  CHECK(total == mib << 20, "sysinfo totalram %lu, expected %lu", total,
        mib << 20);
  unsigned long kb = meminfo_total_kb();
  CHECK(kb == mib << 10, "MemTotal %lu kB, expected %lu", kb, mib << 10);

  volatile size_t* touched = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                                  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (touched == MAP_FAILED) return 2;
  pid_t child = fork();
  if (child == 0) memory_bomb(touched, mib << 20);
  int status = 0;
  CHECK(waitpid(child, &status, 0) == child, "waitpid");
  CHECK(WIFSIGNALED(status), "the bomb ended with status %#x", status);
  CHECK(WTERMSIG(status) == SIGKILL, "the bomb ended with signal %d, "
        "expected SIGKILL", WTERMSIG(status));
  size_t mib_touched = *touched >> 20;
  CHECK(mib_touched >= mib / 2, "the bomb touched only %zu MiB under a "
        "limit of %lu MiB", mib_touched, mib);
  CHECK(mib_touched <= mib, "the bomb touched %zu MiB under a limit of %lu "
        "MiB", mib_touched, mib);

  // Its memory is free again: half the limit fits in a new child.
  child = fork();
  if (child == 0) _exit(touch((mib << 20) / 2) == 0 ? 0 : 3);
  CHECK(waitpid(child, &status, 0) == child, "waitpid");
  CHECK(status == 0, "touching half the limit after the bomb: status %#x",
        status);
  check_oom_score_adj(mib << 20, touched);
  return failures ? 1 : 0;
}

static int count_cpuinfo_processors(void) {
  FILE* f = fopen("/proc/cpuinfo", "r");
  char line[512];
  int n = 0;
  if (!f) return -1;
  while (fgets(line, sizeof line, f))
    if (strncmp(line, "processor", 9) == 0) n++;
  fclose(f);
  return n;
}

static int check_cpus(int n) {
  long online = sysconf(_SC_NPROCESSORS_ONLN);
  CHECK(online == n, "sysconf(_SC_NPROCESSORS_ONLN) %ld, expected %d",
        online, n);
  cpu_set_t set;
  CHECK(sched_getaffinity(0, sizeof set, &set) == 0, "sched_getaffinity: %s",
        strerror(errno));
  CHECK(CPU_COUNT(&set) == n, "sched_getaffinity has %d CPUs, expected %d",
        CPU_COUNT(&set), n);
  int processors = count_cpuinfo_processors();
  CHECK(processors == n, "/proc/cpuinfo lists %d processors, expected %d",
        processors, n);
  return failures ? 1 : 0;
}

int main(int argc, char** argv) {
  setvbuf(stdout, NULL, _IONBF, 0);
  const char* mode = argc > 1 ? argv[1] : "";
  long n = argc > 2 ? atol(argv[2]) : 0;
  if (strcmp(mode, "pids") == 0) return check_pids((int)n);
  if (strcmp(mode, "memory") == 0) return check_memory((unsigned long)n);
  if (strcmp(mode, "cpus") == 0) return check_cpus((int)n);
  if (strcmp(mode, "hold") == 0) return sleep(3);
  fprintf(stderr, "usage: limits pids N | memory MIB | cpus N | hold\n");
  return 2;
}
