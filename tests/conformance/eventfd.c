/* eventfd(): counter semantics, EFD_SEMAPHORE, overflow, readiness and errors.
 */
#include "check.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/eventfd.h>

static void* write_later(void* argument) {
  usleep(50000);
  uint64_t value = 5;
  write(*(int*)argument, &value, sizeof value);
  return NULL;
}

static void* read_later(void* argument) {
  usleep(50000);
  uint64_t value;
  read(*(int*)argument, &value, sizeof value);
  return NULL;
}

int main(void) {
  CASE("read returns the counter and resets it");
  int fd = eventfd(3, EFD_NONBLOCK);
  CHECK(fd >= 0);
  uint64_t value = 0;
  CHECK_EQ(read(fd, &value, sizeof value), 8);
  CHECK_EQ(value, 3);
  CHECK_ERR(read(fd, &value, sizeof value), EAGAIN);

  CASE("writes add to the counter");
  value = 2;
  CHECK_EQ(write(fd, &value, sizeof value), 8);
  value = 40;
  CHECK_EQ(write(fd, &value, sizeof value), 8);
  CHECK_EQ(read(fd, &value, sizeof value), 8);
  CHECK_EQ(value, 42);

  CASE("writing UINT64_MAX fails with EINVAL");
  value = UINT64_MAX;
  CHECK_ERR(write(fd, &value, sizeof value), EINVAL);

  CASE("buffers shorter than 8 bytes fail with EINVAL");
  uint32_t small = 1;
  CHECK_ERR(write(fd, &small, sizeof small), EINVAL);
  CHECK_ERR(read(fd, &small, sizeof small), EINVAL);

  CASE("overflowing the counter fails with EAGAIN when non-blocking");
  value = UINT64_MAX - 1;
  CHECK_EQ(write(fd, &value, sizeof value), 8);
  value = 1;
  CHECK_ERR(write(fd, &value, sizeof value), EAGAIN);

  CASE("poll reports POLLIN and not POLLOUT at the maximum");
  struct pollfd entry = {fd, POLLIN | POLLOUT, 0};
  CHECK_EQ(poll(&entry, 1, 0), 1);
  CHECK_EQ(entry.revents, POLLIN);
  CHECK_EQ(read(fd, &value, sizeof value), 8);
  CHECK_EQ(value, UINT64_MAX - 1);

  CASE("poll reports only POLLOUT on a zero counter");
  entry.revents = 0;
  CHECK_EQ(poll(&entry, 1, 0), 1);
  CHECK_EQ(entry.revents, POLLOUT);
  close(fd);

  CASE("EFD_SEMAPHORE reads decrement by one");
  fd = eventfd(2, EFD_SEMAPHORE | EFD_NONBLOCK);
  CHECK_EQ(read(fd, &value, sizeof value), 8);
  CHECK_EQ(value, 1);
  CHECK_EQ(read(fd, &value, sizeof value), 8);
  CHECK_EQ(value, 1);
  CHECK_ERR(read(fd, &value, sizeof value), EAGAIN);
  close(fd);

  CASE("EFD_CLOEXEC and EFD_NONBLOCK set descriptor flags");
  fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  CHECK_EQ(fcntl(fd, F_GETFD), FD_CLOEXEC);
  CHECK_EQ(fcntl(fd, F_GETFL) & O_NONBLOCK, O_NONBLOCK);
  close(fd);

  CASE("unknown flags fail with EINVAL");
  CHECK_ERR(eventfd(0, 0x10), EINVAL);

  CASE("blocking read waits for a writer thread");
  fd = eventfd(0, 0);
  pthread_t thread;
  CHECK_EQ(pthread_create(&thread, NULL, write_later, &fd), 0);
  value = 0;
  CHECK_EQ(read(fd, &value, sizeof value), 8);
  CHECK_EQ(value, 5);
  pthread_join(thread, NULL);

  CASE("blocking write that would overflow waits for a reader");
  // The counter (5) is far from its maximum, so poll reports POLLOUT, yet
  // this write does not fit until the reader empties the counter.
  fd = eventfd(5, 0);
  CHECK_EQ(pthread_create(&thread, NULL, read_later, &fd), 0);
  value = UINT64_MAX - 3;
  CHECK_EQ(write(fd, &value, sizeof value), 8);
  pthread_join(thread, NULL);
  CHECK_EQ(read(fd, &value, sizeof value), 8);
  CHECK_EQ(value, UINT64_MAX - 3);
  close(fd);
  fd = eventfd(0, 0);

  CASE("counter is shared with a forked child");
  pid_t pid = fork();
  if (pid == 0) {
    uint64_t one = 1;
    write(fd, &one, sizeof one);
    _exit(0);
  }
  CHECK_CHILD_EXIT(pid, 0);
  CHECK_EQ(read(fd, &value, sizeof value), 8);
  CHECK_EQ(value, 1);
  close(fd);
  return check_finish();
}
