/* sigprocmask() and pthread_sigmask(): blocking, pending sets, unblockable
 * signals, inheritance, per-thread masks and errors. */
#include "check.h"

#include <pthread.h>
#include <sys/syscall.h>

static volatile sig_atomic_t usr1_count;

static void on_usr1(int signo) { usr1_count++; }

static int is_blocked(int signo) {
  sigset_t mask;
  sigprocmask(SIG_SETMASK, NULL, &mask);
  return sigismember(&mask, signo);
}

static int is_pending(int signo) {
  sigset_t pending;
  sigpending(&pending);
  return sigismember(&pending, signo);
}

static void* block_in_thread(void* argument) {
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGUSR2);
  pthread_sigmask(SIG_BLOCK, &mask, NULL);
  *(int*)argument = is_blocked(SIGUSR2);
  return NULL;
}

int main(void) {
  signal(SIGUSR1, on_usr1);
  sigset_t usr1;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);

  CASE("SIG_BLOCK adds to the mask and returns the old one");
  sigset_t old;
  CHECK_EQ(sigprocmask(SIG_BLOCK, &usr1, &old), 0);
  CHECK_EQ(sigismember(&old, SIGUSR1), 0);
  CHECK_EQ(is_blocked(SIGUSR1), 1);

  CASE("blocked signal is pending and not delivered");
  usr1_count = 0;
  raise(SIGUSR1);
  CHECK_EQ(usr1_count, 0);
  CHECK_EQ(is_pending(SIGUSR1), 1);

  CASE("SIG_UNBLOCK delivers the pending signal");
  CHECK_EQ(sigprocmask(SIG_UNBLOCK, &usr1, NULL), 0);
  CHECK_EQ(usr1_count, 1);
  CHECK_EQ(is_pending(SIGUSR1), 0);

  CASE("SIG_SETMASK replaces the whole mask");
  sigset_t two;
  sigemptyset(&two);
  sigaddset(&two, SIGUSR2);
  sigaddset(&two, SIGTERM);
  CHECK_EQ(sigprocmask(SIG_SETMASK, &two, NULL), 0);
  CHECK_EQ(is_blocked(SIGUSR2), 1);
  CHECK_EQ(is_blocked(SIGTERM), 1);
  CHECK_EQ(is_blocked(SIGUSR1), 0);

  CASE("SIGKILL and SIGSTOP cannot be blocked");
  sigset_t all;
  sigfillset(&all);
  CHECK_EQ(sigprocmask(SIG_SETMASK, &all, NULL), 0);
  CHECK_EQ(is_blocked(SIGKILL), 0);
  CHECK_EQ(is_blocked(SIGSTOP), 0);
  CHECK_EQ(is_blocked(SIGHUP), 1);
  sigset_t empty;
  sigemptyset(&empty);
  sigprocmask(SIG_SETMASK, &empty, NULL);

  CASE("ignoring a pending blocked signal discards it");
  sigprocmask(SIG_BLOCK, &usr1, NULL);
  raise(SIGUSR1);
  CHECK_EQ(is_pending(SIGUSR1), 1);
  signal(SIGUSR1, SIG_IGN);
  CHECK_EQ(is_pending(SIGUSR1), 0);
  signal(SIGUSR1, on_usr1);
  usr1_count = 0;
  sigprocmask(SIG_UNBLOCK, &usr1, NULL);
  CHECK_EQ(usr1_count, 0);

  CASE("blocked signal is queued even while ignored");
  signal(SIGUSR1, SIG_IGN);
  sigprocmask(SIG_BLOCK, &usr1, NULL);
  raise(SIGUSR1);
  CHECK_EQ(is_pending(SIGUSR1), 1);
  sigprocmask(SIG_UNBLOCK, &usr1, NULL);
  signal(SIGUSR1, on_usr1);

  CASE("mask is inherited by fork but pending signals are not");
  sigprocmask(SIG_BLOCK, &usr1, NULL);
  raise(SIGUSR1);
  pid_t pid = fork();
  if (pid == 0)
    _exit(is_blocked(SIGUSR1) == 1 && is_pending(SIGUSR1) == 0 ? 0 : 1);
  CHECK_CHILD_EXIT(pid, 0);
  usr1_count = 0;
  sigprocmask(SIG_UNBLOCK, &usr1, NULL);
  CHECK_EQ(usr1_count, 1);

  CASE("a thread's mask change does not affect the main thread");
  int thread_blocked = 0;
  pthread_t thread;
  pthread_create(&thread, NULL, block_in_thread, &thread_blocked);
  pthread_join(thread, NULL);
  CHECK_EQ(thread_blocked, 1);
  CHECK_EQ(is_blocked(SIGUSR2), 0);

  CASE("invalid how fails with EINVAL");
  CHECK_ERR(sigprocmask(99, &usr1, NULL), EINVAL);
  CHECK_EQ(pthread_sigmask(99, &usr1, NULL), EINVAL);

  CASE("wrong sigset size fails with EINVAL");
  CHECK_ERR(syscall(SYS_rt_sigprocmask, SIG_BLOCK, &usr1, NULL, 4), EINVAL);

  CASE("bad set pointer fails with EFAULT");
  CHECK_ERR(syscall(SYS_rt_sigprocmask, SIG_BLOCK, (void*)8, NULL, 8), EFAULT);

  CASE("NULL set only queries the mask");
  sigprocmask(SIG_BLOCK, &usr1, NULL);
  CHECK_EQ(sigprocmask(SIG_UNBLOCK, NULL, &old), 0);
  CHECK_EQ(sigismember(&old, SIGUSR1), 1);
  CHECK_EQ(is_blocked(SIGUSR1), 1);
  return check_finish();
}
