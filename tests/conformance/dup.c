/* dup(), dup2(), dup3() and F_DUPFD: numbering, shared offsets, FD_CLOEXEC
 * and errors. */
#include "check.h"

#include <fcntl.h>
#include <sys/resource.h>

static char* directory;

int main(void) {
  directory = check_make_temp_dir();
  char path[4200];
  snprintf(path, sizeof path, "%s/file", directory);
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  CHECK_EQ(write(fd, "0123456789", 10), 10);

  CASE("dup returns the lowest free descriptor");
  int low = open("/dev/null", O_RDONLY);
  close(low);
  int copy = dup(fd);
  CHECK_EQ(copy, low);

  CASE("duplicates share the file offset");
  CHECK_EQ(lseek(fd, 3, SEEK_SET), 3);
  CHECK_EQ(lseek(copy, 0, SEEK_CUR), 3);
  char byte = 0;
  CHECK_EQ(read(copy, &byte, 1), 1);
  CHECK_EQ(byte, '3');
  CHECK_EQ(lseek(fd, 0, SEEK_CUR), 4);

  CASE("duplicates share status flags");
  CHECK_OK(fcntl(fd, F_SETFL, O_APPEND));
  CHECK((fcntl(copy, F_GETFL) & O_APPEND) != 0);
  CHECK_OK(fcntl(fd, F_SETFL, 0));

  CASE("dup clears FD_CLOEXEC on the new descriptor");
  CHECK_EQ(fcntl(fd, F_GETFD), FD_CLOEXEC);
  CHECK_EQ(fcntl(copy, F_GETFD), 0);

  CASE("closing a duplicate leaves the original open");
  CHECK_OK(close(copy));
  CHECK_EQ(read(fd, &byte, 1), 1);

  CASE("dup2 uses the requested number and replaces an open descriptor");
  int target = open("/dev/null", O_RDONLY);
  CHECK_EQ(dup2(fd, target), target);
  CHECK_EQ(lseek(target, 0, SEEK_CUR), lseek(fd, 0, SEEK_CUR));
  close(target);

  CASE("dup2 to the same descriptor returns it");
  CHECK_EQ(dup2(fd, fd), fd);
  CHECK_EQ(fcntl(fd, F_GETFD), FD_CLOEXEC);

  CASE("dup2 to a high number works");
  CHECK_EQ(dup2(fd, 200), 200);
  close(200);

  CASE("dup2 with a closed oldfd fails with EBADF");
  CHECK_ERR(dup2(12345, 50), EBADF);

  CASE("dup2 with newfd past RLIMIT_NOFILE fails with EBADF");
  struct rlimit limit;
  getrlimit(RLIMIT_NOFILE, &limit);
  CHECK_ERR(dup2(fd, (int)limit.rlim_cur), EBADF);

  CASE("dup3 with O_CLOEXEC sets FD_CLOEXEC");
  CHECK_EQ(dup3(fd, 60, O_CLOEXEC), 60);
  CHECK_EQ(fcntl(60, F_GETFD), FD_CLOEXEC);
  close(60);

  CASE("dup3 without flags clears FD_CLOEXEC");
  CHECK_EQ(dup3(fd, 61, 0), 61);
  CHECK_EQ(fcntl(61, F_GETFD), 0);
  close(61);

  CASE("dup3 with the same descriptor fails with EINVAL");
  CHECK_ERR(dup3(fd, fd, 0), EINVAL);

  CASE("dup3 with unknown flags fails with EINVAL");
  CHECK_ERR(dup3(fd, 62, O_NONBLOCK), EINVAL);

  CASE("F_DUPFD returns the lowest free number at or above the minimum");
  CHECK_EQ(fcntl(fd, F_DUPFD, 100), 100);
  CHECK_EQ(fcntl(fd, F_DUPFD, 100), 101);
  CHECK_EQ(fcntl(100, F_GETFD), 0);
  close(100);
  close(101);

  CASE("F_DUPFD_CLOEXEC sets FD_CLOEXEC");
  CHECK_EQ(fcntl(fd, F_DUPFD_CLOEXEC, 100), 100);
  CHECK_EQ(fcntl(100, F_GETFD), FD_CLOEXEC);
  close(100);

  CASE("F_DUPFD with a minimum past RLIMIT_NOFILE fails with EINVAL");
  CHECK_ERR(fcntl(fd, F_DUPFD, (int)limit.rlim_cur), EINVAL);

  CASE("dup with a closed descriptor fails with EBADF");
  CHECK_ERR(dup(12345), EBADF);

  CASE("dup fails with EMFILE when the table is full");
  pid_t pid = fork();
  if (pid == 0) {
    struct rlimit small = {16, 16};
    CHECK_OK(setrlimit(RLIMIT_NOFILE, &small));
    for (int i = 0; i < 16; i++) dup(fd);
    CHECK_ERR(dup(fd), EMFILE);
    CHECK_ERR(fcntl(fd, F_DUPFD, 0), EMFILE);
    check_child_done();
  }
  CHECK_CHILD_EXIT(pid, 0);

  CASE("duplicated descriptors survive in a forked child");
  pid = fork();
  if (pid == 0) {
    int inherited = dup(fd);
    _exit(inherited >= 0 &&
                  lseek(inherited, 0, SEEK_CUR) == lseek(fd, 0, SEEK_CUR)
              ? 0
              : 1);
  }
  CHECK_CHILD_EXIT(pid, 0);
  close(fd);
  check_remove_tree(directory);
  return check_finish();
}
