/* mremap(): growing, shrinking, moving, MREMAP_FIXED, MREMAP_DONTUNMAP and
 * errors.
 *
 * glibc 2.36 passes whatever is in the fifth argument register as
 * new_address, and Linux 6.18 rejects a stray value with EINVAL, so every call
 * passes NULL explicitly. */
#include "check.h"

#include <sys/mman.h>

#define PAGE 4096

static int is_mapped(void* address) {
  unsigned char vector;
  if (mincore(address, PAGE, &vector) == 0) return 1;
  return errno == ENOMEM ? 0 : -1;
}

static char* map_pages(size_t pages) {
  char* memory = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  CHECK(memory != MAP_FAILED);
  return memory;
}

static void test_grow_and_shrink(void) {
  CASE("growing with MREMAP_MAYMOVE keeps contents");
  char* memory = map_pages(2);
  memset(memory, 'g', 2 * PAGE);
  char* grown = mremap(memory, 2 * PAGE, 64 * PAGE, MREMAP_MAYMOVE, NULL);
  CHECK(grown != MAP_FAILED);
  if (grown == MAP_FAILED) return;
  CHECK_EQ(grown[0], 'g');
  CHECK_EQ(grown[2 * PAGE - 1], 'g');
  CHECK_EQ(grown[2 * PAGE], 0);
  CHECK_EQ(grown[64 * PAGE - 1], 0);
  grown[64 * PAGE - 1] = 'e';

  CASE("shrinking keeps the address and unmaps the tail");
  char* shrunk = mremap(grown, 64 * PAGE, PAGE, 0, NULL);
  CHECK(shrunk == grown);
  CHECK_EQ(shrunk[0], 'g');
  CHECK_EQ(is_mapped(grown + PAGE), 0);
  CHECK_EQ(is_mapped(grown + 63 * PAGE), 0);
  munmap(shrunk, PAGE);
}

