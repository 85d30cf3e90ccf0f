/* Tracing or reading a host process: ptrace attach and seize of the host
 * decoy, process_vm_readv, and /proc/PID/mem of its pid. */
#include "escape.h"

#include <sys/ptrace.h>
#include <sys/uio.h>

int main(void) {
  pid_t decoy = decoy_pid();
  if (ptrace(PTRACE_ATTACH, decoy, 0, 0) == 0) {
    escaped("PTRACE_ATTACH to host pid %d", decoy);
    waitpid(decoy, NULL, __WALL);
    ptrace(PTRACE_DETACH, decoy, 0, 0);
  } else {
    note("PTRACE_ATTACH: %s", strerror(errno));
  }
  if (ptrace(PTRACE_SEIZE, decoy, 0, 0) == 0) {
    escaped("PTRACE_SEIZE of host pid %d", decoy);
    ptrace(PTRACE_DETACH, decoy, 0, 0);
  }
  char buf[64];
  struct iovec local = {buf, sizeof(buf)};
  struct iovec remote = {(void*)0x400000, sizeof(buf)};
  if (process_vm_readv(decoy, &local, 1, &remote, 1, 0) >= 0 ||
      errno == EFAULT)
    escaped("process_vm_readv reached host pid %d", decoy);
  char path[64];
  snprintf(path, sizeof(path), "/proc/%d/mem", decoy);
  int fd = open(path, O_RDONLY);
  if (fd >= 0) {
    escaped("opened %s", path);
    close(fd);
  }
  return escape_finish();
}
