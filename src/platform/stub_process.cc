#include "platform/stub_process.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/rseq.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace moat {

void ShedInheritedState(int memory_fd) {
  setsid();  // leave the terminal's process group: ^C is the kernel's
  struct sigaction sa = {};
  sa.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; sig++) sigaction(sig, &sa, nullptr);
  sa.sa_handler = SIG_IGN;
  sigaction(SIGCHLD, &sa, nullptr);
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (__rseq_size > 0) {
    auto* area = reinterpret_cast<char*>(__builtin_thread_pointer()) +
                 __rseq_offset;
    // glibc 2.36 registers 32 bytes but exports the feature size (20) as
    // __rseq_size; the kernel wants the registered length back.
    if (syscall(SYS_rseq, area, 32, RSEQ_FLAG_UNREGISTER, RSEQ_SIG) != 0)
      syscall(SYS_rseq, area, __rseq_size, RSEQ_FLAG_UNREGISTER, RSEQ_SIG);
  }
  if (memory_fd > 0) syscall(SYS_close_range, 0, memory_fd - 1, 0);
  syscall(SYS_close_range, memory_fd + 1, ~0u, 0);
}

}  // namespace moat
