/* close_range(): closing, CLOSE_RANGE_CLOEXEC, CLOSE_RANGE_UNSHARE and errors.
 */
#include "check.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <sys/syscall.h>

static long close_range_raw(unsigned first, unsigned last, unsigned flags) {
  return syscall(SYS_close_range, first, last, flags);
}

static int is_open(int fd) { return fcntl(fd, F_GETFD) != -1; }

static void open_at(int fd) {
  int opened = open("/dev/null", O_RDONLY);
  if (opened != fd) {
    dup2(opened, fd);
    close(opened);
  }
}

int main(void) {
  CASE("close_range closes every descriptor in the range");
  for (int fd = 10; fd <= 20; fd++) open_at(fd);
  CHECK_EQ(close_range_raw(12, 18, 0), 0);
  CHECK_EQ(is_open(11), 1);
  CHECK_EQ(is_open(12), 0);
  CHECK_EQ(is_open(15), 0);
  CHECK_EQ(is_open(18), 0);
  CHECK_EQ(is_open(19), 1);

  CASE("a range with no open descriptors succeeds");
  CHECK_EQ(close_range_raw(100, 200, 0), 0);

  CASE("last of ~0U closes everything above first");
  CHECK_EQ(close_range_raw(19, ~0U, 0), 0);
  CHECK_EQ(is_open(19), 0);
  CHECK_EQ(is_open(20), 0);
  CHECK_EQ(is_open(11), 1);

  CASE("CLOSE_RANGE_CLOEXEC marks descriptors instead of closing them");
  for (int fd = 30; fd <= 33; fd++) open_at(fd);
  CHECK_EQ(close_range_raw(31, 32, CLOSE_RANGE_CLOEXEC), 0);
  CHECK_EQ(fcntl(30, F_GETFD), 0);
  CHECK_EQ(fcntl(31, F_GETFD), FD_CLOEXEC);
  CHECK_EQ(fcntl(32, F_GETFD), FD_CLOEXEC);
  CHECK_EQ(fcntl(33, F_GETFD), 0);

  CASE("first greater than last fails with EINVAL");
  CHECK_ERR(close_range_raw(20, 10, 0), EINVAL);

  CASE("unknown flags fail with EINVAL");
  CHECK_ERR(close_range_raw(10, 20, 0x1), EINVAL);

  CASE("closing in a child leaves the parent's descriptors open");
  pid_t pid = fork();
  if (pid == 0) _exit(close_range_raw(3, ~0U, 0) == 0 && !is_open(30) ? 0 : 1);
  CHECK_CHILD_EXIT(pid, 0);
  CHECK_EQ(is_open(30), 1);

  CASE("CLOSE_RANGE_UNSHARE closes only in the caller's new table");
  pid = fork();
  if (pid == 0) {
    if (close_range_raw(30, 33, CLOSE_RANGE_UNSHARE) != 0) _exit(1);
    _exit(!is_open(30) && !is_open(33) && is_open(11) ? 0 : 2);
  }
  CHECK_CHILD_EXIT(pid, 0);

  CASE("descriptors 0 to 2 survive a range that starts at 3");
  pid = fork();
  if (pid == 0) {
    close_range_raw(3, ~0U, 0);
    _exit(is_open(0) && is_open(1) && is_open(2) && !is_open(11) ? 0 : 1);
  }
  CHECK_CHILD_EXIT(pid, 0);
  close_range_raw(10, 40, 0);
  return check_finish();
}
