/* Shared helpers for the escape programs.
 *
 * Include this header before any system header, because it defines
 * _GNU_SOURCE. A program tries one attack and ends with `return
 * escape_finish();`, which exits with:
 *   0   every attempt was stopped (contained)
 *   10  at least one attempt reached the host (escaped)
 *   1   the program itself went wrong (a broken test)
 * The runner (tests/escape/run) runs each program natively, where many
 * attacks work as root, and inside moat, where none may.
 *
 * The runner passes the host-side targets in the environment:
 *   ESCAPE_SECRET  absolute host path of a file outside the sandbox's root
 *   ESCAPE_DECOY   host pid of a `sleep` the attacks must leave alive
 *   ESCAPE_ROOT    where the sandbox's root is, as a prefix for paths that
 *                  the runner laid out in it: "" inside moat, the host
 *                  directory natively
 * The secret starts with kSecretMark; nothing inside the sandbox's root
 * contains a file that starts with it.
 */
#ifndef MOAT_ESCAPE_H
#define MOAT_ESCAPE_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define kSecretMark "MOAT-ESCAPE-SECRET:"

static int escape_escaped;
static int escape_broken;

__attribute__((constructor)) static void escape_init(void) {
  setvbuf(stdout, NULL, _IONBF, 0);
}

/* Records that an attack reached the host, with what it did. */
__attribute__((format(printf, 1, 2), unused)) static void escaped(
    const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  printf("ESCAPED: ");
  vprintf(fmt, ap);
  printf("\n");
  va_end(ap);
  escape_escaped = 1;
}

/* Records that the test itself could not do what it needs. */
__attribute__((format(printf, 1, 2), unused)) static void broken(
    const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  printf("BROKEN: ");
  vprintf(fmt, ap);
  printf("\n");
  va_end(ap);
  escape_broken = 1;
}

/* A line of information for the log: what an attempt gave. */
__attribute__((format(printf, 1, 2), unused)) static void note(
    const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  printf("  ");
  vprintf(fmt, ap);
  printf("\n");
  va_end(ap);
}

__attribute__((unused)) static int escape_finish(void) {
  if (escape_broken) return 1;
  return escape_escaped ? 10 : 0;
}

__attribute__((unused)) static const char* secret_path(void) {
  const char* p = getenv("ESCAPE_SECRET");
  if (p == NULL || p[0] != '/') {
    printf("BROKEN: ESCAPE_SECRET is not an absolute path\n");
    exit(1);
  }
  return p;
}

/* The secret's path without its leading slash, to append to "../../". */
__attribute__((unused)) static const char* secret_rel(void) {
  return secret_path() + 1;
}

__attribute__((unused)) static pid_t decoy_pid(void) {
  const char* p = getenv("ESCAPE_DECOY");
  if (p == NULL || atoi(p) <= 1) {
    printf("BROKEN: ESCAPE_DECOY is not a pid\n");
    exit(1);
  }
  return atoi(p);
}

/* `path` (absolute, inside the sandbox's root) as this run sees it. Each
 * call returns a new string. */
__attribute__((unused)) static char* in_root(const char* path) {
  const char* root = getenv("ESCAPE_ROOT");
  char* out;
  if (asprintf(&out, "%s%s", root ? root : "", path) < 0) exit(1);
  return out;
}

/* Whether the open descriptor reads as the secret. Closes it. */
__attribute__((unused)) static int fd_is_secret(int fd) {
  char buf[64] = {0};
  ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
  close(fd);
  return n > 0 && strncmp(buf, kSecretMark, strlen(kSecretMark)) == 0;
}

/* Opens `path` relative to `dirfd` and records an escape when it is the
 * secret. Returns 1 on an escape. */
__attribute__((unused)) static int try_secret_at(int dirfd, const char* path,
                                                 const char* how) {
  int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  if (!fd_is_secret(fd)) return 0;
  escaped("%s: read the secret through \"%.120s\"", how, path);
  return 1;
}

/* Builds "../" `levels` times followed by `tail` into `out`. */
__attribute__((unused)) static const char* dotdots(char* out, size_t size,
                                                   int levels,
                                                   const char* tail) {
  size_t len = 0;
  out[0] = 0;
  for (int i = 0; i < levels && len + 4 < size; i++) {
    memcpy(out + len, "../", 4);
    len += 3;
  }
  snprintf(out + len, size - len, "%s", tail);
  return out;
}

/* Tries to reach the secret from a directory descriptor: by its absolute
 * path, and by climbing up to 40 levels first. Returns 1 on an escape. */
__attribute__((unused)) static int try_secret_from_dir(int dirfd,
                                                       const char* how) {
  char path[4096];
  if (try_secret_at(dirfd, secret_path(), how)) return 1;
  for (int levels = 1; levels <= 40; levels++) {
    if (try_secret_at(dirfd, dotdots(path, sizeof(path), levels, secret_rel()),
                      how))
      return 1;
  }
  return 0;
}

/* Whether the directory open as `dirfd` lists `name`. */
__attribute__((unused)) static int dir_lists(int dirfd, const char* name) {
  int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return 0;
  DIR* d = fdopendir(fd);
  if (d == NULL) {
    close(fd);
    return 0;
  }
  int found = 0;
  struct dirent* e;
  while ((e = readdir(d)) != NULL) found |= strcmp(e->d_name, name) == 0;
  closedir(d);
  return found;
}

/* Whether the host pid `pid` is alive as seen from here (natively only). */
__attribute__((unused)) static int pid_alive(pid_t pid) {
  return kill(pid, 0) == 0 || errno == EPERM;
}

#endif /* MOAT_ESCAPE_H */
