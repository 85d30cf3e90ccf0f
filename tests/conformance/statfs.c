/* statfs(), fstatfs() and statvfs(): filesystem types, counters, flags
 * and errors. */
#include "check.h"

#include <fcntl.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>

#define PROC_SUPER_MAGIC_NUMBER 0x9fa0
#define PIPEFS_MAGIC_NUMBER 0x50495045
#define DEVPTS_SUPER_MAGIC_NUMBER 0x1cd1
#define ST_VALID_FLAG 0x0020

int main(void) {
  char* directory = check_make_temp_dir();

  CASE("statfs and fstatfs agree on /tmp");
  struct statfs by_path, by_fd;
  CHECK_EQ(statfs(directory, &by_path), 0);
  int fd = open(directory, O_RDONLY | O_DIRECTORY);
  CHECK_EQ(fstatfs(fd, &by_fd), 0);
  CHECK_EQ(by_fd.f_type, by_path.f_type);
  CHECK_EQ(by_fd.f_bsize, by_path.f_bsize);
  CHECK_EQ(by_fd.f_blocks, by_path.f_blocks);

  CASE("block counters are ordered and the name limit is 255");
  CHECK(by_path.f_bsize > 0);
  CHECK(by_path.f_blocks > 0);
  CHECK(by_path.f_bfree <= by_path.f_blocks);
  CHECK(by_path.f_bavail <= by_path.f_bfree);
  CHECK_EQ(by_path.f_namelen, 255);

  CASE("statfs sets ST_VALID in f_flags");
  CHECK_EQ(by_path.f_flags & ST_VALID_FLAG, ST_VALID_FLAG);

  CASE("statvfs agrees with statfs");
  struct statvfs vfs;
  CHECK_EQ(statvfs(directory, &vfs), 0);
  CHECK_EQ(vfs.f_bsize, by_path.f_bsize);
  CHECK_EQ(vfs.f_blocks, by_path.f_blocks);
  CHECK_EQ(vfs.f_namemax, 255);

  CASE("/proc reports the proc magic number");
  struct statfs proc;
  CHECK_EQ(statfs("/proc", &proc), 0);
  CHECK_EQ(proc.f_type, PROC_SUPER_MAGIC_NUMBER);

  CASE("/dev/pts reports the devpts magic number");
  struct statfs pts;
  CHECK_EQ(statfs("/dev/pts", &pts), 0);
  CHECK_EQ(pts.f_type, DEVPTS_SUPER_MAGIC_NUMBER);

  CASE("a file reports the same filesystem as its directory");
  char path[256];
  snprintf(path, sizeof path, "%s/file", directory);
  close(open(path, O_WRONLY | O_CREAT, 0644));
  struct statfs file_fs;
  CHECK_EQ(statfs(path, &file_fs), 0);
  CHECK_EQ(file_fs.f_type, by_path.f_type);
  CHECK_EQ(memcmp(&file_fs.f_fsid, &by_path.f_fsid, sizeof file_fs.f_fsid), 0);

  CASE("fstatfs on a pipe reports pipefs");
  int fds[2];
  CHECK_OK(pipe(fds));
  struct statfs pipe_fs;
  CHECK_EQ(fstatfs(fds[0], &pipe_fs), 0);
  CHECK_EQ(pipe_fs.f_type, PIPEFS_MAGIC_NUMBER);
  CHECK_EQ(pipe_fs.f_flags & ST_VALID_FLAG, ST_VALID_FLAG);
  close(fds[0]);
  close(fds[1]);

  CASE("missing path fails with ENOENT");
  snprintf(path, sizeof path, "%s/missing", directory);
  CHECK_ERR(statfs(path, &file_fs), ENOENT);

  CASE("closed descriptor fails with EBADF");
  CHECK_ERR(fstatfs(12345, &file_fs), EBADF);

  CASE("bad buffer fails with EFAULT");
  CHECK_ERR(syscall(SYS_statfs, directory, (void*)8), EFAULT);

  CASE("path through a regular file fails with ENOTDIR");
  snprintf(path, sizeof path, "%s/file/x", directory);
  CHECK_ERR(statfs(path, &file_fs), ENOTDIR);
  close(fd);
  check_remove_tree(directory);
  return check_finish();
}
