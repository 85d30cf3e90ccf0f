/* mprotect(): permission changes, fault codes, partial ranges and errors. */
#include "check.h"

#include <fcntl.h>
#include <setjmp.h>
#include <stdint.h>
#include <sys/mman.h>

#define PAGE 4096

static sigjmp_buf recovery;
static volatile int fault_code;
static void* volatile fault_address;

static void on_segv(int signo, siginfo_t* info, void* context) {
  fault_code = info->si_code;
  fault_address = info->si_addr;
  siglongjmp(recovery, 1);
}

/* Returns 1 if storing to address faulted, 0 if the store worked. */
static int store_faults(char* address) {
  fault_code = 0;
  fault_address = NULL;
  if (sigsetjmp(recovery, 1) == 0) {
    *(volatile char*)address = 'w';
    return 0;
  }
  return 1;
}

static int load_faults(char* address) {
  fault_code = 0;
  fault_address = NULL;
  if (sigsetjmp(recovery, 1) == 0) {
    (void)*(volatile char*)address;
    return 0;
  }
  return 1;
}

static void test_read_only(void) {
  char* memory = mmap(NULL, 3 * PAGE, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  CHECK(memory != MAP_FAILED);
  memset(memory, 'm', 3 * PAGE);

  CASE("store to read-only page faults with SEGV_ACCERR");
  CHECK_EQ(mprotect(memory, 3 * PAGE, PROT_READ), 0);
  CHECK_EQ(store_faults(memory + 10), 1);
  CHECK_EQ(fault_code, SEGV_ACCERR);
  CHECK(fault_address == memory + 10);

  CASE("load from read-only page works and keeps contents");
  CHECK_EQ(load_faults(memory + PAGE), 0);
  CHECK_EQ(memory[PAGE], 'm');

  CASE("restoring PROT_WRITE allows stores");
  CHECK_EQ(mprotect(memory, 3 * PAGE, PROT_READ | PROT_WRITE), 0);
  CHECK_EQ(store_faults(memory + 10), 0);
  CHECK_EQ(memory[10], 'w');

  CASE("mprotect of the middle page only affects that page");
  CHECK_EQ(mprotect(memory + PAGE, PAGE, PROT_NONE), 0);
  CHECK_EQ(store_faults(memory), 0);
  CHECK_EQ(store_faults(memory + 2 * PAGE), 0);
  CHECK_EQ(load_faults(memory + PAGE + 1), 1);
  CHECK_EQ(fault_code, SEGV_ACCERR);
  CHECK(fault_address == memory + PAGE + 1);

  CASE("PROT_NONE pages keep contents when made readable again");
  CHECK_EQ(mprotect(memory + PAGE, PAGE, PROT_READ), 0);
  CHECK_EQ(memory[PAGE + 1], 'm');
  munmap(memory, 3 * PAGE);
}

static void test_exec(void) {
  CASE("code written to a page runs after PROT_EXEC");
  unsigned char* code = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
                             MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  CHECK(code != MAP_FAILED);
  /* mov eax, 42; ret */
  static const unsigned char body[] = {0xb8, 42, 0, 0, 0, 0xc3};
  memcpy(code, body, sizeof body);
  CHECK_EQ(mprotect(code, PAGE, PROT_READ | PROT_EXEC), 0);
  int (*function)(void) = (int (*)(void))code;
  CHECK_EQ(function(), 42);

  CASE("rewritten code runs the new instructions");
  CHECK_EQ(mprotect(code, PAGE, PROT_READ | PROT_WRITE), 0);
  code[1] = 7;
  CHECK_EQ(mprotect(code, PAGE, PROT_READ | PROT_EXEC), 0);
  CHECK_EQ(function(), 7);
  munmap(code, PAGE);
}

static void test_errors(void) {
  char* memory =
      mmap(NULL, 2 * PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

  CASE("unaligned address fails with EINVAL");
  CHECK_ERR(mprotect(memory + 1, PAGE, PROT_READ), EINVAL);

  CASE("unknown protection bits fail with EINVAL");
  CHECK_ERR(mprotect(memory, PAGE, 0x80), EINVAL);

  CASE("unmapped range fails with ENOMEM");
  CHECK_OK(munmap(memory + PAGE, PAGE));
  CHECK_ERR(mprotect(memory + PAGE, PAGE, PROT_READ), ENOMEM);

  CASE("range running into a hole fails with ENOMEM");
  CHECK_ERR(mprotect(memory, 2 * PAGE, PROT_READ), ENOMEM);

  CASE("zero length succeeds");
  CHECK_EQ(mprotect(memory, 0, PROT_READ), 0);
  munmap(memory, PAGE);

  CASE("PROT_WRITE on shared mapping of read-only fd fails with EACCES");
  char* directory = check_make_temp_dir();
  char path[256];
  snprintf(path, sizeof path, "%s/file", directory);
  int fd = open(path, O_RDWR | O_CREAT, 0644);
  CHECK_OK(ftruncate(fd, PAGE));
  close(fd);
  fd = open(path, O_RDONLY);
  char* shared = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, 0);
  CHECK(shared != MAP_FAILED);
  CHECK_ERR(mprotect(shared, PAGE, PROT_READ | PROT_WRITE), EACCES);

  CASE("PROT_WRITE on private mapping of read-only fd succeeds");
  char* private_copy = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, fd, 0);
  CHECK_EQ(mprotect(private_copy, PAGE, PROT_READ | PROT_WRITE), 0);
  munmap(shared, PAGE);
  munmap(private_copy, PAGE);
  close(fd);
  check_remove_tree(directory);
}

int main(void) {
  struct sigaction action = {0};
  action.sa_sigaction = on_segv;
  action.sa_flags = SA_SIGINFO;
  sigaction(SIGSEGV, &action, NULL);
  test_read_only();
  test_exec();
  test_errors();
  return check_finish();
}
