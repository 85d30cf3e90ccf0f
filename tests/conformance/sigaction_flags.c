/* sigaction() flags: SA_RESTART, SA_RESETHAND, SA_NODEFER, SA_SIGINFO,
 * sa_mask, the old action and unknown flag bits. */
#include "check.h"

#include <sys/syscall.h>
#include <sys/time.h>
#include <ucontext.h>

#define SA_RESTORER_FLAG 0x04000000
#define SA_UNSUPPORTED_FLAG 0x00000400

static volatile sig_atomic_t handler_count;
static volatile sig_atomic_t depth;
static volatile sig_atomic_t max_depth;
static siginfo_t saved_info;
static volatile int saved_context_valid;
static sigset_t mask_in_handler;

static void counting_handler(int signo) { handler_count++; }

static void recursive_handler(int signo) {
  handler_count++;
  depth++;
  if (depth > max_depth) max_depth = depth;
  if (handler_count == 1) raise(signo);
  depth--;
}

static void info_handler(int signo, siginfo_t* info, void* context) {
  saved_info = *info;
  ucontext_t* uc = context;
  saved_context_valid = uc != NULL && uc->uc_mcontext.gregs[REG_RIP] != 0;
  handler_count++;
}

static void mask_handler(int signo) {
  sigprocmask(SIG_SETMASK, NULL, &mask_in_handler);
  handler_count++;
}

static void install(int signo, void (*handler)(int), int flags,
                    const sigset_t* mask) {
  struct sigaction action = {0};
  action.sa_handler = handler;
  action.sa_flags = flags;
  if (mask != NULL)
    action.sa_mask = *mask;
  else
    sigemptyset(&action.sa_mask);
  CHECK_OK(sigaction(signo, &action, NULL));
}

/* Reads from a pipe that a child fills after 300 ms while SIGALRM fires
 * after 50 ms, and returns read()'s result with errno preserved. */
static ssize_t read_during_alarm(int flags) {
  install(SIGALRM, counting_handler, flags, NULL);
  int fds[2];
  if (pipe(fds) != 0) return -2;
  pid_t pid = fork();
  if (pid == 0) {
    usleep(300000);
    write(fds[1], "d", 1);
    _exit(0);
  }
  handler_count = 0;
  struct itimerval timer = {{0, 0}, {0, 50000}};
  setitimer(ITIMER_REAL, &timer, NULL);
  char byte;
  ssize_t result = read(fds[0], &byte, 1);
  int saved_errno = errno;
  waitpid(pid, NULL, 0);
  close(fds[0]);
  close(fds[1]);
  errno = saved_errno;
  return result;
}

static void test_restart(void) {
  CASE("SA_RESTART restarts an interrupted read");
  CHECK_EQ(read_during_alarm(SA_RESTART), 1);
  CHECK_EQ(handler_count, 1);

  CASE("without SA_RESTART the read fails with EINTR");
  CHECK_ERR(read_during_alarm(0), EINTR);
  CHECK_EQ(handler_count, 1);
}

static void test_resethand(void) {
  CASE("SA_RESETHAND restores SIG_DFL after one delivery");
  install(SIGUSR1, counting_handler, SA_RESETHAND, NULL);
  handler_count = 0;
  raise(SIGUSR1);
  CHECK_EQ(handler_count, 1);
  struct sigaction current;
  sigaction(SIGUSR1, NULL, &current);
  CHECK(current.sa_handler == SIG_DFL);

  CASE("second delivery after SA_RESETHAND takes the default action");
  pid_t pid = fork();
  if (pid == 0) {
    install(SIGUSR1, counting_handler, SA_RESETHAND, NULL);
    raise(SIGUSR1);
    raise(SIGUSR1);
    _exit(0);
  }
  int status = 0;
  CHECK_EQ(waitpid(pid, &status, 0), pid);
  CHECK(WIFSIGNALED(status));
  CHECK_EQ(WTERMSIG(status), SIGUSR1);
}

