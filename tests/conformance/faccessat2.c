/* faccessat2(): AT_EACCESS, AT_SYMLINK_NOFOLLOW, AT_EMPTY_PATH, directory
 * descriptors and errors, compared with the flag-less faccessat syscall. */
#include "check.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>

static char* directory;

static long faccessat2_raw(int dirfd, const char* path, int mode, int flags) {
  return syscall(SYS_faccessat2, dirfd, path, mode, flags);
}

static const char* path_in(const char* name) {
  static char paths[4][4200];
  static int next;
  char* path = paths[next++ % 4];
  snprintf(path, sizeof paths[0], "%s/%s", directory, name);
  return path;
}

int main(void) {
  directory = check_make_temp_dir();
  CHECK_OK(chmod(directory, 0755));
  close(open(path_in("private"), O_WRONLY | O_CREAT, 0600));
  close(open(path_in("readable"), O_WRONLY | O_CREAT, 0644));
  CHECK_OK(symlink("missing", path_in("dangling")));

  CASE("faccessat2 with no flags checks existence and permission");
  CHECK_EQ(faccessat2_raw(AT_FDCWD, path_in("private"), R_OK | W_OK, 0), 0);
  CHECK_ERR(faccessat2_raw(AT_FDCWD, path_in("missing"), F_OK, 0), ENOENT);

  CASE("AT_EACCESS checks the effective user id");
  pid_t pid = fork();
  if (pid == 0) {
    if (setresuid(0, 65534, 0) != 0) _exit(90);
    CHECK_EQ(faccessat2_raw(AT_FDCWD, path_in("private"), R_OK, 0), 0);
    CHECK_ERR(faccessat2_raw(AT_FDCWD, path_in("private"), R_OK, AT_EACCESS),
              EACCES);
    CHECK_EQ(faccessat2_raw(AT_FDCWD, path_in("readable"), R_OK, AT_EACCESS),
             0);
    check_child_done();
  }
  CHECK_CHILD_EXIT(pid, 0);

  CASE("AT_SYMLINK_NOFOLLOW checks the link itself");
  CHECK_EQ(
      faccessat2_raw(AT_FDCWD, path_in("dangling"), F_OK, AT_SYMLINK_NOFOLLOW),
      0);
  CHECK_ERR(faccessat2_raw(AT_FDCWD, path_in("dangling"), F_OK, 0), ENOENT);

  CASE("AT_EMPTY_PATH checks the file behind the descriptor");
  int fd = open(path_in("readable"), O_PATH);
  CHECK_EQ(faccessat2_raw(fd, "", R_OK, AT_EMPTY_PATH), 0);
  CHECK_ERR(faccessat2_raw(fd, "", X_OK, AT_EMPTY_PATH), EACCES);

  CASE("empty path without AT_EMPTY_PATH fails with ENOENT");
  CHECK_ERR(faccessat2_raw(fd, "", R_OK, 0), ENOENT);
  close(fd);

  CASE("relative paths resolve against the directory descriptor");
  int dirfd = open(directory, O_RDONLY | O_DIRECTORY);
  CHECK_EQ(faccessat2_raw(dirfd, "readable", R_OK, 0), 0);
  CHECK_ERR(faccessat2_raw(dirfd, "missing", F_OK, 0), ENOENT);

  CASE("relative path with a bad descriptor fails with EBADF");
  CHECK_ERR(faccessat2_raw(12345, "readable", F_OK, 0), EBADF);

  CASE("relative path with a file descriptor fails with ENOTDIR");
  fd = open(path_in("readable"), O_RDONLY);
  CHECK_ERR(faccessat2_raw(fd, "x", F_OK, 0), ENOTDIR);
  close(fd);

  CASE("unknown flags fail with EINVAL");
  CHECK_ERR(faccessat2_raw(dirfd, "readable", R_OK, 0x1), EINVAL);

  CASE("invalid mode fails with EINVAL");
  CHECK_ERR(faccessat2_raw(dirfd, "readable", 0x10, 0), EINVAL);

  CASE("the older faccessat takes no flags argument");
  CHECK_EQ(syscall(SYS_faccessat, dirfd, "dangling", F_OK, AT_SYMLINK_NOFOLLOW),
           -1);
  CHECK_EQ(errno, ENOENT);
  close(dirfd);
  check_remove_tree(directory);
  return check_finish();
}
