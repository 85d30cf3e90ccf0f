/* mount(2) beyond a plain tmpfs: bind mounts, per-mount flags and how
 * /proc/self/mountinfo, /proc/mounts and statfs report them, read-only
 * remounts of a mount and of a filesystem, moves, propagation changes and
 * the errors of each.
 *
 * Everything happens under a private tmpfs mounted on a fresh directory,
 * so nothing propagates to other mount namespaces when the test runs
 * natively. */
#include "check.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>

static char base[4200];
static char* directory;

static const char* at(const char* name) {
  static char paths[8][4400];
  static int next;
  char* path = paths[next++ % 8];
  snprintf(path, sizeof paths[0], "%s/%s", base, name);
  return path;
}

static void make_dir(const char* name) { CHECK_OK(mkdir(at(name), 0755)); }

static void make_file(const char* path) {
  int fd = open(path, O_WRONLY | O_CREAT, 0755);
  CHECK(fd >= 0);
  CHECK_EQ(write(fd, "#!/bin/sh\nexit 0\n", 17), 17);
  close(fd);
}

/* The fields of the /proc/self/mountinfo line of the mount on `path`. */
struct mount_line {
  char root[256];
  char options[256];
  char super_options[256];
};

static int find_mount(const char* path, struct mount_line* out) {
  FILE* file = fopen("/proc/self/mountinfo", "r");
  if (file == NULL) return 0;
  char line[4096];
  int found = 0;
  while (fgets(line, sizeof line, file) != NULL) {
    char root[256], point[4300], options[256];
    if (sscanf(line, "%*d %*d %*s %255s %4299s %255s", root, point, options) !=
        3)
      continue;
    const char* rest = strstr(line, " - ");
    char type[64], source[256], super_options[256];
    if (rest == NULL ||
        sscanf(rest, " - %63s %255s %255s", type, source, super_options) != 3)
      continue;
    /* The last line for a path is the mount on top. */
    if (strcmp(point, path) == 0) {
      strcpy(out->root, root);
      strcpy(out->options, options);
      strcpy(out->super_options, super_options);
      found = 1;
    }
  }
  fclose(file);
  return found;
}

/* Whether the comma-separated `options` contain `option`. */
static int has_option(const char* options, const char* option) {
  size_t length = strlen(option);
  for (const char* p = options; p != NULL; p = strchr(p, ',')) {
    if (*p == ',') p++;
    if (strncmp(p, option, length) == 0 &&
        (p[length] == ',' || p[length] == '\0'))
      return 1;
  }
  return 0;
}

static int has_proc_mounts_option(const char* path, const char* option) {
  FILE* file = fopen("/proc/mounts", "r");
  if (file == NULL) return 0;
  char line[4096];
  int found = 0;
  while (fgets(line, sizeof line, file) != NULL) {
    char point[4300], options[256];
    if (sscanf(line, "%*s %4299s %*s %255s", point, options) == 2 &&
        strcmp(point, path) == 0)
      found = has_option(options, option);
  }
  fclose(file);
  return found;
}

static void test_bind(void) {
  make_dir("src");
  make_dir("dst");
  make_file(at("src/file"));

  CASE("a bind mount shows the same files");
  CHECK_EQ(mount(at("src"), at("dst"), NULL, MS_BIND, NULL), 0);
  struct stat original, bound;
  CHECK_OK(stat(at("src/file"), &original));
  CHECK_OK(stat(at("dst/file"), &bound));
  CHECK_EQ(bound.st_ino, original.st_ino);
  CHECK_EQ(bound.st_dev, original.st_dev);

  CASE("mountinfo names the bound directory as the mount's root");
  struct mount_line line;
  CHECK(find_mount(at("dst"), &line));
  CHECK_STR(line.root, "/src");

  CASE("a read-only bind remount leaves the original writable");
  CHECK_EQ(mount(NULL, at("dst"), NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL),
           0);
  CHECK_ERR(open(at("dst/file"), O_WRONLY), EROFS);
  int fd = open(at("src/file"), O_WRONLY);
  CHECK(fd >= 0);
  close(fd);
  CHECK(find_mount(at("dst"), &line));
  CHECK(has_option(line.options, "ro"));
  CHECK(has_option(line.super_options, "rw"));
  struct statfs fs;
  CHECK_EQ(statfs(at("dst"), &fs), 0);
  CHECK_EQ(fs.f_flags & ST_RDONLY, ST_RDONLY);
  CHECK_EQ(statfs(at("src"), &fs), 0);
  CHECK_EQ(fs.f_flags & ST_RDONLY, 0);

  CASE("a bind mount of a file onto a directory fails with ENOTDIR");
  CHECK_ERR(mount(at("src/file"), at("src"), NULL, MS_BIND, NULL), ENOTDIR);

  CASE("a bind mount of a missing path fails with ENOENT");
  CHECK_ERR(mount(at("missing"), at("src"), NULL, MS_BIND, NULL), ENOENT);

  CHECK_EQ(umount(at("dst")), 0);
  CHECK_ERR(stat(at("dst/file"), &bound), ENOENT);
}

