/* getrlimit(), setrlimit() and prlimit(): enforcement of RLIMIT_NOFILE,
 * RLIMIT_AS, RLIMIT_FSIZE and RLIMIT_CPU, inheritance and errors. Every
 * limit change happens in a child. */
#include "check.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>

static pid_t reaped_pid(void) {
  pid_t pid = fork();
  if (pid == 0) _exit(0);
  waitpid(pid, NULL, 0);
  return pid;
}

static long read_long(const char* path) {
  FILE* file = fopen(path, "r");
  long value = -1;
  if (file != NULL) {
    if (fscanf(file, "%ld", &value) != 1) value = -1;
    fclose(file);
  }
  return value;
}

int main(void) {
  CASE("every resource reports a soft limit within its hard limit");
  for (int resource = 0; resource < RLIM_NLIMITS; resource++) {
    struct rlimit limit;
    CHECK_EQ(getrlimit(resource, &limit), 0);
    CHECK(limit.rlim_cur <= limit.rlim_max);
  }

  CASE("RLIMIT_NOFILE caps open and dup2");
  pid_t pid = fork();
  if (pid == 0) {
    struct rlimit limit = {32, 64};
    CHECK_EQ(setrlimit(RLIMIT_NOFILE, &limit), 0);
    int last = -1;
    for (int i = 0; i < 40; i++) {
      int fd = open("/dev/null", O_RDONLY);
      if (fd < 0) {
        CHECK_EQ(errno, EMFILE);
        break;
      }
      last = fd;
    }
    CHECK_EQ(last, 31);
    CHECK_ERR(dup2(0, 32), EBADF);

    CASE("getrlimit reads back what setrlimit stored");
    struct rlimit current;
    CHECK_EQ(getrlimit(RLIMIT_NOFILE, &current), 0);
    CHECK_EQ(current.rlim_cur, 32);
    CHECK_EQ(current.rlim_max, 64);

    CASE("soft limit above the hard limit fails with EINVAL");
    struct rlimit invalid = {128, 64};
    CHECK_ERR(setrlimit(RLIMIT_NOFILE, &invalid), EINVAL);

    CASE("raising the hard limit without privilege fails with EPERM");
    if (setuid(65534) != 0) _exit(90);
    struct rlimit raised = {64, 128};
    CHECK_ERR(setrlimit(RLIMIT_NOFILE, &raised), EPERM);

    CASE("lowering the hard limit without privilege succeeds");
    struct rlimit lowered = {32, 48};
    CHECK_EQ(setrlimit(RLIMIT_NOFILE, &lowered), 0);
    check_child_done();
  }
  CHECK_CHILD_EXIT(pid, 0);

  CASE("RLIMIT_NOFILE above fs.nr_open fails with EPERM");
  long nr_open = read_long("/proc/sys/fs/nr_open");
  CHECK(nr_open > 0);
  pid = fork();
  if (pid == 0) {
    struct rlimit huge = {(rlim_t)nr_open + 1, (rlim_t)nr_open + 1};
    CHECK_ERR(setrlimit(RLIMIT_NOFILE, &huge), EPERM);
    check_child_done();
  }
  CHECK_CHILD_EXIT(pid, 0);

  CASE("RLIMIT_AS makes large mappings fail with ENOMEM");
  pid = fork();
  if (pid == 0) {
    struct rlimit limit = {1UL << 30, 1UL << 30};
    CHECK_EQ(setrlimit(RLIMIT_AS, &limit), 0);
    void* memory =
        mmap(NULL, 2UL << 30, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(memory == MAP_FAILED);
    CHECK_EQ(errno, ENOMEM);
    memory = mmap(NULL, 1 << 20, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(memory != MAP_FAILED);
    check_child_done();
  }
  CHECK_CHILD_EXIT(pid, 0);

  CASE("RLIMIT_FSIZE kills a writer past the limit with SIGXFSZ");
  char directory_template[] = "/tmp/moat-conformance-XXXXXX";
  char* directory = mkdtemp(directory_template);
  char path[256];
  snprintf(path, sizeof path, "%s/file", directory);
  pid = fork();
  if (pid == 0) {
    struct rlimit limit = {100, 100};
    setrlimit(RLIMIT_FSIZE, &limit);
    int fd = open(path, O_WRONLY | O_CREAT, 0644);
    char buffer[200] = {0};
    /* The first write is cut short at the limit; the second starts at it. */
    write(fd, buffer, sizeof buffer);
    write(fd, buffer, sizeof buffer);
    _exit(0);
  }
  int status = 0;
  CHECK_EQ(waitpid(pid, &status, 0), pid);
  CHECK(WIFSIGNALED(status));
  CHECK_EQ(WTERMSIG(status), SIGXFSZ);

  CASE("RLIMIT_FSIZE with SIGXFSZ ignored gives a short write then EFBIG");
  pid = fork();
  if (pid == 0) {
    struct rlimit limit = {100, 100};
    setrlimit(RLIMIT_FSIZE, &limit);
    signal(SIGXFSZ, SIG_IGN);
    int fd = open(path, O_WRONLY | O_TRUNC);
    char buffer[200] = {0};
    CHECK_EQ(write(fd, buffer, sizeof buffer), 100);
    CHECK_ERR(write(fd, buffer, 1), EFBIG);
    check_child_done();
  }
  CHECK_CHILD_EXIT(pid, 0);
  unlink(path);
  rmdir(directory);

  CASE("RLIMIT_CPU stops a busy process with SIGXCPU");
  pid = fork();
  if (pid == 0) {
    struct rlimit limit = {1, 2};
    setrlimit(RLIMIT_CPU, &limit);
    for (volatile unsigned long i = 0;; i++) {
    }
  }
  CHECK_EQ(waitpid(pid, &status, 0), pid);
  CHECK(WIFSIGNALED(status));
  CHECK_EQ(WTERMSIG(status), SIGXCPU);

  CASE("prlimit reads and sets another process's limit");
  int release[2];
  CHECK_OK(pipe(release));
  pid = fork();
  if (pid == 0) {
    char byte;
    read(release[0], &byte, 1);
    struct rlimit limit;
    getrlimit(RLIMIT_NOFILE, &limit);
    _exit(limit.rlim_cur == 40 ? 0 : 1);
  }
  struct rlimit new_limit = {40, 50}, old_limit;
  CHECK_EQ(prlimit(pid, RLIMIT_NOFILE, &new_limit, &old_limit), 0);
  struct rlimit own;
  getrlimit(RLIMIT_NOFILE, &own);
  CHECK_EQ(old_limit.rlim_cur, own.rlim_cur);
  write(release[1], "x", 1);
  CHECK_CHILD_EXIT(pid, 0);

  CASE("limits are inherited by fork");
  pid = fork();
  if (pid == 0) {
    struct rlimit limit = {20, 30};
    setrlimit(RLIMIT_NOFILE, &limit);
    pid_t grandchild = fork();
    if (grandchild == 0) {
      struct rlimit seen;
      getrlimit(RLIMIT_NOFILE, &seen);
      _exit(seen.rlim_cur == 20 && seen.rlim_max == 30 ? 0 : 1);
    }
    int inner = 0;
    waitpid(grandchild, &inner, 0);
    _exit(WIFEXITED(inner) ? WEXITSTATUS(inner) : 2);
  }
  CHECK_CHILD_EXIT(pid, 0);

  CASE("prlimit on a missing process fails with ESRCH");
  CHECK_ERR(prlimit(reaped_pid(), RLIMIT_NOFILE, NULL, &old_limit), ESRCH);

  CASE("invalid resource fails with EINVAL");
  struct rlimit limit;
  CHECK_ERR(getrlimit((__rlimit_resource_t)1000, &limit), EINVAL);

  CASE("bad pointer fails with EFAULT");
  CHECK_ERR(syscall(SYS_getrlimit, RLIMIT_NOFILE, (void*)8), EFAULT);
  close(release[0]);
  close(release[1]);
  return check_finish();
}
