/* fallocate(FALLOC_FL_PUNCH_HOLE) zeroes a range and keeps the size, also
 * over a huge sparse range. */
#include "check.h"

#include <fcntl.h>
#include <sys/stat.h>

int main(void) {
  const char* path = "/tmp/moat-punch-hole-test";
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
  CHECK(fd >= 0);
  char page[8192];
  memset(page, 'x', sizeof page);
  CHECK_EQ(pwrite(fd, page, sizeof page, 0), (ssize_t)sizeof page);

  CASE("punching inside the data zeroes just that range");
  CHECK_OK(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 100,
                     5000));
  char got[8192];
  CHECK_EQ(pread(fd, got, sizeof got, 0), (ssize_t)sizeof got);
  CHECK_EQ(got[99], 'x');
  int zero = 1;
  for (int i = 100; i < 5100; i++) zero &= got[i] == 0;
  CHECK(zero);
  CHECK_EQ(got[5100], 'x');

  CASE("punching a terabyte of a sparse file is quick and keeps the size");
  off_t huge = (off_t)1 << 40;
  CHECK_OK(ftruncate(fd, huge));
  CHECK_OK(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 1,
                     huge - 1));
  struct stat st;
  CHECK_OK(fstat(fd, &st));
  CHECK_EQ(st.st_size, huge);
  CHECK_EQ(pread(fd, got, 2, 0), 2);
  CHECK_EQ(got[0], 'x');
  CHECK_EQ(got[1], 0);
  CHECK_EQ(pread(fd, got, 2, 4096), 2);
  CHECK_EQ(got[0], 0);
  CHECK_EQ(got[1], 0);

  close(fd);
  unlink(path);
  return check_finish();
}
