/* Which blocking calls a signal handler interrupts with EINTR, and which
 * SA_RESTART restarts.
 *
 * read, wait4 and FUTEX_WAIT without a timeout are restarted. nanosleep, poll,
 * select, epoll_wait, sigsuspend and FUTEX_WAIT with a timeout fail with EINTR
 * even with SA_RESTART. Signals whose action is to ignore interrupt nothing.
 * SIGALRM from setitimer fires 50 ms into each call, and a helper ends most
 * waits after 200 to 250 ms, so a call that is not interrupted still returns.
 */
#include "check.h"

#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>

static volatile sig_atomic_t alarm_count;

static void on_alarm(int signo) { alarm_count++; }

static void arm(int flags) {
  struct sigaction action = {0};
  action.sa_handler = on_alarm;
  action.sa_flags = flags;
  sigemptyset(&action.sa_mask);
  sigaction(SIGALRM, &action, NULL);
  alarm_count = 0;
  struct itimerval timer = {{0, 0}, {0, 50000}};
  setitimer(ITIMER_REAL, &timer, NULL);
}

/* Starts a child that writes one byte to fd after 250 ms. */
static pid_t write_later(int fd) {
  pid_t pid = fork();
  if (pid == 0) {
    usleep(250000);
    write(fd, "w", 1);
    _exit(0);
  }
  return pid;
}

/* Ends a helper whose byte is no longer needed. */
static void stop_helper(pid_t pid) {
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
}

static void test_read(void) {
  int fds[2];
  CHECK_OK(pipe(fds));
  char byte;

  CASE("SA_RESTART restarts read");
  pid_t helper = write_later(fds[1]);
  arm(SA_RESTART);
  CHECK_EQ(read(fds[0], &byte, 1), 1);
  CHECK_EQ(alarm_count, 1);
  waitpid(helper, NULL, 0);

  CASE("read without SA_RESTART fails with EINTR");
  helper = write_later(fds[1]);
  arm(0);
  CHECK_ERR(read(fds[0], &byte, 1), EINTR);
  CHECK_EQ(alarm_count, 1);
  stop_helper(helper);

  CASE("signal with default ignore action does not interrupt read");
  signal(SIGWINCH, SIG_DFL);
  pid_t parent = getpid();
  helper = fork();
  if (helper == 0) {
    usleep(50000);
    kill(parent, SIGWINCH);
    usleep(100000);
    write(fds[1], "w", 1);
    _exit(0);
  }
  CHECK_EQ(read(fds[0], &byte, 1), 1);
  waitpid(helper, NULL, 0);
  close(fds[0]);
  close(fds[1]);
}

static void test_wait(void) {
  CASE("SA_RESTART restarts wait4");
  pid_t child = fork();
  if (child == 0) {
    usleep(200000);
    _exit(3);
  }
  arm(SA_RESTART);
  int status = 0;
  CHECK_EQ(waitpid(child, &status, 0), child);
  CHECK_EQ(alarm_count, 1);

  CASE("wait4 without SA_RESTART fails with EINTR");
  child = fork();
  if (child == 0) {
    usleep(200000);
    _exit(3);
  }
  arm(0);
  CHECK_ERR(waitpid(child, &status, 0), EINTR);
  CHECK_CHILD_EXIT(child, 3);
}

static void test_never_restarted(void) {
  int fds[2];
  CHECK_OK(pipe(fds));
  pid_t helper;

  CASE("nanosleep fails with EINTR even with SA_RESTART");
  arm(SA_RESTART);
  struct timespec request = {0, 250 * 1000 * 1000};
  CHECK_ERR(nanosleep(&request, NULL), EINTR);

  CASE("poll fails with EINTR even with SA_RESTART");
  helper = write_later(fds[1]);
  arm(SA_RESTART);
  struct pollfd entry = {fds[0], POLLIN, 0};
  CHECK_ERR(poll(&entry, 1, -1), EINTR);
  stop_helper(helper);

  CASE("select fails with EINTR even with SA_RESTART");
  helper = write_later(fds[1]);
  arm(SA_RESTART);
  fd_set readable;
  FD_ZERO(&readable);
  FD_SET(fds[0], &readable);
  CHECK_ERR(select(fds[0] + 1, &readable, NULL, NULL, NULL), EINTR);
  stop_helper(helper);

  CASE("epoll_wait fails with EINTR even with SA_RESTART");
  int epfd = epoll_create1(0);
  struct epoll_event event = {.events = EPOLLIN};
  epoll_ctl(epfd, EPOLL_CTL_ADD, fds[0], &event);
  helper = write_later(fds[1]);
  arm(SA_RESTART);
  CHECK_ERR(epoll_wait(epfd, &event, 1, -1), EINTR);
  stop_helper(helper);
  close(epfd);

  CASE("sigsuspend fails with EINTR even with SA_RESTART");
  arm(SA_RESTART);
  sigset_t empty;
  sigemptyset(&empty);
  CHECK_ERR(sigsuspend(&empty), EINTR);
  CHECK_EQ(alarm_count, 1);
  close(fds[0]);
  close(fds[1]);
}

static uint32_t futex_word;

static void* wake_later(void* argument) {
  usleep(200000);
  syscall(SYS_futex, &futex_word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
  return NULL;
}

static void test_futex(void) {
  CASE("FUTEX_WAIT without a timeout is restarted with SA_RESTART");
  futex_word = 0;
  pthread_t waker;
  pthread_create(&waker, NULL, wake_later, NULL);
  arm(SA_RESTART);
  CHECK_EQ(
      syscall(SYS_futex, &futex_word, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0), 0);
  CHECK_EQ(alarm_count, 1);
  pthread_join(waker, NULL);

  CASE("FUTEX_WAIT without SA_RESTART fails with EINTR");
  pthread_create(&waker, NULL, wake_later, NULL);
  arm(0);
  CHECK_ERR(
      syscall(SYS_futex, &futex_word, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0),
      EINTR);
  CHECK_EQ(alarm_count, 1);
  pthread_join(waker, NULL);

  CASE("FUTEX_WAIT with a timeout fails with EINTR even with SA_RESTART");
  arm(SA_RESTART);
  struct timespec timeout = {0, 250 * 1000 * 1000};
  CHECK_ERR(
      syscall(SYS_futex, &futex_word, FUTEX_WAIT_PRIVATE, 0, &timeout, NULL, 0),
      EINTR);
  CHECK_EQ(alarm_count, 1);
}

int main(void) {
  test_read();
  test_wait();
  test_never_restarted();
  test_futex();
  return check_finish();
}
