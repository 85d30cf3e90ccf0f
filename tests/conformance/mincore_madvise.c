/* mincore() and madvise(): residency of anonymous and file pages, the
 * effect of MADV_DONTNEED on private and shared memory, and errors. */
#include "check.h"

#include <fcntl.h>
#include <sys/mman.h>

#define PAGE 4096

int main(void) {
  CASE("untouched anonymous pages are not resident");
  size_t pages = 8;
  char* memory = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  CHECK_EQ(madvise(memory, pages * PAGE, MADV_NOHUGEPAGE), 0);
  unsigned char vector[8];
  CHECK_EQ(mincore(memory, pages * PAGE, vector), 0);
  int resident = 0;
  for (size_t i = 0; i < pages; i++) resident += vector[i] & 1;
  CHECK_EQ(resident, 0);

  CASE("written pages become resident, the rest stay absent");
  memory[0] = 1;
  memory[3 * PAGE] = 1;
  CHECK_EQ(mincore(memory, pages * PAGE, vector), 0);
  CHECK_EQ(vector[0] & 1, 1);
  CHECK_EQ(vector[1] & 1, 0);
  CHECK_EQ(vector[3] & 1, 1);
  CHECK_EQ(vector[7] & 1, 0);

  CASE("MADV_DONTNEED on private anonymous memory zeroes it");
  memset(memory, 'x', pages * PAGE);
  CHECK_EQ(madvise(memory, 2 * PAGE, MADV_DONTNEED), 0);
  CHECK_EQ(mincore(memory, pages * PAGE, vector), 0);
  CHECK_EQ(vector[1] & 1, 0);
  CHECK_EQ(vector[2] & 1, 1);
  CHECK_EQ(memory[0], 0);
  CHECK_EQ(memory[2 * PAGE - 1], 0);
  CHECK_EQ(memory[2 * PAGE], 'x');

  CASE("common advice values succeed");
  CHECK_EQ(madvise(memory, pages * PAGE, MADV_NORMAL), 0);
  CHECK_EQ(madvise(memory, pages * PAGE, MADV_RANDOM), 0);
  CHECK_EQ(madvise(memory, pages * PAGE, MADV_SEQUENTIAL), 0);
  CHECK_EQ(madvise(memory, pages * PAGE, MADV_WILLNEED), 0);
  CHECK_EQ(madvise(memory, pages * PAGE, MADV_FREE), 0);

  CASE("MADV_DONTNEED on a shared file mapping keeps the data");
  char* directory = check_make_temp_dir();
  char path[256];
  snprintf(path, sizeof path, "%s/file", directory);
  int fd = open(path, O_RDWR | O_CREAT, 0644);
  static char block[2 * PAGE];
  memset(block, 'f', sizeof block);
  CHECK_EQ(write(fd, block, sizeof block), (ssize_t)sizeof block);
  char* shared =
      mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  shared[5] = 'S';
  CHECK_EQ(madvise(shared, 2 * PAGE, MADV_DONTNEED), 0);
  CHECK_EQ(shared[5], 'S');
  CHECK_EQ(shared[6], 'f');

  CASE("file pages in the page cache are resident in a new mapping");
  char* fresh = mmap(NULL, 2 * PAGE, PROT_READ, MAP_SHARED, fd, 0);
  CHECK_EQ(mincore(fresh, 2 * PAGE, vector), 0);
  CHECK_EQ(vector[0] & 1, 1);
  CHECK_EQ(vector[1] & 1, 1);
  munmap(fresh, 2 * PAGE);
  munmap(shared, 2 * PAGE);
  close(fd);
  check_remove_tree(directory);

  CASE("MADV_DONTNEED on private file memory reverts to the file contents");
  fd = open("/proc/self/exe", O_RDONLY);
  char* private_copy =
      mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  char original = private_copy[1];
  private_copy[1] = (char)(original + 1);
  CHECK_EQ(madvise(private_copy, PAGE, MADV_DONTNEED), 0);
  CHECK_EQ(private_copy[1], original);
  munmap(private_copy, PAGE);
  close(fd);

  CASE("unaligned addresses fail with EINVAL");
  CHECK_ERR(mincore(memory + 1, PAGE, vector), EINVAL);
  CHECK_ERR(madvise(memory + 1, PAGE, MADV_NORMAL), EINVAL);

  CASE("unknown advice fails with EINVAL");
  CHECK_ERR(madvise(memory, PAGE, 12345), EINVAL);

  CASE("bad vector pointer fails with EFAULT");
  CHECK_ERR(mincore(memory, PAGE, (unsigned char*)8), EFAULT);

  CASE("unmapped ranges fail with ENOMEM");
  CHECK_OK(munmap(memory + 4 * PAGE, PAGE));
  CHECK_ERR(mincore(memory + 4 * PAGE, PAGE, vector), ENOMEM);
  CHECK_ERR(madvise(memory, pages * PAGE, MADV_NORMAL), ENOMEM);
  CHECK_ERR(mincore(memory, pages * PAGE, vector), ENOMEM);
  munmap(memory, pages * PAGE);

  /* Linux fills the vector a page at a time, so a range of terabytes
   * needs only address space for its vector. */
  CASE("a huge range from an unmapped start fails with ENOMEM");
  size_t huge = (size_t)0x7ff000000000;
  unsigned char* big_vector = mmap(NULL, huge / PAGE, PROT_READ | PROT_WRITE,
                                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                                   -1, 0);
  CHECK(big_vector != MAP_FAILED);
  CHECK_ERR(mincore(NULL, huge, big_vector), ENOMEM);
  CASE("a huge range past a mapping fails with ENOMEM");
  char* two = mmap(NULL, 2 * PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1,
                   0);
  CHECK(two != MAP_FAILED);
  CHECK_ERR(mincore(two, huge, big_vector), ENOMEM);
  munmap(two, 2 * PAGE);
  munmap(big_vector, huge / PAGE);
  return check_finish();
}
