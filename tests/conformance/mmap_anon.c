/* Anonymous mmap() and munmap(): zero fill, MAP_FIXED, sharing and errors. */
#include "check.h"

#include <stdint.h>
#include <sys/mman.h>

#define PAGE 4096

/* Returns 1 if the page at address is mapped, by asking mincore(). */
static int is_mapped(void* address) {
  unsigned char vector;
  if (mincore(address, PAGE, &vector) == 0) return 1;
  return errno == ENOMEM ? 0 : -1;
}

/* Runs body in a child and returns the signal that killed it, or 0. */
static int fault_signal(void (*body)(void*), void* argument) {
  pid_t pid = fork();
  if (pid == 0) {
    body(argument);
    _exit(0);
  }
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return -1;
  return WIFSIGNALED(status) ? WTERMSIG(status) : 0;
}

static void write_byte(void* address) { *(volatile char*)address = 1; }

static void read_byte(void* address) { (void)*(volatile char*)address; }

static void test_zero_fill(void) {
  CASE("private anonymous memory is zeroed and writable");
  size_t length = 16 * PAGE;
  unsigned char* memory = mmap(NULL, length, PROT_READ | PROT_WRITE,
                               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  CHECK(memory != MAP_FAILED);
  if (memory == MAP_FAILED) return;
  CHECK_EQ((uintptr_t)memory % PAGE, 0);
  int nonzero = 0;
  for (size_t i = 0; i < length; i++) nonzero |= memory[i];
  CHECK_EQ(nonzero, 0);
  for (size_t i = 0; i < length; i++) memory[i] = (unsigned char)i;
  CHECK_EQ(memory[PAGE + 5], 5);
  CHECK_EQ(memory[length - 1], 255);
  CHECK_EQ(munmap(memory, length), 0);

  CASE("unmapped memory is gone");
  CHECK_EQ(is_mapped(memory), 0);
  CHECK_EQ(fault_signal(write_byte, memory), SIGSEGV);
}

static void test_errors(void) {
  CASE("zero length fails with EINVAL");
  CHECK(mmap(NULL, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) ==
        MAP_FAILED);
  CHECK_EQ(errno, EINVAL);

  CASE("neither MAP_PRIVATE nor MAP_SHARED fails with EINVAL");
  CHECK(mmap(NULL, PAGE, PROT_READ, MAP_ANONYMOUS, -1, 0) == MAP_FAILED);
  CHECK_EQ(errno, EINVAL);

  CASE("unaligned MAP_FIXED address fails with EINVAL");
  CHECK(mmap((void*)0x10000001, PAGE, PROT_READ,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED);
  CHECK_EQ(errno, EINVAL);

  CASE("file mapping with bad fd fails with EBADF");
  CHECK(mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, -1, 0) == MAP_FAILED);
  CHECK_EQ(errno, EBADF);

  CASE("munmap with unaligned address fails with EINVAL");
  char* memory =
      mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  CHECK_ERR(munmap(memory + 1, PAGE), EINVAL);
  CASE("munmap with zero length fails with EINVAL");
  CHECK_ERR(munmap(memory, 0), EINVAL);
  CASE("munmap of an unmapped range succeeds");
  CHECK_EQ(munmap(memory, PAGE), 0);
  CHECK_EQ(munmap(memory, PAGE), 0);
}

static void test_fixed(void) {
  CASE("MAP_FIXED replaces the middle of a mapping");
  char* memory = mmap(NULL, 3 * PAGE, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  CHECK(memory != MAP_FAILED);
  memset(memory, 'a', 3 * PAGE);
  char* middle = mmap(memory + PAGE, PAGE, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  CHECK(middle == memory + PAGE);
  CHECK_EQ(memory[0], 'a');
  CHECK_EQ(memory[PAGE], 0);
  CHECK_EQ(memory[2 * PAGE - 1], 0);
  CHECK_EQ(memory[2 * PAGE], 'a');

  CASE("MAP_FIXED_NOREPLACE over a mapping fails with EEXIST");
  void* result = mmap(memory, PAGE, PROT_READ,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  CHECK(result == MAP_FAILED);
  CHECK_EQ(errno, EEXIST);
  CHECK_EQ(memory[0], 'a');

  CASE("MAP_FIXED_NOREPLACE into a hole succeeds");
  CHECK_OK(munmap(memory + PAGE, PAGE));
  result = mmap(memory + PAGE, PAGE, PROT_READ,
                MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  CHECK(result == memory + PAGE);

  CASE("partial munmap leaves the neighbours mapped");
  CHECK_OK(munmap(memory + PAGE, PAGE));
  CHECK_EQ(is_mapped(memory), 1);
  CHECK_EQ(is_mapped(memory + PAGE), 0);
  CHECK_EQ(is_mapped(memory + 2 * PAGE), 1);
  CHECK_EQ(memory[2 * PAGE], 'a');
  munmap(memory, 3 * PAGE);

  CASE("hint address without MAP_FIXED is page aligned");
  void* hinted =
      mmap((void*)0x12345, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  CHECK(hinted != MAP_FAILED);
  CHECK_EQ((uintptr_t)hinted % PAGE, 0);
  munmap(hinted, PAGE);
}

static void test_protection(void) {
  CASE("PROT_NONE memory faults on read");
  char* memory =
      mmap(NULL, PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  CHECK(memory != MAP_FAILED);
  CHECK_EQ(fault_signal(read_byte, memory), SIGSEGV);

  CASE("read-only memory faults on write");
  char* readonly =
      mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  CHECK_EQ(fault_signal(read_byte, readonly), 0);
  CHECK_EQ(fault_signal(write_byte, readonly), SIGSEGV);
  munmap(memory, PAGE);
  munmap(readonly, PAGE);
}

static void test_sharing(void) {
  CASE("MAP_SHARED anonymous memory is shared with a child");
  int* shared = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
                     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  int* private_memory = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
                             MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  CHECK(shared != MAP_FAILED);
  CHECK(private_memory != MAP_FAILED);
  *shared = 1;
  *private_memory = 1;
  pid_t pid = fork();
  if (pid == 0) {
    *shared = 2;
    *private_memory = 2;
    _exit(0);
  }
  CHECK_CHILD_EXIT(pid, 0);
  CHECK_EQ(*shared, 2);

  CASE("MAP_PRIVATE anonymous memory is not shared with a child");
  CHECK_EQ(*private_memory, 1);
  munmap(shared, PAGE);
  munmap(private_memory, PAGE);
}

static void test_large(void) {
  CASE("large MAP_NORESERVE mapping can be touched sparsely");
  size_t length = (size_t)1 << 32;
  char* memory = mmap(NULL, length, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  CHECK(memory != MAP_FAILED);
  if (memory == MAP_FAILED) return;
  for (size_t offset = 0; offset < length; offset += length / 16)
    memory[offset] = 7;
  CHECK_EQ(memory[length / 2], 7);
  CHECK_EQ(memory[length - 1], 0);
  CHECK_OK(munmap(memory, length));

  CASE("MAP_POPULATE memory is zeroed");
  char* populated = mmap(NULL, 64 * PAGE, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  CHECK(populated != MAP_FAILED);
  CHECK_EQ(populated[63 * PAGE], 0);
  munmap(populated, 64 * PAGE);
}

int main(void) {
  test_zero_fill();
  test_errors();
  test_fixed();
  test_protection();
  test_sharing();
  test_large();
  return check_finish();
}
