/* splice(): moving bytes between a pipe and another file, and the files
 * it rejects. */
#include "check.h"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

int main(void) {
  const char* path = "/tmp/moat-splice-test";
  int file = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
  CHECK(file >= 0);
  CHECK_EQ(write(file, "hello splice", 12), 12);
  int p[2];
  CHECK_OK(pipe(p));

  CASE("file to pipe moves bytes from the given offset");
  loff_t off = 6;
  CHECK_EQ(splice(file, &off, p[1], NULL, 100, 0), 6);
  CHECK_EQ(off, 12);
  char buf[32] = {0};
  CHECK_EQ(read(p[0], buf, sizeof buf), 6);
  CHECK_STR(buf, "splice");

  CASE("pipe to file writes at the given offset");
  CHECK_EQ(write(p[1], "HELLO", 5), 5);
  off = 0;
  CHECK_EQ(splice(p[0], NULL, file, &off, 5, 0), 5);
  memset(buf, 0, sizeof buf);
  CHECK_EQ(pread(file, buf, sizeof buf, 0), 12);
  CHECK_STR(buf, "HELLO splice");

  CASE("two regular files fail with EINVAL");
  CHECK_ERR(splice(file, NULL, file, NULL, 5, 0), EINVAL);

  CASE("an epoll descriptor as the input fails with EINVAL");
  int ep = epoll_create1(0);
  CHECK(ep >= 0);
  CHECK_ERR(splice(ep, NULL, p[1], NULL, 5, SPLICE_F_NONBLOCK), EINVAL);

  CASE("an epoll descriptor as the output fails with EINVAL");
  CHECK_EQ(write(p[1], "x", 1), 1);
  CHECK_ERR(splice(p[0], NULL, ep, NULL, 5, SPLICE_F_NONBLOCK), EINVAL);

  close(ep);
  close(p[0]);
  close(p[1]);
  close(file);
  unlink(path);
  return check_finish();
}
