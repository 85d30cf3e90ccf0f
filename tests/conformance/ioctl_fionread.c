/* ioctl(): FIONREAD on pipes, sockets and regular files, FIONBIO,
 * FIOCLEX/FIONCLEX, and errors. */
#include "check.h"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

int main(void) {
  int pending = -1;

  CASE("FIONREAD on a pipe counts unread bytes");
  int fds[2];
  CHECK_OK(pipe(fds));
  CHECK_EQ(ioctl(fds[0], FIONREAD, &pending), 0);
  CHECK_EQ(pending, 0);
  CHECK_EQ(write(fds[1], "0123456789", 10), 10);
  CHECK_EQ(ioctl(fds[0], FIONREAD, &pending), 0);
  CHECK_EQ(pending, 10);
  char buffer[16];
  CHECK_EQ(read(fds[0], buffer, 4), 4);
  CHECK_EQ(ioctl(fds[0], FIONREAD, &pending), 0);
  CHECK_EQ(pending, 6);

  CASE("FIONREAD on a stream socket counts all queued bytes");
  int pair[2];
  CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, pair));
  CHECK_EQ(send(pair[0], "abc", 3, 0), 3);
  CHECK_EQ(send(pair[0], "defg", 4, 0), 4);
  CHECK_EQ(ioctl(pair[1], FIONREAD, &pending), 0);
  CHECK_EQ(pending, 7);
  close(pair[0]);
  close(pair[1]);

  CASE("FIONREAD on a datagram socket gives the size of the next datagram");
  CHECK_OK(socketpair(AF_UNIX, SOCK_DGRAM, 0, pair));
  CHECK_EQ(send(pair[0], "12345", 5, 0), 5);
  CHECK_EQ(send(pair[0], "1234567", 7, 0), 7);
  CHECK_EQ(ioctl(pair[1], FIONREAD, &pending), 0);
  CHECK_EQ(pending, 5);
  close(pair[0]);
  close(pair[1]);

  CASE("FIONREAD on a regular file gives size minus offset");
  char* directory = check_make_temp_dir();
  char path[256];
  snprintf(path, sizeof path, "%s/file", directory);
  int file = open(path, O_RDWR | O_CREAT, 0644);
  static char block[100];
  CHECK_EQ(write(file, block, sizeof block), 100);
  CHECK_EQ(lseek(file, 30, SEEK_SET), 30);
  CHECK_EQ(ioctl(file, FIONREAD, &pending), 0);
  CHECK_EQ(pending, 70);

  CASE("FIONREAD on an eventfd fails with ENOTTY");
  int event = eventfd(0, 0);
  CHECK_ERR(ioctl(event, FIONREAD, &pending), ENOTTY);
  close(event);

  CASE("unknown ioctl on a regular file fails with ENOTTY");
  CHECK_ERR(ioctl(file, 0x5401 /* TCGETS */, buffer), ENOTTY);

  CASE("FIONBIO sets and clears O_NONBLOCK");
  int on = 1;
  CHECK_EQ(ioctl(fds[0], FIONBIO, &on), 0);
  CHECK_EQ(fcntl(fds[0], F_GETFL) & O_NONBLOCK, O_NONBLOCK);
  CHECK_EQ(read(fds[0], buffer, sizeof buffer), 6);
  CHECK_ERR(read(fds[0], buffer, sizeof buffer), EAGAIN);
  int off = 0;
  CHECK_EQ(ioctl(fds[0], FIONBIO, &off), 0);
  CHECK_EQ(fcntl(fds[0], F_GETFL) & O_NONBLOCK, 0);

  CASE("FIOCLEX and FIONCLEX set and clear FD_CLOEXEC");
  CHECK_EQ(ioctl(file, FIOCLEX), 0);
  CHECK_EQ(fcntl(file, F_GETFD), FD_CLOEXEC);
  CHECK_EQ(ioctl(file, FIONCLEX), 0);
  CHECK_EQ(fcntl(file, F_GETFD), 0);

  CASE("closed descriptor fails with EBADF");
  CHECK_ERR(ioctl(12345, FIONREAD, &pending), EBADF);

  CASE("bad result pointer fails with EFAULT");
  CHECK_ERR(ioctl(fds[0], FIONREAD, (int*)8), EFAULT);
  close(file);
  close(fds[0]);
  close(fds[1]);
  check_remove_tree(directory);
  return check_finish();
}
