/* Record locks: POSIX F_SETLK/F_GETLK/F_SETLKW, open file description locks
 * (F_OFD_*), flock(), deadlock detection and release rules. */
#include "check.h"

#include <fcntl.h>
#include <sys/file.h>

static char* directory;
static char path[4200];

static struct flock range(short type, off_t start, off_t length) {
  struct flock lock;
  memset(&lock, 0, sizeof lock);
  lock.l_type = type;
  lock.l_whence = SEEK_SET;
  lock.l_start = start;
  lock.l_len = length;
  return lock;
}

/* What another process saw when it probed a range: the F_GETLK result and
 * the errno of F_SETLK, or 0 if it got the lock. */
struct probe {
  int setlk_errno;
  short conflict_type;
  pid_t conflict_pid;
  off_t conflict_start;
  off_t conflict_length;
};

/* Probes a range from a child process, which is a different lock owner. */
static struct probe probe_from_child(short type, off_t start, off_t length) {
  int fds[2];
  struct probe result;
  memset(&result, 0, sizeof result);
  if (pipe(fds) != 0) return result;
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open(path, O_RDWR);
    struct flock lock = range(type, start, length);
    struct probe report;
    memset(&report, 0, sizeof report);
    fcntl(fd, F_GETLK, &lock);
    report.conflict_type = lock.l_type;
    report.conflict_pid = lock.l_pid;
    report.conflict_start = lock.l_start;
    report.conflict_length = lock.l_len;
    lock = range(type, start, length);
    report.setlk_errno = fcntl(fd, F_SETLK, &lock) == 0 ? 0 : errno;
    write(fds[1], &report, sizeof report);
    _exit(0);
  }
  read(fds[0], &result, sizeof result);
  waitpid(pid, NULL, 0);
  close(fds[0]);
  close(fds[1]);
  return result;
}

static void test_posix_locks(int fd) {
  CASE("F_GETLK in another process reports a write lock and its owner");
  struct flock lock = range(F_WRLCK, 10, 20);
  CHECK_EQ(fcntl(fd, F_SETLK, &lock), 0);
  struct probe seen = probe_from_child(F_RDLCK, 0, 100);
  CHECK_EQ(seen.conflict_type, F_WRLCK);
  CHECK_EQ(seen.conflict_pid, getpid());
  CHECK_EQ(seen.conflict_start, 10);
  CHECK_EQ(seen.conflict_length, 20);

  CASE("conflicting F_SETLK fails with EAGAIN");
  CHECK_EQ(seen.setlk_errno, EAGAIN);

  CASE("non-overlapping range can be locked");
  seen = probe_from_child(F_WRLCK, 30, 10);
  CHECK_EQ(seen.conflict_type, F_UNLCK);
  CHECK_EQ(seen.setlk_errno, 0);

  CASE("read locks are shared but exclude write locks");
  lock = range(F_RDLCK, 10, 20);
  CHECK_EQ(fcntl(fd, F_SETLK, &lock), 0);
  seen = probe_from_child(F_RDLCK, 10, 5);
  CHECK_EQ(seen.setlk_errno, 0);
  seen = probe_from_child(F_WRLCK, 10, 5);
  CHECK_EQ(seen.setlk_errno, EAGAIN);
  CHECK_EQ(seen.conflict_type, F_RDLCK);

  CASE("unlocking the middle splits a lock");
  lock = range(F_WRLCK, 0, 100);
  CHECK_EQ(fcntl(fd, F_SETLK, &lock), 0);
  lock = range(F_UNLCK, 40, 20);
  CHECK_EQ(fcntl(fd, F_SETLK, &lock), 0);
  CHECK_EQ(probe_from_child(F_WRLCK, 45, 5).setlk_errno, 0);
  CHECK_EQ(probe_from_child(F_WRLCK, 10, 5).setlk_errno, EAGAIN);
  CHECK_EQ(probe_from_child(F_WRLCK, 70, 5).setlk_errno, EAGAIN);

  CASE("F_GETLK on the owner's own lock reports F_UNLCK");
  lock = range(F_WRLCK, 0, 100);
  CHECK_EQ(fcntl(fd, F_GETLK, &lock), 0);
  CHECK_EQ(lock.l_type, F_UNLCK);

  CASE("closing any descriptor of the file releases the process's locks");
  int other = open(path, O_RDONLY);
  close(other);
  CHECK_EQ(probe_from_child(F_WRLCK, 0, 100).setlk_errno, 0);

  CASE("length 0 locks to the end of file and beyond");
  lock = range(F_WRLCK, 1000, 0);
  CHECK_EQ(fcntl(fd, F_SETLK, &lock), 0);
  CHECK_EQ(probe_from_child(F_WRLCK, 1 << 30, 1).setlk_errno, EAGAIN);
  lock = range(F_UNLCK, 0, 0);
  CHECK_EQ(fcntl(fd, F_SETLK, &lock), 0);
}

static void test_lock_errors(int fd) {
  CASE("invalid l_type fails with EINVAL");
  struct flock lock = range(99, 0, 1);
  CHECK_ERR(fcntl(fd, F_SETLK, &lock), EINVAL);

  CASE("closed descriptor fails with EBADF");
  lock = range(F_WRLCK, 0, 1);
  CHECK_ERR(fcntl(12345, F_SETLK, &lock), EBADF);

  CASE("write lock on a read-only descriptor fails with EBADF");
  int readonly = open(path, O_RDONLY);
  CHECK_ERR(fcntl(readonly, F_SETLK, &lock), EBADF);
  close(readonly);

  CASE("negative start fails with EINVAL");
  lock = range(F_WRLCK, -5, 1);
  CHECK_ERR(fcntl(fd, F_SETLK, &lock), EINVAL);
}

