/* readlink() and readlinkat(): no terminator, truncation, long targets and
 * errors. */
#include "check.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/syscall.h>

static char* directory;

static const char* path_in(const char* name) {
  static char paths[4][4200];
  static int next;
  char* path = paths[next++ % 4];
  snprintf(path, sizeof paths[0], "%s/%s", directory, name);
  return path;
}

int main(void) {
  directory = check_make_temp_dir();
  CHECK_OK(symlink("target-name", path_in("link")));

  CASE("readlink returns the length without a terminator");
  char buffer[64];
  memset(buffer, '#', sizeof buffer);
  CHECK_EQ(readlink(path_in("link"), buffer, sizeof buffer), 11);
  CHECK(memcmp(buffer, "target-name", 11) == 0);
  CHECK_EQ(buffer[11], '#');

  CASE("short buffer truncates to its size");
  memset(buffer, '#', sizeof buffer);
  CHECK_EQ(readlink(path_in("link"), buffer, 4), 4);
  CHECK(memcmp(buffer, "targ", 4) == 0);
  CHECK_EQ(buffer[4], '#');

  CASE("long target round-trips");
  static char long_target[3000];
  for (size_t i = 0; i < sizeof long_target - 1; i++)
    long_target[i] = 'a' + i % 26;
  long_target[sizeof long_target - 1] = '\0';
  CHECK_OK(symlink(long_target, path_in("long")));
  static char long_buffer[4096];
  CHECK_EQ(readlink(path_in("long"), long_buffer, sizeof long_buffer),
           sizeof long_target - 1);
  CHECK(memcmp(long_buffer, long_target, sizeof long_target - 1) == 0);

  CASE("target of PATH_MAX bytes or more fails with ENAMETOOLONG");
  static char too_long[PATH_MAX + 1];
  memset(too_long, 'z', PATH_MAX);
  too_long[PATH_MAX] = '\0';
  CHECK_ERR(symlink(too_long, path_in("too-long")), ENAMETOOLONG);

  CASE("readlinkat resolves relative to the directory");
  int dirfd = open(directory, O_RDONLY | O_DIRECTORY);
  memset(buffer, 0, sizeof buffer);
  CHECK_EQ(readlinkat(dirfd, "link", buffer, sizeof buffer), 11);
  CHECK_STR(buffer, "target-name");

  CASE("readlinkat with empty path reads an O_PATH symlink descriptor");
  int linkfd = open(path_in("link"), O_PATH | O_NOFOLLOW);
  memset(buffer, 0, sizeof buffer);
  CHECK_EQ(readlinkat(linkfd, "", buffer, sizeof buffer), 11);
  CHECK_STR(buffer, "target-name");
  close(linkfd);

  CASE("symlink in the middle of the path is followed");
  CHECK_OK(mkdir(path_in("dir"), 0755));
  CHECK_OK(symlink("inner-target", path_in("dir/inner")));
  CHECK_OK(symlink("dir", path_in("dir-link")));
  memset(buffer, 0, sizeof buffer);
  CHECK_EQ(readlink(path_in("dir-link/inner"), buffer, sizeof buffer), 12);
  CHECK_STR(buffer, "inner-target");

  CASE("regular file fails with EINVAL");
  close(open(path_in("file"), O_WRONLY | O_CREAT, 0644));
  CHECK_ERR(readlink(path_in("file"), buffer, sizeof buffer), EINVAL);

  CASE("directory fails with EINVAL");
  CHECK_ERR(readlink(directory, buffer, sizeof buffer), EINVAL);

  CASE("missing path fails with ENOENT");
  CHECK_ERR(readlink(path_in("missing"), buffer, sizeof buffer), ENOENT);

  CASE("zero buffer size fails with EINVAL");
  CHECK_ERR(readlink(path_in("link"), buffer, 0), EINVAL);

  CASE("bad buffer fails with EFAULT");
  CHECK_ERR(syscall(SYS_readlink, path_in("link"), (char*)8, 64), EFAULT);

  CASE("relative path with a bad dirfd fails with EBADF");
  CHECK_ERR(readlinkat(12345, "link", buffer, sizeof buffer), EBADF);
  close(dirfd);
  check_remove_tree(directory);
  return check_finish();
}
