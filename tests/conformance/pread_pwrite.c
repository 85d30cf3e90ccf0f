/* pread(), pwrite(), preadv(), pwritev(), preadv2() and pwritev2(). */
#include "check.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>

static char* directory;

int main(void) {
  directory = check_make_temp_dir();
  char path[4200];
  snprintf(path, sizeof path, "%s/file", directory);
  int fd = open(path, O_RDWR | O_CREAT, 0644);
  CHECK_EQ(write(fd, "0123456789", 10), 10);
  CHECK_EQ(lseek(fd, 2, SEEK_SET), 2);

  CASE("pread reads at the offset and leaves the file offset");
  char buffer[16] = {0};
  CHECK_EQ(pread(fd, buffer, 3, 5), 3);
  CHECK_STR(buffer, "567");
  CHECK_EQ(lseek(fd, 0, SEEK_CUR), 2);

  CASE("pwrite writes at the offset and leaves the file offset");
  CHECK_EQ(pwrite(fd, "AB", 2, 8), 2);
  CHECK_EQ(lseek(fd, 0, SEEK_CUR), 2);
  memset(buffer, 0, sizeof buffer);
  CHECK_EQ(pread(fd, buffer, sizeof buffer, 0), 10);
  CHECK_STR(buffer, "01234567AB");

  CASE("pread at or past the end returns 0");
  CHECK_EQ(pread(fd, buffer, 4, 10), 0);
  CHECK_EQ(pread(fd, buffer, 4, 1000), 0);

  CASE("pread near the end returns a short count");
  CHECK_EQ(pread(fd, buffer, 4, 8), 2);

  CASE("pwrite past the end extends the file");
  CHECK_EQ(pwrite(fd, "Z", 1, 20), 1);
  struct stat info;
  CHECK_OK(fstat(fd, &info));
  CHECK_EQ(info.st_size, 21);

  CASE("pwrite on an O_APPEND descriptor appends on Linux");
  int append = open(path, O_WRONLY | O_APPEND);
  CHECK_EQ(pwrite(append, "E", 1, 0), 1);
  close(append);
  memset(buffer, 0, sizeof buffer);
  CHECK_EQ(pread(fd, buffer, 1, 0), 1);
  CHECK_EQ(buffer[0], '0');
  CHECK_EQ(pread(fd, buffer, 1, 21), 1);
  CHECK_EQ(buffer[0], 'E');

  CASE("negative offset fails with EINVAL");
  CHECK_ERR(pread(fd, buffer, 1, -1), EINVAL);
  CHECK_ERR(pwrite(fd, "x", 1, -1), EINVAL);

  CASE("pipe fails with ESPIPE");
  int fds[2];
  CHECK_OK(pipe(fds));
  CHECK_ERR(pread(fds[0], buffer, 1, 0), ESPIPE);
  CHECK_ERR(pwrite(fds[1], "x", 1, 0), ESPIPE);
  close(fds[0]);
  close(fds[1]);

  CASE("wrong access mode fails with EBADF");
  int writeonly = open(path, O_WRONLY);
  CHECK_ERR(pread(writeonly, buffer, 1, 0), EBADF);
  close(writeonly);
  int readonly = open(path, O_RDONLY);
  CHECK_ERR(pwrite(readonly, "x", 1, 0), EBADF);
  close(readonly);

  CASE("bad buffer fails with EFAULT");
  CHECK_ERR(syscall(SYS_pread64, fd, (void*)8, 4, 0), EFAULT);

  CASE("preadv scatters from the offset");
  char first[3] = {0}, second[4] = {0};
  struct iovec vectors[2] = {{first, 2}, {second, 3}};
  CHECK_EQ(preadv(fd, vectors, 2, 1), 5);
  CHECK(memcmp(first, "12", 2) == 0);
  CHECK(memcmp(second, "345", 3) == 0);
  CHECK_EQ(lseek(fd, 0, SEEK_CUR), 2);

  CASE("pwritev gathers at the offset");
  struct iovec out[2] = {{"ab", 2}, {"cd", 2}};
  CHECK_EQ(pwritev(fd, out, 2, 0), 4);
  memset(buffer, 0, sizeof buffer);
  CHECK_EQ(pread(fd, buffer, 4, 0), 4);
  CHECK_STR(buffer, "abcd");

  CASE("preadv2 with offset -1 uses and advances the file offset");
  char two[3] = {0};
  struct iovec current = {two, 2};
  CHECK_EQ(lseek(fd, 1, SEEK_SET), 1);
  CHECK_EQ(preadv2(fd, &current, 1, -1, 0), 2);
  CHECK_STR(two, "bc");
  CHECK_EQ(lseek(fd, 0, SEEK_CUR), 3);

  CASE("pwritev2 with unknown flags fails with EOPNOTSUPP");
  CHECK_ERR(pwritev2(fd, out, 1, 0, 0x40000000), EOPNOTSUPP);

  CASE("pread of zero bytes returns 0");
  CHECK_EQ(pread(fd, buffer, 0, 0), 0);
  close(fd);
  check_remove_tree(directory);
  return check_finish();
}
