/* System calls made through a copy of glibc's syscall(3), whose site
 * `mov 0x8(%rsp), %r9; syscall` takes its number from a register. moat's
 * trap platform patches that site after its first few calls. The cases
 * check results and errors, a sixth argument from the stack, arch_prctl
 * through the site, a jump straight to its `syscall`, fork, the file's
 * bytes and glibc's own syscall(3). Natively these are plain system
 * calls. */
#include "check.h"

#include <asm/prctl.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>

/* glibc's syscall(3) from its first move to its `ret`, returning the
 * raw result (a value or -errno) where glibc sets errno. */
extern long site_syscall(long nr, ...);
extern char site_syscall_r9[];
/* Enters the site at its `syscall` with the number in %edi and the first
 * argument in %esi, as code may jump there. */
extern long jump_to_site_syscall(long nr, long arg);
__asm__(
    ".text\n"
    ".p2align 4\n"
    ".globl site_syscall, site_syscall_r9\n"
    "site_syscall:\n"
    "  mov %rdi, %rax\n"
    "  mov %rsi, %rdi\n"
    "  mov %rdx, %rsi\n"
    "  mov %rcx, %rdx\n"
    "  mov %r8, %r10\n"
    "  mov %r9, %r8\n"
    "site_syscall_r9:\n"
    "  mov 0x8(%rsp), %r9\n"
    "site_syscall_call:\n"
    "  syscall\n"
    "  cmp $-4095, %rax\n"
    "  jae 1f\n"
    "  ret\n"
    "1:\n"
    "  ret\n"
    ".globl jump_to_site_syscall\n"
    "jump_to_site_syscall:\n"
    "  mov %edi, %eax\n"
    "  mov %esi, %edi\n"
    "  jmp site_syscall_call\n");

static const uint8_t kSite[7] = {0x4c, 0x8b, 0x4c, 0x24, 0x08, 0x0f, 0x05};

static void case_results(void) {
  CASE("results");
  long pid = getpid();
  long ppid = getppid();
  for (int i = 0; i < 1000; i++) {
    CHECK_EQ(site_syscall(SYS_getpid), pid);
    CHECK_EQ(site_syscall(SYS_getppid), ppid);
  }
  CHECK_EQ(jump_to_site_syscall(SYS_getppid, 0), ppid);
  CHECK_EQ(jump_to_site_syscall(SYS_close, -1), -EBADF);
  CHECK_EQ(site_syscall(SYS_getpid), pid);
}

static void case_errors(void) {
  CASE("errors");
  int fds[2];
  CHECK_OK(pipe(fds));
  CHECK_EQ(write(fds[1], "x", 1), 1);
  for (int i = 0; i < 100; i++) {
    char c;
    CHECK_EQ(site_syscall(SYS_read, -1, &c, 1), -EBADF);
    CHECK_EQ(site_syscall(SYS_read, fds[0], (void*)16, 1), -EFAULT);
    CHECK_EQ(site_syscall(999999), -ENOSYS);
  }
  close(fds[0]);
  close(fds[1]);
}

/* mmap's offset is the sixth argument, which the site loads from the
 * stack into %r9. */
static void case_sixth_argument(void) {
  CASE("sixth argument");
  char path[] = "/tmp/syscall_patch_function.XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  unlink(path);
  char page[4096];
  for (int i = 0; i < 4; i++) {
    memset(page, 'a' + i, sizeof page);
    CHECK_EQ(write(fd, page, sizeof page), (ssize_t)sizeof page);
  }
  for (int i = 0; i < 100; i++) {
    long offset = 4096L * (i % 4);
    long p =
        site_syscall(SYS_mmap, 0, 4096, PROT_READ, MAP_PRIVATE, fd, offset);
    CHECK(p > 0);
    if (p <= 0) break;
    CHECK_EQ(*(char*)p, 'a' + i % 4);
    CHECK_EQ(site_syscall(SYS_munmap, p, 4096), 0);
  }
  close(fd);
}

/* arch_prctl through the site: the FS base reads as glibc's, and a GS
 * base of the program's own stays across later calls. */
static void case_arch_prctl(void) {
  CASE("arch_prctl");
  for (int i = 0; i < 100; i++) site_syscall(SYS_getpid);
  unsigned long fs = 0;
  unsigned long want_fs = 0;
  CHECK_EQ(site_syscall(SYS_arch_prctl, ARCH_GET_FS, &fs), 0);
  CHECK_OK(syscall(SYS_arch_prctl, ARCH_GET_FS, &want_fs));
  CHECK_EQ(fs, want_fs);
  static uint64_t block[2] = {0x0123456789abcdef, 2};
  CHECK_EQ(site_syscall(SYS_arch_prctl, ARCH_SET_GS, block), 0);
  for (int i = 0; i < 100; i++) {
    CHECK_EQ(site_syscall(SYS_getpid), getpid());
    uint64_t v;
    __asm__ volatile("mov %%gs:0, %0" : "=r"(v));
    CHECK_EQ(v, block[0]);
  }
  unsigned long gs = 0;
  CHECK_EQ(site_syscall(SYS_arch_prctl, ARCH_GET_GS, &gs), 0);
  CHECK_EQ(gs, (unsigned long)block);
  CHECK_EQ(site_syscall(SYS_arch_prctl, ARCH_SET_GS, 0UL), 0);
}

static void case_fork(void) {
  CASE("fork");
  for (int i = 0; i < 100; i++) site_syscall(SYS_getpid);
  pid_t child = fork();
  if (child == 0) {
    long pid = getpid();
    for (int i = 0; i < 100; i++)
      if (site_syscall(SYS_getpid) != pid) _exit(1);
    _exit(0);
  }
  CHECK_CHILD_EXIT(child, 0);
  CHECK_EQ(site_syscall(SYS_getpid), getpid());
}

/* A read of the program's file shows the site as it was built. */
static void case_file_bytes(void) {
  CASE("file bytes");
  for (int i = 0; i < 100; i++) site_syscall(SYS_getpid);
  check_file_bytes(site_syscall_r9, kSite, 7);
}

static void case_glibc_syscall(void) {
  CASE("glibc syscall");
  long ppid = getppid();
  for (int i = 0; i < 1000; i++) CHECK_EQ(syscall(SYS_getppid), ppid);
  errno = 0;
  CHECK_EQ(syscall(SYS_close, -1), -1);
  CHECK_EQ(errno, EBADF);
}

int main(void) {
  case_results();
  case_errors();
  case_sixth_argument();
  case_arch_prctl();
  case_fork();
  case_file_bytes();
  case_glibc_syscall();
  return check_finish();
}