static void test_blocking_and_deadlock(int fd) {
  CASE("F_SETLKW waits until the lock is released");
  struct flock lock = range(F_WRLCK, 0, 10);
  CHECK_EQ(fcntl(fd, F_SETLK, &lock), 0);
  int ready[2];
  CHECK_OK(pipe(ready));
  pid_t pid = fork();
  if (pid == 0) {
    int child_fd = open(path, O_RDWR);
    struct flock wanted = range(F_WRLCK, 0, 10);
    write(ready[1], "r", 1);
    _exit(fcntl(child_fd, F_SETLKW, &wanted) == 0 ? 0 : 1);
  }
  char byte;
  read(ready[0], &byte, 1);
  usleep(50000);
  int status = 0;
  CHECK_EQ(waitpid(pid, &status, WNOHANG), 0);
  lock = range(F_UNLCK, 0, 10);
  CHECK_EQ(fcntl(fd, F_SETLK, &lock), 0);
  CHECK_CHILD_EXIT(pid, 0);

  CASE("exactly one side of a lock cycle gets EDEADLK");
  lock = range(F_WRLCK, 0, 1);
  CHECK_EQ(fcntl(fd, F_SETLK, &lock), 0);
  pid = fork();
  if (pid == 0) {
    int child_fd = open(path, O_RDWR);
    struct flock own = range(F_WRLCK, 1, 1);
    fcntl(child_fd, F_SETLK, &own);
    write(ready[1], "r", 1);
    struct flock wanted = range(F_WRLCK, 0, 1);
    if (fcntl(child_fd, F_SETLKW, &wanted) == -1 && errno == EDEADLK) _exit(3);
    _exit(0);
  }
  read(ready[0], &byte, 1);
  struct flock wanted = range(F_WRLCK, 1, 1);
  int parent_deadlock = 0;
  if (fcntl(fd, F_SETLKW, &wanted) == -1) {
    CHECK_EQ(errno, EDEADLK);
    parent_deadlock = 1;
    lock = range(F_UNLCK, 0, 1);
    fcntl(fd, F_SETLK, &lock);
  }
  status = 0;
  waitpid(pid, &status, 0);
  CHECK(WIFEXITED(status));
  int child_deadlock = WIFEXITED(status) && WEXITSTATUS(status) == 3;
  CHECK_EQ(parent_deadlock + child_deadlock, 1);
  lock = range(F_UNLCK, 0, 0);
  fcntl(fd, F_SETLK, &lock);
  close(ready[0]);
  close(ready[1]);
}

static void test_ofd_locks(void) {
  CASE("OFD locks on two opens in one process conflict");
  int first = open(path, O_RDWR);
  int second = open(path, O_RDWR);
  struct flock lock = range(F_WRLCK, 0, 10);
  CHECK_EQ(fcntl(first, F_OFD_SETLK, &lock), 0);
  lock = range(F_WRLCK, 5, 10);
  CHECK_ERR(fcntl(second, F_OFD_SETLK, &lock), EAGAIN);

  CASE("F_OFD_GETLK reports l_pid -1");
  lock = range(F_WRLCK, 0, 1);
  CHECK_EQ(fcntl(second, F_OFD_GETLK, &lock), 0);
  CHECK_EQ(lock.l_type, F_WRLCK);
  CHECK_EQ(lock.l_pid, -1);

  CASE("OFD lock with non-zero l_pid fails with EINVAL");
  lock = range(F_WRLCK, 50, 1);
  lock.l_pid = getpid();
  CHECK_ERR(fcntl(first, F_OFD_SETLK, &lock), EINVAL);

  CASE("OFD lock is released when its description is closed");
  close(first);
  lock = range(F_WRLCK, 0, 10);
  CHECK_EQ(fcntl(second, F_OFD_SETLK, &lock), 0);
  close(second);
}

static void test_flock(void) {
  CASE("flock LOCK_EX on a second open fails with EWOULDBLOCK");
  int first = open(path, O_RDWR);
  int second = open(path, O_RDWR);
  CHECK_EQ(flock(first, LOCK_EX), 0);
  CHECK_ERR(flock(second, LOCK_EX | LOCK_NB), EWOULDBLOCK);

  CASE("flock is shared through dup");
  int copy = dup(first);
  CHECK_EQ(flock(copy, LOCK_EX | LOCK_NB), 0);
  close(copy);

  CASE("LOCK_SH can be held by several opens");
  CHECK_EQ(flock(first, LOCK_UN), 0);
  CHECK_EQ(flock(first, LOCK_SH), 0);
  CHECK_EQ(flock(second, LOCK_SH | LOCK_NB), 0);
  CHECK_ERR(flock(open(path, O_RDONLY), LOCK_EX | LOCK_NB), EWOULDBLOCK);

  CASE("flock with an invalid operation fails with EINVAL");
  CHECK_ERR(flock(first, 0), EINVAL);
  close(first);
  close(second);
}

int main(void) {
  directory = check_make_temp_dir();
  snprintf(path, sizeof path, "%s/file", directory);
  int fd = open(path, O_RDWR | O_CREAT, 0644);
  CHECK_EQ(write(fd, "0123456789", 10), 10);
  test_posix_locks(fd);
  test_lock_errors(fd);
  test_blocking_and_deadlock(fd);
  test_ofd_locks();
  test_flock();
  close(fd);
  check_remove_tree(directory);
  return check_finish();
}
