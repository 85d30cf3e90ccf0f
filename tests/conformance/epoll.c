/* epoll: control operations, level and edge triggering, EPOLLONESHOT,
 * hang-ups, nesting, timeouts, signal masks and errors. */
#include "check.h"

#include <fcntl.h>
#include <sys/epoll.h>
#include <time.h>

static long elapsed_ms(const struct timespec* start) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (now.tv_sec - start->tv_sec) * 1000 +
         (now.tv_nsec - start->tv_nsec) / 1000000;
}

static volatile sig_atomic_t usr1_count;

static void on_usr1(int signo) { usr1_count++; }

static int add(int epfd, int fd, unsigned events, unsigned long long data) {
  struct epoll_event event = {.events = events, .data.u64 = data};
  return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &event);
}

int main(void) {
  CASE("epoll_create1 with O_CLOEXEC-equivalent flag sets FD_CLOEXEC");
  int epfd = epoll_create1(EPOLL_CLOEXEC);
  CHECK(epfd >= 0);
  CHECK_EQ(fcntl(epfd, F_GETFD), FD_CLOEXEC);

  CASE("epoll_create1 with unknown flags fails with EINVAL");
  CHECK_ERR(epoll_create1(1), EINVAL);

  CASE("epoll_create with size 0 fails with EINVAL");
  CHECK_ERR(epoll_create(0), EINVAL);

  int fds[2];
  CHECK_OK(pipe(fds));

  CASE("level-triggered read end reports EPOLLIN and user data");
  CHECK_EQ(add(epfd, fds[0], EPOLLIN, 0x1122334455667788ULL), 0);
  struct epoll_event events[4];
  CHECK_EQ(epoll_wait(epfd, events, 4, 0), 0);
  CHECK_EQ(write(fds[1], "ab", 2), 2);
  CHECK_EQ(epoll_wait(epfd, events, 4, 0), 1);
  CHECK_EQ(events[0].events, EPOLLIN);
  CHECK_EQ(events[0].data.u64, 0x1122334455667788ULL);

  CASE("level-triggered readiness repeats until drained");
  CHECK_EQ(epoll_wait(epfd, events, 4, 0), 1);
  char buffer[8];
  read(fds[0], buffer, sizeof buffer);
  CHECK_EQ(epoll_wait(epfd, events, 4, 0), 0);

  CASE("adding twice fails with EEXIST");
  CHECK_ERR(add(epfd, fds[0], EPOLLIN, 0), EEXIST);

  CASE("modifying or deleting an absent fd fails with ENOENT");
  struct epoll_event event = {.events = EPOLLIN};
  CHECK_ERR(epoll_ctl(epfd, EPOLL_CTL_MOD, fds[1], &event), ENOENT);
  CHECK_ERR(epoll_ctl(epfd, EPOLL_CTL_DEL, fds[1], &event), ENOENT);

  CASE("regular file fails with EPERM");
  int file = open("/proc/self/exe", O_RDONLY);
  CHECK_ERR(add(epfd, file, EPOLLIN, 0), EPERM);
  close(file);

  CASE("adding the epoll fd to itself fails with EINVAL");
  CHECK_ERR(add(epfd, epfd, EPOLLIN, 0), EINVAL);

  CASE("closed fd fails with EBADF");
  CHECK_ERR(add(epfd, 12345, EPOLLIN, 0), EBADF);

  CASE("unknown operation fails with EINVAL");
  CHECK_ERR(epoll_ctl(epfd, 99, fds[0], &event), EINVAL);

  CASE("maxevents 0 fails with EINVAL");
  CHECK_ERR(epoll_wait(epfd, events, 0, 0), EINVAL);

  CASE("epoll_wait on a non-epoll fd fails with EINVAL");
  CHECK_ERR(epoll_wait(fds[0], events, 4, 0), EINVAL);

  CASE("edge-triggered readiness is reported once per change");
  CHECK_OK(epoll_ctl(epfd, EPOLL_CTL_DEL, fds[0], NULL));
  CHECK_EQ(add(epfd, fds[0], EPOLLIN | EPOLLET, 7), 0);
  CHECK_EQ(write(fds[1], "x", 1), 1);
  CHECK_EQ(epoll_wait(epfd, events, 4, 0), 1);
  CHECK_EQ(epoll_wait(epfd, events, 4, 0), 0);
  CHECK_EQ(write(fds[1], "y", 1), 1);
  CHECK_EQ(epoll_wait(epfd, events, 4, 0), 1);
  read(fds[0], buffer, sizeof buffer);

  CASE("EPOLLONESHOT disables the entry until EPOLL_CTL_MOD");
  CHECK_OK(epoll_ctl(epfd, EPOLL_CTL_DEL, fds[0], NULL));
  CHECK_EQ(add(epfd, fds[0], EPOLLIN | EPOLLONESHOT, 8), 0);
  CHECK_EQ(write(fds[1], "x", 1), 1);
  CHECK_EQ(epoll_wait(epfd, events, 4, 0), 1);
  CHECK_EQ(epoll_wait(epfd, events, 4, 0), 0);
  event = (struct epoll_event){.events = EPOLLIN | EPOLLONESHOT, .data.u64 = 9};
  CHECK_EQ(epoll_ctl(epfd, EPOLL_CTL_MOD, fds[0], &event), 0);
  CHECK_EQ(epoll_wait(epfd, events, 4, 0), 1);
  CHECK_EQ(events[0].data.u64, 9);
  read(fds[0], buffer, sizeof buffer);
  CHECK_OK(epoll_ctl(epfd, EPOLL_CTL_DEL, fds[0], NULL));

  CASE("write end reports EPOLLOUT, then EPOLLERR when the reader closes");
  CHECK_EQ(add(epfd, fds[1], EPOLLOUT, 10), 0);
  CHECK_EQ(epoll_wait(epfd, events, 4, 0), 1);
  CHECK_EQ(events[0].events, EPOLLOUT);
  int read_end_copy = fds[0];
  close(read_end_copy);
  CHECK_EQ(epoll_wait(epfd, events, 4, 0), 1);
  CHECK_EQ(events[0].events, EPOLLOUT | EPOLLERR);

  CASE("closing the last reference removes the entry");
  close(fds[1]);
  CHECK_EQ(epoll_wait(epfd, events, 4, 0), 0);

  CASE("read end reports EPOLLHUP when the writer closes");
  CHECK_OK(pipe(fds));
  CHECK_EQ(add(epfd, fds[0], EPOLLIN, 11), 0);
  close(fds[1]);
  CHECK_EQ(epoll_wait(epfd, events, 4, 0), 1);
  CHECK_EQ(events[0].events, EPOLLHUP);
  close(fds[0]);

  CASE("timeout elapses when nothing is ready");
  CHECK_OK(pipe(fds));
  CHECK_EQ(add(epfd, fds[0], EPOLLIN, 12), 0);
  struct timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  CHECK_EQ(epoll_wait(epfd, events, 4, 100), 0);
  CHECK(elapsed_ms(&start) >= 100);

  CASE("data from another process wakes an infinite wait");
  pid_t pid = fork();
  if (pid == 0) {
    usleep(50000);
    write(fds[1], "w", 1);
    _exit(0);
  }
  CHECK_EQ(epoll_wait(epfd, events, 4, -1), 1);
  CHECK_EQ(events[0].data.u64, 12);
  CHECK_CHILD_EXIT(pid, 0);

  CASE("nested epoll fd becomes readable when the inner one is ready");
  int outer = epoll_create1(0);
  CHECK_EQ(add(outer, epfd, EPOLLIN, 13), 0);
  CHECK_EQ(epoll_wait(outer, events, 4, 0), 1);
  CHECK_EQ(events[0].data.u64, 13);
  read(fds[0], buffer, sizeof buffer);
  CHECK_EQ(epoll_wait(outer, events, 4, 0), 0);
  close(outer);

  CASE("epoll_pwait unblocks a signal only while waiting");
  signal(SIGUSR1, on_usr1);
  sigset_t block, wait_mask;
  sigemptyset(&block);
  sigaddset(&block, SIGUSR1);
  sigprocmask(SIG_BLOCK, &block, NULL);
  raise(SIGUSR1);
  sigemptyset(&wait_mask);
  CHECK_ERR(epoll_pwait(epfd, events, 4, 5000, &wait_mask), EINTR);
  CHECK_EQ(usr1_count, 1);
  close(fds[0]);
  close(fds[1]);
  close(epfd);
  return check_finish();
}
