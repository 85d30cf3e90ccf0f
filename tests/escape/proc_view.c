/* Seeing the host from inside: host pids in /proc, the host's /proc/1,
 * descriptors this program did not open, and the host's /sys. The runner
 * starts the program with extra descriptors open on host files (fd 5 on
 * the secret, fd 7 on its directory) that must not be visible inside. */
#include "escape.h"

#include <sys/vfs.h>

#ifndef SYSFS_MAGIC
#define SYSFS_MAGIC 0x62656572
#endif

static int read_file(const char* path, char* buf, size_t size) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, size - 1);
  close(fd);
  if (n < 0) return -1;
  buf[n] = 0;
  return (int)n;
}

int main(void) {
  char path[300], mine[4096], other[4096];
  /* The decoy's /proc directory. */
  snprintf(path, sizeof(path), "/proc/%d/cmdline", decoy_pid());
  if (read_file(path, other, sizeof(other)) >= 0)
    escaped("read %s (\"%s\")", path, other);

  /* Every pid in /proc must be one of ours: same session as ours. */
  pid_t sid = getsid(0);
  DIR* proc = opendir("/proc");
  int pids = 0;
  struct dirent* e;
  while (proc != NULL && (e = readdir(proc)) != NULL) {
    if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
    pids++;
    pid_t pid = atoi(e->d_name);
    if (getsid(pid) != sid && pid != 1) {
      snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
      if (read_file(path, other, sizeof(other)) >= 0) {
        escaped("/proc shows pid %d of another session (\"%s\")", pid,
                other);
        break;
      }
    }
  }
  if (proc != NULL) closedir(proc);
  note("/proc lists %d pids", pids);

  /* /proc/1 is the host's init unless it is this program. */
  if (read_file("/proc/self/cmdline", mine, sizeof(mine)) < 0)
    note("no /proc/self/cmdline: %s", strerror(errno));
  else if (read_file("/proc/1/cmdline", other, sizeof(other)) >= 0 &&
           strcmp(mine, other) != 0)
    escaped("/proc/1/cmdline is not ours: \"%s\"", other);

  /* Descriptors: only 0, 1, 2 (and the listing's own) may exist. */
  DIR* fds = opendir("/proc/self/fd");
  while (fds != NULL && (e = readdir(fds)) != NULL) {
    int fd = atoi(e->d_name);
    if (e->d_name[0] == '.' || fd <= 2 || fd == dirfd(fds)) continue;
    char target[4096];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(path, target, sizeof(target) - 1);
    target[n > 0 ? n : 0] = 0;
    escaped("descriptor %d is open (%s)", fd, target);
  }
  if (fds != NULL) closedir(fds);
  char byte;
  if (read(5, &byte, 1) >= 0 || errno != EBADF)
    escaped("fd 5 (the runner's secret) is readable");
  if (try_secret_at(7, strrchr(secret_path(), '/') + 1, "fd 7")) {
  }

  /* /sys must be absent or moat's own, not the host's sysfs. moat's own
   * has the CPU files, so only files that describe host devices count. */
  struct statfs sfs;
  if (statfs("/sys", &sfs) == 0 && sfs.f_type == SYSFS_MAGIC)
    note("/sys reports the sysfs magic");
  if (read_file("/sys/kernel/uevent_seqnum", other, sizeof(other)) > 0 ||
      read_file("/sys/class/net/lo/address", other, sizeof(other)) > 0 ||
      read_file("/sys/fs/cgroup/cgroup.controllers", other, sizeof(other)) > 0)
    escaped("the host's /sys is readable (\"%.40s\")", other);
  return escape_finish();
}
