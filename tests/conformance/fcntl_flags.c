/* fcntl() F_GETFL/F_SETFL, F_GETFD/F_SETFD and F_GETOWN/F_SETOWN. */
#include "check.h"

#include <fcntl.h>

/* x86-64 glibc defines O_LARGEFILE as 0, but the kernel sets this bit on
 * every file it opens for a 64-bit process and reports it in F_GETFL. */
#define KERNEL_O_LARGEFILE 0100000

static char* directory;

int main(void) {
  directory = check_make_temp_dir();
  char path[4200];
  snprintf(path, sizeof path, "%s/file", directory);

  CASE("F_GETFL reports the access mode and O_LARGEFILE");
  int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_TRUNC, 0644);
  int flags = fcntl(fd, F_GETFL);
  CHECK_EQ(flags & O_ACCMODE, O_RDWR);
  CHECK_EQ(flags & KERNEL_O_LARGEFILE, KERNEL_O_LARGEFILE);

  CASE("F_GETFL omits O_CREAT, O_EXCL and O_TRUNC");
  CHECK_EQ(flags & (O_CREAT | O_EXCL | O_TRUNC), 0);

  CASE("F_GETFL reports O_APPEND and O_NONBLOCK given to open");
  int other = open(path, O_WRONLY | O_APPEND | O_NONBLOCK);
  flags = fcntl(other, F_GETFL);
  CHECK_EQ(flags & O_ACCMODE, O_WRONLY);
  CHECK_EQ(flags & (O_APPEND | O_NONBLOCK), O_APPEND | O_NONBLOCK);
  close(other);

  CASE("F_SETFL sets O_APPEND and the next write appends");
  CHECK_EQ(write(fd, "abc", 3), 3);
  CHECK_EQ(fcntl(fd, F_SETFL, O_APPEND), 0);
  CHECK_EQ(fcntl(fd, F_GETFL) & O_APPEND, O_APPEND);
  CHECK_EQ(lseek(fd, 0, SEEK_SET), 0);
  CHECK_EQ(write(fd, "d", 1), 1);
  char buffer[8] = {0};
  CHECK_EQ(pread(fd, buffer, sizeof buffer, 0), 4);
  CHECK_STR(buffer, "abcd");

  CASE("F_SETFL ignores the access mode bits");
  CHECK_EQ(fcntl(fd, F_SETFL, O_RDONLY), 0);
  CHECK_EQ(fcntl(fd, F_GETFL) & O_ACCMODE, O_RDWR);
  CHECK_EQ(fcntl(fd, F_GETFL) & O_APPEND, 0);

  CASE("F_SETFL O_NONBLOCK makes an empty pipe read fail with EAGAIN");
  int fds[2];
  CHECK_OK(pipe(fds));
  CHECK_EQ(fcntl(fds[0], F_SETFL, O_NONBLOCK), 0);
  char byte;
  CHECK_ERR(read(fds[0], &byte, 1), EAGAIN);

  CASE("pipe descriptors do not report O_LARGEFILE");
  CHECK_EQ(fcntl(fds[1], F_GETFL), O_WRONLY);

  CASE("status flags are shared between duplicates, FD_CLOEXEC is not");
  int copy = dup(fds[0]);
  CHECK_EQ(fcntl(copy, F_GETFL) & O_NONBLOCK, O_NONBLOCK);
  CHECK_EQ(fcntl(fds[0], F_SETFD, FD_CLOEXEC), 0);
  CHECK_EQ(fcntl(fds[0], F_GETFD), FD_CLOEXEC);
  CHECK_EQ(fcntl(copy, F_GETFD), 0);
  close(copy);

  CASE("F_SETFD 0 clears FD_CLOEXEC");
  CHECK_EQ(fcntl(fds[0], F_SETFD, 0), 0);
  CHECK_EQ(fcntl(fds[0], F_GETFD), 0);

  CASE("F_SETOWN stores the owning process");
  CHECK_EQ(fcntl(fds[0], F_SETOWN, getpid()), 0);
  CHECK_EQ(fcntl(fds[0], F_GETOWN), getpid());
  CHECK_EQ(fcntl(fds[0], F_SETOWN, 0), 0);
  CHECK_EQ(fcntl(fds[0], F_GETOWN), 0);
  close(fds[0]);
  close(fds[1]);

  CASE("O_PATH descriptor reports O_PATH and rejects F_SETFL with EBADF");
  int path_fd = open(path, O_PATH);
  CHECK_EQ(fcntl(path_fd, F_GETFL) & O_PATH, O_PATH);
  CHECK_ERR(fcntl(path_fd, F_SETFL, O_NONBLOCK), EBADF);
  CHECK_EQ(fcntl(path_fd, F_SETFD, FD_CLOEXEC), 0);
  CHECK_EQ(fcntl(path_fd, F_GETFD), FD_CLOEXEC);
  close(path_fd);

  CASE("closed descriptor fails with EBADF");
  CHECK_ERR(fcntl(12345, F_GETFL), EBADF);
  CHECK_ERR(fcntl(12345, F_GETFD), EBADF);

  CASE("unknown command fails with EINVAL");
  CHECK_ERR(fcntl(fd, 9999), EINVAL);
  close(fd);
  check_remove_tree(directory);
  return check_finish();
}
