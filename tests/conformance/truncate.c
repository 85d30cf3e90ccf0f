/* truncate() and ftruncate(): growing with zeros, shrinking, offsets,
 * RLIMIT_FSIZE and errors. */
#include "check.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>

static char* directory;

static off_t size_of(int fd) {
  struct stat info;
  if (fstat(fd, &info) != 0) return -1;
  return info.st_size;
}

int main(void) {
  directory = check_make_temp_dir();
  char path[4200];
  snprintf(path, sizeof path, "%s/file", directory);
  int fd = open(path, O_RDWR | O_CREAT, 0644);
  CHECK_EQ(write(fd, "0123456789", 10), 10);

  CASE("ftruncate grows the file with zeros");
  CHECK_EQ(ftruncate(fd, 100), 0);
  CHECK_EQ(size_of(fd), 100);
  char buffer[100];
  memset(buffer, 'x', sizeof buffer);
  CHECK_EQ(pread(fd, buffer, sizeof buffer, 0), 100);
  CHECK(memcmp(buffer, "0123456789", 10) == 0);
  int nonzero = 0;
  for (int i = 10; i < 100; i++) nonzero |= buffer[i];
  CHECK_EQ(nonzero, 0);

  CASE("ftruncate does not move the file offset");
  CHECK_EQ(lseek(fd, 0, SEEK_CUR), 10);

  CASE("truncate shrinks and reads past the end return 0");
  CHECK_EQ(truncate(path, 4), 0);
  CHECK_EQ(size_of(fd), 4);
  CHECK_EQ(pread(fd, buffer, sizeof buffer, 4), 0);
  CHECK_EQ(pread(fd, buffer, sizeof buffer, 0), 4);

  CASE("regrowing after a shrink yields zeros, not old data");
  CHECK_EQ(ftruncate(fd, 10), 0);
  memset(buffer, 'x', sizeof buffer);
  CHECK_EQ(pread(fd, buffer, 10, 0), 10);
  CHECK(memcmp(buffer, "0123", 4) == 0);
  CHECK_EQ(buffer[4], 0);
  CHECK_EQ(buffer[9], 0);

  CASE("write after the end of a truncated file leaves a zero gap");
  CHECK_EQ(ftruncate(fd, 0), 0);
  CHECK_EQ(write(fd, "z", 1), 1);
  CHECK_EQ(size_of(fd), 11);
  CHECK_EQ(pread(fd, buffer, 11, 0), 11);
  CHECK_EQ(buffer[0], 0);
  CHECK_EQ(buffer[10], 'z');

  CASE("large sparse size is allowed");
  CHECK_EQ(ftruncate(fd, (off_t)1 << 40), 0);
  CHECK_EQ(size_of(fd), (off_t)1 << 40);
  CHECK_EQ(ftruncate(fd, 0), 0);

  CASE("negative length fails with EINVAL");
  CHECK_ERR(ftruncate(fd, -1), EINVAL);
  CHECK_ERR(truncate(path, -1), EINVAL);

  CASE("ftruncate on a read-only descriptor fails with EINVAL");
  int readonly = open(path, O_RDONLY);
  CHECK_ERR(ftruncate(readonly, 0), EINVAL);
  close(readonly);

  CASE("ftruncate on a pipe fails with EINVAL");
  int fds[2];
  CHECK_OK(pipe(fds));
  CHECK_ERR(ftruncate(fds[1], 0), EINVAL);
  close(fds[0]);
  close(fds[1]);

  CASE("ftruncate on a closed descriptor fails with EBADF");
  CHECK_ERR(ftruncate(12345, 0), EBADF);

  CASE("truncate on a directory fails with EISDIR");
  CHECK_ERR(truncate(directory, 0), EISDIR);

  CASE("truncate on a missing file fails with ENOENT");
  char missing[4200];
  snprintf(missing, sizeof missing, "%s/missing", directory);
  CHECK_ERR(truncate(missing, 0), ENOENT);

  CASE("truncate without write permission fails with EACCES for non-root");
  CHECK_OK(chmod(directory, 0755));
  CHECK_OK(chmod(path, 0644));
  pid_t pid = fork();
  if (pid == 0) {
    if (setuid(65534) != 0) _exit(90);
    CHECK_ERR(truncate(path, 0), EACCES);
    check_child_done();
  }
  CHECK_CHILD_EXIT(pid, 0);

  CASE("growing past RLIMIT_FSIZE fails with EFBIG when SIGXFSZ is ignored");
  pid = fork();
  if (pid == 0) {
    struct rlimit limit = {4096, 4096};
    setrlimit(RLIMIT_FSIZE, &limit);
    signal(SIGXFSZ, SIG_IGN);
    CHECK_ERR(ftruncate(fd, 8192), EFBIG);
    CHECK_EQ(ftruncate(fd, 4096), 0);
    check_child_done();
  }
  CHECK_CHILD_EXIT(pid, 0);

  CASE("growing past RLIMIT_FSIZE raises SIGXFSZ");
  pid = fork();
  if (pid == 0) {
    struct rlimit limit = {4096, 4096};
    setrlimit(RLIMIT_FSIZE, &limit);
    ftruncate(fd, 8192);
    _exit(0);
  }
  int status = 0;
  CHECK_EQ(waitpid(pid, &status, 0), pid);
  CHECK(WIFSIGNALED(status));
  CHECK_EQ(WTERMSIG(status), SIGXFSZ);
  close(fd);
  check_remove_tree(directory);
  return check_finish();
}
