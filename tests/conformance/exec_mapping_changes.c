/* The program's own executable and its loader, mapped by execve before
 * the program ran, read and changed afterwards: compared with the files,
 * read through /proc/self/mem, made writable and written, dropped with
 * MADV_DONTNEED and read by a forked child. On moat's trap platform these
 * mappings become the host's own mappings of the files on their first
 * fault, and each change must leave what Linux leaves. */
#include "check.h"

#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>

#define PAGE 4096

struct mapping {
  char* start;
  size_t length;
  long offset;
  char path[256];
};

/* Finds the first mapping with permissions `perms` whose path contains
 * `name`. */
static int find_mapping(const char* name, const char* perms,
                        struct mapping* out) {
  FILE* f = fopen("/proc/self/maps", "r");
  CHECK(f != NULL);
  char line[512];
  int found = 0;
  while (!found && fgets(line, sizeof line, f)) {
    unsigned long start, end, offset;
    char p[5], path[256] = "";
    if (sscanf(line, "%lx-%lx %4s %lx %*s %*s %255s", &start, &end, p, &offset,
               path) < 4)
      continue;
    if (strcmp(p, perms) != 0 || strstr(path, name) == NULL) continue;
    out->start = (char*)start;
    out->length = end - start;
    out->offset = (long)offset;
    snprintf(out->path, sizeof out->path, "%s", path);
    found = 1;
  }
  fclose(f);
  return found;
}

/* Returns whether the mapping's bytes equal the file's at its offset. */
static int shows_file(const struct mapping* m) {
  int fd = open(m->path, O_RDONLY);
  CHECK(fd >= 0);
  char* copy = malloc(m->length);
  CHECK(copy != NULL);
  CHECK_EQ(pread(fd, copy, m->length, m->offset), (ssize_t)m->length);
  int same = memcmp(copy, m->start, m->length) == 0;
  free(copy);
  close(fd);
  return same;
}

static int add(int a, int b) { return a + b; }

int main(void) {
  signal(SIGSEGV, check_on_fault);
  char exe[256];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  CHECK(n > 0);
  exe[n] = 0;
  const char* base = strrchr(exe, '/') + 1;
  /* The loader's text is left out: moat's trap platform patches the
   * system call sites in it, in a private copy. */
  struct mapping header, text, loader;
  CHECK(find_mapping(base, "r--p", &header));
  CHECK(find_mapping(base, "r-xp", &text));
  CHECK(find_mapping("/ld-linux", "r--p", &loader));
  CHECK_EQ(header.offset, 0);

  CASE("the executable's and the loader's mappings show their files");
  CHECK(shows_file(&header));
  CHECK(shows_file(&text));
  CHECK(shows_file(&loader));
  CHECK(memcmp(header.start, "\177ELF", 4) == 0);
  CHECK(check_store_faults(header.start));
  CHECK(check_store_faults(text.start));

  CASE("/proc/self/mem reads the text as the file has it");
  int mem = open("/proc/self/mem", O_RDONLY);
  CHECK(mem >= 0);
  static char page[PAGE];
  CHECK_EQ(pread(mem, page, PAGE, (off_t)(uintptr_t)text.start), PAGE);
  CHECK(memcmp(page, text.start, PAGE) == 0);
  close(mem);

  CASE("the header page made writable takes private writes");
  CHECK_OK(mprotect(header.start, PAGE, PROT_READ | PROT_WRITE));
  header.start[0] = 'w';
  CHECK_EQ(header.start[0], 'w');
  CHECK(memcmp(header.start + 1, "ELF", 3) == 0);
  CHECK_OK(mprotect(header.start, PAGE, PROT_READ));
  CHECK_EQ(header.start[0], 'w');
  CHECK(check_store_faults(header.start));

  CASE("a forked child reads the written page and the files");
  pid_t pid = fork();
  if (pid == 0) {
    CHECK_EQ(header.start[0], 'w');
    CHECK(shows_file(&text));
    CHECK(shows_file(&loader));
    CHECK_EQ(add(2, 3), 5);
    check_child_done();
  }
  CHECK_CHILD_EXIT(pid, 0);

  CASE("MADV_DONTNEED drops the private write");
  CHECK_OK(madvise(header.start, PAGE, MADV_DONTNEED));
  CHECK_EQ(header.start[0], 0x7f);
  CHECK(shows_file(&header));

  CASE("the text runs after its neighbours changed");
  CHECK_EQ(add(40, 2), 42);
  CHECK(shows_file(&text));
  return check_finish();
}
