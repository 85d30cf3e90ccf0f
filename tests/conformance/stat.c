/* stat(), fstat(), lstat() and fstatat(): file types, sizes, links, owners and
 * errors. */
#include "check.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>

static char* directory;

static const char* path_in(const char* name) {
  static char paths[4][4200];
  static int next;
  char* path = paths[next++ % 4];
  snprintf(path, sizeof paths[0], "%s/%s", directory, name);
  return path;
}

static void test_regular_file(void) {
  CASE("regular file reports type, mode, size, links and owner");
  umask(0);
  int fd = open(path_in("file"), O_RDWR | O_CREAT, 0640);
  static char block[8192];
  memset(block, 'x', sizeof block);
  CHECK_EQ(write(fd, block, 5000), 5000);
  struct stat info;
  CHECK_EQ(stat(path_in("file"), &info), 0);
  CHECK(S_ISREG(info.st_mode));
  CHECK_EQ(info.st_mode & 07777, 0640);
  CHECK_EQ(info.st_size, 5000);
  CHECK_EQ(info.st_nlink, 1);
  CHECK_EQ(info.st_uid, geteuid());
  CHECK_EQ(info.st_gid, getegid());
  CHECK(info.st_blksize > 0);

  CASE("fstat agrees with stat");
  struct stat by_fd;
  CHECK_EQ(fstat(fd, &by_fd), 0);
  CHECK_EQ(by_fd.st_ino, info.st_ino);
  CHECK_EQ(by_fd.st_dev, info.st_dev);
  CHECK_EQ(by_fd.st_size, info.st_size);

  CASE("writes update st_size and st_blocks");
  CHECK_EQ(pwrite(fd, block, sizeof block, 100000), (ssize_t)sizeof block);
  CHECK_OK(fsync(fd));
  CHECK_OK(fstat(fd, &by_fd));
  CHECK_EQ(by_fd.st_size, 100000 + (off_t)sizeof block);
  CHECK(by_fd.st_blocks >= 16);
  close(fd);

  CASE("hard link increments st_nlink on both names");
  CHECK_OK(link(path_in("file"), path_in("file-link")));
  CHECK_OK(stat(path_in("file"), &info));
  CHECK_EQ(info.st_nlink, 2);
  CHECK_OK(stat(path_in("file-link"), &by_fd));
  CHECK_EQ(by_fd.st_ino, info.st_ino);
  CHECK_OK(unlink(path_in("file-link")));
  CHECK_OK(stat(path_in("file"), &info));
  CHECK_EQ(info.st_nlink, 1);

  CASE("chmod updates st_ctime and not st_mtime");
  struct stat before, after;
  CHECK_OK(stat(path_in("file"), &before));
  struct timespec old_times[2] = {{1000000000, 0}, {1000000000, 0}};
  CHECK_OK(utimensat(AT_FDCWD, path_in("file"), old_times, 0));
  CHECK_OK(chmod(path_in("file"), 0600));
  CHECK_OK(stat(path_in("file"), &after));
  CHECK_EQ(after.st_mtime, 1000000000);
  CHECK(after.st_ctime >= before.st_ctime);
}

static void test_symlink_and_directory(void) {
  CASE("lstat reports the symlink and its target length");
  CHECK_OK(symlink("file", path_in("link")));
  struct stat info;
  CHECK_EQ(lstat(path_in("link"), &info), 0);
  CHECK(S_ISLNK(info.st_mode));
  CHECK_EQ(info.st_size, 4);

  CASE("stat follows the symlink");
  struct stat target;
  CHECK_EQ(stat(path_in("link"), &info), 0);
  CHECK_OK(stat(path_in("file"), &target));
  CHECK(S_ISREG(info.st_mode));
  CHECK_EQ(info.st_ino, target.st_ino);

  CASE("fstatat with AT_SYMLINK_NOFOLLOW matches lstat");
  int dirfd = open(directory, O_RDONLY | O_DIRECTORY);
  CHECK_EQ(fstatat(dirfd, "link", &info, AT_SYMLINK_NOFOLLOW), 0);
  CHECK(S_ISLNK(info.st_mode));

  CASE("fstatat with AT_EMPTY_PATH describes the descriptor");
  CHECK_EQ(fstatat(dirfd, "", &info, AT_EMPTY_PATH), 0);
  CHECK(S_ISDIR(info.st_mode));

  CASE("empty directory has two links and gains one per subdirectory");
  CHECK_OK(mkdir(path_in("dir"), 0755));
  CHECK_OK(stat(path_in("dir"), &info));
  CHECK(S_ISDIR(info.st_mode));
  CHECK_EQ(info.st_nlink, 2);
  CHECK_OK(mkdir(path_in("dir/sub"), 0755));
  CHECK_OK(stat(path_in("dir"), &info));
  CHECK_EQ(info.st_nlink, 3);

  CASE("character device reports its device number");
  CHECK_OK(stat("/dev/null", &info));
  CHECK(S_ISCHR(info.st_mode));
  CHECK_EQ(major(info.st_rdev), 1);
  CHECK_EQ(minor(info.st_rdev), 3);

  CASE("pipe reports S_IFIFO");
  int fds[2];
  CHECK_OK(pipe(fds));
  CHECK_OK(fstat(fds[0], &info));
  CHECK(S_ISFIFO(info.st_mode));
  close(fds[0]);
  close(fds[1]);
  close(dirfd);
}

static void test_errors(void) {
  struct stat info;

  CASE("missing path fails with ENOENT");
  CHECK_ERR(stat(path_in("missing"), &info), ENOENT);

  CASE("empty path fails with ENOENT");
  CHECK_ERR(stat("", &info), ENOENT);

  CASE("path through a regular file fails with ENOTDIR");
  CHECK_ERR(stat(path_in("file/x"), &info), ENOTDIR);

  CASE("dangling symlink fails with ENOENT for stat only");
  CHECK_OK(symlink("nowhere", path_in("dangling")));
  CHECK_ERR(stat(path_in("dangling"), &info), ENOENT);
  CHECK_EQ(lstat(path_in("dangling"), &info), 0);

  CASE("bad buffer fails with EFAULT");
  CHECK_ERR(syscall(SYS_newfstatat, AT_FDCWD, path_in("file"), (void*)8, 0),
            EFAULT);

  CASE("bad path pointer fails with EFAULT");
  CHECK_ERR(syscall(SYS_newfstatat, AT_FDCWD, (void*)8, &info, 0), EFAULT);

  CASE("fstat on a closed descriptor fails with EBADF");
  CHECK_ERR(fstat(12345, &info), EBADF);

  CASE("fstatat with unknown flags fails with EINVAL");
  CHECK_ERR(fstatat(AT_FDCWD, path_in("file"), &info, 0x1), EINVAL);

  CASE("search permission is required on every directory for non-root");
  CHECK_OK(chmod(directory, 0755));
  CHECK_OK(mkdir(path_in("private"), 0700));
  int fd = open(path_in("private/secret"), O_WRONLY | O_CREAT, 0644);
  close(fd);
  pid_t pid = fork();
  if (pid == 0) {
    if (setuid(65534) != 0) _exit(90);
    CHECK_ERR(stat(path_in("private/secret"), &info), EACCES);
    CHECK_EQ(stat(path_in("private"), &info), 0);
    check_child_done();
  }
  CHECK_CHILD_EXIT(pid, 0);
}

int main(void) {
  directory = check_make_temp_dir();
  test_regular_file();
  test_symlink_and_directory();
  test_errors();
  check_remove_tree(directory);
  return check_finish();
}