static void test_blocked_growth(void) {
  CASE("growing in place into a used range fails with ENOMEM");
  char* memory = map_pages(2);
  CHECK_OK(munmap(memory + PAGE, PAGE));
  char* blocker = mmap(memory + PAGE, PAGE, PROT_READ,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  CHECK(blocker == memory + PAGE);
  CHECK(mremap(memory, PAGE, 2 * PAGE, 0, NULL) == MAP_FAILED);
  CHECK_EQ(errno, ENOMEM);

  CASE("MREMAP_MAYMOVE moves instead and unmaps the old range");
  memory[0] = 'q';
  char* moved = mremap(memory, PAGE, 2 * PAGE, MREMAP_MAYMOVE, NULL);
  CHECK(moved != MAP_FAILED);
  CHECK(moved != memory);
  CHECK_EQ(moved[0], 'q');
  CHECK_EQ(is_mapped(memory), 0);
  CHECK_EQ(is_mapped(blocker), 1);
  munmap(moved, 2 * PAGE);
  munmap(blocker, PAGE);
}

static void test_fixed(void) {
  CASE("MREMAP_FIXED moves to the requested address");
  char* source = map_pages(2);
  char* target = map_pages(4);
  memset(source, 's', 2 * PAGE);
  target[3 * PAGE] = 't';
  char* moved =
      mremap(source, 2 * PAGE, 2 * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, target);
  CHECK(moved == target);
  CHECK_EQ(target[0], 's');
  CHECK_EQ(target[2 * PAGE - 1], 's');
  CHECK_EQ(is_mapped(source), 0);

  CASE("MREMAP_FIXED leaves the rest of the target mapping");
  CHECK_EQ(target[3 * PAGE], 't');
  munmap(target, 4 * PAGE);

  CASE("MREMAP_FIXED without MREMAP_MAYMOVE fails with EINVAL");
  char* memory = map_pages(1);
  char* other = map_pages(1);
  CHECK(mremap(memory, PAGE, PAGE, MREMAP_FIXED, other) == MAP_FAILED);
  CHECK_EQ(errno, EINVAL);

  CASE("overlapping MREMAP_FIXED target fails with EINVAL");
  CHECK(mremap(memory, PAGE, PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, memory) ==
        MAP_FAILED);
  CHECK_EQ(errno, EINVAL);
  munmap(memory, PAGE);
  munmap(other, PAGE);
}

static void test_errors(void) {
  char* memory = map_pages(2);

  CASE("unaligned old address fails with EINVAL");
  CHECK(mremap(memory + 1, PAGE, 2 * PAGE, MREMAP_MAYMOVE, NULL) == MAP_FAILED);
  CHECK_EQ(errno, EINVAL);

  CASE("zero new size fails with EINVAL");
  CHECK(mremap(memory, PAGE, 0, MREMAP_MAYMOVE, NULL) == MAP_FAILED);
  CHECK_EQ(errno, EINVAL);

  CASE("unknown flags fail with EINVAL");
  CHECK(mremap(memory, PAGE, PAGE, 0x40, NULL) == MAP_FAILED);
  CHECK_EQ(errno, EINVAL);

  CASE("unmapped old address fails with EFAULT");
  CHECK_OK(munmap(memory, 2 * PAGE));
  CHECK(mremap(memory, PAGE, 2 * PAGE, MREMAP_MAYMOVE, NULL) == MAP_FAILED);
  CHECK_EQ(errno, EFAULT);
}

static void test_dontunmap(void) {
  CASE("MREMAP_DONTUNMAP leaves an empty mapping behind");
  char* memory = map_pages(1);
  memory[0] = 'd';
  char* moved =
      mremap(memory, PAGE, PAGE, MREMAP_MAYMOVE | MREMAP_DONTUNMAP, NULL);
  CHECK(moved != MAP_FAILED);
  if (moved == MAP_FAILED) return;
  CHECK(moved != memory);
  CHECK_EQ(moved[0], 'd');
  CHECK_EQ(is_mapped(memory), 1);
  CHECK_EQ(memory[0], 0);

  CASE("MREMAP_DONTUNMAP with different sizes fails with EINVAL");
  CHECK(mremap(moved, PAGE, 2 * PAGE, MREMAP_MAYMOVE | MREMAP_DONTUNMAP,
               NULL) == MAP_FAILED);
  CHECK_EQ(errno, EINVAL);
  munmap(memory, PAGE);
  munmap(moved, PAGE);

  CASE("MREMAP_DONTUNMAP on a shared mapping leaves the pages in both places");
  char* shared = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
                      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  CHECK(shared != MAP_FAILED);
  shared[3] = 's';
  char* twin =
      mremap(shared, PAGE, PAGE, MREMAP_MAYMOVE | MREMAP_DONTUNMAP, NULL);
  CHECK(twin != MAP_FAILED);
  if (twin == MAP_FAILED) return;
  CHECK_EQ(twin[3], 's');
  CHECK_EQ(shared[3], 's');
  twin[4] = 't';
  CHECK_EQ(shared[4], 't');
  munmap(shared, PAGE);
  munmap(twin, PAGE);
}

static void test_shared_alias(void) {
  CASE("old size zero on a shared mapping creates an alias");
  char* shared = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
                      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  CHECK(shared != MAP_FAILED);
  char* alias = mremap(shared, 0, PAGE, MREMAP_MAYMOVE, NULL);
  CHECK(alias != MAP_FAILED);
  if (alias == MAP_FAILED) return;
  CHECK(alias != shared);
  shared[7] = 'a';
  CHECK_EQ(alias[7], 'a');
  alias[8] = 'b';
  CHECK_EQ(shared[8], 'b');
  munmap(alias, PAGE);
  munmap(shared, PAGE);
}

int main(void) {
  test_grow_and_shrink();
  test_blocked_growth();
  test_fixed();
  test_errors();
  test_dontunmap();
  test_shared_alias();
  return check_finish();
}
