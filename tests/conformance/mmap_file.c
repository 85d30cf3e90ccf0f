/* File-backed mmap(): coherence with read/write, private copies, EOF and
 * errors. */
#include "check.h"

#include <fcntl.h>
#include <sys/mman.h>

#define PAGE 4096

static char* directory;

static int make_file(const char* name, size_t size, char fill) {
  char path[256];
  snprintf(path, sizeof path, "%s/%s", directory, name);
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
  CHECK(fd >= 0);
  char block[PAGE];
  memset(block, fill, sizeof block);
  for (size_t done = 0; done < size;) {
    size_t chunk = size - done < PAGE ? size - done : PAGE;
    CHECK_EQ(write(fd, block, chunk), chunk);
    done += chunk;
  }
  return fd;
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

static void read_byte(void* address) { (void)*(volatile char*)address; }

static void test_shared_coherence(void) {
  CASE("stores through MAP_SHARED reach the file");
  int fd = make_file("shared", 2 * PAGE, 'a');
  char* memory =
      mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  CHECK(memory != MAP_FAILED);
  if (memory == MAP_FAILED) return;
  CHECK_EQ(memory[0], 'a');
  CHECK_EQ(memory[2 * PAGE - 1], 'a');
  memcpy(memory + 100, "mapped", 6);
  CHECK_OK(msync(memory, 2 * PAGE, MS_SYNC));
  char buffer[8] = {0};
  CHECK_EQ(pread(fd, buffer, 6, 100), 6);
  CHECK_STR(buffer, "mapped");

  CASE("write() is visible through an existing mapping");
  CHECK_EQ(pwrite(fd, "written", 7, PAGE + 10), 7);
  CHECK(memcmp(memory + PAGE + 10, "written", 7) == 0);

  CASE("mapping stays valid after close");
  close(fd);
  CHECK_EQ(memory[PAGE + 10], 'w');
  memory[0] = 'z';
  CHECK_EQ(memory[0], 'z');

  CASE("child stores through MAP_SHARED are visible to parent");
  pid_t pid = fork();
  if (pid == 0) {
    memory[1] = 'c';
    _exit(0);
  }
  CHECK_CHILD_EXIT(pid, 0);
  CHECK_EQ(memory[1], 'c');
  munmap(memory, 2 * PAGE);
}

static void test_private_copy(void) {
  CASE("stores through MAP_PRIVATE do not reach the file");
  int fd = make_file("private", PAGE, 'p');
  char* memory = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  CHECK(memory != MAP_FAILED);
  if (memory == MAP_FAILED) return;
  memory[0] = 'X';
  char byte = 0;
  CHECK_EQ(pread(fd, &byte, 1, 0), 1);
  CHECK_EQ(byte, 'p');
  CHECK_EQ(memory[0], 'X');

  CASE("MAP_PRIVATE with PROT_WRITE on read-only fd succeeds");
  char path[256];
  snprintf(path, sizeof path, "%s/private", directory);
  int readonly_fd = open(path, O_RDONLY);
  char* copy =
      mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, readonly_fd, 0);
  CHECK(copy != MAP_FAILED);
  if (copy != MAP_FAILED) {
    copy[5] = 'Y';
    CHECK_EQ(copy[5], 'Y');
    munmap(copy, PAGE);
  }

  CASE("MAP_SHARED with PROT_WRITE on read-only fd fails with EACCES");
  CHECK(mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, readonly_fd, 0) ==
        MAP_FAILED);
  CHECK_EQ(errno, EACCES);

  CASE("mapping a write-only fd fails with EACCES");
  int writeonly_fd = open(path, O_WRONLY);
  CHECK(mmap(NULL, PAGE, PROT_READ, MAP_SHARED, writeonly_fd, 0) == MAP_FAILED);
  CHECK_EQ(errno, EACCES);
  close(writeonly_fd);
  close(readonly_fd);
  close(fd);
  munmap(memory, PAGE);
}

static void test_offsets_and_eof(void) {
  CASE("offset maps the matching file page");
  int fd = make_file("offset", 3 * PAGE, 0);
  CHECK_EQ(pwrite(fd, "third", 5, 2 * PAGE), 5);
  char* memory = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, 2 * PAGE);
  CHECK(memory != MAP_FAILED);
  if (memory != MAP_FAILED) {
    CHECK(memcmp(memory, "third", 5) == 0);
    munmap(memory, PAGE);
  }

  CASE("unaligned offset fails with EINVAL");
  CHECK(mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, 100) == MAP_FAILED);
  CHECK_EQ(errno, EINVAL);
  close(fd);

  CASE("tail of the last page past EOF reads as zero");
  fd = make_file("short", 100, 's');
  memory = mmap(NULL, 2 * PAGE, PROT_READ, MAP_SHARED, fd, 0);
  CHECK(memory != MAP_FAILED);
  if (memory == MAP_FAILED) return;
  CHECK_EQ(memory[99], 's');
  CHECK_EQ(memory[100], 0);
  CHECK_EQ(memory[PAGE - 1], 0);

  CASE("page wholly past EOF raises SIGBUS");
  CHECK_EQ(fault_signal(read_byte, memory + PAGE), SIGBUS);

  CASE("truncating under a mapping makes old pages raise SIGBUS");
  CHECK_OK(ftruncate(fd, 3 * PAGE));
  char* grown = mmap(NULL, 3 * PAGE, PROT_READ, MAP_SHARED, fd, 0);
  CHECK_EQ(fault_signal(read_byte, grown + 2 * PAGE), 0);
  CHECK_OK(ftruncate(fd, PAGE));
  CHECK_EQ(fault_signal(read_byte, grown + 2 * PAGE), SIGBUS);
  CHECK_EQ(fault_signal(read_byte, grown), 0);
  munmap(grown, 3 * PAGE);
  munmap(memory, 2 * PAGE);
  close(fd);
}

static void test_unmappable(void) {
  CASE("mapping a directory fails with ENODEV");
  int fd = open(directory, O_RDONLY | O_DIRECTORY);
  CHECK(mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED);
  CHECK_EQ(errno, ENODEV);
  close(fd);

  CASE("mapping a pipe fails with ENODEV");
  int fds[2];
  CHECK_OK(pipe(fds));
  CHECK(mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fds[0], 0) == MAP_FAILED);
  CHECK_EQ(errno, ENODEV);
  close(fds[0]);
  close(fds[1]);

  CASE("mapping a closed fd fails with EBADF");
  CHECK(mmap(NULL, PAGE, PROT_READ, MAP_SHARED, 999, 0) == MAP_FAILED);
  CHECK_EQ(errno, EBADF);
}

int main(void) {
  directory = check_make_temp_dir();
  test_shared_coherence();
  test_private_copy();
  test_offsets_and_eof();
  test_unmappable();
  check_remove_tree(directory);
  return check_finish();
}
