/* SIGCHLD: siginfo for exits and kills, SIG_IGN and SA_NOCLDWAIT
 * auto-reaping, SA_NOCLDSTOP, and clone children with other exit signals. */
#include "check.h"

#include <sched.h>
#include <sys/mman.h>

static volatile sig_atomic_t chld_count;
static siginfo_t chld_info;

static void on_chld(int signo, siginfo_t* info, void* context) {
  chld_info = *info;
  chld_count++;
}

static volatile sig_atomic_t usr1_count;

static void on_usr1(int signo) { usr1_count++; }

static void install_chld(int flags) {
  struct sigaction action = {0};
  action.sa_sigaction = on_chld;
  action.sa_flags = SA_SIGINFO | flags;
  sigemptyset(&action.sa_mask);
  sigaction(SIGCHLD, &action, NULL);
}

/* Blocks SIGCHLD, runs until it is pending, then lets the handler run. */
static void wait_for_sigchld(void) {
  sigset_t chld, old;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, &old);
  sigset_t wait_mask = old;
  sigdelset(&wait_mask, SIGCHLD);
  while (chld_count == 0) sigsuspend(&wait_mask);
  sigprocmask(SIG_SETMASK, &old, NULL);
}

static int exit_with_seven(void* argument) { return 7; }

int main(void) {
  CASE("exit raises SIGCHLD with CLD_EXITED and the exit code");
  install_chld(0);
  chld_count = 0;
  pid_t pid = fork();
  if (pid == 0) _exit(5);
  wait_for_sigchld();
  CHECK_EQ(chld_info.si_signo, SIGCHLD);
  CHECK_EQ(chld_info.si_code, CLD_EXITED);
  CHECK_EQ(chld_info.si_pid, pid);
  CHECK_EQ(chld_info.si_status, 5);
  CHECK_EQ(chld_info.si_uid, getuid());
  CHECK_CHILD_EXIT(pid, 5);

  CASE("kill raises SIGCHLD with CLD_KILLED and the signal");
  chld_count = 0;
  pid = fork();
  if (pid == 0) {
    for (;;) pause();
  }
  kill(pid, SIGKILL);
  wait_for_sigchld();
  CHECK_EQ(chld_info.si_code, CLD_KILLED);
  CHECK_EQ(chld_info.si_status, SIGKILL);
  CHECK_EQ(chld_info.si_pid, pid);
  waitpid(pid, NULL, 0);

  CASE("stop raises SIGCHLD with CLD_STOPPED without SA_NOCLDSTOP");
  chld_count = 0;
  pid = fork();
  if (pid == 0) {
    for (;;) pause();
  }
  kill(pid, SIGSTOP);
  wait_for_sigchld();
  CHECK_EQ(chld_info.si_code, CLD_STOPPED);
  CHECK_EQ(chld_info.si_status, SIGSTOP);
  int status = 0;
  CHECK_EQ(waitpid(pid, &status, WUNTRACED), pid);
  CHECK(WIFSTOPPED(status));

  CASE("continue raises SIGCHLD with CLD_CONTINUED");
  chld_count = 0;
  kill(pid, SIGCONT);
  wait_for_sigchld();
  CHECK_EQ(chld_info.si_code, CLD_CONTINUED);
  CHECK_EQ(chld_info.si_status, SIGCONT);
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);

  CASE("SA_NOCLDSTOP suppresses SIGCHLD for stops");
  install_chld(SA_NOCLDSTOP);
  chld_count = 0;
  pid = fork();
  if (pid == 0) {
    for (;;) pause();
  }
  kill(pid, SIGSTOP);
  CHECK_EQ(waitpid(pid, &status, WUNTRACED), pid);
  CHECK(WIFSTOPPED(status));
  CHECK_EQ(chld_count, 0);
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);

  CASE("default SIGCHLD leaves a waitable zombie");
  signal(SIGCHLD, SIG_DFL);
  pid = fork();
  if (pid == 0) _exit(3);
  usleep(20000);
  CHECK_CHILD_EXIT(pid, 3);

  CASE("SIGCHLD set to SIG_IGN reaps children automatically");
  signal(SIGCHLD, SIG_IGN);
  pid = fork();
  if (pid == 0) _exit(0);
  CHECK_ERR(waitpid(pid, NULL, 0), ECHILD);

  CASE("SA_NOCLDWAIT reaps children automatically");
  install_chld(SA_NOCLDWAIT);
  chld_count = 0;
  pid = fork();
  if (pid == 0) _exit(0);
  CHECK_ERR(waitpid(pid, NULL, 0), ECHILD);
  signal(SIGCHLD, SIG_DFL);

  CASE("clone child with exit signal SIGUSR1 sends SIGUSR1");
  signal(SIGUSR1, on_usr1);
  sigset_t usr1, old;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  sigprocmask(SIG_BLOCK, &usr1, &old);
  usr1_count = 0;
  char* stack = mmap(NULL, 65536, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  pid = clone(exit_with_seven, stack + 65536, SIGUSR1, NULL);
  CHECK(pid > 0);

  CASE("waitpid without __WCLONE does not see a clone child");
  sigset_t wait_mask = old;
  while (usr1_count == 0) sigsuspend(&wait_mask);
  CHECK_ERR(waitpid(pid, &status, WNOHANG), ECHILD);
  CHECK_EQ(usr1_count, 1);

  CASE("waitpid with __WALL reaps a clone child");
  status = 0;
  CHECK_EQ(waitpid(pid, &status, __WALL), pid);
  CHECK(WIFEXITED(status));
  CHECK_EQ(WEXITSTATUS(status), 7);
  sigprocmask(SIG_SETMASK, &old, NULL);
  return check_finish();
}
