// A long fallocate on a memfd keeps the process's other threads running.
// Another thread makes dozens of system calls while it fills the file; a
// kernel that kept its lock for the whole fill would let almost none
// through.
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "check.h"

static atomic_long calls;
static atomic_int stop;

static void* Caller(void* arg) {
  (void)arg;
  while (!atomic_load(&stop)) {
    syscall(SYS_getppid);
    atomic_fetch_add(&calls, 1);
  }
  return NULL;
}

int main(void) {
  int fd = memfd_create("big", 0);
  CHECK(fd >= 0);
  pthread_t thread;
  CHECK(pthread_create(&thread, NULL, Caller, NULL) == 0);
  while (atomic_load(&calls) < 100) usleep(1000);
  long before = atomic_load(&calls);
  // 512 MiB: long enough for many calls of the other thread natively.
  CHECK(fallocate(fd, 0, 0, 512L << 20) == 0);
  long during = atomic_load(&calls) - before;
  atomic_store(&stop, 1);
  CHECK(pthread_join(thread, NULL) == 0);
  CHECK(during >= 40);
  CHECK(ftruncate(fd, 0) == 0);
  close(fd);
  return 0;
}