static void test_flags(void) {
  make_dir("flags");
  CASE("nosuid, nodev and noexec show in mountinfo, mounts and statfs");
  CHECK_EQ(mount("tmpfs", at("flags"), "tmpfs",
                 MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL),
           0);
  struct mount_line line;
  CHECK(find_mount(at("flags"), &line));
  CHECK(has_option(line.options, "nosuid"));
  CHECK(has_option(line.options, "nodev"));
  CHECK(has_option(line.options, "noexec"));
  CHECK(has_proc_mounts_option(at("flags"), "nosuid"));
  CHECK(has_proc_mounts_option(at("flags"), "noexec"));
  struct statfs fs;
  CHECK_EQ(statfs(at("flags"), &fs), 0);
  CHECK_EQ(fs.f_flags & (ST_NOSUID | ST_NODEV | ST_NOEXEC),
           ST_NOSUID | ST_NODEV | ST_NOEXEC);

  CASE("noexec refuses to run a program with EACCES");
  make_file(at("flags/script"));
  pid_t pid = fork();
  if (pid == 0) {
    char* argv[] = {"script", NULL};
    execv(at("flags/script"), argv);
    _exit(errno);
  }
  CHECK_CHILD_EXIT(pid, EACCES);

  CASE("nodev refuses to open a device node with EACCES");
  CHECK_OK(mknod(at("flags/null"), S_IFCHR | 0666, makedev(1, 3)));
  CHECK_ERR(open(at("flags/null"), O_RDONLY), EACCES);

  CASE("a remount replaces the flags");
  CHECK_EQ(mount(NULL, at("flags"), NULL, MS_REMOUNT | MS_NOSUID, NULL), 0);
  CHECK(find_mount(at("flags"), &line));
  CHECK(has_option(line.options, "nosuid"));
  CHECK(!has_option(line.options, "noexec"));
  int fd = open(at("flags/null"), O_RDONLY);
  CHECK(fd >= 0);
  close(fd);
  CHECK_EQ(umount(at("flags")), 0);
}

static void test_filesystem_read_only(void) {
  make_dir("fs");
  make_dir("fs-view");
  CHECK_EQ(mount("tmpfs", at("fs"), "tmpfs", 0, NULL), 0);
  CHECK_EQ(mount(at("fs"), at("fs-view"), NULL, MS_BIND, NULL), 0);

  CASE("a remount without MS_BIND makes the filesystem read-only everywhere");
  CHECK_EQ(mount(NULL, at("fs"), NULL, MS_REMOUNT | MS_RDONLY, NULL), 0);
  CHECK_ERR(open(at("fs-view/new"), O_WRONLY | O_CREAT, 0644), EROFS);
  struct mount_line line;
  CHECK(find_mount(at("fs-view"), &line));
  CHECK(has_option(line.options, "rw"));
  CHECK(has_option(line.super_options, "ro"));

  CASE("a read-write remount makes it writable again");
  CHECK_EQ(mount(NULL, at("fs"), NULL, MS_REMOUNT, NULL), 0);
  int fd = open(at("fs-view/new"), O_WRONLY | O_CREAT, 0644);
  CHECK(fd >= 0);

  CASE("a read-only remount with a file open for writing fails with EBUSY");
  CHECK_ERR(mount(NULL, at("fs"), NULL, MS_REMOUNT | MS_RDONLY, NULL), EBUSY);
  close(fd);
  CHECK_EQ(umount(at("fs-view")), 0);
  CHECK_EQ(umount(at("fs")), 0);
}

