/* msync(): writing back shared file mappings, flag validation and errors. */
#include "check.h"

#include <fcntl.h>
#include <sys/mman.h>

#define PAGE 4096

int main(void) {
  char* directory = check_make_temp_dir();
  char path[256];
  snprintf(path, sizeof path, "%s/file", directory);
  int fd = open(path, O_RDWR | O_CREAT, 0644);
  CHECK_OK(ftruncate(fd, 4 * PAGE));
  char* memory =
      mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  CHECK(memory != MAP_FAILED);

  CASE("MS_SYNC makes stores visible to pread");
  memcpy(memory + PAGE + 10, "synced", 6);
  CHECK_EQ(msync(memory, 4 * PAGE, MS_SYNC), 0);
  char buffer[8] = {0};
  CHECK_EQ(pread(fd, buffer, 6, PAGE + 10), 6);
  CHECK_STR(buffer, "synced");

  CASE("MS_ASYNC succeeds");
  memory[0] = 'a';
  CHECK_EQ(msync(memory, PAGE, MS_ASYNC), 0);

  CASE("MS_INVALIDATE succeeds");
  CHECK_EQ(msync(memory, PAGE, MS_INVALIDATE), 0);

  CASE("a sub-range can be synced");
  memory[3 * PAGE] = 'z';
  CHECK_EQ(msync(memory + 3 * PAGE, PAGE, MS_SYNC), 0);
  CHECK_EQ(pread(fd, buffer, 1, 3 * PAGE), 1);
  CHECK_EQ(buffer[0], 'z');

  CASE("data written through the mapping survives unmapping and reopening");
  CHECK_OK(munmap(memory, 4 * PAGE));
  close(fd);
  fd = open(path, O_RDONLY);
  CHECK_EQ(pread(fd, buffer, 1, 0), 1);
  CHECK_EQ(buffer[0], 'a');
  close(fd);

  CASE("zero length succeeds");
  char* anonymous = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  CHECK_EQ(msync(anonymous, 0, MS_SYNC), 0);

  CASE("anonymous memory can be synced");
  CHECK_EQ(msync(anonymous, 2 * PAGE, MS_SYNC), 0);

  CASE("MS_SYNC together with MS_ASYNC fails with EINVAL");
  CHECK_ERR(msync(anonymous, PAGE, MS_SYNC | MS_ASYNC), EINVAL);

  CASE("unknown flags fail with EINVAL");
  CHECK_ERR(msync(anonymous, PAGE, 0x100), EINVAL);

  CASE("unaligned address fails with EINVAL");
  CHECK_ERR(msync(anonymous + 1, PAGE, MS_SYNC), EINVAL);

  CASE("unmapped range fails with ENOMEM");
  CHECK_OK(munmap(anonymous + PAGE, PAGE));
  CHECK_ERR(msync(anonymous + PAGE, PAGE, MS_SYNC), ENOMEM);
  CHECK_ERR(msync(anonymous, 2 * PAGE, MS_SYNC), ENOMEM);
  munmap(anonymous, PAGE);
  check_remove_tree(directory);
  return check_finish();
}
