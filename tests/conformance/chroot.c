/* chroot(): path resolution inside the new root, .. at the root, the
 * working directory left outside, and errors. Every chroot happens in a
 * child because it cannot be undone. */
#include "check.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>

static char* directory;

static void test_inside_root(void) {
  CASE("absolute paths resolve inside the new root");
  pid_t pid = fork();
  if (pid == 0) {
    CHECK_EQ(chroot(directory), 0);
    struct stat info;
    CHECK_EQ(stat("/marker", &info), 0);
    CHECK_EQ(info.st_size, 6);

    CASE(".. at the new root stays at the root");
    CHECK_EQ(chdir("/"), 0);
    CHECK_EQ(chdir("../../.."), 0);
    CHECK_EQ(stat("marker", &info), 0);
    CHECK_EQ(stat("/../marker", &info), 0);

    CASE("getcwd after chdir(\"/\") returns /");
    char cwd[256];
    CHECK_STR(getcwd(cwd, sizeof cwd), "/");

    CASE("absolute symlinks resolve inside the new root");
    int fd = open("/absolute-link", O_RDONLY);
    CHECK(fd >= 0);
    char buffer[8] = {0};
    CHECK_EQ(read(fd, buffer, 6), 6);
    CHECK_STR(buffer, "inside");
    close(fd);

    CASE("paths outside the new root are not found");
    char outside[4200];
    snprintf(outside, sizeof outside, "%s/marker", directory);
    CHECK_ERR(stat(outside, &info), ENOENT);
    check_child_done();
  }
  CHECK_CHILD_EXIT(pid, 0);
}

static void test_cwd_outside(void) {
  CASE("working directory outside the root is reported as unreachable");
  pid_t pid = fork();
  if (pid == 0) {
    char parent[4200];
    snprintf(parent, sizeof parent, "%s/..", directory);
    CHECK_OK(chdir(parent));
    CHECK_EQ(chroot(directory), 0);
    char cwd[4200] = {0};
    long length = syscall(SYS_getcwd, cwd, sizeof cwd);
    CHECK(length > 0);
    CHECK(strncmp(cwd, "(unreachable)", 13) == 0);

    CASE("glibc getcwd rejects an unreachable directory with ENOENT");
    CHECK(getcwd(cwd, sizeof cwd) == NULL);
    CHECK_EQ(errno, ENOENT);
    check_child_done();
  }
  CHECK_CHILD_EXIT(pid, 0);
}

static void test_nested(void) {
  CASE("chroot into a subdirectory of the current root");
  pid_t pid = fork();
  if (pid == 0) {
    CHECK_EQ(chroot(directory), 0);
    CHECK_EQ(chroot("/inner"), 0);
    CHECK_OK(chdir("/"));
    struct stat info;
    CHECK_EQ(stat("/inner-marker", &info), 0);
    CHECK_ERR(stat("/marker", &info), ENOENT);
    check_child_done();
  }
  CHECK_CHILD_EXIT(pid, 0);
}

static void test_errors(void) {
  char path[4200];

  CASE("missing directory fails with ENOENT");
  snprintf(path, sizeof path, "%s/missing", directory);
  CHECK_ERR(chroot(path), ENOENT);

  CASE("regular file fails with ENOTDIR");
  snprintf(path, sizeof path, "%s/marker", directory);
  CHECK_ERR(chroot(path), ENOTDIR);

  CASE("non-root caller fails with EPERM");
  pid_t pid = fork();
  if (pid == 0) {
    if (setuid(65534) != 0) _exit(90);
    CHECK_ERR(chroot("/"), EPERM);
    check_child_done();
  }
  CHECK_CHILD_EXIT(pid, 0);

  CASE("the parent's root is unchanged");
  struct stat info;
  CHECK_EQ(stat(path, &info), 0);
}

int main(void) {
  directory = check_make_temp_dir();
  char path[4200];
  snprintf(path, sizeof path, "%s/marker", directory);
  int fd = open(path, O_WRONLY | O_CREAT, 0644);
  CHECK_EQ(write(fd, "inside", 6), 6);
  close(fd);
  snprintf(path, sizeof path, "%s/absolute-link", directory);
  CHECK_OK(symlink("/marker", path));
  snprintf(path, sizeof path, "%s/inner", directory);
  CHECK_OK(mkdir(path, 0755));
  snprintf(path, sizeof path, "%s/inner/inner-marker", directory);
  close(open(path, O_WRONLY | O_CREAT, 0644));

  test_inside_root();
  test_cwd_outside();
  test_nested();
  test_errors();
  check_remove_tree(directory);
  return check_finish();
}
