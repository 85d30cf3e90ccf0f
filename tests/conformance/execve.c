/* execve(): argument and environment passing, auxiliary vector, what survives
 * exec (pid, fds without FD_CLOEXEC, ignored and blocked signals) and errors.
 *
 * The program re-executes itself with a mode word in argv[1]; each mode
 * checks the new image and exits 0 when everything matched. */
#include "check.h"

#include <fcntl.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/stat.h>

static char self_path[4096];
static char* directory;

/* Runs execve in a child and returns the child's exit code. A failed execve
 * exits with errno, so callers compare against an errno value. */
static int run_exec(const char* path, char* const argv[], char* const envp[]) {
  pid_t pid = fork();
  if (pid == 0) {
    execve(path, argv, envp);
    _exit(errno);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 1000 + WTERMSIG(status);
}

static int mode_check_args(int argc, char** argv) {
  CASE("new image receives exact argv");
  CHECK_EQ(argc, 4);
  if (argc != 4) return check_finish();
  CHECK_STR(argv[0], "first");
  CHECK_STR(argv[2], "a b");
  CHECK_STR(argv[3], "");
  CHECK(argv[4] == NULL);

  CASE("new image receives exact environment");
  extern char** environ;
  int count = 0;
  while (environ[count] != NULL) count++;
  CHECK_EQ(count, 3);
  CHECK_STR(getenv("FOO"), "bar");
  CHECK_STR(getenv("EMPTY"), "");

  CASE("auxiliary vector describes the new image");
  CHECK_EQ(getauxval(AT_PAGESZ), 4096);
  CHECK_EQ(getauxval(AT_UID), getuid());
  CHECK_EQ(getauxval(AT_EUID), geteuid());
  CHECK_EQ(getauxval(AT_GID), getgid());
  CHECK_EQ(getauxval(AT_EGID), getegid());
  CHECK(getauxval(AT_RANDOM) != 0);
  CHECK(getauxval(AT_PHDR) != 0);
  CHECK(getauxval(AT_ENTRY) != 0);
  CHECK_EQ(getauxval(AT_SECURE), 0);
  const char* execfn = (const char*)getauxval(AT_EXECFN);
  CHECK_STR(execfn, getenv("EXEC_PATH"));
  return check_finish();
}

static int mode_check_fds(int argc, char** argv) {
  CASE("descriptor with FD_CLOEXEC is closed by exec");
  CHECK_ERR(fcntl(atoi(argv[2]), F_GETFD), EBADF);
  CASE("descriptor without FD_CLOEXEC survives exec");
  CHECK_EQ(fcntl(atoi(argv[3]), F_GETFD), 0);
  char buffer[8] = {0};
  CHECK_EQ(pread(atoi(argv[3]), buffer, 5, 0), 5);
  CHECK_STR(buffer, "kept!");
  return check_finish();
}

static int mode_check_signals(int argc, char** argv) {
  struct sigaction action;
  CASE("caught signal is reset to SIG_DFL by exec");
  sigaction(SIGUSR1, NULL, &action);
  CHECK(action.sa_handler == SIG_DFL);
  CASE("ignored signal stays ignored across exec");
  sigaction(SIGUSR2, NULL, &action);
  CHECK(action.sa_handler == SIG_IGN);
  CASE("signal mask survives exec");
  sigset_t mask;
  sigprocmask(SIG_SETMASK, NULL, &mask);
  CHECK_EQ(sigismember(&mask, SIGTERM), 1);
  CHECK_EQ(sigismember(&mask, SIGUSR1), 0);
  CASE("pending signal survives exec");
  sigset_t pending;
  sigpending(&pending);
  CHECK_EQ(sigismember(&pending, SIGHUP), 1);
  return check_finish();
}

static int mode_check_pid(int argc, char** argv) {
  CASE("pid and parent pid survive exec");
  CHECK_EQ(getpid(), atoi(argv[2]));
  CHECK_EQ(getppid(), atoi(argv[3]));
  return check_finish();
}

/* Read the x87 control word and MXCSR, which glibc's start-up does not
 * change. */
static unsigned fpu_control(void) {
  unsigned short control;
  __asm__ volatile("fnstcw %0" : "=m"(control));
  return control;
}

static unsigned sse_control(void) {
  unsigned mxcsr;
  __asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
  return mxcsr;
}

static int mode_check_fpu(void) {
  CASE("exec starts the FPU in its initial state");
  CHECK_EQ(fpu_control(), 0x37f);
  CHECK_EQ(sse_control(), 0x1f80);
  return check_finish();
}

/* 53-bit x87 precision and SSE rounding toward zero, not the defaults. */
static const unsigned short custom_control = 0x27f;
static const unsigned custom_mxcsr = 0x1f80 | 0x6000;

static void set_custom_fpu(void) {
  __asm__ volatile("fldcw %0" : : "m"(custom_control));
  __asm__ volatile("ldmxcsr %0" : : "m"(custom_mxcsr));
}

static void test_fpu(void) {
  CASE("exec resets the FPU control words");
  char* argv[] = {self_path, "check-fpu", NULL};
  char* envp[] = {NULL};
  pid_t pid = fork();
  if (pid == 0) {
    set_custom_fpu();
    if (fpu_control() != custom_control || sse_control() != custom_mxcsr) _exit(3);
    execve(self_path, argv, envp);
    _exit(errno);
  }
  CHECK_CHILD_EXIT(pid, 0);

  CASE("exec in a vfork child resets the FPU control words");
  set_custom_fpu();
  pid = vfork();
  if (pid == 0) {
    execve(self_path, argv, envp);
    _exit(errno);
  }
  CHECK_EQ(fpu_control(), custom_control);
  CHECK_EQ(sse_control(), custom_mxcsr);
  unsigned short control = 0x37f;
  unsigned mxcsr = 0x1f80;
  __asm__ volatile("fldcw %0" : : "m"(control));
  __asm__ volatile("ldmxcsr %0" : : "m"(mxcsr));
  CHECK_CHILD_EXIT(pid, 0);
}

/* An address that nothing maps unless the test does. */
#define OLD_PAGE ((char*)0x5a0000000000)

static int mode_check_unmapped(void) {
  CASE("exec leaves none of the old image's memory");
  signal(SIGSEGV, check_on_fault);
  signal(SIGBUS, check_on_fault);
  CHECK(check_load_faults(OLD_PAGE));
  return check_finish();
}

static void test_old_memory(void) {
  CASE("exec drops the old image's mappings");
  pid_t pid = fork();
  if (pid == 0) {
    char* page = mmap(OLD_PAGE, 4096, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    if (page != OLD_PAGE) _exit(3);
    page[0] = 'x';
    char* argv[] = {self_path, "check-unmapped", NULL};
    char* envp[] = {NULL};
    execve(self_path, argv, envp);
    _exit(errno);
  }
  CHECK_CHILD_EXIT(pid, 0);

  CASE("exec in a vfork child drops the mappings it shared with its parent");
  char* page = mmap(OLD_PAGE, 4096, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  CHECK(page == OLD_PAGE);
  page[0] = 'p';
  char* argv[] = {self_path, "check-unmapped", NULL};
  char* envp[] = {NULL};
  for (int round = 0; round < 3; round++) {
    pid = vfork();
    if (pid == 0) {
      page[1] = 'c';  // the parent's memory too
      execve(self_path, argv, envp);
      _exit(errno);
    }
    CHECK_CHILD_EXIT(pid, 0);
  }

  CASE("the vfork parent keeps its memory after the child's exec");
  CHECK_EQ(page[0], 'p');
  CHECK_EQ(page[1], 'c');

  CASE("a fork after vfork children gives the child a copy on write");
  int ready[2];
  CHECK_OK(pipe(ready));
  pid = fork();
  if (pid == 0) {
    char go;
    if (read(ready[0], &go, 1) != 1) _exit(4);
    _exit(page[0] == 'p' ? 0 : 5);
  }
  CHECK(pid > 0);
  page[0] = 'q';  // after the fork: the child must not see it
  CHECK_EQ(write(ready[1], "g", 1), 1);
  CHECK_CHILD_EXIT(pid, 0);
  CHECK_EQ(page[0], 'q');
  close(ready[0]);
  close(ready[1]);
  munmap(page, 4096);
}

static void test_args_env(void) {
  CASE("exec passes argv, envp and auxv");
  char exec_path[4200];
  snprintf(exec_path, sizeof exec_path, "EXEC_PATH=%s", self_path);
  char* argv[] = {"first", "check-args", "a b", "", NULL};
  char* envp[] = {"FOO=bar", "EMPTY=", exec_path, NULL};
  CHECK_EQ(run_exec(self_path, argv, envp), 0);
}

static void test_fds(void) {
  CASE("exec closes only FD_CLOEXEC descriptors");
  char path[256];
  snprintf(path, sizeof path, "%s/kept", directory);
  int kept_fd = open(path, O_RDWR | O_CREAT, 0644);
  CHECK_EQ(write(kept_fd, "kept!", 5), 5);
  int closed_fd = open(path, O_RDONLY | O_CLOEXEC);
  char closed_text[16], kept_text[16];
  snprintf(closed_text, sizeof closed_text, "%d", closed_fd);
  snprintf(kept_text, sizeof kept_text, "%d", kept_fd);
  char* argv[] = {self_path, "check-fds", closed_text, kept_text, NULL};
  char* envp[] = {NULL};
  CHECK_EQ(run_exec(self_path, argv, envp), 0);
  close(kept_fd);
  close(closed_fd);
}

static void on_signal(int signo) {}

static void test_signals(void) {
  CASE("exec resets handlers and keeps mask, ignores and pending signals");
  pid_t pid = fork();
  if (pid == 0) {
    signal(SIGUSR1, on_signal);
    signal(SIGUSR2, SIG_IGN);
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGHUP);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    raise(SIGHUP);
    char* argv[] = {self_path, "check-signals", NULL};
    char* envp[] = {NULL};
    execve(self_path, argv, envp);
    _exit(99);
  }
  CHECK_CHILD_EXIT(pid, 0);
}

static void test_pid(void) {
  CASE("exec keeps the pid");
  pid_t pid = fork();
  if (pid == 0) {
    char pid_text[16], parent_text[16];
    snprintf(pid_text, sizeof pid_text, "%d", getpid());
    snprintf(parent_text, sizeof parent_text, "%d", getppid());
    char* argv[] = {self_path, "check-pid", pid_text, parent_text, NULL};
    char* envp[] = {NULL};
    execve(self_path, argv, envp);
    _exit(99);
  }
  CHECK_CHILD_EXIT(pid, 0);
}

static void write_file(const char* path, const char* content, mode_t mode) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
  CHECK(fd >= 0);
  CHECK_EQ(write(fd, content, strlen(content)), (ssize_t)strlen(content));
  close(fd);
  chmod(path, mode);
}

static void copy_self(const char* target, int* open_fd) {
  int in = open(self_path, O_RDONLY);
  int out = open(target, O_WRONLY | O_CREAT | O_TRUNC, 0755);
  CHECK(in >= 0);
  CHECK(out >= 0);
  char buffer[65536];
  ssize_t n;
  while ((n = read(in, buffer, sizeof buffer)) > 0)
    CHECK_EQ(write(out, buffer, n), n);
  close(in);
  *open_fd = out;
}

static void test_errors(void) {
  char* envp[] = {NULL};
  char path[256];

  CASE("missing file fails with ENOENT");
  snprintf(path, sizeof path, "%s/missing", directory);
  char* argv[] = {path, NULL};
  CHECK_EQ(run_exec(path, argv, envp), ENOENT);

  CASE("empty path fails with ENOENT");
  CHECK_EQ(run_exec("", argv, envp), ENOENT);

  CASE("directory fails with EACCES");
  CHECK_EQ(run_exec(directory, argv, envp), EACCES);

  CASE("file without execute permission fails with EACCES");
  snprintf(path, sizeof path, "%s/not-executable", directory);
  write_file(path, "#!/bin/sh\n", 0644);
  CHECK_EQ(run_exec(path, argv, envp), EACCES);

  CASE("executable file with unknown format fails with ENOEXEC");
  snprintf(path, sizeof path, "%s/garbage", directory);
  write_file(path, "this is not a program\n", 0755);
  CHECK_EQ(run_exec(path, argv, envp), ENOEXEC);

  CASE("empty executable file fails with ENOEXEC");
  snprintf(path, sizeof path, "%s/empty", directory);
  write_file(path, "", 0755);
  CHECK_EQ(run_exec(path, argv, envp), ENOEXEC);

  CASE("path through a regular file fails with ENOTDIR");
  snprintf(path, sizeof path, "%s/garbage/x", directory);
  CHECK_EQ(run_exec(path, argv, envp), ENOTDIR);

  CASE("bad path pointer fails with EFAULT");
  CHECK_EQ(run_exec((const char*)8, argv, envp), EFAULT);

  CASE("argument longer than MAX_ARG_STRLEN fails with E2BIG");
  static char long_argument[200000];
  memset(long_argument, 'x', sizeof long_argument - 1);
  char* long_argv[] = {self_path, long_argument, NULL};
  CHECK_EQ(run_exec(self_path, long_argv, envp), E2BIG);

  CASE("file open for writing fails with ETXTBSY");
  snprintf(path, sizeof path, "%s/copy", directory);
  int writer = -1;
  copy_self(path, &writer);
  char* copy_argv[] = {path, "exit", "0", NULL};
  CHECK_EQ(run_exec(path, copy_argv, envp), ETXTBSY);

  CASE("same file runs once the writer is closed");
  close(writer);
  CHECK_EQ(run_exec(path, copy_argv, envp), 0);
}

int main(int argc, char** argv) {
  if (argc >= 2 && strcmp(argv[1], "check-args") == 0)
    return mode_check_args(argc, argv);
  if (argc >= 4 && strcmp(argv[1], "check-fds") == 0)
    return mode_check_fds(argc, argv);
  if (argc >= 2 && strcmp(argv[1], "check-signals") == 0)
    return mode_check_signals(argc, argv);
  if (argc >= 4 && strcmp(argv[1], "check-pid") == 0)
    return mode_check_pid(argc, argv);
  if (argc >= 3 && strcmp(argv[1], "exit") == 0) return atoi(argv[2]);
  if (argc >= 2 && strcmp(argv[1], "check-fpu") == 0) return mode_check_fpu();
  if (argc >= 2 && strcmp(argv[1], "check-unmapped") == 0)
    return mode_check_unmapped();

  if (realpath(argv[0], self_path) == NULL) {
    printf("setup: realpath(%s) failed with %s\n", argv[0],
           check_errno_name(errno));
    return 2;
  }
  directory = check_make_temp_dir();
  test_args_env();
  test_fds();
  test_signals();
  test_pid();
  test_fpu();
  test_old_memory();
  test_errors();
  check_remove_tree(directory);
  return check_finish();
}
