/* Unix domain sockets: socketpair stream, datagram and seqpacket semantics,
 * SCM_RIGHTS and SCM_CREDENTIALS, SO_PEERCRED, named and abstract
 * addresses, shutdown and errors. */
#include "check.h"

#include <fcntl.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

static char* directory;

/* Sends data with SCM_RIGHTS carrying count descriptors. */
static ssize_t send_fds(int socket_fd, const int* fds, int count) {
  char data = 'F';
  struct iovec vector = {&data, 1};
  char control[CMSG_SPACE(sizeof(int) * 8)];
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
  return sendmsg(socket_fd, &message, 0);
}

/* Receives descriptors into fds; returns how many arrived, or -1. */
static int receive_fds(int socket_fd, int* fds, int capacity,
                       size_t control_size, int flags, int* message_flags) {
  char data;
  struct iovec vector = {&data, 1};
  char control[CMSG_SPACE(sizeof(int) * 8)];
  struct msghdr message = {0};
  message.msg_iov = &vector;
  message.msg_iovlen = 1;
  message.msg_control = control;
  message.msg_controllen = control_size;
  if (recvmsg(socket_fd, &message, flags) < 0) return -1;
  *message_flags = message.msg_flags;
  int count = 0;
  for (struct cmsghdr* header = CMSG_FIRSTHDR(&message); header != NULL;
       header = CMSG_NXTHDR(&message, header)) {
    if (header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_RIGHTS)
      continue;
    int n = (header->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (int i = 0; i < n && count < capacity; i++)
      memcpy(&fds[count++], CMSG_DATA(header) + i * sizeof(int), sizeof(int));
  }
  return count;
}

static void test_stream_pair(void) {
  CASE("stream socketpair carries bytes both ways");
  int pair[2];
  CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
  CHECK_EQ(write(pair[0], "ping", 4), 4);
  char buffer[64] = {0};
  CHECK_EQ(read(pair[1], buffer, sizeof buffer), 4);
  CHECK_STR(buffer, "ping");
  CHECK_EQ(write(pair[1], "pong", 4), 4);
  memset(buffer, 0, sizeof buffer);
  CHECK_EQ(read(pair[0], buffer, sizeof buffer), 4);
  CHECK_STR(buffer, "pong");

  CASE("MSG_PEEK leaves the data queued");
  CHECK_EQ(send(pair[0], "peek", 4, 0), 4);
  memset(buffer, 0, sizeof buffer);
  CHECK_EQ(recv(pair[1], buffer, sizeof buffer, MSG_PEEK), 4);
  CHECK_EQ(recv(pair[1], buffer, sizeof buffer, 0), 4);

  CASE("MSG_DONTWAIT on an empty socket fails with EAGAIN");
  CHECK_ERR(recv(pair[1], buffer, sizeof buffer, MSG_DONTWAIT), EAGAIN);

  CASE("SO_PEERCRED names the peer process");
  struct ucred credentials = {0};
  socklen_t length = sizeof credentials;
  CHECK_EQ(getsockopt(pair[0], SOL_SOCKET, SO_PEERCRED, &credentials, &length),
           0);
  CHECK_EQ(credentials.pid, getpid());
  CHECK_EQ(credentials.uid, getuid());
  CHECK_EQ(credentials.gid, getgid());

  CASE("SHUT_WR makes the peer read end of file");
  CHECK_EQ(shutdown(pair[0], SHUT_WR), 0);
  CHECK_EQ(read(pair[1], buffer, sizeof buffer), 0);
  CHECK_ERR(send(pair[0], "x", 1, MSG_NOSIGNAL), EPIPE);

  CASE("sending to a closed peer fails with EPIPE");
  close(pair[0]);
  CHECK_ERR(send(pair[1], "x", 1, MSG_NOSIGNAL), EPIPE);
  close(pair[1]);
}

static void test_message_boundaries(void) {
  CASE("datagram socketpair keeps message boundaries");
  int pair[2];
  CHECK_EQ(socketpair(AF_UNIX, SOCK_DGRAM, 0, pair), 0);
  CHECK_EQ(send(pair[0], "one", 3, 0), 3);
  CHECK_EQ(send(pair[0], "three", 5, 0), 5);
  char buffer[64];
  CHECK_EQ(recv(pair[1], buffer, sizeof buffer, 0), 3);
  CHECK_EQ(recv(pair[1], buffer, sizeof buffer, 0), 5);

  CASE(
      "truncated datagram sets MSG_TRUNC and MSG_TRUNC returns the full "
      "length");
  CHECK_EQ(send(pair[0], "truncated", 9, 0), 9);
  struct iovec vector = {buffer, 4};
  struct msghdr message = {0};
  message.msg_iov = &vector;
  message.msg_iovlen = 1;
  CHECK_EQ(recvmsg(pair[1], &message, 0), 4);
  CHECK_EQ(message.msg_flags & MSG_TRUNC, MSG_TRUNC);
  CHECK_EQ(send(pair[0], "truncated", 9, 0), 9);
  CHECK_EQ(recv(pair[1], buffer, 2, MSG_TRUNC), 9);
  close(pair[0]);
  close(pair[1]);

  CASE("seqpacket socketpair keeps boundaries and reports end of file");
  CHECK_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, pair), 0);
  CHECK_EQ(send(pair[0], "ab", 2, 0), 2);
  CHECK_EQ(send(pair[0], "cde", 3, 0), 3);
  CHECK_EQ(recv(pair[1], buffer, sizeof buffer, 0), 2);
  CHECK_EQ(recv(pair[1], buffer, sizeof buffer, 0), 3);
  close(pair[0]);
  CHECK_EQ(recv(pair[1], buffer, sizeof buffer, 0), 0);
  close(pair[1]);
}

