/* Reading a file outside the sandbox's root by climbing with "..": from the
 * root, from a subdirectory, after chdir(".."), and with ".." as the last
 * component of open, stat and openat. */
#include "escape.h"

/* Whether `path` names the same directory as "/" (the root must be its own
 * parent). */
static void expect_root(const char* path) {
  struct stat root, st;
  if (stat("/", &root) != 0 || stat(path, &st) != 0) return;
  if (root.st_dev != st.st_dev || root.st_ino != st.st_ino)
    note("\"%s\" is not the root directory", path);
}

int main(void) {
  char path[4096];
  const char* secret_name = strrchr(secret_path(), '/') + 1;
  for (int levels = 1; levels <= 64; levels++) {
    dotdots(path, sizeof(path), levels, secret_rel());
    try_secret_at(AT_FDCWD, path, "relative .. from the cwd");
    char abs[4200];
    snprintf(abs, sizeof(abs), "/%s", path);
    try_secret_at(AT_FDCWD, abs, "absolute /../..");
    snprintf(abs, sizeof(abs), "/bin/%s", path);
    try_secret_at(AT_FDCWD, abs, "absolute /bin/../..");
  }
  expect_root("/..");
  expect_root("/../../../..");
  expect_root("/bin/../../..");

  /* ".." as the last component, then walk down from the descriptor. */
  const char* last_dotdot[] = {"/..", "..", "/bin/../..", "/./..//.."};
  for (size_t i = 0; i < sizeof(last_dotdot) / sizeof(*last_dotdot); i++) {
    int flags[] = {O_RDONLY | O_DIRECTORY, O_PATH, O_PATH | O_NOFOLLOW};
    for (size_t j = 0; j < 3; j++) {
      int fd = open(last_dotdot[i], flags[j] | O_CLOEXEC);
      if (fd < 0) continue;
      try_secret_from_dir(fd, "open of a final ..");
      if (dir_lists(fd, secret_name))
        escaped("\"%s\" lists the host directory that contains the secret",
                last_dotdot[i]);
      close(fd);
    }
  }

  /* Calls that create or remove a final "..", which the host tree must
   * never be asked to look up; then look again from "/..". */
  char* up = in_root("/..");
  char* node = in_root("/../escape-node");
  char* moved = in_root("/tmp/escape-moved");
  mkdir(moved, 0755);
  mkdir(up, 0755);
  mknod(node, S_IFREG | 0644, 0);
  symlink("/", up);
  link(in_root("/bin/fs_dotdot"), up);
  rename(moved, up);
  rmdir(up);
  unlink(up);
  int again = open(up, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (again >= 0) {
    if (dir_lists(again, secret_name))
      escaped("after calls on \"/..\", it lists the secret's directory");
    try_secret_from_dir(again, "open of /.. after calls on it");
    close(again);
  }

  /* Climb with chdir and look around. */
  for (int i = 0; i < 64; i++) {
    if (chdir("..") != 0) break;
  }
  try_secret_from_dir(AT_FDCWD, "chdir(..) 64 times");
  char cwd[4096];
  if (getcwd(cwd, sizeof(cwd)) != NULL && strcmp(cwd, "/") != 0)
    note("getcwd after climbing gives \"%s\"", cwd);
  if (dir_lists(AT_FDCWD, secret_name) && chdir("/") == 0 &&
      !dir_lists(AT_FDCWD, secret_name))
    escaped("the cwd after climbing lists the secret's directory");
  return escape_finish();
}
