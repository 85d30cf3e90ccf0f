/* kill(), tgkill(), tkill(), rt_sigqueueinfo(), pidfd_send_signal():
 * targets, process groups, permissions and errors. */
#include "check.h"

#include <pthread.h>
#include <sys/syscall.h>

static volatile pid_t handler_tid;
static volatile sig_atomic_t usr1_count;

static void on_usr1(int signo) {
  handler_tid = gettid();
  usr1_count++;
}

static pid_t reaped_pid(void) {
  pid_t pid = fork();
  if (pid == 0) _exit(0);
  waitpid(pid, NULL, 0);
  return pid;
}

static pid_t worker_tid;
static pthread_barrier_t barrier;

static void* worker(void* argument) {
  worker_tid = gettid();
  pthread_barrier_wait(&barrier);
  for (int i = 0; i < 5000 && handler_tid != worker_tid; i++) usleep(1000);
  return NULL;
}

int main(void) {
  signal(SIGUSR1, on_usr1);

  CASE("signal 0 checks that a process exists");
  CHECK_EQ(kill(getpid(), 0), 0);
  pid_t unused_pid = reaped_pid();
  CHECK_ERR(kill(unused_pid, 0), ESRCH);

  CASE("invalid signal numbers fail with EINVAL");
  CHECK_ERR(kill(getpid(), 65), EINVAL);
  CHECK_ERR(kill(getpid(), -1), EINVAL);

  CASE("kill terminates a child with the signal");
  pid_t pid = fork();
  if (pid == 0) {
    for (;;) pause();
  }
  CHECK_EQ(kill(pid, SIGTERM), 0);
  int status = 0;
  CHECK_EQ(waitpid(pid, &status, 0), pid);
  CHECK(WIFSIGNALED(status));
  CHECK_EQ(WTERMSIG(status), SIGTERM);

  CASE("tgkill delivers to the named thread");
  pthread_barrier_init(&barrier, NULL, 2);
  pthread_t thread;
  pthread_create(&thread, NULL, worker, NULL);
  pthread_barrier_wait(&barrier);
  handler_tid = 0;
  CHECK_EQ(syscall(SYS_tgkill, getpid(), worker_tid, SIGUSR1), 0);
  pthread_join(thread, NULL);
  CHECK_EQ(handler_tid, worker_tid);

  CASE("tgkill with the wrong thread group fails with ESRCH");
  CHECK_ERR(syscall(SYS_tgkill, unused_pid, gettid(), SIGUSR1), ESRCH);

  CASE("tgkill with a non-positive id fails with EINVAL");
  CHECK_ERR(syscall(SYS_tgkill, getpid(), 0, SIGUSR1), EINVAL);
  CHECK_ERR(syscall(SYS_tgkill, 0, gettid(), SIGUSR1), EINVAL);
  CHECK_ERR(syscall(SYS_tgkill, -1, gettid(), SIGUSR1), EINVAL);

  CASE("tkill delivers to the calling thread");
  handler_tid = 0;
  CHECK_EQ(syscall(SYS_tkill, gettid(), SIGUSR1), 0);
  CHECK_EQ(handler_tid, gettid());

  CASE("kill(0) signals the whole process group");
  int ready[2];
  CHECK_OK(pipe(ready));
  pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    signal(SIGUSR1, SIG_DFL);
    pid_t member = fork();
    if (member == 0) {
      write(ready[1], "m", 1);
      for (;;) pause();
    }
    char byte;
    read(ready[0], &byte, 1);
    signal(SIGUSR1, SIG_IGN);
    kill(0, SIGUSR1);
    int member_status = 0;
    waitpid(member, &member_status, 0);
    _exit(WIFSIGNALED(member_status) && WTERMSIG(member_status) == SIGUSR1 ? 0
                                                                           : 1);
  }
  CHECK_CHILD_EXIT(pid, 0);

  CASE("kill with a negative pid signals that process group");
  pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    for (;;) pause();
  }
  CHECK_OK(setpgid(pid, pid));
  CHECK_EQ(kill(-pid, SIGKILL), 0);
  CHECK_EQ(waitpid(pid, &status, 0), pid);
  CHECK(WIFSIGNALED(status));
  CHECK_EQ(WTERMSIG(status), SIGKILL);

  CASE("kill to an empty process group fails with ESRCH");
  CHECK_ERR(kill(-unused_pid, SIGUSR1), ESRCH);

  CASE("unprivileged sender to another user fails with EPERM");
  pid_t parent = getpid();
  pid = fork();
  if (pid == 0) {
    if (setuid(65534) != 0) _exit(90);
    CHECK_ERR(kill(parent, SIGUSR1), EPERM);
    CHECK_ERR(kill(parent, 0), EPERM);
    check_child_done();
  }
  CHECK_CHILD_EXIT(pid, 0);

  CASE("rt_sigqueueinfo with SI_QUEUE to self is delivered");
  siginfo_t info;
  memset(&info, 0, sizeof info);
  info.si_signo = SIGUSR1;
  info.si_code = SI_QUEUE;
  info.si_pid = getpid();
  info.si_uid = getuid();
  usr1_count = 0;
  CHECK_EQ(syscall(SYS_rt_sigqueueinfo, getpid(), SIGUSR1, &info), 0);
  CHECK_EQ(usr1_count, 1);

  CASE(
      "rt_sigqueueinfo with a kernel si_code to another process fails with "
      "EPERM");
  pid = fork();
  if (pid == 0) {
    for (;;) pause();
  }
  info.si_code = SI_USER;
  CHECK_ERR(syscall(SYS_rt_sigqueueinfo, pid, SIGUSR1, &info), EPERM);

  CASE("pidfd_send_signal kills through a pidfd");
  int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
  CHECK(pidfd >= 0);
  CHECK_EQ(syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0), 0);
  CHECK_EQ(waitpid(pid, &status, 0), pid);
  CHECK(WIFSIGNALED(status));
  CHECK_EQ(WTERMSIG(status), SIGKILL);

  CASE("pidfd_send_signal after the process is reaped fails with ESRCH");
  CHECK_ERR(syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0), ESRCH);
  close(pidfd);

  CASE("pidfd_open of a missing pid fails with ESRCH");
  CHECK_ERR(syscall(SYS_pidfd_open, unused_pid, 0), ESRCH);
  return check_finish();
}
