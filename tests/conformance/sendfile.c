/* sendfile(): file to file, to pipe and to socket, offsets and errors. */
#include "check.h"

#include <fcntl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>

static char* directory;

static int open_in(const char* name, int flags) {
  char path[4200];
  snprintf(path, sizeof path, "%s/%s", directory, name);
  return open(path, flags, 0644);
}

int main(void) {
  directory = check_make_temp_dir();
  int in = open_in("in", O_RDWR | O_CREAT);
  static char data[100000];
  for (size_t i = 0; i < sizeof data; i++) data[i] = 'a' + i % 26;
  CHECK_EQ(write(in, data, sizeof data), (ssize_t)sizeof data);
  int out = open_in("out", O_RDWR | O_CREAT);

  CASE("offset pointer is advanced and the input offset is untouched");
  CHECK_EQ(lseek(in, 7, SEEK_SET), 7);
  off_t offset = 10;
  CHECK_EQ(sendfile(out, in, &offset, 1000), 1000);
  CHECK_EQ(offset, 1010);
  CHECK_EQ(lseek(in, 0, SEEK_CUR), 7);
  char buffer[1000];
  CHECK_EQ(pread(out, buffer, sizeof buffer, 0), 1000);
  CHECK(memcmp(buffer, data + 10, 1000) == 0);

  CASE("output offset advances");
  CHECK_EQ(lseek(out, 0, SEEK_CUR), 1000);

  CASE("NULL offset uses and advances the input offset");
  CHECK_EQ(sendfile(out, in, NULL, 3), 3);
  CHECK_EQ(lseek(in, 0, SEEK_CUR), 10);
  CHECK_EQ(pread(out, buffer, 3, 1000), 3);
  CHECK(memcmp(buffer, data + 7, 3) == 0);

  CASE("count past the end copies the rest");
  offset = sizeof data - 50;
  CHECK_EQ(sendfile(out, in, &offset, 4096), 50);

  CASE("at the end returns 0");
  CHECK_EQ(sendfile(out, in, &offset, 4096), 0);

  CASE("large copy is complete");
  int big = open_in("big", O_RDWR | O_CREAT);
  offset = 0;
  size_t total = 0;
  while (total < sizeof data) {
    ssize_t n = sendfile(big, in, &offset, sizeof data - total);
    if (n <= 0) break;
    total += n;
  }
  CHECK_EQ(total, sizeof data);
  static char check_buffer[100000];
  CHECK_EQ(pread(big, check_buffer, sizeof check_buffer, 0),
           (ssize_t)sizeof check_buffer);
  CHECK(memcmp(check_buffer, data, sizeof data) == 0);
  close(big);

  CASE("sendfile to a pipe");
  int fds[2];
  CHECK_OK(pipe(fds));
  offset = 26;
  CHECK_EQ(sendfile(fds[1], in, &offset, 5), 5);
  CHECK_EQ(read(fds[0], buffer, sizeof buffer), 5);
  CHECK(memcmp(buffer, "abcde", 5) == 0);

  CASE("sendfile to a socket");
  int sockets[2];
  CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sockets));
  offset = 1;
  CHECK_EQ(sendfile(sockets[0], in, &offset, 4), 4);
  CHECK_EQ(read(sockets[1], buffer, sizeof buffer), 4);
  CHECK(memcmp(buffer, "bcde", 4) == 0);
  close(sockets[0]);
  close(sockets[1]);

  CASE("closed input descriptor fails with EBADF");
  CHECK_ERR(sendfile(out, 12345, NULL, 1), EBADF);

  CASE("write-only input descriptor fails with EBADF");
  int writeonly = open_in("in", O_WRONLY);
  CHECK_ERR(sendfile(out, writeonly, NULL, 1), EBADF);
  close(writeonly);

  CASE("read-only output descriptor fails with EBADF");
  int readonly = open_in("out", O_RDONLY);
  CHECK_ERR(sendfile(readonly, in, NULL, 1), EBADF);
  close(readonly);

  CASE("O_APPEND output fails with EINVAL");
  int append = open_in("out", O_WRONLY | O_APPEND);
  CHECK_ERR(sendfile(append, in, NULL, 1), EINVAL);
  close(append);

  CASE("negative offset fails with EINVAL");
  offset = -1;
  CHECK_ERR(sendfile(out, in, &offset, 1), EINVAL);
  close(fds[0]);
  close(fds[1]);
  close(in);
  close(out);
  check_remove_tree(directory);
  return check_finish();
}
