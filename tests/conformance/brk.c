/* brk(): querying, growing, shrinking and rejected requests.
 *
 * The raw system call is used because glibc's brk() hides the kernel's
 * return value, which is the new break on success and the old break on
 * failure. Every case restores the starting break so malloc stays intact. */
#include "check.h"

#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#define PAGE 4096

static uintptr_t raw_brk(uintptr_t address) {
  return (uintptr_t)syscall(SYS_brk, address);
}

int main(void) {
  signal(SIGSEGV, check_on_fault);

  CASE("brk(0) returns the current break");
  uintptr_t start = raw_brk(0);
  CHECK(start != 0);
  CHECK_EQ(raw_brk(0), start);
  CHECK((uintptr_t)sbrk(0) == start);

  CASE("growing the break returns the new break");
  uintptr_t grown = start + 64 * PAGE + 123;
  CHECK_EQ(raw_brk(grown), grown);
  CHECK_EQ(raw_brk(0), grown);

  CASE("new break memory is zeroed and writable");
  char* base = (char*)((start + PAGE - 1) & ~(uintptr_t)(PAGE - 1));
  int nonzero = 0;
  for (char* p = (char*)start; p < (char*)grown; p++) nonzero |= *p;
  CHECK_EQ(nonzero, 0);
  memset((char*)start, 'b', grown - start);
  CHECK_EQ(((char*)grown)[-1], 'b');

  CASE("bytes up to the end of the page of the break are accessible");
  uintptr_t page_end = (grown + PAGE - 1) & ~(uintptr_t)(PAGE - 1);
  CHECK_EQ(check_load_faults((char*)page_end - 1), 0);

  CASE("memory past the break page faults");
  CHECK_EQ(check_load_faults((char*)page_end + PAGE), 1);

  CASE("shrinking releases memory");
  uintptr_t shrunk = (uintptr_t)base + PAGE;
  CHECK_EQ(raw_brk(shrunk), shrunk);
  CHECK_EQ(check_load_faults((char*)shrunk + 2 * PAGE), 1);

  CASE("growing again after shrinking returns zeroed pages");
  CHECK_EQ(raw_brk(grown), grown);
  CHECK_EQ(((char*)shrunk)[2 * PAGE], 0);

  CASE("break below the initial break is rejected");
  CHECK_EQ(raw_brk(PAGE), grown);
  CHECK_EQ(raw_brk(0), grown);

  CASE("huge break is rejected");
  CHECK_EQ(raw_brk(start + ((uintptr_t)1 << 46)), grown);
  CHECK_EQ(raw_brk(0), grown);

  CASE("break at the top of the address space is rejected");
  // Rounded up to a page, these addresses wrap around to 0.
  CHECK_EQ(raw_brk((uintptr_t)-1), grown);
  CHECK_EQ(raw_brk((uintptr_t)-PAGE + 1), grown);
  CHECK_EQ(raw_brk(0), grown);
  CHECK_EQ(check_load_faults((char*)start), 0);

  CASE("break into an existing mapping is rejected");
  uintptr_t probe = (grown + 16 * PAGE) & ~(uintptr_t)(PAGE - 1);
  void* blocker =
      mmap((void*)probe, PAGE, PROT_READ,
           MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  CHECK(blocker == (void*)probe);
  CHECK_EQ(raw_brk(probe + 2 * PAGE), grown);
  munmap(blocker, PAGE);

  CASE("restoring the initial break succeeds");
  CHECK_EQ(raw_brk(start), start);
  CHECK_EQ(raw_brk(0), start);

  CASE("break is inherited by a child");
  pid_t pid = fork();
  if (pid == 0) _exit(raw_brk(0) == start ? 0 : 1);
  CHECK_CHILD_EXIT(pid, 0);

  CASE("malloc still works after raw brk calls");
  char* block = malloc(100000);
  CHECK(block != NULL);
  memset(block, 1, 100000);
  free(block);
  return check_finish();
}
