/* openat2(): struct open_how validation and RESOLVE_* path restrictions. */
#include "check.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>

static char* directory;
static int dirfd;

static long openat2(int fd, const char* path, struct open_how* how,
                    size_t size) {
  return syscall(SYS_openat2, fd, path, how, size);
}

static long open_with(int fd, const char* path, unsigned long long flags,
                      unsigned long long mode, unsigned long long resolve) {
  struct open_how how = {.flags = flags, .mode = mode, .resolve = resolve};
  return openat2(fd, path, &how, sizeof how);
}

static void setup_tree(void) {
  dirfd = open(directory, O_RDONLY | O_DIRECTORY);
  CHECK_OK(mkdirat(dirfd, "root", 0755));
  CHECK_OK(mkdirat(dirfd, "root/sub", 0755));
  int fd = openat(dirfd, "root/file", O_WRONLY | O_CREAT, 0644);
  CHECK_EQ(write(fd, "inside", 6), 6);
  close(fd);
  fd = openat(dirfd, "outside", O_WRONLY | O_CREAT, 0644);
  CHECK_EQ(write(fd, "outside", 7), 7);
  close(fd);
  CHECK_OK(symlinkat("file", dirfd, "root/relative-link"));
  CHECK_OK(symlinkat("/file", dirfd, "root/absolute-link"));
  CHECK_OK(symlinkat("../outside", dirfd, "root/escape-link"));
}

static void test_basic(void) {
  CASE("openat2 opens like openat");
  int fd = (int)CHECK_OK(open_with(dirfd, "root/file", O_RDONLY, 0, 0));
  char buffer[8] = {0};
  CHECK_EQ(read(fd, buffer, 6), 6);
  CHECK_STR(buffer, "inside");
  close(fd);

  CASE("O_CREAT uses the mode in open_how");
  umask(0);
  fd = (int)CHECK_OK(
      open_with(dirfd, "created", O_WRONLY | O_CREAT | O_EXCL, 0640, 0));
  struct stat info;
  CHECK_OK(fstat(fd, &info));
  CHECK_EQ(info.st_mode & 07777, 0640);
  close(fd);
}

static void test_validation(void) {
  struct open_how how = {.flags = O_RDONLY};

  CASE("unknown flag bits fail with EINVAL");
  CHECK_ERR(open_with(dirfd, "root/file", 1ULL << 40, 0, 0), EINVAL);

  CASE("mode without O_CREAT or O_TMPFILE fails with EINVAL");
  CHECK_ERR(open_with(dirfd, "root/file", O_RDONLY, 0644, 0), EINVAL);

  CASE("mode with bits outside 07777 fails with EINVAL");
  CHECK_ERR(open_with(dirfd, "new", O_WRONLY | O_CREAT, 010000, 0), EINVAL);

  CASE("unknown resolve bits fail with EINVAL");
  CHECK_ERR(open_with(dirfd, "root/file", O_RDONLY, 0, 1ULL << 40), EINVAL);

  CASE("RESOLVE_BENEATH with RESOLVE_IN_ROOT fails with EINVAL");
  CHECK_ERR(open_with(dirfd, "root/file", O_RDONLY, 0,
                      RESOLVE_BENEATH | RESOLVE_IN_ROOT),
            EINVAL);

  CASE("size smaller than open_how version 0 fails with EINVAL");
  CHECK_ERR(openat2(dirfd, "root/file", &how, 16), EINVAL);

  CASE("larger size with non-zero trailing bytes fails with E2BIG");
  struct {
    struct open_how how;
    unsigned long long extra;
  } extended = {.how = {.flags = O_RDONLY}, .extra = 1};
  CHECK_ERR(openat2(dirfd, "root/file", &extended.how, sizeof extended), E2BIG);

  CASE("larger size with zero trailing bytes is accepted");
  extended.extra = 0;
  int fd = (int)CHECK_OK(
      openat2(dirfd, "root/file", &extended.how, sizeof extended));
  close(fd);

  CASE("bad open_how pointer fails with EFAULT");
  CHECK_ERR(openat2(dirfd, "root/file", (struct open_how*)8, sizeof how),
            EFAULT);
}

