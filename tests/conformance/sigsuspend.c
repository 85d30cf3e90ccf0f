/* sigsuspend(): waiting with a temporary mask, pending signals, masks
 * inside the handler and errors. */
#include "check.h"

#include <sys/syscall.h>

static volatile sig_atomic_t usr1_count;
static volatile sig_atomic_t usr2_count;
static sigset_t mask_in_handler;

static void on_usr1(int signo) {
  usr1_count++;
  sigprocmask(SIG_SETMASK, NULL, &mask_in_handler);
}

static void on_usr2(int signo) { usr2_count++; }

int main(void) {
  struct sigaction action = {0};
  action.sa_handler = on_usr1;
  sigemptyset(&action.sa_mask);
  sigaddset(&action.sa_mask, SIGHUP);
  sigaction(SIGUSR1, &action, NULL);
  signal(SIGUSR2, on_usr2);
  sigset_t blocked;
  sigemptyset(&blocked);
  sigaddset(&blocked, SIGUSR1);
  sigaddset(&blocked, SIGUSR2);
  sigprocmask(SIG_BLOCK, &blocked, NULL);

  CASE("already pending signal ends sigsuspend at once with EINTR");
  raise(SIGUSR1);
  sigset_t wait_mask;
  sigemptyset(&wait_mask);
  sigaddset(&wait_mask, SIGUSR2);
  usr1_count = 0;
  CHECK_ERR(sigsuspend(&wait_mask), EINTR);
  CHECK_EQ(usr1_count, 1);

  CASE("handler runs with the suspend mask plus sa_mask plus the signal");
  CHECK_EQ(sigismember(&mask_in_handler, SIGUSR2), 1);
  CHECK_EQ(sigismember(&mask_in_handler, SIGHUP), 1);
  CHECK_EQ(sigismember(&mask_in_handler, SIGUSR1), 1);
  CHECK_EQ(sigismember(&mask_in_handler, SIGTERM), 0);

  CASE("original mask is restored after sigsuspend");
  sigset_t current;
  sigprocmask(SIG_SETMASK, NULL, &current);
  CHECK_EQ(sigismember(&current, SIGUSR1), 1);
  CHECK_EQ(sigismember(&current, SIGUSR2), 1);
  CHECK_EQ(sigismember(&current, SIGHUP), 0);

  CASE("sigsuspend waits for a signal sent by another process");
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) {
    usleep(50000);
    kill(parent, SIGUSR1);
    _exit(0);
  }
  usr1_count = 0;
  CHECK_ERR(sigsuspend(&wait_mask), EINTR);
  CHECK_EQ(usr1_count, 1);
  CHECK_CHILD_EXIT(pid, 0);

  CASE("signals blocked by the suspend mask do not end it");
  pid = fork();
  if (pid == 0) {
    kill(parent, SIGUSR2);
    usleep(50000);
    kill(parent, SIGUSR1);
    _exit(0);
  }
  usr1_count = 0;
  usr2_count = 0;
  CHECK_ERR(sigsuspend(&wait_mask), EINTR);
  CHECK_EQ(usr1_count, 1);
  CHECK_EQ(usr2_count, 0);
  CHECK_CHILD_EXIT(pid, 0);

  CASE("signal left pending runs once unblocked");
  sigset_t pending;
  sigpending(&pending);
  CHECK_EQ(sigismember(&pending, SIGUSR2), 1);
  sigset_t usr2;
  sigemptyset(&usr2);
  sigaddset(&usr2, SIGUSR2);
  sigprocmask(SIG_UNBLOCK, &usr2, NULL);
  CHECK_EQ(usr2_count, 1);

  CASE("ignored signal does not end sigsuspend");
  signal(SIGWINCH, SIG_IGN);
  pid = fork();
  if (pid == 0) {
    kill(parent, SIGWINCH);
    usleep(50000);
    kill(parent, SIGUSR1);
    _exit(0);
  }
  usr1_count = 0;
  CHECK_ERR(sigsuspend(&wait_mask), EINTR);
  CHECK_EQ(usr1_count, 1);
  CHECK_CHILD_EXIT(pid, 0);

  CASE("wrong sigset size fails with EINVAL");
  CHECK_ERR(syscall(SYS_rt_sigsuspend, &wait_mask, 4), EINVAL);

  CASE("bad mask pointer fails with EFAULT");
  CHECK_ERR(syscall(SYS_rt_sigsuspend, (void*)8, 8), EFAULT);
  return check_finish();
}
