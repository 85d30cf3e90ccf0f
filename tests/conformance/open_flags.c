/* open() flags: O_CREAT, O_EXCL, O_TRUNC, O_APPEND, O_DIRECTORY, O_NOFOLLOW,
 * O_CLOEXEC, O_PATH, O_TMPFILE, and path errors. */
#include "check.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/syscall.h>

static char* directory;

static const char* path_in(const char* name) {
  static char paths[4][4200];
  static int next;
  char* path = paths[next++ % 4];
  snprintf(path, sizeof paths[0], "%s/%s", directory, name);
  return path;
}

static off_t file_size(const char* path) {
  struct stat info;
  if (stat(path, &info) != 0) return -1;
  return info.st_size;
}

static void test_create_exclusive(void) {
  CASE("O_CREAT creates with mode masked by umask");
  umask(022);
  int fd = open(path_in("created"), O_WRONLY | O_CREAT, 0666);
  CHECK(fd >= 0);
  struct stat info;
  CHECK_OK(fstat(fd, &info));
  CHECK_EQ(info.st_mode & 07777, 0644);
  CHECK(S_ISREG(info.st_mode));
  CHECK_EQ(info.st_size, 0);
  close(fd);

  CASE("O_CREAT|O_EXCL on an existing file fails with EEXIST");
  CHECK_ERR(open(path_in("created"), O_WRONLY | O_CREAT | O_EXCL, 0644),
            EEXIST);

  CASE("O_CREAT without O_EXCL opens an existing file");
  fd = CHECK_OK(open(path_in("created"), O_WRONLY | O_CREAT, 0600));
  CHECK_OK(fstat(fd, &info));
  CHECK_EQ(info.st_mode & 07777, 0644);
  close(fd);

  CASE("O_EXCL without O_CREAT is ignored");
  fd = CHECK_OK(open(path_in("created"), O_RDONLY | O_EXCL));
  close(fd);

  CASE("O_CREAT|O_EXCL on a dangling symlink fails with EEXIST");
  CHECK_OK(symlink("dangling-target", path_in("dangling")));
  CHECK_ERR(open(path_in("dangling"), O_WRONLY | O_CREAT | O_EXCL, 0644),
            EEXIST);

  CASE("O_CREAT through a dangling symlink creates the target");
  fd = CHECK_OK(open(path_in("dangling"), O_WRONLY | O_CREAT, 0644));
  close(fd);
  CHECK_EQ(file_size(path_in("dangling-target")), 0);
}

