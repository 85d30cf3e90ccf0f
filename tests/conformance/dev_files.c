/* Device files: /dev/null, zero, full, random, urandom, ptmx, tty, and the
 * /dev/fd, /dev/stdin, /dev/stdout and /dev/stderr links. */
#include "check.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

static void check_device(const char* path, unsigned major_number,
                         unsigned minor_number) {
  struct stat info;
  CHECK_EQ(stat(path, &info), 0);
  CHECK(S_ISCHR(info.st_mode));
  CHECK_EQ(major(info.st_rdev), major_number);
  CHECK_EQ(minor(info.st_rdev), minor_number);
}

static int all_zero(const char* buffer, size_t size) {
  for (size_t i = 0; i < size; i++)
    if (buffer[i] != 0) return 0;
  return 1;
}

int main(void) {
  char buffer[4096];

  CASE("device numbers match Linux");
  check_device("/dev/null", 1, 3);
  check_device("/dev/zero", 1, 5);
  check_device("/dev/full", 1, 7);
  check_device("/dev/random", 1, 8);
  check_device("/dev/urandom", 1, 9);
  check_device("/dev/tty", 5, 0);
  check_device("/dev/ptmx", 5, 2);

  CASE("/dev/null accepts writes and reads end of file");
  int fd = open("/dev/null", O_RDWR);
  CHECK_EQ(write(fd, "discard", 7), 7);
  CHECK_EQ(read(fd, buffer, sizeof buffer), 0);
  close(fd);

  CASE("/dev/zero reads zeros and accepts writes");
  fd = open("/dev/zero", O_RDWR);
  memset(buffer, 'x', sizeof buffer);
  CHECK_EQ(read(fd, buffer, sizeof buffer), (ssize_t)sizeof buffer);
  CHECK(all_zero(buffer, sizeof buffer));
  CHECK_EQ(write(fd, "x", 1), 1);

  CASE("private mapping of /dev/zero is zeroed and writable");
  char* memory = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  CHECK(memory != MAP_FAILED);
  if (memory != MAP_FAILED) {
    CHECK(all_zero(memory, 8192));
    memory[100] = 'w';
    CHECK_EQ(memory[100], 'w');
    munmap(memory, 8192);
  }

  CASE("shared mapping of /dev/zero is shared with a child");
  memory = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  CHECK(memory != MAP_FAILED);
  pid_t pid = fork();
  if (pid == 0) {
    memory[0] = 's';
    _exit(0);
  }
  CHECK_CHILD_EXIT(pid, 0);
  CHECK_EQ(memory[0], 's');
  munmap(memory, 4096);
  close(fd);

  CASE("/dev/full fails writes with ENOSPC and reads zeros");
  fd = open("/dev/full", O_RDWR);
  CHECK_ERR(write(fd, "x", 1), ENOSPC);
  memset(buffer, 'x', 64);
  CHECK_EQ(read(fd, buffer, 64), 64);
  CHECK(all_zero(buffer, 64));
  close(fd);

  CASE("/dev/urandom and /dev/random return the requested bytes");
  fd = open("/dev/urandom", O_RDONLY);
  memset(buffer, 0, sizeof buffer);
  CHECK_EQ(read(fd, buffer, 64), 64);
  CHECK(!all_zero(buffer, 64));
  close(fd);
  fd = open("/dev/random", O_RDONLY);
  CHECK_EQ(read(fd, buffer, 32), 32);
  close(fd);

  CASE("/dev/fd and the standard stream links point into /proc/self/fd");
  char link[256] = {0};
  CHECK(readlink("/dev/fd", link, sizeof link - 1) > 0);
  CHECK_STR(link, "/proc/self/fd");
  memset(link, 0, sizeof link);
  CHECK(readlink("/dev/stdin", link, sizeof link - 1) > 0);
  CHECK_STR(link, "/proc/self/fd/0");
  memset(link, 0, sizeof link);
  CHECK(readlink("/dev/stdout", link, sizeof link - 1) > 0);
  CHECK_STR(link, "/proc/self/fd/1");
  memset(link, 0, sizeof link);
  CHECK(readlink("/dev/stderr", link, sizeof link - 1) > 0);
  CHECK_STR(link, "/proc/self/fd/2");

  CASE("/dev/stdin opens the same file as descriptor 0");
  struct stat by_path, by_fd;
  CHECK_EQ(fstat(0, &by_fd), 0);
  CHECK_EQ(stat("/dev/stdin", &by_path), 0);
  CHECK_EQ(by_path.st_ino, by_fd.st_ino);
  CHECK_EQ(by_path.st_dev, by_fd.st_dev);

  CASE("opening /dev/fd/N of a pipe reopens the pipe");
  int fds[2];
  CHECK_OK(pipe(fds));
  char path[64];
  snprintf(path, sizeof path, "/dev/fd/%d", fds[0]);
  int reopened = open(path, O_RDONLY);
  CHECK(reopened >= 0);
  CHECK_NE(reopened, fds[0]);
  CHECK_EQ(write(fds[1], "p", 1), 1);
  char byte = 0;
  CHECK_EQ(read(reopened, &byte, 1), 1);
  CHECK_EQ(byte, 'p');
  close(reopened);
  close(fds[0]);
  close(fds[1]);

  CASE("opening /dev/fd/N of a closed descriptor fails with ENOENT");
  CHECK_ERR(open("/dev/fd/12345", O_RDONLY), ENOENT);

  CASE("/dev/tty without a controlling terminal fails with ENXIO");
  pid = fork();
  if (pid == 0) {
    setsid();
    CHECK_ERR(open("/dev/tty", O_RDWR), ENXIO);
    check_child_done();
  }
  CHECK_CHILD_EXIT(pid, 0);

  CASE("lseek on /dev/zero returns 0");
  fd = open("/dev/zero", O_RDONLY);
  CHECK_EQ(lseek(fd, 12345, SEEK_SET), 0);
  close(fd);
  return check_finish();
}
