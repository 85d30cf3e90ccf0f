/* Reading a file outside the sandbox's root through /proc: the root and
 * cwd links of this process and of every process /proc lists, and the
 * descriptor links of directories. */
#include "escape.h"

static void try_proc_dir(const char* path) {
  int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) fd = open(path, O_PATH | O_CLOEXEC);
  if (fd >= 0) {
    try_secret_from_dir(fd, path);
    close(fd);
  }
  char full[4096], tail[4096];
  for (int levels = 0; levels <= 40; levels += 4) {
    snprintf(full, sizeof(full), "%s/%s", path,
             dotdots(tail, sizeof(tail), levels, secret_rel()));
    try_secret_at(AT_FDCWD, full, path);
  }
}

int main(void) {
  char link[4096];
  ssize_t n = readlink("/proc/self/root", link, sizeof(link) - 1);
  if (n >= 0) {
    link[n] = 0;
    if (strcmp(link, "/") != 0) note("/proc/self/root reads \"%s\"", link);
  }
  try_proc_dir("/proc/self/root");
  try_proc_dir("/proc/self/cwd");
  try_proc_dir("/proc/thread-self/root");

  /* A child that waits in a subdirectory, for /proc/PID/cwd. */
  int ready[2];
  if (pipe(ready) != 0) broken("pipe");
  pid_t child = fork();
  if (child == 0) {
    if (chdir("/proc") != 0) _exit(1);
    if (write(ready[1], "x", 1) != 1) _exit(1);
    pause();
    _exit(0);
  }
  char c;
  if (read(ready[0], &c, 1) != 1) broken("child did not start");

  DIR* proc = opendir("/proc");
  if (proc == NULL) {
    note("no /proc: %s", strerror(errno));
  } else {
    struct dirent* e;
    while ((e = readdir(proc)) != NULL) {
      if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
      char path[300];
      const char* links[] = {"root", "cwd", "exe"};
      for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "/proc/%s/%s", e->d_name, links[i]);
        try_proc_dir(path);
      }
    }
    closedir(proc);
  }
  kill(child, SIGKILL);
  waitpid(child, NULL, 0);

  /* The decoy's root, by its host pid. */
  char path[300];
  snprintf(path, sizeof(path), "/proc/%d/root", decoy_pid());
  try_proc_dir(path);
  return escape_finish();
}
