/* copy_file_range(): offsets, end of file, overlapping ranges and errors. */
#include "check.h"

#include <fcntl.h>

static char* directory;

static int open_in(const char* name, int flags) {
  char path[4200];
  snprintf(path, sizeof path, "%s/%s", directory, name);
  return open(path, flags, 0644);
}

int main(void) {
  directory = check_make_temp_dir();
  int in = open_in("in", O_RDWR | O_CREAT);
  CHECK_EQ(write(in, "abcdefghijklmnopqrstuvwxyz", 26), 26);
  int out = open_in("out", O_RDWR | O_CREAT);

  CASE("offset pointers advance and file offsets stay");
  CHECK_EQ(lseek(in, 3, SEEK_SET), 3);
  loff_t in_offset = 5, out_offset = 2;
  CHECK_EQ(copy_file_range(in, &in_offset, out, &out_offset, 4, 0), 4);
  CHECK_EQ(in_offset, 9);
  CHECK_EQ(out_offset, 6);
  CHECK_EQ(lseek(in, 0, SEEK_CUR), 3);
  CHECK_EQ(lseek(out, 0, SEEK_CUR), 0);
  char buffer[32] = {0};
  CHECK_EQ(pread(out, buffer, sizeof buffer, 0), 6);
  CHECK_EQ(buffer[0], 0);
  CHECK_EQ(buffer[1], 0);
  CHECK(memcmp(buffer + 2, "fghi", 4) == 0);

  CASE("NULL offsets use and advance the file offsets");
  CHECK_EQ(lseek(out, 0, SEEK_SET), 0);
  CHECK_EQ(copy_file_range(in, NULL, out, NULL, 2, 0), 2);
  CHECK_EQ(lseek(in, 0, SEEK_CUR), 5);
  CHECK_EQ(lseek(out, 0, SEEK_CUR), 2);
  memset(buffer, 0, sizeof buffer);
  CHECK_EQ(pread(out, buffer, 2, 0), 2);
  CHECK_STR(buffer, "de");

  CASE("count past the end copies the rest");
  in_offset = 20;
  out_offset = 100;
  CHECK_EQ(copy_file_range(in, &in_offset, out, &out_offset, 1000, 0), 6);

  CASE("at the end returns 0");
  CHECK_EQ(copy_file_range(in, &in_offset, out, &out_offset, 1000, 0), 0);

  CASE("zero length returns 0");
  in_offset = 0;
  CHECK_EQ(copy_file_range(in, &in_offset, out, &out_offset, 0, 0), 0);

  CASE("non-overlapping ranges within one file");
  in_offset = 0;
  out_offset = 26;
  CHECK_EQ(copy_file_range(in, &in_offset, in, &out_offset, 3, 0), 3);
  memset(buffer, 0, sizeof buffer);
  CHECK_EQ(pread(in, buffer, 3, 26), 3);
  CHECK_STR(buffer, "abc");

  CASE("overlapping ranges within one file fail with EINVAL");
  in_offset = 0;
  out_offset = 2;
  CHECK_ERR(copy_file_range(in, &in_offset, in, &out_offset, 5, 0), EINVAL);

  CASE("non-zero flags fail with EINVAL");
  in_offset = 0;
  CHECK_ERR(copy_file_range(in, &in_offset, out, NULL, 1, 1), EINVAL);

  CASE("O_APPEND output fails with EBADF");
  int append = open_in("out", O_WRONLY | O_APPEND);
  CHECK_ERR(copy_file_range(in, &in_offset, append, NULL, 1, 0), EBADF);
  close(append);

  CASE("write-only input fails with EBADF");
  int writeonly = open_in("in", O_WRONLY);
  CHECK_ERR(copy_file_range(writeonly, NULL, out, NULL, 1, 0), EBADF);
  close(writeonly);

  CASE("directory input fails with EISDIR");
  int dirfd = open(directory, O_RDONLY | O_DIRECTORY);
  CHECK_ERR(copy_file_range(dirfd, NULL, out, NULL, 1, 0), EISDIR);
  close(dirfd);

  CASE("pipe fails with EINVAL");
  int fds[2];
  CHECK_OK(pipe(fds));
  CHECK_ERR(copy_file_range(in, NULL, fds[1], NULL, 1, 0), EINVAL);
  close(fds[0]);
  close(fds[1]);

  CASE("closed descriptor fails with EBADF");
  CHECK_ERR(copy_file_range(12345, NULL, out, NULL, 1, 0), EBADF);
  close(in);
  close(out);
  check_remove_tree(directory);
  return check_finish();
}
