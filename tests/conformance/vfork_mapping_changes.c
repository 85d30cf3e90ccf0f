/* Mapping changes that a vfork child makes in the address space it shares
 * with its parent: munmap, mprotect and mmap over a page. The parent finds
 * each of them in place when it runs again. The child makes only raw
 * system calls. */
#include "check.h"

#include <sys/mman.h>
#include <sys/syscall.h>

#define PAGE 4096

int main(void) {
  signal(SIGSEGV, check_on_fault);
  char* memory = mmap(NULL, 3 * PAGE, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  CHECK(memory != MAP_FAILED);
  memset(memory, 'm', 3 * PAGE);

  pid_t pid = vfork();
  if (pid == 0) {
    syscall(SYS_munmap, memory, PAGE);
    syscall(SYS_mprotect, memory + PAGE, PAGE, PROT_READ);
    syscall(SYS_mmap, memory + 2 * PAGE, PAGE, PROT_READ | PROT_WRITE,
            MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    _exit(0);
  }
  CHECK(pid > 0);
  CHECK_CHILD_EXIT(pid, 0);

  CASE("a page the vfork child unmapped faults in the parent");
  CHECK_EQ(check_load_faults(memory), 1);

  CASE("a page the vfork child made read-only keeps its contents");
  CHECK_EQ(check_load_faults(memory + PAGE), 0);
  CHECK_EQ(memory[PAGE], 'm');

  CASE("a page the vfork child made read-only refuses stores");
  CHECK_EQ(check_store_faults(memory + PAGE), 1);

  CASE("a page the vfork child mapped anew reads zeros");
  CHECK_EQ(memory[2 * PAGE], 0);
  CHECK_EQ(check_store_faults(memory + 2 * PAGE), 0);

  CASE("the changes hold after the parent's next system call");
  CHECK(getpid() > 0);
  CHECK_EQ(check_load_faults(memory), 1);
  CHECK_EQ(check_store_faults(memory + PAGE), 1);
  return check_finish();
}
