/* Signal handlers: delivery, siginfo contents, blocking, queueing and order. */
#include "check.h"

#include <sys/syscall.h>

static volatile sig_atomic_t handled_signal;
static volatile sig_atomic_t handled_count;
static siginfo_t last_info;

static int delivery_order[8];
static volatile sig_atomic_t delivery_count;

static void on_signal(int signo) {
  handled_signal = signo;
  handled_count++;
}

static void on_signal_info(int signo, siginfo_t* info, void* context) {
  handled_signal = signo;
  handled_count++;
  last_info = *info;
}

static void record_order(int signo) {
  if (delivery_count < 8) delivery_order[delivery_count] = signo;
  delivery_count++;
}

static volatile sig_atomic_t nested_inner_seen;
static volatile sig_atomic_t nested_ok;

static void on_inner(int signo) { nested_inner_seen = 1; }

static void on_outer(int signo) {
  raise(SIGUSR2);
  nested_ok = nested_inner_seen;
}

static void install(int signo, void (*handler)(int), int flags) {
  struct sigaction action = {0};
  action.sa_handler = handler;
  action.sa_flags = flags;
  sigemptyset(&action.sa_mask);
  CHECK_OK(sigaction(signo, &action, NULL));
}

static void install_info(int signo) {
  struct sigaction action = {0};
  action.sa_sigaction = on_signal_info;
  action.sa_flags = SA_SIGINFO;
  sigemptyset(&action.sa_mask);
  CHECK_OK(sigaction(signo, &action, NULL));
}

static void test_basic_delivery(void) {
  CASE("raise runs the handler before returning");
  install(SIGUSR1, on_signal, 0);
  handled_signal = 0;
  handled_count = 0;
  CHECK_EQ(raise(SIGUSR1), 0);
  CHECK_EQ(handled_signal, SIGUSR1);
  CHECK_EQ(handled_count, 1);

  CASE("kill to self runs the handler before returning");
  handled_count = 0;
  CHECK_EQ(kill(getpid(), SIGUSR1), 0);
  CHECK_EQ(handled_count, 1);

  CASE("ignored signal has no effect");
  signal(SIGUSR1, SIG_IGN);
  handled_count = 0;
  CHECK_EQ(raise(SIGUSR1), 0);
  CHECK_EQ(handled_count, 0);

  CASE("signal() returns the previous handler");
  CHECK(signal(SIGUSR1, on_signal) == SIG_IGN);
  CHECK(signal(SIGUSR1, SIG_DFL) == on_signal);
}

static void test_siginfo(void) {
  CASE("kill sets SI_USER with sender pid and uid");
  install_info(SIGUSR1);
  memset(&last_info, 0, sizeof last_info);
  CHECK_OK(kill(getpid(), SIGUSR1));
  CHECK_EQ(last_info.si_signo, SIGUSR1);
  CHECK_EQ(last_info.si_code, SI_USER);
  CHECK_EQ(last_info.si_pid, getpid());
  CHECK_EQ(last_info.si_uid, getuid());

  CASE("tgkill sets SI_TKILL");
  memset(&last_info, 0, sizeof last_info);
  CHECK_OK(syscall(SYS_tgkill, getpid(), gettid(), SIGUSR1));
  CHECK_EQ(last_info.si_code, SI_TKILL);
  CHECK_EQ(last_info.si_pid, getpid());

  CASE("sigqueue sets SI_QUEUE and the value");
  memset(&last_info, 0, sizeof last_info);
  union sigval value = {.sival_int = 1234};
  CHECK_OK(sigqueue(getpid(), SIGUSR1, value));
  CHECK_EQ(last_info.si_code, SI_QUEUE);
  CHECK_EQ(last_info.si_value.sival_int, 1234);
  CHECK_EQ(last_info.si_pid, getpid());

  CASE("signal from child carries child pid");
  memset(&last_info, 0, sizeof last_info);
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGUSR1);
  sigprocmask(SIG_BLOCK, &block, &old);
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) {
    kill(parent, SIGUSR1);
    _exit(0);
  }
  CHECK_CHILD_EXIT(pid, 0);
  sigprocmask(SIG_SETMASK, &old, NULL);
  CHECK_EQ(last_info.si_signo, SIGUSR1);
  CHECK_EQ(last_info.si_pid, pid);
  signal(SIGUSR1, SIG_DFL);
}

static void test_invalid(void) {
  struct sigaction action = {0};
  action.sa_handler = on_signal;

  CASE("sigaction on SIGKILL and SIGSTOP fails with EINVAL");
  CHECK_ERR(sigaction(SIGKILL, &action, NULL), EINVAL);
  CHECK_ERR(sigaction(SIGSTOP, &action, NULL), EINVAL);

  CASE("sigaction on invalid signal numbers fails with EINVAL");
  CHECK_ERR(syscall(SYS_rt_sigaction, 0, &action, NULL, 8), EINVAL);
  CHECK_ERR(syscall(SYS_rt_sigaction, 65, &action, NULL, 8), EINVAL);

  CASE("rt_sigaction with wrong sigset size fails with EINVAL");
  CHECK_ERR(syscall(SYS_rt_sigaction, SIGUSR1, NULL, NULL, 4), EINVAL);

  CASE("querying SIGKILL disposition succeeds");
  struct sigaction old;
  CHECK_OK(sigaction(SIGKILL, NULL, &old));
  CHECK(old.sa_handler == SIG_DFL);
}