static void test_nodefer(void) {
  CASE("without SA_NODEFER the signal is blocked inside its handler");
  install(SIGUSR2, recursive_handler, 0, NULL);
  handler_count = 0;
  depth = 0;
  max_depth = 0;
  raise(SIGUSR2);
  CHECK_EQ(handler_count, 2);
  CHECK_EQ(max_depth, 1);

  CASE("SA_NODEFER lets the handler interrupt itself");
  install(SIGUSR2, recursive_handler, SA_NODEFER, NULL);
  handler_count = 0;
  depth = 0;
  max_depth = 0;
  raise(SIGUSR2);
  CHECK_EQ(handler_count, 2);
  CHECK_EQ(max_depth, 2);
  signal(SIGUSR2, SIG_DFL);
}

static void test_siginfo(void) {
  CASE("SA_SIGINFO handler receives siginfo and ucontext");
  struct sigaction action = {0};
  action.sa_sigaction = info_handler;
  action.sa_flags = SA_SIGINFO;
  sigemptyset(&action.sa_mask);
  CHECK_OK(sigaction(SIGUSR1, &action, NULL));
  memset(&saved_info, 0, sizeof saved_info);
  saved_context_valid = 0;
  union sigval value = {.sival_int = 77};
  CHECK_OK(sigqueue(getpid(), SIGUSR1, value));
  CHECK_EQ(saved_info.si_signo, SIGUSR1);
  CHECK_EQ(saved_info.si_code, SI_QUEUE);
  CHECK_EQ(saved_info.si_value.sival_int, 77);
  CHECK_EQ(saved_info.si_pid, getpid());
  CHECK_EQ(saved_context_valid, 1);

  CASE("old action reports the installed flags and handler");
  struct sigaction old;
  CHECK_OK(sigaction(SIGUSR1, NULL, &old));
  CHECK(old.sa_sigaction == info_handler);
  CHECK_EQ(old.sa_flags & (SA_SIGINFO | SA_RESTART), SA_SIGINFO);
  CHECK_EQ(old.sa_flags & SA_RESTORER_FLAG, SA_RESTORER_FLAG);
  signal(SIGUSR1, SIG_DFL);
}

static void test_mask(void) {
  CASE("sa_mask and the signal itself are blocked in the handler");
  sigset_t extra;
  sigemptyset(&extra);
  sigaddset(&extra, SIGTERM);
  install(SIGUSR1, mask_handler, 0, &extra);
  handler_count = 0;
  raise(SIGUSR1);
  CHECK_EQ(handler_count, 1);
  CHECK_EQ(sigismember(&mask_in_handler, SIGTERM), 1);
  CHECK_EQ(sigismember(&mask_in_handler, SIGUSR1), 1);
  CHECK_EQ(sigismember(&mask_in_handler, SIGUSR2), 0);

  CASE("the mask is restored after the handler returns");
  sigset_t after;
  sigprocmask(SIG_SETMASK, NULL, &after);
  CHECK_EQ(sigismember(&after, SIGTERM), 0);
  CHECK_EQ(sigismember(&after, SIGUSR1), 0);
  signal(SIGUSR1, SIG_DFL);
}

static void test_unknown_flags(void) {
  CASE("unknown sa_flags bits are accepted and cleared on read back");
  struct sigaction action = {0};
  action.sa_handler = counting_handler;
  action.sa_flags = SA_UNSUPPORTED_FLAG;
  CHECK_EQ(sigaction(SIGUSR2, &action, NULL), 0);
  struct sigaction old;
  CHECK_EQ(sigaction(SIGUSR2, NULL, &old), 0);
  CHECK_EQ(old.sa_flags & SA_UNSUPPORTED_FLAG, 0);
  signal(SIGUSR2, SIG_DFL);
}

int main(void) {
  test_restart();
  test_resethand();
  test_nodefer();
  test_siginfo();
  test_mask();
  test_unknown_flags();
  return check_finish();
}
