/* fallocate() and posix_fallocate(): allocation, FALLOC_FL_KEEP_SIZE,
 * FALLOC_FL_PUNCH_HOLE and errors. */
#include "check.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/stat.h>

static char* directory;

static struct stat stat_fd(int fd) {
  struct stat info;
  memset(&info, 0, sizeof info);
  fstat(fd, &info);
  return info;
}

int main(void) {
  directory = check_make_temp_dir();
  char path[4200];
  snprintf(path, sizeof path, "%s/file", directory);
  int fd = open(path, O_RDWR | O_CREAT, 0644);

  CASE("mode 0 extends the size and reads back zeros");
  CHECK_EQ(fallocate(fd, 0, 0, 65536), 0);
  struct stat info = stat_fd(fd);
  CHECK_EQ(info.st_size, 65536);
  CHECK(info.st_blocks >= 128);
  char buffer[65536];
  memset(buffer, 'x', sizeof buffer);
  CHECK_EQ(pread(fd, buffer, sizeof buffer, 0), 65536);
  int nonzero = 0;
  for (size_t i = 0; i < sizeof buffer; i++) nonzero |= buffer[i];
  CHECK_EQ(nonzero, 0);

  CASE("FALLOC_FL_KEEP_SIZE allocates without changing the size");
  CHECK_EQ(fallocate(fd, FALLOC_FL_KEEP_SIZE, 65536, 65536), 0);
  struct stat kept = stat_fd(fd);
  CHECK_EQ(kept.st_size, 65536);
  CHECK(kept.st_blocks >= info.st_blocks + 128);

  CASE("FALLOC_FL_PUNCH_HOLE zeroes a range and keeps the size");
  memset(buffer, 'd', sizeof buffer);
  CHECK_EQ(pwrite(fd, buffer, sizeof buffer, 0), 65536);
  long blocks_before_hole = stat_fd(fd).st_blocks;
  CHECK_EQ(
      fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 4096, 8192), 0);
  CHECK_EQ(stat_fd(fd).st_size, 65536);
  CHECK(stat_fd(fd).st_blocks <= blocks_before_hole - 16);
  CHECK_EQ(pread(fd, buffer, sizeof buffer, 0), 65536);
  CHECK_EQ(buffer[4095], 'd');
  CHECK_EQ(buffer[4096], 0);
  CHECK_EQ(buffer[12287], 0);
  CHECK_EQ(buffer[12288], 'd');

  CASE(
      "FALLOC_FL_PUNCH_HOLE without FALLOC_FL_KEEP_SIZE fails with EOPNOTSUPP");
  CHECK_ERR(fallocate(fd, FALLOC_FL_PUNCH_HOLE, 0, 4096), EOPNOTSUPP);

  CASE("posix_fallocate extends the file");
  CHECK_EQ(posix_fallocate(fd, 0, 200000), 0);
  CHECK_EQ(stat_fd(fd).st_size, 200000);

  CASE("allocating inside the file keeps the size");
  CHECK_EQ(fallocate(fd, 0, 0, 4096), 0);
  CHECK_EQ(stat_fd(fd).st_size, 200000);

  CASE("zero length fails with EINVAL");
  CHECK_ERR(fallocate(fd, 0, 0, 0), EINVAL);

  CASE("negative offset fails with EINVAL");
  CHECK_ERR(fallocate(fd, 0, -1, 4096), EINVAL);

  CASE("read-only descriptor fails with EBADF");
  int readonly = open(path, O_RDONLY);
  CHECK_ERR(fallocate(readonly, 0, 0, 4096), EBADF);
  close(readonly);

  CASE("closed descriptor fails with EBADF");
  CHECK_ERR(fallocate(12345, 0, 0, 4096), EBADF);

  CASE("pipe fails with ESPIPE");
  int fds[2];
  CHECK_OK(pipe(fds));
  CHECK_ERR(fallocate(fds[1], 0, 0, 4096), ESPIPE);
  close(fds[0]);
  close(fds[1]);

  CASE("unknown mode bits fail with EOPNOTSUPP");
  CHECK_ERR(fallocate(fd, 0x1000, 0, 4096), EOPNOTSUPP);
  close(fd);
  check_remove_tree(directory);
  return check_finish();
}
