/* Reading a file outside the sandbox's root through symbolic links: links
 * the runner put in the root (absolute, relative, to directories, loops and
 * long chains), links made inside the sandbox, and a link opened with
 * O_PATH | O_NOFOLLOW and then used as a directory. */
#include "escape.h"

/* Links the runner made in $ESCAPE_ROOT/links (see tests/escape/run). */
static const char* const kLinks[] = {
    "abs_root", "abs_secret", "abs_dir", "rel_secret", "rel_up", "dir_link",
};

static void try_through(const char* link) {
  char path[4096], tail[4096];
  const char* secret_name = strrchr(secret_path(), '/') + 1;
  const char* tails[] = {"", secret_name, secret_rel()};
  for (size_t i = 0; i < 3; i++) {
    snprintf(path, sizeof(path), "%s%s%s", link, tails[i][0] ? "/" : "",
             tails[i]);
    try_secret_at(AT_FDCWD, path, "symlink");
  }
  for (int levels = 1; levels <= 40; levels += 3) {
    snprintf(path, sizeof(path), "%s/%s", link,
             dotdots(tail, sizeof(tail), levels, secret_rel()));
    try_secret_at(AT_FDCWD, path, "symlink then ..");
  }
}

/* Opens the link itself and uses the descriptor as a directory. */
static void try_link_fd(const char* link) {
  int fd = open(link, O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return;
  const char* secret_name = strrchr(secret_path(), '/') + 1;
  try_secret_at(fd, secret_name, "openat from an O_PATH symlink");
  try_secret_at(fd, secret_rel(), "openat from an O_PATH symlink");
  char path[4096];
  snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", fd, secret_name);
  try_secret_at(AT_FDCWD, path, "/proc/self/fd of an O_PATH symlink");
  struct stat st;
  if (fstatat(fd, secret_name, &st, 0) == 0)
    escaped("fstatat(%s fd, \"%s\") found a host file", link, secret_name);
  if (fchdir(fd) == 0) {
    try_secret_from_dir(AT_FDCWD, "fchdir to an O_PATH symlink");
    if (chdir("/") != 0) broken("chdir / failed");
  }
  close(fd);
}

static void expect_eloop(const char* path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    note("open(\"%s\") succeeded instead of ELOOP", path);
    if (fd_is_secret(fd)) escaped("a symlink loop led to the secret");
  } else if (errno != ELOOP) {
    note("open(\"%s\"): %s, not ELOOP", path, strerror(errno));
  }
}

int main(void) {
  for (size_t i = 0; i < sizeof(kLinks) / sizeof(*kLinks); i++) {
    char name[64];
    snprintf(name, sizeof(name), "/links/%s", kLinks[i]);
    char* path = in_root(name);
    try_through(path);
    try_link_fd(path);
    free(path);
  }
  char* loops[] = {in_root("/links/loop_a"), in_root("/links/self"),
                   in_root("/links/chain0"), in_root("/links/loop_a/x")};
  for (size_t i = 0; i < 4; i++) expect_eloop(loops[i]);

  /* Links made from inside: the sandbox's overlay and its /tmp. */
  char target[4096];
  const char* dirs[] = {in_root("/links"), in_root("/tmp")};
  for (size_t d = 0; d < 2; d++) {
    char link[4096];
    snprintf(link, sizeof(link), "%s/made_up", dirs[d]);
    unlink(link);
    if (symlink(dotdots(target, sizeof(target), 30, ""), link) == 0) {
      try_through(link);
      try_link_fd(link);
    }
    snprintf(link, sizeof(link), "%s/made_secret", dirs[d]);
    unlink(link);
    if (symlink(dotdots(target, sizeof(target), 30, secret_rel()), link) == 0)
      try_secret_at(AT_FDCWD, link, "a symlink made inside");
    snprintf(link, sizeof(link), "%s/made_loop", dirs[d]);
    unlink(link);
    if (symlink(link, link) == 0) expect_eloop(link);
  }
  return escape_finish();
}
