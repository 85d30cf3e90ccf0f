/* A read-only private mapping of a file from the root filesystem, changed
 * afterwards: mapped over, made writable, moved, dropped and inherited.
 * On moat's trap platform such a mapping comes straight from the host's
 * page cache, and each change must leave what Linux leaves. */
#include "check.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/stat.h>

#define PAGE 4096
#define PAGES 4

static const char* kFile = "/bin/sh";
static int fd;
static char expected[PAGES * PAGE];

static char* map_file(void) {
  char* m = mmap(NULL, PAGES * PAGE, PROT_READ, MAP_PRIVATE, fd, 0);
  CHECK(m != MAP_FAILED);
  return m;
}

static void* idle_thread(void* arg) { return arg; }

int main(void) {
  signal(SIGSEGV, check_on_fault);
  fd = open(kFile, O_RDONLY);
  CHECK(fd >= 0);
  struct stat st;
  CHECK_OK(fstat(fd, &st));
  CHECK(st.st_size >= PAGES * PAGE);
  CHECK_EQ(pread(fd, expected, sizeof expected, 0), (ssize_t)sizeof expected);

  CASE("the mapping shows the file");
  char* m = map_file();
  CHECK(memcmp(m, expected, sizeof expected) == 0);
  CHECK(check_store_faults(m));

  CASE("anonymous memory mapped over a page reads as zero");
  char* over = mmap(m + PAGE, PAGE, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  CHECK(over == m + PAGE);
  CHECK_EQ(over[0], 0);
  CHECK_EQ(over[PAGE - 1], 0);
  CHECK(memcmp(m + 2 * PAGE, expected + 2 * PAGE, PAGE) == 0);

  CASE("a page made writable takes private writes");
  CHECK_OK(mprotect(m, PAGE, PROT_READ | PROT_WRITE));
  m[0] = 'w';
  CHECK_EQ(m[0], 'w');
  CHECK(memcmp(m + 1, expected + 1, PAGE - 1) == 0);
  char first;
  CHECK_EQ(pread(fd, &first, 1, 0), 1);
  CHECK_EQ(first, expected[0]);

  CASE("MADV_DONTNEED drops the private write");
  CHECK_OK(madvise(m, PAGE, MADV_DONTNEED));
  CHECK_EQ(m[0], expected[0]);

  CASE("made read-only again, a page refuses writes");
  CHECK_OK(mprotect(m, PAGE, PROT_READ));
  CHECK(check_store_faults(m));
  CHECK_EQ(m[0], expected[0]);

  CASE("PROT_NONE and back");
  CHECK_OK(mprotect(m + 3 * PAGE, PAGE, PROT_NONE));
  CHECK(check_load_faults(m + 3 * PAGE));
  CHECK_OK(mprotect(m + 3 * PAGE, PAGE, PROT_READ));
  CHECK(memcmp(m + 3 * PAGE, expected + 3 * PAGE, PAGE) == 0);
  CHECK_OK(munmap(m, PAGES * PAGE));

  CASE("a moved mapping leaves nothing behind");
  m = map_file();
  char* to =
      mmap(NULL, PAGES * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  CHECK(to != MAP_FAILED);
  char* moved =
      mremap(m, PAGES * PAGE, PAGES * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, to);
  CHECK(moved == to);
  CHECK(memcmp(moved, expected, sizeof expected) == 0);
  CHECK(check_load_faults(m));
  CHECK(check_load_faults(m + 3 * PAGE));

  CASE("an unmapped mapping faults");
  CHECK_OK(munmap(moved, PAGES * PAGE));
  CHECK(check_load_faults(moved));
  CHECK(check_load_faults(moved + 2 * PAGE));

  CASE("a child forked after a thread ran reads the mapping");
  m = map_file();
  pthread_t thread;
  CHECK_EQ(pthread_create(&thread, NULL, idle_thread, NULL), 0);
  CHECK_EQ(pthread_join(thread, NULL), 0);
  pid_t pid = fork();
  if (pid == 0) {
    CHECK(memcmp(m, expected, sizeof expected) == 0);
    CHECK(check_store_faults(m + PAGE));
    check_child_done();
  }
  CHECK_CHILD_EXIT(pid, 0);

  CASE("a plain fork's child reads the mapping");
  pid = fork();
  if (pid == 0) {
    CHECK(memcmp(m, expected, sizeof expected) == 0);
    check_child_done();
  }
  CHECK_CHILD_EXIT(pid, 0);
  CHECK_OK(munmap(m, PAGES * PAGE));
  return check_finish();
}
