/* getpid(), getppid() and gettid(), written to hold both natively and as the
 * sandbox's first process. When this program is pid 1 its parent pid must be
 * 0; orphans are reparented to the nearest subreaper, which this program
 * makes itself so the check is the same in both settings. */
#include "check.h"

#include <pthread.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

static pid_t thread_pid;
static pid_t thread_tid;

static void* record_ids(void* argument) {
  thread_pid = getpid();
  thread_tid = gettid();
  return NULL;
}

int main(void) {
  pid_t pid = getpid();

  CASE("pid is positive and matches the raw system call");
  CHECK(pid > 0);
  CHECK_EQ(syscall(SYS_getpid), pid);

  CASE("pid 1 has parent pid 0");
  if (pid == 1) CHECK_EQ(getppid(), 0);
  if (pid != 1) CHECK(getppid() > 0);

  CASE("main thread's tid equals the pid");
  CHECK_EQ(gettid(), pid);

  CASE("another thread shares the pid and has its own tid");
  pthread_t thread;
  CHECK_EQ(pthread_create(&thread, NULL, record_ids, NULL), 0);
  pthread_join(thread, NULL);
  CHECK_EQ(thread_pid, pid);
  CHECK_NE(thread_tid, pid);
  CHECK(thread_tid > 0);

  CASE("a child's parent pid is this pid and its pid is new");
  int fds[2];
  CHECK_OK(pipe(fds));
  pid_t child = fork();
  if (child == 0) {
    pid_t ids[3] = {getpid(), getppid(), gettid()};
    write(fds[1], ids, sizeof ids);
    _exit(0);
  }
  pid_t ids[3] = {0, 0, 0};
  CHECK_EQ(read(fds[0], ids, sizeof ids), sizeof ids);
  CHECK_EQ(ids[0], child);
  CHECK_EQ(ids[1], pid);
  CHECK_EQ(ids[2], child);
  CHECK_NE(child, pid);
  CHECK(child > 1);
  CHECK_CHILD_EXIT(child, 0);

  CASE("an orphaned grandchild is reparented to the subreaper");
  CHECK_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 0);
  int report[2];
  CHECK_OK(pipe(report));
  child = fork();
  if (child == 0) {
    pid_t grandchild = fork();
    if (grandchild == 0) {
      for (int i = 0; i < 5000 && getppid() != pid; i++) usleep(1000);
      pid_t parent = getppid();
      write(report[1], &parent, sizeof parent);
      _exit(0);
    }
    _exit(0);
  }
  CHECK_CHILD_EXIT(child, 0);
  pid_t new_parent = 0;
  CHECK_EQ(read(report[0], &new_parent, sizeof new_parent), sizeof new_parent);
  CHECK_EQ(new_parent, pid);

  CASE("the reparented orphan is waitable");
  int status = 0;
  pid_t reaped = wait(&status);
  CHECK(reaped > 0);
  CHECK(WIFEXITED(status));
  CHECK_ERR(wait(NULL), ECHILD);

  CASE("process 1 exists");
  CHECK_EQ(kill(1, 0), 0);
  close(fds[0]);
  close(fds[1]);
  close(report[0]);
  close(report[1]);
  return check_finish();
}
