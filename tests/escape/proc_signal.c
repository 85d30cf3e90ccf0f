/* Signalling host processes. `proc_signal pid` sends SIGKILL to the host
 * decoy's pid by every route (kill, tkill, tgkill, rt_sigqueueinfo,
 * pidfd_open, its process group); `proc_signal all` sends kill(-1,
 * SIGKILL), which natively as root would kill every process on the
 * machine, so the runner never runs it natively. The runner checks that
 * the decoy is still alive afterwards; here a call that succeeds against the
 * decoy's pid is reported, because no process of the sandbox has that pid. */
#include "escape.h"

static void report(const char* what, long r) {
  if (r == 0) {
    /* Natively the decoy is ours to kill; inside, nothing has its pid. */
    escaped("%s on host pid %d succeeded", what, decoy_pid());
  } else {
    note("%s: %s", what, strerror(errno));
  }
}

int main(int argc, char** argv) {
  if (argc < 2) broken("usage: proc_signal pid|all");
  if (argc >= 2 && strcmp(argv[1], "all") == 0) {
    /* Children of our own, to show that kill(-1) does reach the
     * sandbox's processes. */
    pid_t kids[3];
    for (int i = 0; i < 3; i++) {
      kids[i] = fork();
      if (kids[i] == 0) {
        pause();
        _exit(0);
      }
    }
    if (kill(-1, SIGKILL) != 0) note("kill(-1): %s", strerror(errno));
    for (int i = 0; i < 3; i++) {
      int status;
      if (waitpid(kids[i], &status, 0) != kids[i] || !WIFSIGNALED(status))
        note("child %d was not killed by kill(-1)", kids[i]);
    }
    return escape_finish();
  }
  pid_t decoy = decoy_pid();
  report("kill(pid, 0)", kill(decoy, 0));
  pid_t group = getpgid(decoy);
  if (group > 1)
    report("kill(-pgid, SIGCONT)", kill(-group, SIGCONT));
  else
    note("getpgid: %s", strerror(errno));
  siginfo_t info = {.si_signo = SIGCONT, .si_code = SI_QUEUE};
  report("rt_sigqueueinfo", syscall(SYS_rt_sigqueueinfo, decoy, SIGCONT,
                                    &info));
  report("tgkill", syscall(SYS_tgkill, decoy, decoy, SIGCONT));
  int pidfd = syscall(SYS_pidfd_open, decoy, 0);
  if (pidfd >= 0) escaped("pidfd_open of host pid %d succeeded", decoy);
  /* Last, the killing ones. */
  report("tkill(SIGKILL)", syscall(SYS_tkill, decoy, SIGKILL));
  report("kill(SIGKILL)", kill(decoy, SIGKILL));
  return escape_finish();
}
