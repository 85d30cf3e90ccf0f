/* statx(): returned mask, agreement with fstat, flags and errors. */
#include "check.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>

static char* directory;

static long raw_statx(int dirfd, const char* path, int flags, unsigned mask,
                      struct statx* buffer) {
  return syscall(SYS_statx, dirfd, path, flags, mask, buffer);
}

int main(void) {
  directory = check_make_temp_dir();
  char path[4200], link_path[4200];
  snprintf(path, sizeof path, "%s/file", directory);
  snprintf(link_path, sizeof link_path, "%s/link", directory);
  int fd = open(path, O_RDWR | O_CREAT, 0600);
  CHECK_EQ(write(fd, "0123456789", 10), 10);
  CHECK_OK(symlink("file", link_path));

  CASE("STATX_BASIC_STATS fills every basic field");
  struct statx info;
  memset(&info, 0xff, sizeof info);
  CHECK_EQ(raw_statx(AT_FDCWD, path, 0, STATX_BASIC_STATS, &info), 0);
  CHECK_EQ(info.stx_mask & STATX_BASIC_STATS, STATX_BASIC_STATS);
  CHECK_EQ(info.stx_size, 10);
  CHECK(S_ISREG(info.stx_mode));
  CHECK_EQ(info.stx_mode & 07777, 0600);
  CHECK_EQ(info.stx_nlink, 1);
  CHECK_EQ(info.stx_uid, geteuid());

  CASE("statx agrees with fstat");
  struct stat st;
  CHECK_OK(fstat(fd, &st));
  CHECK_EQ(info.stx_ino, st.st_ino);
  CHECK_EQ(info.stx_dev_major, major(st.st_dev));
  CHECK_EQ(info.stx_dev_minor, minor(st.st_dev));
  CHECK_EQ(info.stx_blocks, st.st_blocks);
  CHECK_EQ(info.stx_blksize, st.st_blksize);
  CHECK_EQ(info.stx_mtime.tv_sec, st.st_mtim.tv_sec);
  CHECK_EQ(info.stx_mtime.tv_nsec, st.st_mtim.tv_nsec);
  CHECK_EQ(info.stx_ctime.tv_sec, st.st_ctim.tv_sec);

  CASE("AT_EMPTY_PATH describes the descriptor");
  struct statx by_fd;
  CHECK_EQ(raw_statx(fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &by_fd), 0);
  CHECK_EQ(by_fd.stx_ino, info.stx_ino);

  CASE("AT_SYMLINK_NOFOLLOW describes the symlink");
  struct statx link_info;
  CHECK_EQ(raw_statx(AT_FDCWD, link_path, AT_SYMLINK_NOFOLLOW,
                     STATX_BASIC_STATS, &link_info),
           0);
  CHECK(S_ISLNK(link_info.stx_mode));
  CHECK_EQ(link_info.stx_size, 4);

  CASE("symlinks are followed by default");
  CHECK_EQ(raw_statx(AT_FDCWD, link_path, 0, STATX_BASIC_STATS, &link_info), 0);
  CHECK_EQ(link_info.stx_ino, info.stx_ino);

  CASE("zero mask still succeeds");
  CHECK_EQ(raw_statx(AT_FDCWD, path, 0, 0, &info), 0);

  CASE("AT_STATX_FORCE_SYNC and AT_STATX_DONT_SYNC together fail with EINVAL");
  CHECK_ERR(raw_statx(AT_FDCWD, path, AT_STATX_FORCE_SYNC | AT_STATX_DONT_SYNC,
                      STATX_BASIC_STATS, &info),
            EINVAL);

  CASE("reserved mask bit fails with EINVAL");
  CHECK_ERR(raw_statx(AT_FDCWD, path, 0, 0x80000000u, &info), EINVAL);

  CASE("unknown flags fail with EINVAL");
  CHECK_ERR(raw_statx(AT_FDCWD, path, 0x1, STATX_BASIC_STATS, &info), EINVAL);

  CASE("missing path fails with ENOENT");
  char missing[4200];
  snprintf(missing, sizeof missing, "%s/missing", directory);
  CHECK_ERR(raw_statx(AT_FDCWD, missing, 0, STATX_BASIC_STATS, &info), ENOENT);

  CASE("bad buffer fails with EFAULT");
  CHECK_ERR(raw_statx(AT_FDCWD, path, 0, STATX_BASIC_STATS, (struct statx*)8),
            EFAULT);

  CASE("relative path with a bad dirfd fails with EBADF");
  CHECK_ERR(raw_statx(12345, "file", 0, STATX_BASIC_STATS, &info), EBADF);

  CASE("directory reports S_IFDIR");
  CHECK_EQ(raw_statx(AT_FDCWD, directory, 0, STATX_TYPE, &info), 0);
  CHECK(S_ISDIR(info.stx_mode));
  close(fd);
  check_remove_tree(directory);
  return check_finish();
}
