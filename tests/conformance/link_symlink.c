/* link(), symlink(), unlink() and rmdir(): link counts, symlink resolution,
 * loops and errors. */
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
  CHECK_EQ(write(fd, content, strlen(content)), (ssize_t)strlen(content));
  close(fd);
}

static void test_hard_links(void) {
  CASE("link shares the inode and raises st_nlink");
  write_file("file", "data");
  CHECK_EQ(link(path_in("file"), path_in("hard")), 0);
  struct stat a, b;
  CHECK_OK(stat(path_in("file"), &a));
  CHECK_OK(stat(path_in("hard"), &b));
  CHECK_EQ(a.st_ino, b.st_ino);
  CHECK_EQ(a.st_nlink, 2);

  CASE("unlinking one name keeps the data under the other");
  CHECK_EQ(unlink(path_in("file")), 0);
  CHECK_OK(stat(path_in("hard"), &b));
  CHECK_EQ(b.st_nlink, 1);
  CHECK_EQ(b.st_size, 4);

  CASE("unlinked open file stays readable");
  int fd = open(path_in("hard"), O_RDONLY);
  CHECK_OK(unlink(path_in("hard")));
  struct stat info;
  CHECK_OK(fstat(fd, &info));
  CHECK_EQ(info.st_nlink, 0);
  char buffer[8] = {0};
  CHECK_EQ(read(fd, buffer, 4), 4);
  CHECK_STR(buffer, "data");
  close(fd);

  CASE("link onto an existing name fails with EEXIST");
  write_file("x", "x");
  write_file("y", "y");
  CHECK_ERR(link(path_in("x"), path_in("y")), EEXIST);

  CASE("link of a directory fails with EPERM");
  CHECK_OK(mkdir(path_in("d"), 0755));
  CHECK_ERR(link(path_in("d"), path_in("d2")), EPERM);

  CASE("link of a missing file fails with ENOENT");
  CHECK_ERR(link(path_in("missing"), path_in("m2")), ENOENT);
}

static void test_symlinks(void) {
  CASE("symlink stores the target text");
  CHECK_EQ(symlink("x", path_in("sx")), 0);
  char target[64] = {0};
  CHECK_EQ(readlink(path_in("sx"), target, sizeof target), 1);
  CHECK_STR(target, "x");

  CASE("relative symlink resolves from its own directory");
  CHECK_OK(mkdir(path_in("sub"), 0755));
  CHECK_OK(symlink("../x", path_in("sub/up")));
  int fd = CHECK_OK(open(path_in("sub/up"), O_RDONLY));
  char byte = 0;
  CHECK_EQ(read(fd, &byte, 1), 1);
  CHECK_EQ(byte, 'x');
  close(fd);

  CASE("dangling symlink can be created and lstat'ed");
  CHECK_EQ(symlink("nowhere", path_in("dangling")), 0);
  struct stat info;
  CHECK_ERR(stat(path_in("dangling"), &info), ENOENT);
  CHECK_EQ(lstat(path_in("dangling"), &info), 0);

  CASE("symlink onto an existing name fails with EEXIST");
  CHECK_ERR(symlink("x", path_in("y")), EEXIST);

  CASE("empty symlink target fails with ENOENT");
  CHECK_ERR(symlink("", path_in("empty-target")), ENOENT);

  CASE("symlink loop fails with ELOOP");
  CHECK_OK(symlink("loop-b", path_in("loop-a")));
  CHECK_OK(symlink("loop-a", path_in("loop-b")));
  CHECK_ERR(open(path_in("loop-a"), O_RDONLY), ELOOP);

  CASE("40 symlinks in a chain resolve and 41 fail with ELOOP");
  for (int i = 0; i < 41; i++) {
    char name[32], next[32];
    snprintf(name, sizeof name, "chain-%02d", i);
    if (i == 40)
      snprintf(next, sizeof next, "x");
    else
      snprintf(next, sizeof next, "chain-%02d", i + 1);
    CHECK_OK(symlink(next, path_in(name)));
  }
  fd = open(path_in("chain-01"), O_RDONLY);
  CHECK(fd >= 0);
  close(fd);
  CHECK_ERR(open(path_in("chain-00"), O_RDONLY), ELOOP);

  CASE("linkat without AT_SYMLINK_FOLLOW links the symlink itself");
  CHECK_OK(linkat(AT_FDCWD, path_in("sx"), AT_FDCWD, path_in("sx-hard"), 0));
  CHECK_OK(lstat(path_in("sx-hard"), &info));
  CHECK(S_ISLNK(info.st_mode));

  CASE("linkat with AT_SYMLINK_FOLLOW links the target");
  CHECK_OK(linkat(AT_FDCWD, path_in("sx"), AT_FDCWD, path_in("sx-follow"),
                  AT_SYMLINK_FOLLOW));
  CHECK_OK(lstat(path_in("sx-follow"), &info));
  CHECK(S_ISREG(info.st_mode));

  CASE("linkat with unknown flags fails with EINVAL");
  CHECK_ERR(linkat(AT_FDCWD, path_in("x"), AT_FDCWD, path_in("x3"), 0x1),
            EINVAL);
}

static void test_removal(void) {
  CASE("unlink of a directory fails with EISDIR");
  CHECK_OK(mkdir(path_in("rm-dir"), 0755));
  CHECK_ERR(unlink(path_in("rm-dir")), EISDIR);

  CASE("rmdir of a file fails with ENOTDIR");
  CHECK_ERR(rmdir(path_in("x")), ENOTDIR);

  CASE("rmdir of a non-empty directory fails with ENOTEMPTY");
  write_file("rm-dir/inner", "i");
  CHECK_ERR(rmdir(path_in("rm-dir")), ENOTEMPTY);

  CASE("rmdir of . fails with EINVAL");
  CHECK_ERR(rmdir(path_in("rm-dir/.")), EINVAL);

  CASE("unlinkat with AT_REMOVEDIR removes an empty directory");
  CHECK_OK(unlink(path_in("rm-dir/inner")));
  CHECK_EQ(unlinkat(AT_FDCWD, path_in("rm-dir"), AT_REMOVEDIR), 0);
  struct stat info;
  CHECK_ERR(stat(path_in("rm-dir"), &info), ENOENT);

  CASE("unlinkat with unknown flags fails with EINVAL");
  CHECK_ERR(unlinkat(AT_FDCWD, path_in("x"), 0x1), EINVAL);

  CASE("unlink of a missing name fails with ENOENT");
  CHECK_ERR(unlink(path_in("missing")), ENOENT);

  CASE("unlink of a symlink removes only the link");
  CHECK_OK(unlink(path_in("sx")));
  CHECK_EQ(lstat(path_in("x"), &info), 0);
}

int main(void) {
  directory = check_make_temp_dir();
  test_hard_links();
  test_symlinks();
  test_removal();
  check_remove_tree(directory);
  return check_finish();
}