static void test_blocked_pending(void) {
  CASE("blocked signal stays pending until unblocked");
  install(SIGUSR1, on_signal, 0);
  handled_count = 0;
  sigset_t block, old, pending;
  sigemptyset(&block);
  sigaddset(&block, SIGUSR1);
  CHECK_OK(sigprocmask(SIG_BLOCK, &block, &old));
  CHECK_OK(raise(SIGUSR1));
  CHECK_EQ(handled_count, 0);
  sigemptyset(&pending);
  CHECK_OK(sigpending(&pending));
  CHECK_EQ(sigismember(&pending, SIGUSR1), 1);
  CHECK_OK(sigprocmask(SIG_SETMASK, &old, NULL));
  CHECK_EQ(handled_count, 1);

  CASE("standard signals coalesce while blocked");
  handled_count = 0;
  CHECK_OK(sigprocmask(SIG_BLOCK, &block, &old));
  for (int i = 0; i < 3; i++) raise(SIGUSR1);
  CHECK_OK(sigprocmask(SIG_SETMASK, &old, NULL));
  CHECK_EQ(handled_count, 1);

  CASE("real-time signals queue every instance");
  install(SIGRTMIN, on_signal, 0);
  handled_count = 0;
  sigemptyset(&block);
  sigaddset(&block, SIGRTMIN);
  CHECK_OK(sigprocmask(SIG_BLOCK, &block, &old));
  for (int i = 0; i < 3; i++) raise(SIGRTMIN);
  CHECK_OK(sigprocmask(SIG_SETMASK, &old, NULL));
  CHECK_EQ(handled_count, 3);
  signal(SIGRTMIN, SIG_DFL);
  signal(SIGUSR1, SIG_DFL);
}

static void test_delivery_order(void) {
  CASE("pending signals are delivered lowest number first");
  struct sigaction action = {0};
  action.sa_handler = record_order;
  /* Blocking everything inside the handler keeps delivery one at a time, so
   * the recorded order is the kernel's dequeue order. */
  sigfillset(&action.sa_mask);
  int signals[] = {SIGRTMIN + 1, SIGRTMIN, SIGUSR2};
  sigset_t block, old;
  sigemptyset(&block);
  for (int i = 0; i < 3; i++) {
    CHECK_OK(sigaction(signals[i], &action, NULL));
    sigaddset(&block, signals[i]);
  }
  CHECK_OK(sigprocmask(SIG_BLOCK, &block, &old));
  for (int i = 0; i < 3; i++) raise(signals[i]);
  delivery_count = 0;
  CHECK_OK(sigprocmask(SIG_SETMASK, &old, NULL));
  CHECK_EQ(delivery_count, 3);
  CHECK_EQ(delivery_order[0], SIGUSR2);
  CHECK_EQ(delivery_order[1], SIGRTMIN);
  CHECK_EQ(delivery_order[2], SIGRTMIN + 1);
  for (int i = 0; i < 3; i++) signal(signals[i], SIG_DFL);
}

static void test_nested(void) {
  CASE("a different signal interrupts a running handler");
  install(SIGUSR1, on_outer, 0);
  install(SIGUSR2, on_inner, 0);
  nested_inner_seen = 0;
  nested_ok = 0;
  raise(SIGUSR1);
  CHECK_EQ(nested_ok, 1);
  signal(SIGUSR1, SIG_DFL);
  signal(SIGUSR2, SIG_DFL);
}

static void test_default_actions(void) {
  CASE("default SIGTERM terminates a child");
  pid_t pid = fork();
  if (pid == 0) {
    raise(SIGTERM);
    _exit(0);
  }
  int status = 0;
  CHECK_EQ(waitpid(pid, &status, 0), pid);
  CHECK(WIFSIGNALED(status));
  CHECK_EQ(WTERMSIG(status), SIGTERM);

  CASE("default SIGURG and SIGWINCH are ignored");
  pid = fork();
  if (pid == 0) {
    raise(SIGURG);
    raise(SIGWINCH);
    _exit(4);
  }
  CHECK_CHILD_EXIT(pid, 4);

  CASE("handlers survive fork");
  install(SIGUSR1, on_signal, 0);
  pid = fork();
  if (pid == 0) {
    handled_count = 0;
    raise(SIGUSR1);
    _exit(handled_count == 1 ? 0 : 1);
  }
  CHECK_CHILD_EXIT(pid, 0);
  signal(SIGUSR1, SIG_DFL);
}

int main(void) {
  test_basic_delivery();
  test_siginfo();
  test_invalid();
  test_blocked_pending();
  test_delivery_order();
  test_nested();
  test_default_actions();
  return check_finish();
}
