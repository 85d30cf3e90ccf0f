/* chdir(), fchdir() and getcwd(): resolution, buffer sizes, removed
 * directories and errors. */
#include "check.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/syscall.h>

static char directory[PATH_MAX];

int main(void) {
  char* created = check_make_temp_dir();
  if (realpath(created, directory) == NULL) {
    printf("setup: realpath failed with %s\n", check_errno_name(errno));
    return 2;
  }
  char original[PATH_MAX];
  CHECK(getcwd(original, sizeof original) != NULL);

  CASE("chdir changes what getcwd returns");
  CHECK_EQ(chdir(directory), 0);
  char cwd[PATH_MAX];
  CHECK_STR(getcwd(cwd, sizeof cwd), directory);

  CASE("relative paths resolve from the new directory");
  int fd = CHECK_OK(open("relative", O_WRONLY | O_CREAT, 0644));
  close(fd);
  char absolute[PATH_MAX + 32];
  snprintf(absolute, sizeof absolute, "%s/relative", directory);
  struct stat info;
  CHECK_EQ(stat(absolute, &info), 0);

  CASE("getcwd reports a normalized path after . and .. and extra slashes");
  CHECK_OK(mkdir("sub", 0755));
  CHECK_OK(mkdir("sub/deeper", 0755));
  CHECK_EQ(chdir(".//sub/./deeper/../deeper//"), 0);
  char expected[PATH_MAX + 32];
  snprintf(expected, sizeof expected, "%s/sub/deeper", directory);
  CHECK_STR(getcwd(cwd, sizeof cwd), expected);

  CASE("chdir .. moves to the parent");
  CHECK_EQ(chdir(".."), 0);
  snprintf(expected, sizeof expected, "%s/sub", directory);
  CHECK_STR(getcwd(cwd, sizeof cwd), expected);

  CASE("chdir through a symlink reports the resolved path");
  CHECK_OK(symlink("sub/deeper", "../link"));
  CHECK_EQ(chdir("../link"), 0);
  snprintf(expected, sizeof expected, "%s/sub/deeper", directory);
  CHECK_STR(getcwd(cwd, sizeof cwd), expected);

  CASE("fchdir changes to the descriptor's directory");
  int dirfd = open(directory, O_RDONLY | O_DIRECTORY);
  CHECK_EQ(fchdir(dirfd), 0);
  CHECK_STR(getcwd(cwd, sizeof cwd), directory);

  CASE("raw getcwd returns the length including the terminator");
  long length = syscall(SYS_getcwd, cwd, sizeof cwd);
  CHECK_EQ(length, (long)strlen(directory) + 1);

  CASE("buffer too small fails with ERANGE");
  CHECK(getcwd(cwd, 3) == NULL);
  CHECK_EQ(errno, ERANGE);
  CHECK_ERR(syscall(SYS_getcwd, cwd, strlen(directory)), ERANGE);

  CASE("zero size with a buffer fails with EINVAL");
  CHECK(getcwd(cwd, 0) == NULL);
  CHECK_EQ(errno, EINVAL);

  CASE("bad buffer fails with EFAULT");
  CHECK_ERR(syscall(SYS_getcwd, (char*)8, sizeof cwd), EFAULT);

  CASE("fchdir on a regular file fails with ENOTDIR");
  int filefd = open("relative", O_RDONLY);
  CHECK_ERR(fchdir(filefd), ENOTDIR);
  close(filefd);

  CASE("fchdir on a closed descriptor fails with EBADF");
  CHECK_ERR(fchdir(12345), EBADF);

  CASE("chdir to a missing path fails with ENOENT");
  CHECK_ERR(chdir("missing"), ENOENT);

  CASE("chdir to a regular file fails with ENOTDIR");
  CHECK_ERR(chdir("relative"), ENOTDIR);

  CASE("chdir without search permission fails with EACCES for non-root");
  CHECK_OK(chmod(directory, 0755));
  CHECK_OK(mkdir("locked", 0700));
  pid_t pid = fork();
  if (pid == 0) {
    if (setuid(65534) != 0) _exit(90);
    CHECK_ERR(chdir("locked"), EACCES);
    check_child_done();
  }
  CHECK_CHILD_EXIT(pid, 0);

  CASE("child's chdir does not affect the parent");
  pid = fork();
  if (pid == 0) _exit(chdir("/") == 0 ? 0 : 1);
  CHECK_CHILD_EXIT(pid, 0);
  CHECK_STR(getcwd(cwd, sizeof cwd), directory);

  CASE("getcwd in a removed directory fails with ENOENT");
  CHECK_OK(mkdir("doomed", 0755));
  CHECK_OK(chdir("doomed"));
  CHECK_OK(rmdir("../doomed"));
  CHECK(getcwd(cwd, sizeof cwd) == NULL);
  CHECK_EQ(errno, ENOENT);
  CHECK_ERR(syscall(SYS_getcwd, cwd, sizeof cwd), ENOENT);

  CASE("creating a file in a removed directory fails with ENOENT");
  CHECK_ERR(open("new", O_WRONLY | O_CREAT, 0644), ENOENT);

  CHECK_OK(chdir(original));
  close(dirfd);
  check_remove_tree(directory);
  return check_finish();
}
