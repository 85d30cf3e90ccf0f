/* tmpfs mounted on a directory under /tmp: mount options, statfs, size and
 * inode limits, sparse files, read-only remounts, busy unmounts and errors. */
#include "check.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>

#define TMPFS_MAGIC_NUMBER 0x01021994

static char* directory;
static char mount_point[4200];

static const char* path_in_mount(const char* name) {
  static char paths[4][4300];
  static int next;
  char* path = paths[next++ % 4];
  snprintf(path, sizeof paths[0], "%s/%s", mount_point, name);
  return path;
}

static int mount_tmpfs(const char* options) {
  return mount("tmpfs", mount_point, "tmpfs", 0, options);
}

static void test_mount_options(void) {
  CASE("tmpfs mounts with size and mode options");
  CHECK_EQ(mount_tmpfs("size=1m,mode=0750"), 0);
  struct stat info;
  CHECK_OK(stat(mount_point, &info));
  CHECK(S_ISDIR(info.st_mode));
  CHECK_EQ(info.st_mode & 07777, 0750);

  CASE("mount point is a different device from its parent");
  struct stat parent;
  CHECK_OK(stat(directory, &parent));
  CHECK_NE(info.st_dev, parent.st_dev);

  CASE("statfs reports the tmpfs magic number and the size limit");
  struct statfs fs;
  CHECK_EQ(statfs(mount_point, &fs), 0);
  CHECK_EQ(fs.f_type, TMPFS_MAGIC_NUMBER);
  CHECK_EQ(fs.f_bsize, 4096);
  CHECK_EQ(fs.f_blocks, 256);
  CHECK_EQ(fs.f_bfree, 256);

  CASE("writes beyond the size limit fail with ENOSPC");
  int fd = open(path_in_mount("big"), O_WRONLY | O_CREAT, 0644);
  static char block[65536];
  memset(block, 'b', sizeof block);
  long total = 0;
  int last_errno = 0;
  for (int i = 0; i < 64; i++) {
    ssize_t n = write(fd, block, sizeof block);
    if (n < 0) {
      last_errno = errno;
      break;
    }
    total += n;
  }
  CHECK_EQ(last_errno, ENOSPC);
  CHECK_EQ(total, 1 << 20);
  close(fd);

  CASE("statfs shows the space as used");
  CHECK_EQ(statfs(mount_point, &fs), 0);
  CHECK_EQ(fs.f_bfree, 0);

  CASE("unlinking frees the space");
  CHECK_OK(unlink(path_in_mount("big")));
  CHECK_EQ(statfs(mount_point, &fs), 0);
  CHECK_EQ(fs.f_bfree, 256);

  CASE("sparse files use no blocks");
  fd = open(path_in_mount("sparse"), O_WRONLY | O_CREAT, 0644);
  CHECK_EQ(ftruncate(fd, 100 << 20), 0);
  CHECK_OK(fstat(fd, &info));
  CHECK_EQ(info.st_size, 100 << 20);
  CHECK_EQ(info.st_blocks, 0);
  close(fd);

  CASE("unmounting removes the files from view");
  CHECK_EQ(umount(mount_point), 0);
  CHECK_ERR(stat(path_in_mount("sparse"), &info), ENOENT);
}

static void test_inode_limit(void) {
  CASE("nr_inodes limits the number of files, counting the root");
  CHECK_EQ(mount_tmpfs("nr_inodes=4"), 0);
  int created = 0;
  int last_errno = 0;
  for (int i = 0; i < 10; i++) {
    char name[16];
    snprintf(name, sizeof name, "f%d", i);
    int fd = open(path_in_mount(name), O_WRONLY | O_CREAT, 0644);
    if (fd < 0) {
      last_errno = errno;
      break;
    }
    close(fd);
    created++;
  }
  CHECK_EQ(created, 3);
  CHECK_EQ(last_errno, ENOSPC);
  CHECK_EQ(umount(mount_point), 0);
}

static void test_remount_and_busy(void) {
  CHECK_EQ(mount_tmpfs("size=64k"), 0);
  int fd = open(path_in_mount("file"), O_WRONLY | O_CREAT, 0644);
  CHECK(fd >= 0);

  CASE("unmounting with an open file fails with EBUSY");
  CHECK_ERR(umount(mount_point), EBUSY);
  close(fd);

  CASE("read-only remount rejects writes with EROFS");
  CHECK_EQ(mount(NULL, mount_point, NULL, MS_REMOUNT | MS_RDONLY, NULL), 0);
  CHECK_ERR(open(path_in_mount("file"), O_WRONLY), EROFS);
  CHECK_ERR(open(path_in_mount("new"), O_WRONLY | O_CREAT, 0644), EROFS);
  CHECK_ERR(mkdir(path_in_mount("dir"), 0755), EROFS);
  struct statfs fs;
  CHECK_EQ(statfs(mount_point, &fs), 0);
  CHECK_EQ(fs.f_flags & ST_RDONLY, ST_RDONLY);

  CASE("read-only files can still be read");
  fd = open(path_in_mount("file"), O_RDONLY);
  CHECK(fd >= 0);

  CASE("MNT_DETACH unmounts while a file is open");
  CHECK_EQ(umount2(mount_point, MNT_DETACH), 0);
  struct stat info;
  CHECK_ERR(stat(path_in_mount("file"), &info), ENOENT);
  CHECK_OK(fstat(fd, &info));
  close(fd);
}

static void test_errors(void) {
  CASE("invalid size option fails with EINVAL");
  CHECK_ERR(mount_tmpfs("size=abc"), EINVAL);

  CASE("unknown option fails with EINVAL");
  CHECK_ERR(mount_tmpfs("no_such_option=1"), EINVAL);

  CASE("unmounting a directory that is not a mount point fails with EINVAL");
  CHECK_ERR(umount(mount_point), EINVAL);

  CASE("mounting on a missing directory fails with ENOENT");
  char missing[4300];
  snprintf(missing, sizeof missing, "%s/missing", directory);
  CHECK_ERR(mount("tmpfs", missing, "tmpfs", 0, NULL), ENOENT);

  CASE("unknown filesystem type fails with ENODEV");
  CHECK_ERR(mount("none", mount_point, "no_such_filesystem", 0, NULL), ENODEV);

  CASE("unprivileged mount fails with EPERM");
  CHECK_OK(chmod(directory, 0755));
  pid_t pid = fork();
  if (pid == 0) {
    if (setuid(65534) != 0) _exit(90);
    CHECK_ERR(mount_tmpfs(NULL), EPERM);
    check_child_done();
  }
  CHECK_CHILD_EXIT(pid, 0);
}

int main(void) {
  directory = check_make_temp_dir();
  snprintf(mount_point, sizeof mount_point, "%s/mnt", directory);
  CHECK_OK(mkdir(mount_point, 0755));
  test_mount_options();
  test_inode_limit();
  test_remount_and_busy();
  test_errors();
  /* Detach anything a failed case left mounted before removing the tree. */
  while (umount2(mount_point, MNT_DETACH) == 0) {
  }
  check_remove_tree(directory);
  return check_finish();
}
