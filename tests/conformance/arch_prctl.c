/* arch_prctl(): FS and GS base registers, their effect on segment-relative
 * loads, per-thread values, inheritance by fork, and errors. */
#include "check.h"

#include <asm/prctl.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/syscall.h>

static long arch_prctl(int code, unsigned long address) {
  return syscall(SYS_arch_prctl, code, address);
}

static uint64_t load_gs0(void) {
  uint64_t value;
  __asm__ volatile("movq %%gs:0, %0" : "=r"(value));
  return value;
}

static void* thread_fs(void* argument) {
  unsigned long base = 0;
  arch_prctl(ARCH_GET_FS, (unsigned long)&base);
  *(int*)argument = base == (unsigned long)pthread_self();
  return NULL;
}

int main(void) {
  CASE("ARCH_GET_FS returns the thread pointer");
  unsigned long fs_base = 0;
  CHECK_EQ(arch_prctl(ARCH_GET_FS, (unsigned long)&fs_base), 0);
  CHECK_EQ(fs_base, (unsigned long)pthread_self());

  CASE("every thread has its own FS base");
  int matches = 0;
  pthread_t thread;
  pthread_create(&thread, NULL, thread_fs, &matches);
  pthread_join(thread, NULL);
  CHECK_EQ(matches, 1);

  CASE("ARCH_SET_GS sets the base used by %gs loads");
  static uint64_t gs_block[4] = {0x1122334455667788ULL, 2, 3, 4};
  CHECK_EQ(arch_prctl(ARCH_SET_GS, (unsigned long)gs_block), 0);
  unsigned long gs_base = 0;
  CHECK_EQ(arch_prctl(ARCH_GET_GS, (unsigned long)&gs_base), 0);
  CHECK_EQ(gs_base, (unsigned long)gs_block);
  CHECK_EQ(load_gs0(), 0x1122334455667788ULL);

  CASE("GS base survives sleeping and signal delivery");
  usleep(20000);
  raise(SIGWINCH);
  CHECK_EQ(load_gs0(), 0x1122334455667788ULL);

  CASE("GS base is inherited by fork");
  pid_t pid = fork();
  if (pid == 0) _exit(load_gs0() == 0x1122334455667788ULL ? 0 : 1);
  CHECK_CHILD_EXIT(pid, 0);

  CASE("changing the GS base changes what %gs loads");
  static uint64_t other_block[1] = {42};
  CHECK_EQ(arch_prctl(ARCH_SET_GS, (unsigned long)other_block), 0);
  CHECK_EQ(load_gs0(), 42);
  CHECK_EQ(arch_prctl(ARCH_SET_GS, 0), 0);

  CASE("ARCH_SET_FS in a child changes %fs loads there");
  pid = fork();
  if (pid == 0) {
    static uint64_t fs_block[1] = {77};
    unsigned long saved = 0;
    arch_prctl(ARCH_GET_FS, (unsigned long)&saved);
    arch_prctl(ARCH_SET_FS, (unsigned long)fs_block);
    uint64_t value;
    __asm__ volatile("movq %%fs:0, %0" : "=r"(value));
    arch_prctl(ARCH_SET_FS, saved);
    _exit(value == 77 ? 0 : 1);
  }
  CHECK_CHILD_EXIT(pid, 0);

  CASE("ARCH_GET_CPUID reports CPUID as enabled");
  CHECK_EQ(arch_prctl(ARCH_GET_CPUID, 0), 1);

  CASE("non-canonical base fails with EPERM");
  CHECK_ERR(arch_prctl(ARCH_SET_GS, 0x8000000000000000UL), EPERM);
  CHECK_ERR(arch_prctl(ARCH_SET_FS, 0x8000000000000000UL), EPERM);

  CASE("unknown code fails with EINVAL");
  CHECK_ERR(arch_prctl(0x9999, 0), EINVAL);

  CASE("bad result pointer fails with EFAULT");
  CHECK_ERR(arch_prctl(ARCH_GET_FS, 8), EFAULT);
  return check_finish();
}
