/* Climbing out of the root with openat(dirfd, "..") from directory
 * descriptors, one level at a time and in one path, with O_PATH, and
 * with openat2's RESOLVE_ flags. */
#include "escape.h"

#include <linux/openat2.h>

int main(void) {
  const char* secret_name = strrchr(secret_path(), '/') + 1;
  const char* starts[] = {"/", "/bin", "/proc", "/tmp", "/dev"};
  for (size_t s = 0; s < sizeof(starts) / sizeof(*starts); s++) {
    char* start = in_root(starts[s]);
    int flag_sets[] = {O_RDONLY | O_DIRECTORY, O_PATH};
    for (int f = 0; f < 2; f++) {
      int fd = open(start, flag_sets[f] | O_CLOEXEC);
      if (fd < 0) continue;
      try_secret_from_dir(fd, "openat from a directory descriptor");
      for (int i = 0; i < 64; i++) {
        int up = openat(fd, "..", flag_sets[f] | O_CLOEXEC);
        if (up < 0) break;
        close(fd);
        fd = up;
        try_secret_at(fd, secret_name, "openat(fd, \"..\") steps");
      }
      try_secret_from_dir(fd, "openat(fd, \"..\") 64 times");
      if (dir_lists(fd, secret_name))
        escaped("openat(fd, \"..\") reached the secret's directory");
      close(fd);
    }
    free(start);
  }

  /* openat2 with and without containment flags. */
  unsigned long long resolves[] = {0, RESOLVE_NO_MAGICLINKS, RESOLVE_IN_ROOT,
                                   RESOLVE_BENEATH};
  char path[4096];
  int root = open("/", O_PATH | O_CLOEXEC);
  for (size_t r = 0; r < 4; r++) {
    struct open_how how = {.flags = O_RDONLY, .resolve = resolves[r]};
    for (int levels = 1; levels <= 40; levels += 13) {
      dotdots(path, sizeof(path), levels, secret_rel());
      int fd = syscall(SYS_openat2, root, path, &how, sizeof(how));
      if (fd >= 0 && fd_is_secret(fd))
        escaped("openat2(resolve %#llx) read the secret", resolves[r]);
    }
  }
  return escape_finish();
}
