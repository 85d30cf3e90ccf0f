/* utimensat() and futimens(): exact times, UTIME_NOW, UTIME_OMIT, symlinks,
 * permission rules and errors. */
#include "check.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>

static char* directory;

static const char* path_in(const char* name) {
  static char paths[4][4200];
  static int next;
  char* path = paths[next++ % 4];
  snprintf(path, sizeof paths[0], "%s/%s", directory, name);
  return path;
}

static struct stat stat_of(const char* path) {
  struct stat info;
  memset(&info, 0, sizeof info);
  lstat(path, &info);
  return info;
}

int main(void) {
  directory = check_make_temp_dir();
  const char* file = path_in("file");
  close(open(file, O_WRONLY | O_CREAT, 0644));

  CASE("explicit times are stored to the nanosecond");
  struct timespec times[2] = {{1111111111, 123456789}, {1222222222, 987654321}};
  CHECK_EQ(utimensat(AT_FDCWD, file, times, 0), 0);
  struct stat info = stat_of(file);
  CHECK_EQ(info.st_atim.tv_sec, 1111111111);
  CHECK_EQ(info.st_atim.tv_nsec, 123456789);
  CHECK_EQ(info.st_mtim.tv_sec, 1222222222);
  CHECK_EQ(info.st_mtim.tv_nsec, 987654321);

  CASE("UTIME_OMIT leaves that time unchanged");
  struct timespec omit_access[2] = {{0, UTIME_OMIT}, {1333333333, 0}};
  CHECK_EQ(utimensat(AT_FDCWD, file, omit_access, 0), 0);
  info = stat_of(file);
  CHECK_EQ(info.st_atim.tv_sec, 1111111111);
  CHECK_EQ(info.st_mtim.tv_sec, 1333333333);

  CASE("UTIME_NOW sets the current time");
  struct timespec before;
  clock_gettime(CLOCK_REALTIME, &before);
  struct timespec now_modify[2] = {{0, UTIME_OMIT}, {0, UTIME_NOW}};
  CHECK_EQ(utimensat(AT_FDCWD, file, now_modify, 0), 0);
  struct timespec after;
  clock_gettime(CLOCK_REALTIME, &after);
  info = stat_of(file);
  /* File timestamps come from a coarse clock, so allow one second of slack. */
  CHECK(info.st_mtim.tv_sec >= before.tv_sec - 1);
  CHECK(info.st_mtim.tv_sec <= after.tv_sec + 1);
  CHECK_EQ(info.st_atim.tv_sec, 1111111111);

  CASE("NULL times set both to the current time");
  CHECK_EQ(utimensat(AT_FDCWD, file, NULL, 0), 0);
  info = stat_of(file);
  CHECK(info.st_atim.tv_sec >= before.tv_sec - 1);
  CHECK(info.st_mtim.tv_sec >= before.tv_sec - 1);

  CASE("setting times updates st_ctime");
  struct stat old = stat_of(file);
  CHECK_EQ(utimensat(AT_FDCWD, file, times, 0), 0);
  info = stat_of(file);
  CHECK(info.st_ctim.tv_sec >= old.st_ctim.tv_sec);
  CHECK(info.st_ctim.tv_sec >= before.tv_sec - 1);

  CASE("futimens sets times through a descriptor");
  int fd = open(file, O_RDONLY);
  struct timespec fd_times[2] = {{1000, 1}, {2000, 2}};
  CHECK_EQ(futimens(fd, fd_times), 0);
  info = stat_of(file);
  CHECK_EQ(info.st_atim.tv_sec, 1000);
  CHECK_EQ(info.st_mtim.tv_nsec, 2);
  close(fd);

  CASE("AT_SYMLINK_NOFOLLOW changes the symlink, not the target");
  CHECK_OK(symlink("file", path_in("link")));
  struct timespec link_times[2] = {{5000, 0}, {6000, 0}};
  CHECK_EQ(
      utimensat(AT_FDCWD, path_in("link"), link_times, AT_SYMLINK_NOFOLLOW), 0);
  CHECK_EQ(stat_of(path_in("link")).st_mtim.tv_sec, 6000);
  CHECK_EQ(stat_of(file).st_mtim.tv_sec, 2000);

  CASE("writing updates st_mtime");
  fd = open(file, O_WRONLY);
  CHECK_EQ(write(fd, "x", 1), 1);
  close(fd);
  CHECK(stat_of(file).st_mtim.tv_sec >= before.tv_sec - 1);

  CASE("tv_nsec out of range fails with EINVAL");
  struct timespec invalid[2] = {{0, 1000000000}, {0, 0}};
  CHECK_ERR(utimensat(AT_FDCWD, file, invalid, 0), EINVAL);

  CASE("unknown flags fail with EINVAL");
  CHECK_ERR(utimensat(AT_FDCWD, file, times, 0x1), EINVAL);

  CASE("missing file fails with ENOENT");
  CHECK_ERR(utimensat(AT_FDCWD, path_in("missing"), times, 0), ENOENT);

  CASE("bad times pointer fails with EFAULT");
  CHECK_ERR(syscall(SYS_utimensat, AT_FDCWD, file, (void*)8, 0), EFAULT);

  CASE("non-owner with write access may set UTIME_NOW but not explicit times");
  CHECK_OK(chmod(directory, 0755));
  const char* shared = path_in("shared");
  close(open(shared, O_WRONLY | O_CREAT, 0666));
  CHECK_OK(chmod(shared, 0666));
  const char* readonly = path_in("readonly");
  close(open(readonly, O_WRONLY | O_CREAT, 0644));
  pid_t pid = fork();
  if (pid == 0) {
    if (setuid(65534) != 0) _exit(90);
    CHECK_EQ(utimensat(AT_FDCWD, shared, NULL, 0), 0);
    CHECK_ERR(utimensat(AT_FDCWD, shared, times, 0), EPERM);
    CASE("non-owner without write access fails with EACCES for UTIME_NOW");
    CHECK_ERR(utimensat(AT_FDCWD, readonly, NULL, 0), EACCES);
    check_child_done();
  }
  CHECK_CHILD_EXIT(pid, 0);
  check_remove_tree(directory);
  return check_finish();
}
