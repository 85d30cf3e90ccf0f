/* chmod(), fchmod(), fchmodat(), chown(), fchown(), lchown() and fchownat():
 * mode bits, ownership, set-user-ID clearing and permission errors. */
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

static mode_t mode_of(const char* path) {
  struct stat info;
  if (lstat(path, &info) != 0) return (mode_t)-1;
  return info.st_mode;
}

static void test_chmod(void) {
  close(open(path_in("file"), O_WRONLY | O_CREAT, 0644));

  CASE("chmod sets permission bits and keeps the file type");
  CHECK_EQ(chmod(path_in("file"), 0751), 0);
  CHECK_EQ(mode_of(path_in("file")), S_IFREG | 0751);

  CASE("chmod stores set-user-ID, set-group-ID and sticky bits");
  CHECK_EQ(chmod(path_in("file"), 07777), 0);
  CHECK_EQ(mode_of(path_in("file")) & 07777, 07777);

  CASE("file type bits in the mode argument are ignored");
  CHECK_EQ(chmod(path_in("file"), S_IFDIR | 0600), 0);
  CHECK_EQ(mode_of(path_in("file")), S_IFREG | 0600);

  CASE("fchmod changes the mode through a descriptor");
  int fd = open(path_in("file"), O_RDONLY);
  CHECK_EQ(fchmod(fd, 0640), 0);
  CHECK_EQ(mode_of(path_in("file")) & 07777, 0640);

  CASE("fchmodat resolves relative to a directory");
  int dirfd = open(directory, O_RDONLY | O_DIRECTORY);
  CHECK_EQ(fchmodat(dirfd, "file", 0604, 0), 0);
  CHECK_EQ(mode_of(path_in("file")) & 07777, 0604);
  close(dirfd);

  CASE("chmod follows symlinks");
  CHECK_OK(symlink("file", path_in("link")));
  mode_t link_mode = mode_of(path_in("link"));
  CHECK_EQ(chmod(path_in("link"), 0612), 0);
  CHECK_EQ(mode_of(path_in("file")) & 07777, 0612);
  CHECK_EQ(mode_of(path_in("link")), link_mode);

  CASE("chmod of a missing file fails with ENOENT");
  CHECK_ERR(chmod(path_in("missing"), 0644), ENOENT);

  CASE("fchmod on a closed descriptor fails with EBADF");
  CHECK_ERR(fchmod(12345, 0644), EBADF);

  CASE("fchmod on an O_PATH descriptor fails with EBADF");
  int path_fd = open(path_in("file"), O_PATH);
  CHECK_ERR(fchmod(path_fd, 0644), EBADF);
  close(path_fd);
  close(fd);
}

static void test_chown(void) {
  close(open(path_in("owned"), O_WRONLY | O_CREAT, 0644));

  CASE("chown sets owner and group");
  CHECK_EQ(chown(path_in("owned"), 1234, 5678), 0);
  struct stat info;
  CHECK_OK(stat(path_in("owned"), &info));
  CHECK_EQ(info.st_uid, 1234);
  CHECK_EQ(info.st_gid, 5678);

  CASE("-1 leaves owner or group unchanged");
  CHECK_EQ(chown(path_in("owned"), -1, 42), 0);
  CHECK_OK(stat(path_in("owned"), &info));
  CHECK_EQ(info.st_uid, 1234);
  CHECK_EQ(info.st_gid, 42);
  CHECK_EQ(chown(path_in("owned"), 77, -1), 0);
  CHECK_OK(stat(path_in("owned"), &info));
  CHECK_EQ(info.st_uid, 77);
  CHECK_EQ(info.st_gid, 42);

  CASE("fchown changes ownership through a descriptor");
  int fd = open(path_in("owned"), O_RDONLY);
  CHECK_EQ(fchown(fd, 0, 0), 0);
  CHECK_OK(fstat(fd, &info));
  CHECK_EQ(info.st_uid, 0);
  CHECK_EQ(info.st_gid, 0);
  close(fd);

  CASE("lchown changes the symlink and not its target");
  CHECK_OK(symlink("owned", path_in("owned-link")));
  CHECK_EQ(lchown(path_in("owned-link"), 300, 301), 0);
  CHECK_OK(lstat(path_in("owned-link"), &info));
  CHECK_EQ(info.st_uid, 300);
  CHECK_OK(stat(path_in("owned"), &info));
  CHECK_EQ(info.st_uid, 0);

  CASE("fchownat with AT_EMPTY_PATH changes the descriptor's file");
  fd = open(path_in("owned"), O_RDONLY);
  CHECK_EQ(fchownat(fd, "", 400, 401, AT_EMPTY_PATH), 0);
  CHECK_OK(fstat(fd, &info));
  CHECK_EQ(info.st_uid, 400);
  close(fd);

  CASE("chown clears the set-user-ID bit of a regular file");
  CHECK_OK(chmod(path_in("owned"), 04755));
  CHECK_EQ(mode_of(path_in("owned")) & 07777, 04755);
  CHECK_EQ(chown(path_in("owned"), 500, 500), 0);
  CHECK_EQ(mode_of(path_in("owned")) & 04000, 0);

  CASE("fchownat with unknown flags fails with EINVAL");
  CHECK_ERR(fchownat(AT_FDCWD, path_in("owned"), 0, 0, 0x1), EINVAL);

  CASE("chown of a missing file fails with ENOENT");
  CHECK_ERR(chown(path_in("missing"), 0, 0), ENOENT);
}

static void test_unprivileged(void) {
  CHECK_OK(chmod(directory, 0755));
  close(open(path_in("root-file"), O_WRONLY | O_CREAT, 0666));
  CHECK_OK(chown(path_in("root-file"), 0, 0));
  CHECK_OK(chmod(path_in("root-file"), 0666));
  close(open(path_in("user-file"), O_WRONLY | O_CREAT, 0644));
  CHECK_OK(chown(path_in("user-file"), 65534, 65534));

  CASE("unprivileged chmod and chown follow ownership rules");
  pid_t pid = fork();
  if (pid == 0) {
    if (setgid(65534) != 0 || setuid(65534) != 0) _exit(90);
    CASE("non-owner chmod fails with EPERM");
    CHECK_ERR(chmod(path_in("root-file"), 0600), EPERM);

    CASE("non-root chown to another user fails with EPERM");
    CHECK_ERR(chown(path_in("user-file"), 0, -1), EPERM);

    CASE("owner may chmod their own file");
    CHECK_EQ(chmod(path_in("user-file"), 0600), 0);

    CASE("owner may chown to the same owner");
    CHECK_EQ(chown(path_in("user-file"), 65534, -1), 0);

    check_child_done();
  }
  CHECK_CHILD_EXIT(pid, 0);

  CASE("non-root chmod of a file in another group drops set-group-ID");
  CHECK_OK(chown(path_in("user-file"), 65534, 0));
  pid = fork();
  if (pid == 0) {
    if (setgid(65534) != 0 || setuid(65534) != 0) _exit(90);
    CHECK_EQ(chmod(path_in("user-file"), 02755), 0);
    check_child_done();
  }
  CHECK_CHILD_EXIT(pid, 0);
  CHECK_EQ(mode_of(path_in("user-file")) & 07777, 0755);
}

int main(void) {
  directory = check_make_temp_dir();
  test_chmod();
  test_chown();
  test_unprivileged();
  check_remove_tree(directory);
  return check_finish();
}