static void test_resolve(void) {
  int root = open(directory, O_RDONLY | O_DIRECTORY);
  int rootfd = openat(root, "root", O_RDONLY | O_DIRECTORY);
  close(root);

  CASE("RESOLVE_BENEATH allows paths inside the directory");
  int fd = (int)CHECK_OK(
      open_with(rootfd, "sub/../file", O_RDONLY, 0, RESOLVE_BENEATH));
  close(fd);

  CASE("RESOLVE_BENEATH rejects .. escapes with EXDEV");
  CHECK_ERR(open_with(rootfd, "../outside", O_RDONLY, 0, RESOLVE_BENEATH),
            EXDEV);

  CASE("RESOLVE_BENEATH rejects absolute paths with EXDEV");
  CHECK_ERR(open_with(rootfd, "/etc", O_RDONLY, 0, RESOLVE_BENEATH), EXDEV);

  CASE("RESOLVE_BENEATH rejects escaping symlinks with EXDEV");
  CHECK_ERR(open_with(rootfd, "escape-link", O_RDONLY, 0, RESOLVE_BENEATH),
            EXDEV);

  CASE("RESOLVE_NO_SYMLINKS rejects symlinks with ELOOP");
  CHECK_ERR(
      open_with(rootfd, "relative-link", O_RDONLY, 0, RESOLVE_NO_SYMLINKS),
      ELOOP);

  CASE("RESOLVE_NO_SYMLINKS allows O_PATH|O_NOFOLLOW on the link");
  fd = (int)CHECK_OK(open_with(rootfd, "relative-link", O_PATH | O_NOFOLLOW, 0,
                               RESOLVE_NO_SYMLINKS));
  close(fd);

  CASE("RESOLVE_IN_ROOT resolves absolute symlinks inside the root");
  fd = (int)CHECK_OK(
      open_with(rootfd, "absolute-link", O_RDONLY, 0, RESOLVE_IN_ROOT));
  char buffer[8] = {0};
  CHECK_EQ(read(fd, buffer, 6), 6);
  CHECK_STR(buffer, "inside");
  close(fd);

  CASE("RESOLVE_IN_ROOT clamps .. at the root");
  fd = (int)CHECK_OK(
      open_with(rootfd, "../../file", O_RDONLY, 0, RESOLVE_IN_ROOT));
  memset(buffer, 0, sizeof buffer);
  CHECK_EQ(read(fd, buffer, 6), 6);
  CHECK_STR(buffer, "inside");
  close(fd);

  CASE("RESOLVE_NO_MAGICLINKS rejects /proc/self/fd links with ELOOP");
  char magic[64];
  snprintf(magic, sizeof magic, "/proc/self/fd/%d", rootfd);
  CHECK_ERR(open_with(AT_FDCWD, magic, O_RDONLY, 0, RESOLVE_NO_MAGICLINKS),
            ELOOP);

  CASE("without RESOLVE_NO_MAGICLINKS the magic link opens");
  fd = (int)CHECK_OK(open_with(AT_FDCWD, magic, O_RDONLY, 0, 0));
  struct stat a, b;
  CHECK_OK(fstat(fd, &a));
  CHECK_OK(fstat(rootfd, &b));
  CHECK_EQ(a.st_ino, b.st_ino);
  close(fd);

  CASE("RESOLVE_NO_XDEV rejects crossing into /proc with EXDEV");
  CHECK_ERR(
      open_with(AT_FDCWD, "/proc/self/status", O_RDONLY, 0, RESOLVE_NO_XDEV),
      EXDEV);
  close(rootfd);
}

int main(void) {
  directory = check_make_temp_dir();
  setup_tree();
  test_basic();
  test_validation();
  test_resolve();
  close(dirfd);
  check_remove_tree(directory);
  return check_finish();
}
