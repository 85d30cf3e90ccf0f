/* access(): existence, root's permission overrides, checks against the
 * real user id, path errors and invalid modes. */
#include "check.h"

#include <fcntl.h>
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

static void make_file(const char* name, mode_t mode) {
  close(open(path_in(name), O_WRONLY | O_CREAT, 0600));
  chmod(path_in(name), mode);
}

int main(void) {
  directory = check_make_temp_dir();
  CHECK_OK(chmod(directory, 0755));
  make_file("none", 0000);
  make_file("readable", 0644);
  make_file("private", 0600);
  make_file("owner-exec", 0100);

  CASE("F_OK reports existence");
  CHECK_EQ(access(path_in("none"), F_OK), 0);
  CHECK_ERR(access(path_in("missing"), F_OK), ENOENT);

  CASE("root may read and write a mode 0000 file");
  CHECK_EQ(access(path_in("none"), R_OK | W_OK), 0);

  CASE("root needs an execute bit for X_OK");
  CHECK_ERR(access(path_in("readable"), X_OK), EACCES);
  CHECK_EQ(access(path_in("owner-exec"), X_OK), 0);

  CASE("directories are searchable by root");
  CHECK_EQ(access(directory, X_OK), 0);

  CASE("other users are checked against the permission bits");
  pid_t pid = fork();
  if (pid == 0) {
    if (setuid(65534) != 0) _exit(90);
    CHECK_EQ(access(path_in("readable"), R_OK), 0);
    CHECK_ERR(access(path_in("readable"), W_OK), EACCES);
    CHECK_ERR(access(path_in("private"), R_OK), EACCES);
    CHECK_ERR(access(path_in("owner-exec"), X_OK), EACCES);
    CHECK_EQ(access(path_in("private"), F_OK), 0);
    check_child_done();
  }
  CHECK_CHILD_EXIT(pid, 0);

  CASE("access uses the real user id, open uses the effective one");
  pid = fork();
  if (pid == 0) {
    if (setresuid(0, 65534, 0) != 0) _exit(90);
    CHECK_EQ(access(path_in("private"), R_OK), 0);
    CHECK_ERR(open(path_in("private"), O_RDONLY), EACCES);
    check_child_done();
  }
  CHECK_CHILD_EXIT(pid, 0);

  CASE("missing search permission on a directory fails with EACCES");
  CHECK_OK(mkdir(path_in("locked"), 0700));
  make_file("locked/inner", 0644);
  pid = fork();
  if (pid == 0) {
    if (setuid(65534) != 0) _exit(90);
    CHECK_ERR(access(path_in("locked/inner"), F_OK), EACCES);
    check_child_done();
  }
  CHECK_CHILD_EXIT(pid, 0);

  CASE("path through a regular file fails with ENOTDIR");
  CHECK_ERR(access(path_in("readable/x"), F_OK), ENOTDIR);

  CASE("symlink loop fails with ELOOP");
  CHECK_OK(symlink("loop", path_in("loop")));
  CHECK_ERR(access(path_in("loop"), F_OK), ELOOP);

  CASE("symlinks are followed");
  CHECK_OK(symlink("readable", path_in("link")));
  CHECK_ERR(access(path_in("link"), X_OK), EACCES);
  CHECK_OK(symlink("missing", path_in("dangling")));
  CHECK_ERR(access(path_in("dangling"), F_OK), ENOENT);

  CASE("invalid mode bits fail with EINVAL");
  CHECK_ERR(access(path_in("readable"), 0x10), EINVAL);

  CASE("bad path pointer fails with EFAULT");
  CHECK_ERR(syscall(SYS_access, (char*)8, F_OK), EFAULT);

  check_remove_tree(directory);
  return check_finish();
}
