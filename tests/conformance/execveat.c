/* execveat(): directory-relative paths, AT_EMPTY_PATH, AT_SYMLINK_NOFOLLOW,
 * scripts run through a descriptor, and the AT_EXECFN the kernel reports.
 *
 * The program copies itself into a temporary directory and runs the copy with
 * a mode word in argv[1]. */
#include "check.h"

#include <fcntl.h>
#include <sys/auxv.h>
#include <sys/syscall.h>

static char self_path[4096];
static char* directory;
static char program_path[4200];

static long raw_execveat(int dirfd, const char* path, char* const argv[],
                         char* const envp[], int flags) {
  return syscall(SYS_execveat, dirfd, path, argv, envp, flags);
}

/* Runs execveat in a child, optionally after chdir, and returns the exit
 * code. A failed execveat exits with errno. */
static int run_execveat(const char* workdir, int dirfd, const char* path,
                        char* const argv[], int flags) {
  pid_t pid = fork();
  if (pid == 0) {
    if (workdir != NULL && chdir(workdir) != 0) _exit(98);
    char* envp[] = {NULL};
    raw_execveat(dirfd, path, argv, envp, flags);
    _exit(errno);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 1000 + WTERMSIG(status);
}

static int mode_check_execfn(char** argv) {
  CASE("AT_EXECFN names the path the kernel opened");
  CHECK_STR((const char*)getauxval(AT_EXECFN), argv[2]);
  return check_finish();
}

static int mode_check_script(int argc, char** argv) {
  CASE("script run through a descriptor gets a /dev/fd path");
  CHECK_EQ(argc, 4);
  if (argc == 4) CHECK_STR(argv[2], argv[3]);
  return check_finish();
}

static void copy_self(const char* target) {
  int in = open(self_path, O_RDONLY);
  int out = open(target, O_WRONLY | O_CREAT | O_TRUNC, 0755);
  CHECK(in >= 0);
  CHECK(out >= 0);
  char buffer[65536];
  ssize_t n;
  while ((n = read(in, buffer, sizeof buffer)) > 0)
    CHECK_EQ(write(out, buffer, n), n);
  close(in);
  close(out);
}

static void test_paths(void) {
  int dirfd = open(directory, O_RDONLY | O_DIRECTORY);
  char expected[4300];

  CASE("relative path resolves against dirfd");
  snprintf(expected, sizeof expected, "/dev/fd/%d/program", dirfd);
  char* argv1[] = {"program", "check-execfn", expected, NULL};
  CHECK_EQ(run_execveat(NULL, dirfd, "program", argv1, 0), 0);

  CASE("AT_FDCWD resolves against the working directory");
  char* argv2[] = {"program", "check-execfn", "program", NULL};
  CHECK_EQ(run_execveat(directory, AT_FDCWD, "program", argv2, 0), 0);

  CASE("absolute path ignores an invalid dirfd");
  char* argv3[] = {"program", "check-execfn", program_path, NULL};
  CHECK_EQ(run_execveat(NULL, 12345, program_path, argv3, 0), 0);

  CASE("AT_EMPTY_PATH runs the file behind the descriptor");
  int fd = open(program_path, O_RDONLY);
  snprintf(expected, sizeof expected, "/dev/fd/%d", fd);
  char* argv4[] = {"program", "check-execfn", expected, NULL};
  CHECK_EQ(run_execveat(NULL, fd, "", argv4, AT_EMPTY_PATH), 0);
  close(fd);

  CASE("AT_EMPTY_PATH accepts an O_PATH descriptor");
  fd = open(program_path, O_PATH);
  snprintf(expected, sizeof expected, "/dev/fd/%d", fd);
  char* argv5[] = {"program", "check-execfn", expected, NULL};
  CHECK_EQ(run_execveat(NULL, fd, "", argv5, AT_EMPTY_PATH), 0);
  close(fd);

  CASE("symlink is followed by default");
  char link_path[4300];
  snprintf(link_path, sizeof link_path, "%s/link", directory);
  CHECK_OK(symlink("program", link_path));
  char* argv6[] = {"link", "check-execfn", link_path, NULL};
  CHECK_EQ(run_execveat(NULL, AT_FDCWD, link_path, argv6, 0), 0);

  CASE("AT_SYMLINK_NOFOLLOW on a symlink fails with ELOOP");
  CHECK_EQ(run_execveat(NULL, AT_FDCWD, link_path, argv6, AT_SYMLINK_NOFOLLOW),
           ELOOP);
  close(dirfd);
}

static void test_errors(void) {
  char* argv[] = {"program", NULL};

  CASE("unknown flags fail with EINVAL");
  CHECK_EQ(run_execveat(NULL, AT_FDCWD, program_path, argv, 0x1), EINVAL);

  CASE("relative path with a bad dirfd fails with EBADF");
  CHECK_EQ(run_execveat(NULL, 12345, "program", argv, 0), EBADF);

  CASE("relative path with a file as dirfd fails with ENOTDIR");
  int fd = open(program_path, O_RDONLY);
  CHECK_EQ(run_execveat(NULL, fd, "program", argv, 0), ENOTDIR);

  CASE("empty path without AT_EMPTY_PATH fails with ENOENT");
  CHECK_EQ(run_execveat(NULL, fd, "", argv, 0), ENOENT);
  close(fd);

  CASE("AT_EMPTY_PATH on a directory fails with EACCES");
  fd = open(directory, O_RDONLY | O_DIRECTORY);
  CHECK_EQ(run_execveat(NULL, fd, "", argv, AT_EMPTY_PATH), EACCES);
  close(fd);
}

static void test_scripts(void) {
  char script_path[4300];
  snprintf(script_path, sizeof script_path, "%s/script", directory);
  int fd = open(script_path, O_WRONLY | O_CREAT | O_TRUNC, 0755);
  dprintf(fd, "#!%s check-script\n", program_path);
  close(fd);

  CASE("script through a descriptor without FD_CLOEXEC runs");
  fd = open(script_path, O_RDONLY);
  char expected[64];
  snprintf(expected, sizeof expected, "/dev/fd/%d", fd);
  char* argv[] = {"script", expected, NULL};
  CHECK_EQ(run_execveat(NULL, fd, "", argv, AT_EMPTY_PATH), 0);
  close(fd);

  CASE("script through an FD_CLOEXEC descriptor fails with ENOENT");
  fd = open(script_path, O_RDONLY | O_CLOEXEC);
  CHECK_EQ(run_execveat(NULL, fd, "", argv, AT_EMPTY_PATH), ENOENT);
  close(fd);
}

int main(int argc, char** argv) {
  if (argc >= 3 && strcmp(argv[1], "check-execfn") == 0)
    return mode_check_execfn(argv);
  if (argc >= 2 && strcmp(argv[1], "check-script") == 0)
    return mode_check_script(argc, argv);

  if (realpath(argv[0], self_path) == NULL) {
    printf("setup: realpath(%s) failed with %s\n", argv[0],
           check_errno_name(errno));
    return 2;
  }
  directory = check_make_temp_dir();
  snprintf(program_path, sizeof program_path, "%s/program", directory);
  copy_self(program_path);
  test_paths();
  test_errors();
  test_scripts();
  check_remove_tree(directory);
  return check_finish();
}