static void test_rights(void) {
  int pair[2];
  CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);

  CASE("SCM_RIGHTS passes a working duplicate of a descriptor");
  int pipe_fds[2];
  CHECK_OK(pipe(pipe_fds));
  CHECK_EQ(send_fds(pair[0], &pipe_fds[0], 1), 1);
  int received[8];
  int message_flags = 0;
  CHECK_EQ(receive_fds(pair[1], received, 8, CMSG_SPACE(sizeof(int) * 8), 0,
                       &message_flags),
           1);
  struct stat original, copy;
  CHECK_OK(fstat(pipe_fds[0], &original));
  CHECK_OK(fstat(received[0], &copy));
  CHECK_EQ(copy.st_ino, original.st_ino);
  CHECK_NE(received[0], pipe_fds[0]);
  CHECK_EQ(write(pipe_fds[1], "via", 3), 3);
  char buffer[8] = {0};
  CHECK_EQ(read(received[0], buffer, sizeof buffer), 3);
  CHECK_STR(buffer, "via");
  CHECK_EQ(fcntl(received[0], F_GETFD), 0);
  close(received[0]);

  CASE("SCM_RIGHTS passes several descriptors across processes");
  pid_t pid = fork();
  if (pid == 0) {
    int three[3] = {pipe_fds[0], pipe_fds[1], pipe_fds[0]};
    _exit(send_fds(pair[0], three, 3) == 1 ? 0 : 1);
  }
  CHECK_CHILD_EXIT(pid, 0);
  CHECK_EQ(receive_fds(pair[1], received, 8, CMSG_SPACE(sizeof(int) * 8), 0,
                       &message_flags),
           3);
  for (int i = 0; i < 3; i++) close(received[i]);

  CASE("MSG_CMSG_CLOEXEC sets FD_CLOEXEC on received descriptors");
  CHECK_EQ(send_fds(pair[0], &pipe_fds[0], 1), 1);
  CHECK_EQ(receive_fds(pair[1], received, 8, CMSG_SPACE(sizeof(int) * 8),
                       MSG_CMSG_CLOEXEC, &message_flags),
           1);
  CHECK_EQ(fcntl(received[0], F_GETFD), FD_CLOEXEC);
  close(received[0]);

  CASE("too small a control buffer sets MSG_CTRUNC and drops descriptors");
  int four[4] = {pipe_fds[0], pipe_fds[0], pipe_fds[0], pipe_fds[0]};
  CHECK_EQ(send_fds(pair[0], four, 4), 1);
  int before = dup(0);
  close(before);
  CHECK_EQ(receive_fds(pair[1], received, 8, CMSG_LEN(sizeof(int)), 0,
                       &message_flags),
           1);
  CHECK_EQ(message_flags & MSG_CTRUNC, MSG_CTRUNC);
  close(received[0]);
  int after = dup(0);
  CHECK_EQ(after, before);
  close(after);

  CASE("sending a closed descriptor fails with EBADF");
  int bad = 12345;
  CHECK_ERR(send_fds(pair[0], &bad, 1), EBADF);
  close(pipe_fds[0]);
  close(pipe_fds[1]);
  close(pair[0]);
  close(pair[1]);
}

