/* AF_UNIX sends and receives with lengths far beyond the readable buffer:
 * a stream sends what it can read, a datagram too large fails with
 * EMSGSIZE, and a receive fills only what arrived. */
#include "check.h"

#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>

#define VALID (32 * 4096)
#define HUGE_LEN (1UL << 40)

/* Maps VALID readable bytes followed by an inaccessible page. */
static char* map_buffer(void) {
  char* buf = mmap(NULL, VALID + 4096, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  CHECK(buf != MAP_FAILED);
  CHECK_OK(mprotect(buf + VALID, 4096, PROT_NONE));
  for (int i = 0; i < VALID; i++) buf[i] = (char)(i * 7);
  return buf;
}

static void test_stream_send(char* buf) {
  CASE("stream send with a huge length sends the readable part");
  int sv[2];
  CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv));
  ssize_t sent = send(sv[0], buf, HUGE_LEN, 0);
  CHECK(sent > 0);
  CHECK(sent <= VALID);
  char* got = malloc(VALID);
  ssize_t n = recv(sv[1], got, VALID, 0);
  CHECK_EQ(n, sent);
  CHECK(n > 0 && memcmp(got, buf, n) == 0);
  free(got);

  CASE("stream send from an unreadable buffer fails with EFAULT");
  CHECK_ERR(send(sv[0], buf + VALID, HUGE_LEN, 0), EFAULT);
  close(sv[0]);
  close(sv[1]);
}

static void test_datagram_send(char* buf) {
  CASE("datagram longer than any buffer fails with EMSGSIZE");
  int sv[2];
  CHECK_OK(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, sv));
  CHECK_ERR(send(sv[0], buf, HUGE_LEN, 0), EMSGSIZE);
  CHECK_ERR(send(sv[0], buf + VALID, HUGE_LEN, 0), EMSGSIZE);

  CASE("datagram that fits is sent whole");
  CHECK_EQ(send(sv[0], buf, 1000, 0), 1000);
  char got[1000];
  CHECK_EQ(recv(sv[1], got, sizeof got, 0), 1000);
  CHECK(memcmp(got, buf, 1000) == 0);
  close(sv[0]);
  close(sv[1]);
}

static void test_huge_receive(char* buf) {
  CASE("recvmsg with a huge iov_len returns the queued bytes");
  int sv[2];
  CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv));
  CHECK_EQ(send(sv[0], "0123456789", 10, 0), 10);
  struct iovec iov = {buf, HUGE_LEN};
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
  CHECK_EQ(recvmsg(sv[1], &msg, 0), 10);
  CHECK(memcmp(buf, "0123456789", 10) == 0);

  CASE("recvmsg with a negative iov_len fails with EINVAL");
  iov.iov_len = (size_t)-1;
  CHECK_ERR(recvmsg(sv[1], &msg, 0), EINVAL);
  close(sv[0]);
  close(sv[1]);
}

static void test_waitall(void) {
  CASE("MSG_WAITALL gathers a megabyte sent in pieces");
  enum { TOTAL = 1 << 20 };
  int sv[2];
  CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
  pid_t pid = fork();
  if (pid == 0) {
    char piece[8192];
    for (int sent = 0; sent < TOTAL; sent += sizeof piece) {
      for (size_t i = 0; i < sizeof piece; i++) piece[i] = (char)(sent + i);
      if (write(sv[0], piece, sizeof piece) != sizeof piece) _exit(1);
    }
    _exit(0);
  }
  char* got = malloc(TOTAL);
  CHECK_EQ(recv(sv[1], got, TOTAL, MSG_WAITALL), TOTAL);
  int same = 1;
  for (int i = 0; i < TOTAL; i++) same &= got[i] == (char)i;
  CHECK(same);
  free(got);
  CHECK_CHILD_EXIT(pid, 0);
  close(sv[0]);
  close(sv[1]);
}

int main(void) {
  char* buf = map_buffer();
  test_stream_send(buf);
  test_datagram_send(buf);
  test_huge_receive(buf);
  test_waitall();
  return check_finish();
}