static void test_truncate_append(void) {
  CASE("O_TRUNC empties the file");
  int fd = open(path_in("data"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  CHECK_EQ(write(fd, "0123456789", 10), 10);
  close(fd);
  CHECK_EQ(file_size(path_in("data")), 10);
  fd = CHECK_OK(open(path_in("data"), O_WRONLY | O_TRUNC));
  close(fd);
  CHECK_EQ(file_size(path_in("data")), 0);

  CASE("O_TRUNC with O_RDONLY still truncates on Linux");
  fd = open(path_in("data"), O_WRONLY);
  CHECK_EQ(write(fd, "abc", 3), 3);
  close(fd);
  fd = CHECK_OK(open(path_in("data"), O_RDONLY | O_TRUNC));
  close(fd);
  CHECK_EQ(file_size(path_in("data")), 0);

  CASE("O_APPEND writes at the end regardless of the offset");
  fd = open(path_in("data"), O_WRONLY);
  CHECK_EQ(write(fd, "head", 4), 4);
  close(fd);
  fd = CHECK_OK(open(path_in("data"), O_RDWR | O_APPEND));
  CHECK_EQ(lseek(fd, 0, SEEK_SET), 0);
  CHECK_EQ(write(fd, "tail", 4), 4);
  CHECK_EQ(lseek(fd, 0, SEEK_CUR), 8);
  char buffer[16] = {0};
  CHECK_EQ(pread(fd, buffer, sizeof buffer - 1, 0), 8);
  CHECK_STR(buffer, "headtail");
  close(fd);
}

static void test_types(void) {
  CASE("O_DIRECTORY on a regular file fails with ENOTDIR");
  CHECK_ERR(open(path_in("data"), O_RDONLY | O_DIRECTORY), ENOTDIR);

  CASE("O_DIRECTORY on a directory succeeds");
  int fd = CHECK_OK(open(directory, O_RDONLY | O_DIRECTORY));
  close(fd);

  CASE("opening a directory for writing fails with EISDIR");
  CHECK_ERR(open(directory, O_WRONLY), EISDIR);
  CHECK_ERR(open(directory, O_RDWR), EISDIR);

  CASE("O_CREAT on an existing directory fails with EISDIR");
  CHECK_ERR(open(directory, O_RDONLY | O_CREAT, 0644), EISDIR);

  CASE("O_CREAT with a trailing slash fails with EISDIR");
  CHECK_ERR(open(path_in("new-dir/"), O_RDWR | O_CREAT, 0644), EISDIR);

  CASE("trailing slash on a regular file fails with ENOTDIR");
  CHECK_ERR(open(path_in("data/"), O_RDONLY), ENOTDIR);

  CASE("O_NOFOLLOW on a symlink fails with ELOOP");
  CHECK_OK(symlink("data", path_in("link")));
  CHECK_ERR(open(path_in("link"), O_RDONLY | O_NOFOLLOW), ELOOP);

  CASE("O_NOFOLLOW only affects the last component");
  CHECK_OK(symlink(".", path_in("self")));
  fd = CHECK_OK(open(path_in("self/data"), O_RDONLY | O_NOFOLLOW));
  close(fd);

  CASE("O_PATH|O_NOFOLLOW opens the symlink itself");
  fd = CHECK_OK(open(path_in("link"), O_PATH | O_NOFOLLOW));
  struct stat info;
  CHECK_OK(fstat(fd, &info));
  CHECK(S_ISLNK(info.st_mode));
  close(fd);
}

static void test_descriptor_flags(void) {
  CASE("O_CLOEXEC sets FD_CLOEXEC");
  int fd = CHECK_OK(open(path_in("data"), O_RDONLY | O_CLOEXEC));
  CHECK_EQ(fcntl(fd, F_GETFD), FD_CLOEXEC);
  close(fd);
  fd = CHECK_OK(open(path_in("data"), O_RDONLY));
  CHECK_EQ(fcntl(fd, F_GETFD), 0);
  close(fd);

  CASE("access mode is enforced on read and write");
  fd = open(path_in("data"), O_WRONLY);
  char byte;
  CHECK_ERR(read(fd, &byte, 1), EBADF);
  close(fd);
  fd = open(path_in("data"), O_RDONLY);
  CHECK_ERR(write(fd, "x", 1), EBADF);
  close(fd);

  CASE("O_PATH descriptor cannot be read but can be fstat'ed");
  fd = CHECK_OK(open(path_in("data"), O_PATH));
  CHECK_ERR(read(fd, &byte, 1), EBADF);
  struct stat info;
  CHECK_OK(fstat(fd, &info));
  CHECK(S_ISREG(info.st_mode));
  close(fd);

  CASE("non-root write open of a 0644 root-owned file fails with EACCES");
  CHECK_OK(chmod(directory, 0755));
  pid_t pid = fork();
  if (pid == 0) {
    if (setuid(65534) != 0) _exit(90);
    CHECK_ERR(open(path_in("data"), O_WRONLY), EACCES);
    check_child_done();
  }
  CHECK_CHILD_EXIT(pid, 0);
}

static void test_tmpfile(void) {
  CASE("O_TMPFILE creates an unnamed file");
  int fd = open(directory, O_TMPFILE | O_RDWR, 0600);
  CHECK(fd >= 0);
  if (fd < 0) return;
  struct stat info;
  CHECK_OK(fstat(fd, &info));
  CHECK_EQ(info.st_nlink, 0);
  CHECK(S_ISREG(info.st_mode));
  CHECK_EQ(write(fd, "temp", 4), 4);

  CASE("O_TMPFILE file can be given a name with linkat");
  CHECK_OK(linkat(fd, "", AT_FDCWD, path_in("named-tmp"), AT_EMPTY_PATH));
  CHECK_OK(fstat(fd, &info));
  CHECK_EQ(info.st_nlink, 1);
  CHECK_EQ(file_size(path_in("named-tmp")), 4);
  close(fd);

  CASE("O_TMPFILE|O_EXCL file cannot be linked");
  fd = CHECK_OK(open(directory, O_TMPFILE | O_RDWR | O_EXCL, 0600));
  CHECK_ERR(linkat(fd, "", AT_FDCWD, path_in("never"), AT_EMPTY_PATH), ENOENT);
  close(fd);

  CASE("O_TMPFILE without write access fails with EINVAL");
  CHECK_ERR(open(directory, O_TMPFILE | O_RDONLY, 0600), EINVAL);

  CASE("O_TMPFILE on a regular file fails with ENOTDIR");
  CHECK_ERR(open(path_in("data"), O_TMPFILE | O_RDWR, 0600), ENOTDIR);
}

static void test_path_errors(void) {
  CASE("missing file without O_CREAT fails with ENOENT");
  CHECK_ERR(open(path_in("missing"), O_RDONLY), ENOENT);

  CASE("O_CREAT in a missing directory fails with ENOENT");
  CHECK_ERR(open(path_in("missing-dir/file"), O_RDWR | O_CREAT, 0644), ENOENT);

  CASE("empty path fails with ENOENT");
  CHECK_ERR(open("", O_RDONLY), ENOENT);

  CASE("component longer than NAME_MAX fails with ENAMETOOLONG");
  char long_name[300];
  memset(long_name, 'n', sizeof long_name - 1);
  long_name[sizeof long_name - 1] = '\0';
  CHECK_ERR(open(path_in(long_name), O_RDONLY), ENAMETOOLONG);

  CASE("path longer than PATH_MAX fails with ENAMETOOLONG");
  static char long_path[PATH_MAX + 100];
  for (size_t i = 0; i + 2 < sizeof long_path; i += 2)
    memcpy(long_path + i, "a/", 2);
  long_path[sizeof long_path - 1] = '\0';
  CHECK_ERR(open(long_path, O_RDONLY), ENAMETOOLONG);

  CASE("bad path pointer fails with EFAULT");
  CHECK_ERR(syscall(SYS_openat, AT_FDCWD, (char*)8, O_RDONLY, 0), EFAULT);

  CASE("openat with a bad dirfd fails with EBADF");
  CHECK_ERR(openat(12345, "data", O_RDONLY), EBADF);

  CASE("openat relative to a directory descriptor");
  int dirfd = open(directory, O_RDONLY | O_DIRECTORY);
  int fd = CHECK_OK(openat(dirfd, "data", O_RDONLY));
  close(fd);

  CASE("openat with a file as dirfd fails with ENOTDIR");
  int filefd = open(path_in("data"), O_RDONLY);
  CHECK_ERR(openat(filefd, "x", O_RDONLY), ENOTDIR);
  close(filefd);
  close(dirfd);
}

int main(void) {
  directory = check_make_temp_dir();
  test_create_exclusive();
  test_truncate_append();
  test_types();
  test_descriptor_flags();
  test_tmpfile();
  test_path_errors();
  check_remove_tree(directory);
  return check_finish();
}