static void test_credentials(void) {
  CASE("SCM_CREDENTIALS with SO_PASSCRED reports the sender");
  int pair[2];
  CHECK_EQ(socketpair(AF_UNIX, SOCK_DGRAM, 0, pair), 0);
  int on = 1;
  CHECK_EQ(setsockopt(pair[1], SOL_SOCKET, SO_PASSCRED, &on, sizeof on), 0);
  pid_t pid = fork();
  if (pid == 0) _exit(send(pair[0], "c", 1, 0) == 1 ? 0 : 1);
  CHECK_CHILD_EXIT(pid, 0);
  char data;
  struct iovec vector = {&data, 1};
  char control[CMSG_SPACE(sizeof(struct ucred))];
  struct msghdr message = {0};
  message.msg_iov = &vector;
  message.msg_iovlen = 1;
  message.msg_control = control;
  message.msg_controllen = sizeof control;
  CHECK_EQ(recvmsg(pair[1], &message, 0), 1);
  struct cmsghdr* header = CMSG_FIRSTHDR(&message);
  CHECK(header != NULL);
  if (header != NULL) {
    CHECK_EQ(header->cmsg_type, SCM_CREDENTIALS);
    struct ucred credentials;
    memcpy(&credentials, CMSG_DATA(header), sizeof credentials);
    CHECK_EQ(credentials.pid, pid);
    CHECK_EQ(credentials.uid, getuid());
  }
  close(pair[0]);
  close(pair[1]);
}

static void test_named(void) {
  struct sockaddr_un address = {.sun_family = AF_UNIX};
  snprintf(address.sun_path, sizeof address.sun_path, "%s/socket", directory);

  CASE("bind creates a socket file and listen/connect/accept work");
  int server = socket(AF_UNIX, SOCK_STREAM, 0);
  CHECK_EQ(bind(server, (struct sockaddr*)&address, sizeof address), 0);
  struct stat info;
  CHECK_OK(stat(address.sun_path, &info));
  CHECK(S_ISSOCK(info.st_mode));

  CASE("connect before listen fails with ECONNREFUSED");
  int client = socket(AF_UNIX, SOCK_STREAM, 0);
  CHECK_ERR(connect(client, (struct sockaddr*)&address, sizeof address),
            ECONNREFUSED);
  close(client);

  CHECK_EQ(listen(server, 4), 0);
  client = socket(AF_UNIX, SOCK_STREAM, 0);
  CHECK_EQ(connect(client, (struct sockaddr*)&address, sizeof address), 0);
  int accepted = accept(server, NULL, NULL);
  CHECK(accepted >= 0);
  CHECK_EQ(write(client, "hi", 2), 2);
  char buffer[8] = {0};
  CHECK_EQ(read(accepted, buffer, sizeof buffer), 2);

  CASE("getsockname returns the bound path");
  struct sockaddr_un name;
  socklen_t length = sizeof name;
  CHECK_EQ(getsockname(server, (struct sockaddr*)&name, &length), 0);
  CHECK_STR(name.sun_path, address.sun_path);

  CASE("binding an existing path fails with EADDRINUSE");
  int other = socket(AF_UNIX, SOCK_STREAM, 0);
  CHECK_ERR(bind(other, (struct sockaddr*)&address, sizeof address),
            EADDRINUSE);
  close(other);

  CASE("connecting to a missing path fails with ENOENT");
  struct sockaddr_un missing = {.sun_family = AF_UNIX};
  snprintf(missing.sun_path, sizeof missing.sun_path, "%s/missing", directory);
  other = socket(AF_UNIX, SOCK_STREAM, 0);
  CHECK_ERR(connect(other, (struct sockaddr*)&missing, sizeof missing), ENOENT);
  close(other);
  close(accepted);
  close(client);
  close(server);

  CASE("abstract addresses connect without a file");
  struct sockaddr_un abstract = {.sun_family = AF_UNIX};
  int name_length =
      snprintf(abstract.sun_path + 1, sizeof abstract.sun_path - 1,
               "moat-conformance-%d", getpid());
  socklen_t abstract_length =
      offsetof(struct sockaddr_un, sun_path) + 1 + name_length;
  server = socket(AF_UNIX, SOCK_STREAM, 0);
  CHECK_EQ(bind(server, (struct sockaddr*)&abstract, abstract_length), 0);
  CHECK_EQ(listen(server, 1), 0);
  client = socket(AF_UNIX, SOCK_STREAM, 0);
  CHECK_EQ(connect(client, (struct sockaddr*)&abstract, abstract_length), 0);
  close(client);
  close(server);
}

static void test_errors(void) {
  int pair[2];
  CASE("socketpair for AF_INET fails with EOPNOTSUPP");
  CHECK_ERR(socketpair(AF_INET, SOCK_STREAM, 0, pair), EOPNOTSUPP);

  CASE("unknown socket type fails with EINVAL");
  CHECK_ERR(socketpair(AF_UNIX, 12345, 0, pair), EINVAL);

  CASE("recv on a non-socket fails with ENOTSOCK");
  int fds[2];
  CHECK_OK(pipe(fds));
  char byte;
  CHECK_ERR(recv(fds[0], &byte, 1, MSG_DONTWAIT), ENOTSOCK);
  close(fds[0]);
  close(fds[1]);
}

int main(void) {
  directory = check_make_temp_dir();
  test_stream_pair();
  test_message_boundaries();
  test_rights();
  test_credentials();
  test_named();
  test_errors();
  check_remove_tree(directory);
  return check_finish();
}
