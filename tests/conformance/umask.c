/* umask(): return value, effect on every creating call, inheritance and
 * the Umask line of /proc/self/status. */
#include "check.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

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
  return info.st_mode & 07777;
}

static int status_umask(void) {
  FILE* file = fopen("/proc/self/status", "r");
  if (file == NULL) return -1;
  char line[256];
  int value = -1;
  while (fgets(line, sizeof line, file) != NULL)
    if (sscanf(line, "Umask: %o", (unsigned*)&value) == 1) break;
  fclose(file);
  return value;
}

int main(void) {
  directory = check_make_temp_dir();

  CASE("umask returns the previous mask");
  umask(022);
  CHECK_EQ(umask(077), 022);
  CHECK_EQ(umask(027), 077);

  CASE("only the permission bits are kept");
  umask(07777);
  CHECK_EQ(umask(022), 0777);

  CASE("open applies the mask");
  umask(027);
  close(open(path_in("file"), O_WRONLY | O_CREAT, 0777));
  CHECK_EQ(mode_of(path_in("file")), 0750);

  CASE("mkdir applies the mask");
  CHECK_OK(mkdir(path_in("dir"), 0777));
  CHECK_EQ(mode_of(path_in("dir")), 0750);

  CASE("mkfifo applies the mask");
  CHECK_OK(mkfifo(path_in("fifo"), 0666));
  CHECK_EQ(mode_of(path_in("fifo")), 0640);

  CASE("mknod applies the mask");
  CHECK_OK(mknod(path_in("node"), S_IFREG | 0666, 0));
  CHECK_EQ(mode_of(path_in("node")), 0640);

  CASE("mask does not remove bits that were not requested");
  umask(0);
  close(open(path_in("exact"), O_WRONLY | O_CREAT, 0604));
  CHECK_EQ(mode_of(path_in("exact")), 0604);

  CASE("mask does not apply to chmod");
  umask(077);
  CHECK_OK(chmod(path_in("exact"), 0777));
  CHECK_EQ(mode_of(path_in("exact")), 0777);

  CASE("sticky bit survives the mask on mkdir");
  umask(022);
  CHECK_OK(mkdir(path_in("sticky"), 01777));
  CHECK_EQ(mode_of(path_in("sticky")), 01755);

  CASE("/proc/self/status reports the mask");
  umask(0123);
  CHECK_EQ(status_umask(), 0123);

  CASE("mask is inherited by a child");
  pid_t pid = fork();
  if (pid == 0) _exit(umask(0) == 0123 ? 0 : 1);
  CHECK_CHILD_EXIT(pid, 0);

  CASE("child's umask change does not affect the parent");
  pid = fork();
  if (pid == 0) {
    umask(0);
    _exit(0);
  }
  CHECK_CHILD_EXIT(pid, 0);
  CHECK_EQ(umask(022), 0123);
  check_remove_tree(directory);
  return check_finish();
}
