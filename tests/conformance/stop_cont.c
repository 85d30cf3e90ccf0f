/* SIGSTOP, SIGTSTP and SIGCONT: waitpid with WUNTRACED and WCONTINUED,
 * waitid reports, stopped children not running, and handlers. */
#include "check.h"

#include <sys/mman.h>

static volatile long* counter;

static void count_forever(void) {
  for (;;) {
    (*counter)++;
    usleep(1000);
  }
}

static volatile sig_atomic_t cont_seen;

static void on_cont(int signo) { cont_seen = 1; }

int main(void) {
  counter = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                 -1, 0);

  CASE("SIGSTOP is reported by WUNTRACED");
  pid_t pid = fork();
  if (pid == 0) count_forever();
  CHECK_OK(kill(pid, SIGSTOP));
  int status = 0;
  CHECK_EQ(waitpid(pid, &status, WUNTRACED), pid);
  CHECK(WIFSTOPPED(status));
  CHECK_EQ(WSTOPSIG(status), SIGSTOP);

  CASE("a stop is reported only once");
  CHECK_EQ(waitpid(pid, &status, WUNTRACED | WNOHANG), 0);

  CASE("a stopped child does not run");
  long before = *counter;
  usleep(50000);
  CHECK_EQ(*counter, before);

  CASE("SIGCONT is reported by WCONTINUED");
  CHECK_OK(kill(pid, SIGCONT));
  CHECK_EQ(waitpid(pid, &status, WCONTINUED), pid);
  CHECK(WIFCONTINUED(status));

  CASE("a continued child runs again");
  before = *counter;
  for (int i = 0; i < 2000 && *counter == before; i++) usleep(1000);
  CHECK(*counter > before);

  CASE("waitpid without WUNTRACED ignores stops");
  CHECK_OK(kill(pid, SIGSTOP));
  usleep(20000);
  CHECK_EQ(waitpid(pid, &status, WNOHANG), 0);

  CASE("waitid reports CLD_STOPPED and CLD_CONTINUED");
  siginfo_t info;
  memset(&info, 0, sizeof info);
  CHECK_EQ(waitid(P_PID, pid, &info, WSTOPPED), 0);
  CHECK_EQ(info.si_code, CLD_STOPPED);
  CHECK_EQ(info.si_status, SIGSTOP);
  CHECK_EQ(info.si_pid, pid);
  CHECK_OK(kill(pid, SIGCONT));
  memset(&info, 0, sizeof info);
  CHECK_EQ(waitid(P_PID, pid, &info, WCONTINUED), 0);
  CHECK_EQ(info.si_code, CLD_CONTINUED);
  CHECK_EQ(info.si_status, SIGCONT);

  CASE("SIGKILL ends a stopped child");
  CHECK_OK(kill(pid, SIGSTOP));
  CHECK_EQ(waitpid(pid, &status, WUNTRACED), pid);
  CHECK_OK(kill(pid, SIGKILL));
  CHECK_EQ(waitpid(pid, &status, 0), pid);
  CHECK(WIFSIGNALED(status));
  CHECK_EQ(WTERMSIG(status), SIGKILL);

  CASE("default SIGTSTP stops a process in a non-orphaned group");
  int ready[2];
  CHECK_OK(pipe(ready));
  pid = fork();
  if (pid == 0) {
    /* The parent stays in another group of the same session, so this
     * group is not orphaned and the stop signal is not discarded. */
    setpgid(0, 0);
    write(ready[1], "r", 1);
    count_forever();
  }
  char byte;
  read(ready[0], &byte, 1);
  CHECK_OK(kill(pid, SIGTSTP));
  CHECK_EQ(waitpid(pid, &status, WUNTRACED), pid);
  CHECK(WIFSTOPPED(status));
  CHECK_EQ(WSTOPSIG(status), SIGTSTP);

  CASE("SIGCONT handler runs when the child continues");
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  pid = fork();
  if (pid == 0) {
    signal(SIGCONT, on_cont);
    write(ready[1], "r", 1);
    while (!cont_seen) usleep(1000);
    _exit(9);
  }
  read(ready[0], &byte, 1);
  CHECK_OK(kill(pid, SIGSTOP));
  CHECK_EQ(waitpid(pid, &status, WUNTRACED), pid);
  CHECK_OK(kill(pid, SIGCONT));
  CHECK_CHILD_EXIT(pid, 9);

  CASE("SIGCONT to a running process is harmless");
  pid = fork();
  if (pid == 0) {
    write(ready[1], "r", 1);
    usleep(50000);
    _exit(4);
  }
  read(ready[0], &byte, 1);
  CHECK_OK(kill(pid, SIGCONT));
  CHECK_CHILD_EXIT(pid, 4);

  CASE("handled SIGTSTP runs the handler instead of stopping");
  pid = fork();
  if (pid == 0) {
    signal(SIGTSTP, on_cont);
    write(ready[1], "r", 1);
    while (!cont_seen) usleep(1000);
    _exit(5);
  }
  read(ready[0], &byte, 1);
  CHECK_OK(kill(pid, SIGTSTP));
  CHECK_CHILD_EXIT(pid, 5);
  close(ready[0]);
  close(ready[1]);
  return check_finish();
}
