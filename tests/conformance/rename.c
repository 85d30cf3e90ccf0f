/* rename() and renameat2(): replacing, directories, flags and errors. */
#include "check.h"

#include <fcntl.h>
#include <sys/stat.h>

static char* directory;

static const char* path_in(const char* name) {
  static char paths[4][4200];
  static int next;
  char* path = paths[next++ % 4];
  snprintf(path, sizeof paths[0], "%s/%s", directory, name);
  return path;
}

static void write_file(const char* name, const char* content) {
  int fd = open(path_in(name), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  CHECK(fd >= 0);
  CHECK_EQ(write(fd, content, strlen(content)), (ssize_t)strlen(content));
  close(fd);
}

static const char* read_file(const char* name) {
  static char content[64];
  memset(content, 0, sizeof content);
  int fd = open(path_in(name), O_RDONLY);
  if (fd < 0) return "(missing)";
  read(fd, content, sizeof content - 1);
  close(fd);
  return content;
}

static int exists(const char* name) {
  struct stat info;
  return lstat(path_in(name), &info) == 0;
}

static void test_files(void) {
  CASE("rename moves a file to a new name");
  write_file("a", "alpha");
  CHECK_EQ(rename(path_in("a"), path_in("b")), 0);
  CHECK_EQ(exists("a"), 0);
  CHECK_STR(read_file("b"), "alpha");

  CASE("rename replaces an existing file");
  write_file("c", "gamma");
  struct stat before;
  CHECK_OK(stat(path_in("b"), &before));
  CHECK_EQ(rename(path_in("b"), path_in("c")), 0);
  CHECK_STR(read_file("c"), "alpha");
  struct stat after;
  CHECK_OK(stat(path_in("c"), &after));
  CHECK_EQ(after.st_ino, before.st_ino);

  CASE("open descriptor follows the renamed file");
  int fd = open(path_in("c"), O_RDONLY);
  CHECK_OK(rename(path_in("c"), path_in("d")));
  char buffer[8] = {0};
  CHECK_EQ(read(fd, buffer, 5), 5);
  CHECK_STR(buffer, "alpha");
  close(fd);

  CASE("renaming between hard links of one file is a no-op");
  CHECK_OK(link(path_in("d"), path_in("d-link")));
  CHECK_EQ(rename(path_in("d"), path_in("d-link")), 0);
  CHECK_EQ(exists("d"), 1);
  CHECK_EQ(exists("d-link"), 1);

  CASE("renaming a symlink moves the link, not the target");
  CHECK_OK(symlink("d", path_in("sym")));
  CHECK_OK(rename(path_in("sym"), path_in("sym2")));
  struct stat info;
  CHECK_OK(lstat(path_in("sym2"), &info));
  CHECK(S_ISLNK(info.st_mode));
  CHECK_EQ(exists("d"), 1);
}

static void test_directories(void) {
  CASE("directory can replace an empty directory");
  CHECK_OK(mkdir(path_in("dir1"), 0755));
  write_file("dir1/inner", "x");
  CHECK_OK(mkdir(path_in("empty"), 0755));
  CHECK_EQ(rename(path_in("dir1"), path_in("empty")), 0);
  CHECK_STR(read_file("empty/inner"), "x");

  CASE("directory onto a non-empty directory fails with ENOTEMPTY");
  CHECK_OK(mkdir(path_in("dir2"), 0755));
  CHECK_ERR(rename(path_in("dir2"), path_in("empty")), ENOTEMPTY);

  CASE("file onto a directory fails with EISDIR");
  write_file("plain", "p");
  CHECK_ERR(rename(path_in("plain"), path_in("dir2")), EISDIR);

  CASE("directory onto a file fails with ENOTDIR");
  CHECK_ERR(rename(path_in("dir2"), path_in("plain")), ENOTDIR);

  CASE("directory into its own subdirectory fails with EINVAL");
  CHECK_OK(mkdir(path_in("dir2/sub"), 0755));
  CHECK_ERR(rename(path_in("dir2"), path_in("dir2/sub/moved")), EINVAL);

  CASE("renaming . fails with EBUSY");
  CHECK_ERR(rename(path_in("dir2/."), path_in("elsewhere")), EBUSY);

  CASE("moving a directory updates its .. entry");
  CHECK_OK(mkdir(path_in("parent"), 0755));
  CHECK_OK(rename(path_in("dir2"), path_in("parent/dir2")));
  struct stat dotdot, parent;
  CHECK_OK(stat(path_in("parent/dir2/.."), &dotdot));
  CHECK_OK(stat(path_in("parent"), &parent));
  CHECK_EQ(dotdot.st_ino, parent.st_ino);
}

static void test_errors(void) {
  CASE("missing source fails with ENOENT");
  CHECK_ERR(rename(path_in("missing"), path_in("other")), ENOENT);

  CASE("missing target directory fails with ENOENT");
  write_file("source", "s");
  CHECK_ERR(rename(path_in("source"), path_in("no-dir/target")), ENOENT);

  CASE("rename across mounts fails with EXDEV");
  CHECK_ERR(rename(path_in("source"), "/proc/moat-conformance-target"), EXDEV);

  CASE("empty path fails with ENOENT");
  CHECK_ERR(rename("", path_in("x")), ENOENT);
}

static void test_renameat2(void) {
  CASE("RENAME_NOREPLACE onto an existing name fails with EEXIST");
  write_file("n1", "one");
  write_file("n2", "two");
  CHECK_ERR(renameat2(AT_FDCWD, path_in("n1"), AT_FDCWD, path_in("n2"),
                      RENAME_NOREPLACE),
            EEXIST);
  CHECK_STR(read_file("n2"), "two");

  CASE("RENAME_NOREPLACE to a new name succeeds");
  CHECK_EQ(renameat2(AT_FDCWD, path_in("n1"), AT_FDCWD, path_in("n3"),
                     RENAME_NOREPLACE),
           0);
  CHECK_STR(read_file("n3"), "one");

  CASE("RENAME_EXCHANGE swaps two names");
  CHECK_EQ(renameat2(AT_FDCWD, path_in("n2"), AT_FDCWD, path_in("n3"),
                     RENAME_EXCHANGE),
           0);
  CHECK_STR(read_file("n2"), "one");
  CHECK_STR(read_file("n3"), "two");

  CASE("RENAME_EXCHANGE swaps a file and a directory");
  CHECK_OK(mkdir(path_in("xdir"), 0755));
  CHECK_EQ(renameat2(AT_FDCWD, path_in("n2"), AT_FDCWD, path_in("xdir"),
                     RENAME_EXCHANGE),
           0);
  struct stat info;
  CHECK_OK(stat(path_in("n2"), &info));
  CHECK(S_ISDIR(info.st_mode));
  CHECK_STR(read_file("xdir"), "one");

  CASE("RENAME_EXCHANGE with a missing target fails with ENOENT");
  CHECK_ERR(renameat2(AT_FDCWD, path_in("n3"), AT_FDCWD, path_in("nothing"),
                      RENAME_EXCHANGE),
            ENOENT);

  CASE("RENAME_NOREPLACE|RENAME_EXCHANGE fails with EINVAL");
  CHECK_ERR(renameat2(AT_FDCWD, path_in("n3"), AT_FDCWD, path_in("xdir"),
                      RENAME_NOREPLACE | RENAME_EXCHANGE),
            EINVAL);

  CASE("unknown flags fail with EINVAL");
  CHECK_ERR(renameat2(AT_FDCWD, path_in("n3"), AT_FDCWD, path_in("n4"), 0x100),
            EINVAL);

  CASE("renameat resolves relative to directory descriptors");
  int dirfd = open(directory, O_RDONLY | O_DIRECTORY);
  CHECK_EQ(renameat(dirfd, "n3", dirfd, "n5"), 0);
  CHECK_STR(read_file("n5"), "two");
  close(dirfd);
}

int main(void) {
  directory = check_make_temp_dir();
  test_files();
  test_directories();
  test_errors();
  test_renameat2();
  check_remove_tree(directory);
  return check_finish();
}
