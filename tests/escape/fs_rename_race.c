/* A directory renamed while another process walks "..": the walker sits
 * (chrooted) in a/b/c and climbs; the renamer moves c out of the chroot and
 * back again for three seconds. On Linux the walker escapes its chroot when
 * c is outside it, so the race is real; it must still never climb past the
 * sandbox's own root. A thread of the walker also climbs from a directory
 * descriptor while its directory moves. */
#include "escape.h"

#include <pthread.h>
#include <time.h>

static char race[4096];
static volatile int stop;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void* fd_climber(void* arg) {
  int fd = *(int*)arg;
  char path[4096];
  dotdots(path, sizeof(path), 40, secret_rel());
  while (!stop) {
    if (try_secret_at(fd, path, "openat(.. x40) while renamed")) break;
  }
  return NULL;
}

/* The walker: returns 10 if it read the secret. */
static int walk(double until) {
  char path[4096];
  int cfd = open(".", O_RDONLY | O_DIRECTORY);
  char jail[4200];
  snprintf(jail, sizeof(jail), "%s/a", race);
  if (chroot(jail) != 0) note("chroot: %s", strerror(errno));
  pthread_t thread;
  pthread_create(&thread, NULL, fd_climber, &cfd);
  dotdots(path, sizeof(path), 40, secret_rel());
  long tries = 0;
  while (now() < until && !escape_escaped) {
    tries++;
    if (try_secret_at(AT_FDCWD, path, "cwd climb while renamed")) break;
    try_secret_at(AT_FDCWD, secret_path(), "absolute path while renamed");
  }
  stop = 1;
  pthread_join(thread, NULL);
  note("walker tried %ld times", tries);
  return escape_finish();
}

int main(void) {
  char* base = in_root("/tmp/escape-race");
  snprintf(race, sizeof(race), "%s", base);
  char a[4200], b[4200], c[4200], out[4200];
  snprintf(a, sizeof(a), "%s/a", race);
  snprintf(b, sizeof(b), "%s/a/b", race);
  snprintf(c, sizeof(c), "%s/a/b/c", race);
  snprintf(out, sizeof(out), "%s/c", race);
  mkdir(race, 0755);
  mkdir(a, 0755);
  mkdir(b, 0755);
  mkdir(c, 0755);
  rename(out, c);  /* a previous native run may have left it outside */
  if (chdir(c) != 0) broken("chdir %s: %s", c, strerror(errno));
  double until = now() + 3;
  pid_t walker = fork();
  if (walker == 0) _exit(walk(until));
  long renames = 0;
  while (now() < until) {
    if (rename(c, out) == 0) renames++;
    if (rename(out, c) == 0) renames++;
  }
  int status;
  waitpid(walker, &status, 0);
  note("renamed %ld times", renames);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 10) escape_escaped = 1;
  else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    broken("walker ended with status %#x", status);
  return escape_finish();
}
