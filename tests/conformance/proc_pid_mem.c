/* /proc/PID/mem: a process's memory at the file's offsets, read and
 * written by the process itself and by its parent, partial at the end of
 * a mapping, EIO where nothing is mapped, and empty once the process has
 * exited. */
#include "check.h"

#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>

#define PAGE 4096

static char message[64] = "the original text";
static volatile uint64_t counter = 41;

static off_t at(const volatile void* p) { return (off_t)(uintptr_t)p; }

int main(void) {
  CASE("a process reads its own memory");
  int mem = open("/proc/self/mem", O_RDWR);
  CHECK(mem >= 0);
  char buf[64] = {0};
  CHECK_EQ(pread(mem, buf, sizeof message, at(message)),
           (ssize_t)sizeof message);
  CHECK(strcmp(buf, "the original text") == 0);

  CASE("a process writes its own memory");
  uint64_t value = 42;
  CHECK_EQ(pwrite(mem, &value, sizeof value, at(&counter)),
           (ssize_t)sizeof value);
  CHECK_EQ(counter, 42);

  CASE("read(2) goes on from lseek's address");
  CHECK_EQ(lseek(mem, at(message) + 4, SEEK_SET), at(message) + 4);
  CHECK_EQ(read(mem, buf, 8), 8);
  CHECK(memcmp(buf, "original", 8) == 0);
  CHECK_EQ(lseek(mem, 1, SEEK_CUR), at(message) + 13);
  CHECK_EQ(lseek(mem, 0, SEEK_END), -1);
  CHECK_EQ(errno, EINVAL);

  CASE("a read stops where the mapping ends, and fails where none is");
  char* two = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  CHECK(two != MAP_FAILED);
  memset(two, 'm', PAGE);
  CHECK_OK(munmap(two + PAGE, PAGE));
  static char big[2 * PAGE];
  CHECK_EQ(pread(mem, big, 2 * PAGE, at(two)), PAGE);
  CHECK_EQ(big[0], 'm');
  CHECK_EQ(big[PAGE - 1], 'm');
  CHECK_EQ(pread(mem, big, 16, at(two + PAGE)), -1);
  CHECK_EQ(errno, EIO);
  CHECK_EQ(pwrite(mem, big, 16, at(two + PAGE)), -1);
  CHECK_EQ(errno, EIO);
  CHECK_OK(munmap(two, PAGE));
  close(mem);

  CASE("a parent reads and writes its child's memory");
  int ready[2], go[2];
  CHECK_OK(pipe(ready));
  CHECK_OK(pipe(go));
  pid_t pid = fork();
  if (pid == 0) {
    strcpy(message, "the child's text");
    char c = 'r';
    CHECK_EQ(write(ready[1], &c, 1), 1);
    CHECK_EQ(read(go[0], &c, 1), 1);
    /* The parent set counter to 7 meanwhile. */
    _exit(counter == 7 ? 0 : 1);
  }
  char c;
  CHECK_EQ(read(ready[0], &c, 1), 1);
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/mem", pid);
  int child = open(path, O_RDWR);
  CHECK(child >= 0);
  memset(buf, 0, sizeof buf);
  CHECK_EQ(pread(child, buf, sizeof message, at(message)),
           (ssize_t)sizeof message);
  CHECK(strcmp(buf, "the child's text") == 0);
  CHECK(strcmp(message, "the original text") == 0);
  value = 7;
  CHECK_EQ(pwrite(child, &value, sizeof value, at(&counter)),
           (ssize_t)sizeof value);
  CHECK_EQ(counter, 42);
  CHECK_EQ(write(go[1], &c, 1), 1);

  CASE("the file of a process that exited reads nothing");
  siginfo_t info;
  CHECK_OK(waitid(P_PID, pid, &info, WEXITED | WNOWAIT));
  CHECK_EQ(info.si_code, CLD_EXITED);
  CHECK_EQ(info.si_status, 0);
  CHECK_EQ(pread(child, buf, 8, at(message)), 0);
  close(child);
  CHECK_CHILD_EXIT(pid, 0);
  return check_finish();
}
