/* Sockets that only files in flight keep alive are collected. Here a
 * socket pair's queues hold descriptors of the pair itself and of a pipe's
 * write end. Once the program closes its own descriptors the pair is
 * freed, so the pipe's reader sees end of file. Linux does this in
 * net/unix/garbage.c; without it each such cycle keeps its memory and
 * files for as long as the sandbox runs. */
#include "check.h"

#include <poll.h>
#include <sys/socket.h>

static void send_fds(int socket_fd, const int* fds, int count) {
  char data = 'F';
  struct iovec vector = {&data, 1};
  char control[CMSG_SPACE(sizeof(int) * 4)];
  memset(control, 0, sizeof control);
  struct msghdr message = {0};
  message.msg_iov = &vector;
  message.msg_iovlen = 1;
  message.msg_control = control;
  message.msg_controllen = CMSG_SPACE(sizeof(int) * count);
  struct cmsghdr* header = CMSG_FIRSTHDR(&message);
  header->cmsg_level = SOL_SOCKET;
  header->cmsg_type = SCM_RIGHTS;
  header->cmsg_len = CMSG_LEN(sizeof(int) * count);
  memcpy(CMSG_DATA(header), fds, sizeof(int) * count);
  CHECK_EQ(sendmsg(socket_fd, &message, 0), 1);
}

/* Waits up to 5 s for end of file on `reader`. Linux starts its collector
 * when a socket is released while others are in flight, and runs it in a
 * work queue, so a socket pair is opened and closed here to start it. */
static int reads_eof(int reader) {
  int other[2];
  CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, other));
  close(other[0]);
  close(other[1]);
  struct pollfd p = {reader, POLLIN, 0};
  if (poll(&p, 1, 5000) != 1) return 0;
  char c;
  return read(reader, &c, 1) == 0;
}

/* Makes a cycle of `type` sockets that contains the write end of a pipe, and
 * closes everything but the pipe's read end. */
static int cycle_holding_pipe(int type, int self_only) {
  int pair[2], pipe_fds[2];
  CHECK_OK(socketpair(AF_UNIX, type, 0, pair));
  CHECK_OK(pipe(pipe_fds));
  if (self_only) {
    /* pair[1]'s queue contains pair[1] itself. */
    int fds[2] = {pair[1], pipe_fds[1]};
    send_fds(pair[0], fds, 2);
  } else {
    /* Each queue contains the other end. */
    int to_one[2] = {pair[0], pipe_fds[1]};
    send_fds(pair[0], to_one, 2);
    int to_zero[1] = {pair[1]};
    send_fds(pair[1], to_zero, 1);
  }
  close(pipe_fds[1]);
  close(pair[0]);
  close(pair[1]);
  return pipe_fds[0];
}

int main(void) {
  CASE("a stream socket holding itself is collected");
  int reader = cycle_holding_pipe(SOCK_STREAM, 1);
  CHECK(reads_eof(reader));
  close(reader);

  CASE("a stream pair holding each other is collected");
  reader = cycle_holding_pipe(SOCK_STREAM, 0);
  CHECK(reads_eof(reader));
  close(reader);

  CASE("a datagram pair holding each other is collected");
  reader = cycle_holding_pipe(SOCK_DGRAM, 0);
  CHECK(reads_eof(reader));
  close(reader);

  CASE("a socket in flight that a descriptor still reaches stays");
  int pair[2], pipe_fds[2];
  CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, pair));
  CHECK_OK(pipe(pipe_fds));
  int writer[1] = {pipe_fds[1]};
  send_fds(pair[1], writer, 1); /* into pair[0]'s queue */
  int self[1] = {pair[0]};
  send_fds(pair[0], self, 1); /* pair[0] into pair[1]'s queue */
  close(pipe_fds[1]);
  close(pair[0]); /* pair[1] can still receive it */
  /* Closing another socket runs the collector, which must keep pair[0]. */
  int other[2];
  CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, other));
  close(other[0]);
  close(other[1]);
  struct pollfd p = {pipe_fds[0], POLLIN, 0};
  CHECK_EQ(poll(&p, 1, 200), 0); /* the writer is still held */
  close(pair[1]);
  CHECK(reads_eof(pipe_fds[0]));
  close(pipe_fds[0]);
  return check_finish();
}
