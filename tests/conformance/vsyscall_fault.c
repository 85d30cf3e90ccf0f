/* Calls through the legacy vsyscall page with pointers the call cannot
 * write: Linux raises SIGSEGV at the vsyscall entry instead of returning
 * EFAULT, and leaves the return address on the stack
 * (arch/x86/entry/vsyscall/vsyscall_64.c:emulate_vsyscall). The test needs
 * a host whose vsyscall page is emulated (the default, vsyscall=xonly). */
#include "check.h"

#include <setjmp.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <time.h>
#include <ucontext.h>

#define VSYSCALL_GETTIMEOFDAY 0xffffffffff600000ull
#define VSYSCALL_TIME 0xffffffffff600400ull
#define VSYSCALL_GETCPU 0xffffffffff600800ull

typedef long (*gettimeofday_entry)(struct timeval*, struct timezone*);
typedef long (*time_entry)(time_t*);
typedef long (*getcpu_entry)(unsigned*, unsigned*, void*);

extern const char __executable_start[], etext[];

static sigjmp_buf recovery;
static siginfo_t fault_info;
static uint64_t fault_rip;
static uint64_t fault_return_address;

static void on_segv(int signo, siginfo_t* info, void* context) {
  (void)signo;
  ucontext_t* uc = context;
  fault_info = *info;
  fault_rip = uc->uc_mcontext.gregs[REG_RIP];
  fault_return_address = *(uint64_t*)uc->uc_mcontext.gregs[REG_RSP];
  siglongjmp(recovery, 1);
}

/* Calls the vsyscall at `entry` with `pointer` as every pointer argument.
 * Returns 1 if it raised SIGSEGV, 0 if it returned (its result in *ret). */
static int vsyscall_faults(uint64_t entry, void* pointer, long* ret) {
  memset(&fault_info, 0, sizeof fault_info);
  fault_rip = 0;
  fault_return_address = 0;
  *ret = -1;
  if (sigsetjmp(recovery, 1) != 0) return 1;
  if (entry == VSYSCALL_GETTIMEOFDAY)
    *ret = ((gettimeofday_entry)entry)(pointer, NULL);
  else if (entry == VSYSCALL_TIME)
    *ret = ((time_entry)entry)(pointer);
  else
    *ret = ((getcpu_entry)entry)(pointer, NULL, NULL);
  return 0;
}

/* Checks that the last vsyscall stopped at `entry` with SIGSEGV and
 * SI_KERNEL, and that the frame's stack still contains the return address. */
static void check_fault_at(uint64_t entry) {
  CHECK_EQ(fault_info.si_signo, SIGSEGV);
  CHECK_EQ(fault_info.si_code, SI_KERNEL);
  CHECK_EQ(fault_rip, entry);
  CHECK(fault_return_address >= (uint64_t)__executable_start);
  CHECK(fault_return_address < (uint64_t)etext);
}

int main(void) {
  struct sigaction action = {0};
  action.sa_sigaction = on_segv;
  action.sa_flags = SA_SIGINFO | SA_NODEFER;
  sigaction(SIGSEGV, &action, NULL);
  long ret;

  CASE("vsyscall time with a valid pointer returns the time");
  time_t now = 0;
  if (vsyscall_faults(VSYSCALL_TIME, &now, &ret)) {
    FAIL("vsyscall time raised SIGSEGV: is the host booted with vsyscall=none?");
    return check_finish();
  }
  CHECK_EQ(ret, now);
  CHECK(now >= time(NULL) - 5);

  char* unmapped = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS,
                        -1, 0);
  CHECK(unmapped != MAP_FAILED);
  CHECK_OK(munmap(unmapped, 4096));
  char* read_only = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS,
                         -1, 0);
  CHECK(read_only != MAP_FAILED);

  CASE("vsyscall time to an unmapped page raises SIGSEGV at the entry");
  CHECK_EQ(vsyscall_faults(VSYSCALL_TIME, unmapped, &ret), 1);
  check_fault_at(VSYSCALL_TIME);

  CASE("vsyscall time to a read-only page raises SIGSEGV and writes nothing");
  CHECK_EQ(vsyscall_faults(VSYSCALL_TIME, read_only, &ret), 1);
  check_fault_at(VSYSCALL_TIME);
  CHECK_EQ(*(volatile uint64_t*)read_only, 0);

  CASE("vsyscall gettimeofday to an unmapped page raises SIGSEGV");
  CHECK_EQ(vsyscall_faults(VSYSCALL_GETTIMEOFDAY, unmapped, &ret), 1);
  check_fault_at(VSYSCALL_GETTIMEOFDAY);

  CASE("vsyscall getcpu to an unmapped page raises SIGSEGV");
  CHECK_EQ(vsyscall_faults(VSYSCALL_GETCPU, unmapped, &ret), 1);
  check_fault_at(VSYSCALL_GETCPU);

  CASE("vsyscall time to a kernel address raises SEGV_MAPERR there");
  void* kernel = (void*)0xffff800000000000ull;
  CHECK_EQ(vsyscall_faults(VSYSCALL_TIME, kernel, &ret), 1);
  CHECK_EQ(fault_info.si_signo, SIGSEGV);
  CHECK_EQ(fault_info.si_code, SEGV_MAPERR);
  CHECK(fault_info.si_addr == kernel);
  CHECK_EQ(fault_rip, VSYSCALL_TIME);

  CASE("vsyscall time still works after the faults");
  now = 0;
  CHECK_EQ(vsyscall_faults(VSYSCALL_TIME, &now, &ret), 0);
  CHECK_EQ(ret, now);
  return check_finish();
}