static void test_recursive_and_move(void) {
  make_dir("tree");
  make_dir("copy");
  make_dir("recursive");
  make_dir("moved");
  CHECK_EQ(mount("tmpfs", at("tree"), "tmpfs", 0, NULL), 0);
  CHECK_OK(mkdir(at("tree/sub"), 0755));
  CHECK_EQ(mount("tmpfs", at("tree/sub"), "tmpfs", 0, NULL), 0);
  make_file(at("tree/sub/inner"));

  CASE("a plain bind leaves out the mounts below; MS_REC copies them");
  struct stat info;
  CHECK_EQ(mount(at("tree"), at("copy"), NULL, MS_BIND, NULL), 0);
  CHECK_ERR(stat(at("copy/sub/inner"), &info), ENOENT);
  CHECK_EQ(mount(at("tree"), at("recursive"), NULL, MS_BIND | MS_REC, NULL), 0);
  CHECK_OK(stat(at("recursive/sub/inner"), &info));

  CASE("a mountpoint seen through another bind mount cannot be removed");
  CHECK_ERR(rmdir(at("copy/sub")), EBUSY);
  CHECK_ERR(rename(at("copy/sub"), at("copy/other")), EBUSY);

  CASE("unmounting a mount with a mount below fails with EBUSY");
  CHECK_ERR(umount(at("recursive")), EBUSY);

  CASE("MNT_DETACH unmounts the whole tree");
  CHECK_EQ(umount2(at("recursive"), MNT_DETACH), 0);
  CHECK_ERR(stat(at("recursive/sub"), &info), ENOENT);

  CASE("MS_MOVE moves a mount with the mounts below it");
  CHECK_EQ(mount(at("tree"), at("moved"), NULL, MS_MOVE, NULL), 0);
  CHECK_OK(stat(at("moved/sub/inner"), &info));
  CHECK_ERR(stat(at("tree/sub"), &info), ENOENT);

  CASE("moving a mount below itself fails with ELOOP");
  CHECK_ERR(mount(at("moved"), at("moved/sub"), NULL, MS_MOVE, NULL), ELOOP);

  CASE("moving what is not a mount fails with EINVAL");
  CHECK_ERR(mount(at("copy/sub"), at("tree"), NULL, MS_MOVE, NULL), EINVAL);

  CHECK_EQ(umount(at("copy")), 0);
  CHECK_EQ(umount(at("moved/sub")), 0);
  CHECK_EQ(umount(at("moved")), 0);
}

static void test_errors(void) {
  make_dir("plain");
  CASE("a remount of a directory that is no mount fails with EINVAL");
  CHECK_ERR(mount(NULL, at("plain"), NULL, MS_REMOUNT, NULL), EINVAL);

  CASE("a propagation change of a directory that is no mount fails");
  CHECK_ERR(mount(NULL, at("plain"), NULL, MS_PRIVATE, NULL), EINVAL);

  CASE("two propagation types at once fail with EINVAL");
  CHECK_ERR(mount(NULL, base, NULL, MS_PRIVATE | MS_SHARED, NULL), EINVAL);

  CASE("an unknown tmpfs option on remount fails with EINVAL");
  CHECK_ERR(mount(NULL, base, NULL, MS_REMOUNT, "no_such_option"), EINVAL);

  CASE("a missing filesystem type fails with EINVAL");
  CHECK_ERR(mount("none", at("plain"), NULL, 0, NULL), EINVAL);

  CASE("an unprivileged umount fails with EPERM");
  CHECK_OK(chmod(base, 0755));
  CHECK_OK(chmod(directory, 0755));
  pid_t pid = fork();
  if (pid == 0) {
    if (setuid(65534) != 0) _exit(90);
    CHECK_ERR(umount(base), EPERM);
    check_child_done();
  }
  CHECK_CHILD_EXIT(pid, 0);
}

int main(void) {
  directory = check_make_temp_dir();
  snprintf(base, sizeof base, "%s/base", directory);
  CHECK_OK(mkdir(base, 0755));
  if (mount("tmpfs", base, "tmpfs", 0, NULL) != 0 ||
      mount(NULL, base, NULL, MS_PRIVATE | MS_REC, NULL) != 0) {
    printf("setup: mounting a private tmpfs failed with %s\n",
           check_errno_name(errno));
    return 2;
  }
  test_bind();
  test_flags();
  test_filesystem_read_only();
  test_recursive_and_move();
  test_errors();
  /* Detach what a failed case left mounted before removing the tree. */
  CHECK_EQ(umount2(base, MNT_DETACH), 0);
  check_remove_tree(directory);
  return check_finish();
}
