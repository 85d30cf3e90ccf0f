/* lseek(): SEEK_SET/CUR/END, holes, SEEK_DATA/SEEK_HOLE and errors. */
#include "check.h"

#include <fcntl.h>
#include <sys/stat.h>

static char* directory;

int main(void) {
  directory = check_make_temp_dir();
  char path[4200];
  snprintf(path, sizeof path, "%s/file", directory);
  int fd = open(path, O_RDWR | O_CREAT, 0644);
  CHECK_EQ(write(fd, "0123456789", 10), 10);

  CASE("SEEK_SET, SEEK_CUR and SEEK_END return the new offset");
  CHECK_EQ(lseek(fd, 3, SEEK_SET), 3);
  CHECK_EQ(lseek(fd, 2, SEEK_CUR), 5);
  CHECK_EQ(lseek(fd, -1, SEEK_CUR), 4);
  CHECK_EQ(lseek(fd, 0, SEEK_END), 10);
  CHECK_EQ(lseek(fd, -3, SEEK_END), 7);
  char byte = 0;
  CHECK_EQ(read(fd, &byte, 1), 1);
  CHECK_EQ(byte, '7');

  CASE("seeking past the end is allowed and reads return 0");
  CHECK_EQ(lseek(fd, 100, SEEK_SET), 100);
  CHECK_EQ(read(fd, &byte, 1), 0);

  CASE("writing past the end leaves a hole of zeros");
  CHECK_EQ(write(fd, "x", 1), 1);
  struct stat info;
  CHECK_OK(fstat(fd, &info));
  CHECK_EQ(info.st_size, 101);
  char buffer[90];
  memset(buffer, 'q', sizeof buffer);
  CHECK_EQ(pread(fd, buffer, sizeof buffer, 10), 90);
  int nonzero = 0;
  for (size_t i = 0; i < sizeof buffer; i++) nonzero |= buffer[i];
  CHECK_EQ(nonzero, 0);

  CASE("negative resulting offset fails with EINVAL");
  CHECK_ERR(lseek(fd, -1, SEEK_SET), EINVAL);
  CHECK_ERR(lseek(fd, -1000, SEEK_END), EINVAL);
  CHECK_EQ(lseek(fd, 0, SEEK_CUR), 101);

  CASE("unknown whence fails with EINVAL");
  CHECK_ERR(lseek(fd, 0, 42), EINVAL);

  CASE("closed descriptor fails with EBADF");
  CHECK_ERR(lseek(12345, 0, SEEK_SET), EBADF);

  CASE("pipe fails with ESPIPE");
  int fds[2];
  CHECK_OK(pipe(fds));
  CHECK_ERR(lseek(fds[0], 0, SEEK_CUR), ESPIPE);
  close(fds[0]);
  close(fds[1]);

  CASE("SEEK_DATA and SEEK_HOLE find data and holes");
  int sparse = open(path, O_RDWR | O_TRUNC);
  static char block[4096];
  memset(block, 'd', sizeof block);
  CHECK_EQ(pwrite(sparse, block, sizeof block, 0), 4096);
  CHECK_EQ(pwrite(sparse, block, sizeof block, 1 << 20), 4096);
  CHECK_EQ(lseek(sparse, 0, SEEK_DATA), 0);
  CHECK_EQ(lseek(sparse, 0, SEEK_HOLE), 4096);
  CHECK_EQ(lseek(sparse, 4096, SEEK_DATA), 1 << 20);
  CHECK_EQ(lseek(sparse, (1 << 20) + 10, SEEK_HOLE), (1 << 20) + 4096);

  CASE("SEEK_DATA at or past the end fails with ENXIO");
  CHECK_ERR(lseek(sparse, (1 << 20) + 4096, SEEK_DATA), ENXIO);
  CHECK_ERR(lseek(sparse, (1 << 20) + 4096, SEEK_HOLE), ENXIO);
  close(sparse);

  CASE("directories can be rewound");
  int dirfd = open(directory, O_RDONLY | O_DIRECTORY);
  CHECK_EQ(lseek(dirfd, 0, SEEK_SET), 0);
  close(dirfd);

  CASE("/dev/null always seeks to 0");
  int null_fd = open("/dev/null", O_RDWR);
  CHECK_EQ(lseek(null_fd, 1234, SEEK_SET), 0);
  CHECK_EQ(lseek(null_fd, 5, SEEK_END), 0);
  close(null_fd);

  CASE("offset is shared with a forked child");
  CHECK_EQ(lseek(fd, 5, SEEK_SET), 5);
  pid_t pid = fork();
  if (pid == 0) {
    lseek(fd, 42, SEEK_SET);
    _exit(0);
  }
  CHECK_CHILD_EXIT(pid, 0);
  CHECK_EQ(lseek(fd, 0, SEEK_CUR), 42);

  CASE("separate opens have separate offsets");
  int second = open(path, O_RDONLY);
  CHECK_EQ(lseek(second, 0, SEEK_CUR), 0);
  close(second);
  close(fd);
  check_remove_tree(directory);
  return check_finish();
}
