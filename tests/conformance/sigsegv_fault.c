/* SIGSEGV from memory faults: si_addr, si_code, the x86 error code and trap
 * number in the ucontext, resuming after fixing the fault, and faults while
 * SIGSEGV is blocked. */
#include "check.h"

#include <setjmp.h>
#include <stdint.h>
#include <sys/mman.h>
#include <ucontext.h>

#define PAGE 4096
#define PAGE_FAULT_TRAP 14
#define ERROR_PRESENT 0x1
#define ERROR_WRITE 0x2
#define ERROR_USER 0x4
#define ERROR_INSTRUCTION 0x10

static sigjmp_buf recovery;
static siginfo_t fault_info;
static long long fault_error;
static long long fault_trap;
static volatile int fix_by_mprotect;

static void on_segv(int signo, siginfo_t* info, void* context) {
  ucontext_t* uc = context;
  fault_info = *info;
  fault_error = uc->uc_mcontext.gregs[REG_ERR];
  fault_trap = uc->uc_mcontext.gregs[REG_TRAPNO];
  if (fix_by_mprotect) {
    uintptr_t page = (uintptr_t)info->si_addr & ~(uintptr_t)(PAGE - 1);
    mprotect((void*)page, PAGE, PROT_READ | PROT_WRITE);
    return;
  }
  siglongjmp(recovery, 1);
}

static int store_faults(volatile char* address) {
  memset(&fault_info, 0, sizeof fault_info);
  if (sigsetjmp(recovery, 1) == 0) {
    *address = 1;
    return 0;
  }
  return 1;
}

static int load_faults(volatile char* address) {
  memset(&fault_info, 0, sizeof fault_info);
  if (sigsetjmp(recovery, 1) == 0) {
    (void)*address;
    return 0;
  }
  return 1;
}

static int call_faults(void (*function)(void)) {
  memset(&fault_info, 0, sizeof fault_info);
  if (sigsetjmp(recovery, 1) == 0) {
    function();
    return 0;
  }
  return 1;
}

int main(void) {
  struct sigaction action = {0};
  action.sa_sigaction = on_segv;
  action.sa_flags = SA_SIGINFO;
  sigaction(SIGSEGV, &action, NULL);

  CASE("store near NULL reports SEGV_MAPERR and the exact address");
  CHECK_EQ(store_faults((volatile char*)0x10), 1);
  CHECK_EQ(fault_info.si_signo, SIGSEGV);
  CHECK_EQ(fault_info.si_code, SEGV_MAPERR);
  CHECK(fault_info.si_addr == (void*)0x10);

  CASE("page fault trap number and error code describe a user write");
  CHECK_EQ(fault_trap, PAGE_FAULT_TRAP);
  CHECK_EQ(fault_error & (ERROR_WRITE | ERROR_USER), ERROR_WRITE | ERROR_USER);

  CASE("store to a read-only page reports SEGV_ACCERR");
  char* readonly =
      mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  CHECK_EQ(store_faults(readonly + 123), 1);
  CHECK_EQ(fault_info.si_code, SEGV_ACCERR);
  CHECK(fault_info.si_addr == readonly + 123);
  CHECK_EQ(fault_error & ERROR_WRITE, ERROR_WRITE);

  CASE("store to a read-only page after a load reports a present page");
  (void)*(volatile char*)(readonly + 5);
  CHECK_EQ(store_faults(readonly + 5), 1);
  CHECK_EQ(fault_info.si_code, SEGV_ACCERR);
  CHECK_EQ(fault_error & (ERROR_PRESENT | ERROR_WRITE | ERROR_USER),
           ERROR_PRESENT | ERROR_WRITE | ERROR_USER);

  CASE("load from a PROT_NONE page reports SEGV_ACCERR and a read error code");
  char* none = mmap(NULL, PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  CHECK_EQ(load_faults(none + 7), 1);
  CHECK_EQ(fault_info.si_code, SEGV_ACCERR);
  CHECK(fault_info.si_addr == none + 7);
  CHECK_EQ(fault_error & ERROR_WRITE, 0);

  CASE("load from an unmapped page reports SEGV_MAPERR");
  char* unmapped =
      mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  munmap(unmapped, PAGE);
  CHECK_EQ(load_faults(unmapped + 1), 1);
  CHECK_EQ(fault_info.si_code, SEGV_MAPERR);
  CHECK(fault_info.si_addr == unmapped + 1);
  CHECK_EQ(fault_error & (ERROR_PRESENT | ERROR_WRITE | ERROR_USER),
           ERROR_USER);

  CASE("non-canonical address reports SI_KERNEL with a zero address");
  CHECK_EQ(load_faults((volatile char*)0x8000000000000000ULL), 1);
  CHECK_EQ(fault_info.si_signo, SIGSEGV);
  CHECK_EQ(fault_info.si_code, SI_KERNEL);
  CHECK(fault_info.si_addr == NULL);

  CASE("jump to a non-executable page reports an instruction fetch");
  unsigned char* data = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
                             MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  data[0] = 0xc3;
  CHECK_EQ(call_faults((void (*)(void))data), 1);
  CHECK_EQ(fault_info.si_code, SEGV_ACCERR);
  CHECK(fault_info.si_addr == data);
  CHECK_EQ(fault_error & ERROR_INSTRUCTION, ERROR_INSTRUCTION);

  CASE("handler that fixes the protection resumes the faulting store");
  char* fixable =
      mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  fix_by_mprotect = 1;
  *(volatile char*)(fixable + 9) = 'f';
  fix_by_mprotect = 0;
  CHECK_EQ(fixable[9], 'f');
  CHECK(fault_info.si_addr == fixable + 9);

  CASE("default action kills the process with SIGSEGV");
  pid_t pid = fork();
  if (pid == 0) {
    signal(SIGSEGV, SIG_DFL);
    *(volatile char*)readonly = 1;
    _exit(0);
  }
  int status = 0;
  CHECK_EQ(waitpid(pid, &status, 0), pid);
  CHECK(WIFSIGNALED(status));
  CHECK_EQ(WTERMSIG(status), SIGSEGV);

  CASE("fault while SIGSEGV is blocked kills despite the handler");
  pid = fork();
  if (pid == 0) {
    sigset_t segv;
    sigemptyset(&segv);
    sigaddset(&segv, SIGSEGV);
    sigprocmask(SIG_BLOCK, &segv, NULL);
    *(volatile char*)readonly = 1;
    _exit(0);
  }
  CHECK_EQ(waitpid(pid, &status, 0), pid);
  CHECK(WIFSIGNALED(status));
  CHECK_EQ(WTERMSIG(status), SIGSEGV);

  CASE("fault while SIGSEGV is ignored kills the process");
  pid = fork();
  if (pid == 0) {
    signal(SIGSEGV, SIG_IGN);
    *(volatile char*)readonly = 1;
    _exit(0);
  }
  CHECK_EQ(waitpid(pid, &status, 0), pid);
  CHECK(WIFSIGNALED(status));
  CHECK_EQ(WTERMSIG(status), SIGSEGV);

  CASE("kill with SIGSEGV reports SI_USER, not a fault");
  memset(&fault_info, 0, sizeof fault_info);
  if (sigsetjmp(recovery, 1) == 0) kill(getpid(), SIGSEGV);
  CHECK_EQ(fault_info.si_code, SI_USER);
  CHECK_EQ(fault_info.si_pid, getpid());
  return check_finish();
}
