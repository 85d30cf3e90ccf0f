/* read(2) from a site built as glibc builds read: `xor %eax, %eax;
 * syscall`, then `cmp $-4096, %rax; ja; ret` and alignment padding. moat's
 * trap platform patches such a site after its first few calls, through a
 * jump into the padding. The cases check data and errors through the site,
 * a jump straight to its `syscall`, a forked child, the program file's
 * bytes, and glibc's own read. Natively these are plain system calls. */
#include "check.h"

#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>

/* Returns the call's raw result: a byte count or -errno. */
extern long site_read0(int fd, void* buf, size_t n);
extern char site_read0_xor[];
/* The same call entered at the site's `syscall`, as code may jump there. */
extern long jump_to_read_syscall(int fd, void* buf, size_t n);
__asm__(
    ".text\n"
    ".p2align 4\n"
    ".globl site_read0, site_read0_xor\n"
    "site_read0:\n"
    "  mov %rdx, %rdx\n"
    "  mov %rdx, %rdx\n"
    "  mov %rdx, %rdx\n"
    "site_read0_xor:\n"
    "  xor %eax, %eax\n"
    "site_read0_syscall:\n"
    "  syscall\n"
    "  cmp $-4096, %rax\n"
    "  ja 1f\n"
    "  ret\n"
    "  .p2align 4\n"
    "1:\n"
    "  ret\n"
    ".globl jump_to_read_syscall\n"
    "jump_to_read_syscall:\n"
    "  xor %eax, %eax\n"
    "  jmp site_read0_syscall\n");

static const uint8_t kReadSite[4] = {0x31, 0xc0, 0x0f, 0x05};

/* A pipe with `n` bytes 0, 1, 2, ... written into it. */
static void fill_pipe(int fds[2], int n) {
  CHECK_OK(pipe(fds));
  for (int i = 0; i < n; i++) {
    uint8_t b = (uint8_t)i;
    CHECK_EQ(write(fds[1], &b, 1), 1);
  }
}

static void case_results(void) {
  CASE("results");
  int fds[2];
  fill_pipe(fds, 1000);
  for (int i = 0; i < 1000; i++) {
    uint8_t b = 0xff;
    long (*read_fn)(int, void*, size_t) =
        i % 7 == 0 ? jump_to_read_syscall : site_read0;
    CHECK_EQ(read_fn(fds[0], &b, 1), 1);
    CHECK_EQ(b, (uint8_t)i);
  }
  close(fds[1]);
  uint8_t b;
  CHECK_EQ(site_read0(fds[0], &b, 1), 0);  /* end of file */
  close(fds[0]);
}

static void case_errors(void) {
  CASE("errors");
  int fds[2];
  fill_pipe(fds, 1);
  for (int i = 0; i < 100; i++) {
    uint8_t b;
    CHECK_EQ(site_read0(-1, &b, 1), -EBADF);
    CHECK_EQ(site_read0(fds[0], (void*)16, 1), -EFAULT);
  }
  close(fds[0]);
  close(fds[1]);
}

static void case_fork(void) {
  CASE("fork");
  int fds[2];
  fill_pipe(fds, 200);
  uint8_t b;
  for (int i = 0; i < 100; i++) CHECK_EQ(site_read0(fds[0], &b, 1), 1);
  pid_t child = fork();
  if (child == 0) {
    for (int i = 100; i < 200; i++)
      if (site_read0(fds[0], &b, 1) != 1 || b != (uint8_t)i) _exit(1);
    _exit(0);
  }
  CHECK_CHILD_EXIT(child, 0);
  close(fds[0]);
  close(fds[1]);
}

static void case_file_bytes(void) {
  CASE("file bytes");
  check_file_bytes(site_read0_xor, kReadSite, 4);
}

/* Code the program makes writable shows the site's own bytes, and calls
 * made from it afterwards still work. */
static void case_writable(void) {
  CASE("writable");
  uintptr_t page = (uintptr_t)site_read0_xor & ~(uintptr_t)4095;
  size_t length = (uintptr_t)site_read0_xor + 32 - page;
  CHECK_OK(mprotect((void*)page, length, PROT_READ | PROT_WRITE | PROT_EXEC));
  CHECK(memcmp(site_read0_xor, kReadSite, 4) == 0);
  CHECK_OK(mprotect((void*)page, length, PROT_READ | PROT_EXEC));
  int fds[2];
  fill_pipe(fds, 100);
  for (int i = 0; i < 100; i++) {
    uint8_t b;
    CHECK_EQ(site_read0(fds[0], &b, 1), 1);
    CHECK_EQ(b, (uint8_t)i);
  }
  close(fds[0]);
  close(fds[1]);
}

static void case_glibc_read(void) {
  CASE("glibc read");
  int fds[2];
  fill_pipe(fds, 1000);
  for (int i = 0; i < 1000; i++) {
    uint8_t b = 0xff;
    CHECK_EQ(read(fds[0], &b, 1), 1);
    CHECK_EQ(b, (uint8_t)i);
  }
  close(fds[1]);
  close(fds[0]);
  uint8_t b;
  CHECK_EQ(read(fds[0], &b, 1), -1);
  CHECK_EQ(errno, EBADF);
}

int main(void) {
  case_results();
  case_errors();
  case_fork();
  case_file_bytes();
  case_writable();
  case_glibc_read();
  return check_finish();
}
