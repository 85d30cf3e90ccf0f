/* readv() and writev(): gathering, scattering, empty vectors, limits and
 * errors. */
#include "check.h"

#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>

static char* directory;

int main(void) {
  directory = check_make_temp_dir();
  char path[4200];
  snprintf(path, sizeof path, "%s/file", directory);
  int fd = open(path, O_RDWR | O_CREAT, 0644);

  CASE("writev writes the concatenation and returns the total");
  struct iovec out[3] = {{"hello", 5}, {", ", 2}, {"world", 5}};
  CHECK_EQ(writev(fd, out, 3), 12);
  char buffer[32] = {0};
  CHECK_EQ(pread(fd, buffer, sizeof buffer, 0), 12);
  CHECK_STR(buffer, "hello, world");

  CASE("readv scatters in order");
  char a[4] = {0}, b[3] = {0}, c[8] = {0};
  struct iovec in[3] = {{a, 3}, {b, 2}, {c, 7}};
  CHECK_EQ(lseek(fd, 0, SEEK_SET), 0);
  CHECK_EQ(readv(fd, in, 3), 12);
  CHECK_STR(a, "hel");
  CHECK_STR(b, "lo");
  CHECK_STR(c, ", world");

  CASE("readv at the end fills the first vectors only");
  CHECK_EQ(lseek(fd, 8, SEEK_SET), 8);
  memset(a, 0, sizeof a);
  memset(b, 0, sizeof b);
  CHECK_EQ(readv(fd, in, 3), 4);
  CHECK_STR(a, "orl");
  CHECK_EQ(b[0], 'd');
  CHECK_EQ(b[1], 0);

  CASE("zero-length vectors are skipped");
  struct iovec gaps[3] = {{"x", 0}, {"yz", 2}, {NULL, 0}};
  CHECK_EQ(writev(fd, gaps, 3), 2);

  CASE("iovcnt of zero returns 0");
  CHECK_EQ(writev(fd, out, 0), 0);
  CHECK_EQ(readv(fd, in, 0), 0);

  CASE("iovcnt above IOV_MAX fails with EINVAL");
  static struct iovec many[IOV_MAX + 1];
  for (int i = 0; i <= IOV_MAX; i++) many[i] = (struct iovec){"m", 1};
  CHECK_EQ(writev(fd, many, IOV_MAX), IOV_MAX);
  CHECK_ERR(writev(fd, many, IOV_MAX + 1), EINVAL);

  CASE("negative iovcnt fails with EINVAL");
  CHECK_ERR(syscall(SYS_writev, fd, out, -1), EINVAL);

  CASE("vector length above SSIZE_MAX fails with EINVAL");
  struct iovec huge[2] = {{buffer, 4}, {buffer, (size_t)SSIZE_MAX + 1}};
  CHECK_ERR(readv(fd, huge, 2), EINVAL);

  CASE("bad iovec array fails with EFAULT");
  CHECK_ERR(syscall(SYS_writev, fd, (struct iovec*)8, 1), EFAULT);

  CASE("bad buffer in the first vector fails with EFAULT");
  struct iovec bad[1] = {{(void*)8, 4}};
  CHECK_ERR(writev(fd, bad, 1), EFAULT);

  CASE("bad buffer after a good one yields a partial write");
  char* page = mmap(NULL, 8192, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  munmap(page + 4096, 4096);
  memset(page, 'p', 4096);
  struct iovec partial[2] = {{page, 4096}, {page + 4096, 10}};
  CHECK_EQ(writev(fd, partial, 2), 4096);
  munmap(page, 4096);

  CASE("writev to a pipe is read back whole");
  int fds[2];
  CHECK_OK(pipe(fds));
  CHECK_EQ(writev(fds[1], out, 3), 12);
  memset(buffer, 0, sizeof buffer);
  CHECK_EQ(read(fds[0], buffer, sizeof buffer), 12);
  CHECK_STR(buffer, "hello, world");

  CASE("readv on a closed descriptor fails with EBADF");
  CHECK_ERR(readv(12345, in, 1), EBADF);
  close(fds[0]);
  close(fds[1]);
  close(fd);
  check_remove_tree(directory);
  return check_finish();
}
