/* TCP and UDP over IPv4 and IPv6 loopback: names and ephemeral ports,
 * connecting and accepting, port conflicts, refused connections, UDP
 * datagrams and their source addresses, dual-stack listeners and
 * IPV6_V6ONLY, and the socket options programs read. SCM_RIGHTS is
 * ignored on IP sockets. */
#include "check.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

static struct sockaddr_in loopback4(int port) {
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

static int port_of(int fd) {
  struct sockaddr_storage a;
  socklen_t len = sizeof a;
  CHECK_OK(getsockname(fd, (struct sockaddr*)&a, &len));
  return a.ss_family == AF_INET ? ntohs(((struct sockaddr_in*)&a)->sin_port)
                                : ntohs(((struct sockaddr_in6*)&a)->sin6_port);
}

/* A listening TCP socket on 127.0.0.1 and a free port. */
static int listener4(void) {
  int s = CHECK_OK(socket(AF_INET, SOCK_STREAM, 0));
  struct sockaddr_in a = loopback4(0);
  CHECK_OK(bind(s, (struct sockaddr*)&a, sizeof a));
  CHECK_OK(listen(s, 8));
  return s;
}

static int get_int(int fd, int level, int name) {
  int v = -1;
  socklen_t len = sizeof v;
  CHECK_OK(getsockopt(fd, level, name, &v, &len));
  CHECK_EQ(len, sizeof v);
  return v;
}

static void tcp_v4(void) {
  CASE("TCP over 127.0.0.1: names on both ends and data both ways");
  int l = listener4();
  int port = port_of(l);
  CHECK(port != 0);
  int c = CHECK_OK(socket(AF_INET, SOCK_STREAM, 0));
  struct sockaddr_in to = loopback4(port);
  CHECK_OK(connect(c, (struct sockaddr*)&to, sizeof to));
  struct sockaddr_in peer;
  socklen_t len = sizeof peer;
  int a = CHECK_OK(accept(l, (struct sockaddr*)&peer, &len));
  CHECK_EQ(len, sizeof peer);
  CHECK_EQ(peer.sin_family, AF_INET);
  CHECK_EQ(ntohl(peer.sin_addr.s_addr), INADDR_LOOPBACK);
  CHECK_EQ(ntohs(peer.sin_port), port_of(c));
  struct sockaddr_in seen;
  len = sizeof seen;
  CHECK_OK(getpeername(c, (struct sockaddr*)&seen, &len));
  CHECK_EQ(ntohs(seen.sin_port), port);
  CHECK_EQ(port_of(a), port);
  CHECK_EQ(write(c, "ping", 4), 4);
  char buf[8] = {0};
  CHECK_EQ(read(a, buf, sizeof buf), 4);
  CHECK_STR(buf, "ping");
  CHECK_EQ(write(a, "pong", 4), 4);
  CHECK_EQ(read(c, buf, sizeof buf), 4);
  CHECK_OK(shutdown(c, SHUT_WR));
  CHECK_EQ(read(a, buf, sizeof buf), 0);

  CASE("TCP socket options");
  CHECK_EQ(get_int(c, SOL_SOCKET, SO_DOMAIN), AF_INET);
  CHECK_EQ(get_int(c, SOL_SOCKET, SO_PROTOCOL), IPPROTO_TCP);
  CHECK_EQ(get_int(c, SOL_SOCKET, SO_TYPE), SOCK_STREAM);
  CHECK_EQ(get_int(l, SOL_SOCKET, SO_ACCEPTCONN), 1);
  CHECK_EQ(get_int(c, IPPROTO_TCP, TCP_NODELAY), 0);
  int one = 1;
  CHECK_OK(setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one));
  CHECK_EQ(get_int(c, IPPROTO_TCP, TCP_NODELAY), 1);
  CHECK_EQ(get_int(c, IPPROTO_IP, IP_TTL), 64);

  CASE("SCM_RIGHTS over TCP is ignored: only the byte arrives");
  char data = 'x';
  struct iovec v = {&data, 1};
  char control[CMSG_SPACE(sizeof(int))] = {0};
  struct msghdr m = {0};
  m.msg_iov = &v;
  m.msg_iovlen = 1;
  m.msg_control = control;
  m.msg_controllen = sizeof control;
  struct cmsghdr* h = CMSG_FIRSTHDR(&m);
  h->cmsg_level = SOL_SOCKET;
  h->cmsg_type = SCM_RIGHTS;
  h->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(h), &c, sizeof c);
  CHECK_EQ(sendmsg(a, &m, 0), 1);
  int before = CHECK_OK(dup(0));
  close(before);
  char got[CMSG_SPACE(sizeof(int))];
  struct msghdr in = {0};
  in.msg_iov = &v;
  in.msg_iovlen = 1;
  in.msg_control = got;
  in.msg_controllen = sizeof got;
  CHECK_EQ(recvmsg(c, &in, 0), 1);
  CHECK_EQ(in.msg_controllen, 0);
  CHECK_EQ(dup(0), before); /* no descriptor was installed */
  close(before);
  close(a);
  close(c);

  CASE("a bound port is in use, even with SO_REUSEADDR while it listens");
  int again = CHECK_OK(socket(AF_INET, SOCK_STREAM, 0));
  CHECK_OK(setsockopt(again, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one));
  CHECK_ERR(bind(again, (struct sockaddr*)&to, sizeof to), EADDRINUSE);
  struct sockaddr_in any = to;
  any.sin_addr.s_addr = htonl(INADDR_ANY);
  CHECK_ERR(bind(again, (struct sockaddr*)&any, sizeof any), EADDRINUSE);
  close(again);

  CASE("connecting to a port nobody listens on is refused");
  int holder = CHECK_OK(socket(AF_INET, SOCK_STREAM, 0));
  struct sockaddr_in free_port = loopback4(0);
  CHECK_OK(bind(holder, (struct sockaddr*)&free_port, sizeof free_port));
  struct sockaddr_in closed = loopback4(port_of(holder));
  c = CHECK_OK(socket(AF_INET, SOCK_STREAM, 0));
  CHECK_ERR(connect(c, (struct sockaddr*)&closed, sizeof closed),
            ECONNREFUSED);
  close(c);
  close(holder);

  CASE("a non-blocking connect completes and reports no error");
  c = CHECK_OK(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0));
  int r = connect(c, (struct sockaddr*)&to, sizeof to);
  CHECK(r == 0 || errno == EINPROGRESS);
  struct pollfd p = {c, POLLOUT, 0};
  CHECK_EQ(poll(&p, 1, 5000), 1);
  CHECK_EQ(get_int(c, SOL_SOCKET, SO_ERROR), 0);
  a = CHECK_OK(accept(l, NULL, NULL));
  close(a);
  close(c);
  close(l);

  CASE("an address this host does not have cannot be bound");
  int s = CHECK_OK(socket(AF_INET, SOCK_STREAM, 0));
  struct sockaddr_in foreign = loopback4(0);
  inet_pton(AF_INET, "192.0.2.1", &foreign.sin_addr); /* TEST-NET-1 */
  CHECK_ERR(bind(s, (struct sockaddr*)&foreign, sizeof foreign),
            EADDRNOTAVAIL);
  close(s);
}

static void udp_v4(void) {
  CASE("UDP datagrams carry their source address");
  int r = CHECK_OK(socket(AF_INET, SOCK_DGRAM, 0));
  struct sockaddr_in a = loopback4(0);
  CHECK_OK(bind(r, (struct sockaddr*)&a, sizeof a));
  struct sockaddr_in to = loopback4(port_of(r));
  int s = CHECK_OK(socket(AF_INET, SOCK_DGRAM, 0));
  CHECK_EQ(sendto(s, "one", 3, 0, (struct sockaddr*)&to, sizeof to), 3);
  CHECK_EQ(sendto(s, "two!", 4, 0, (struct sockaddr*)&to, sizeof to), 4);
  char buf[16];
  struct sockaddr_in from;
  socklen_t len = sizeof from;
  CHECK_EQ(recvfrom(r, buf, sizeof buf, 0, (struct sockaddr*)&from, &len), 3);
  CHECK_EQ(ntohl(from.sin_addr.s_addr), INADDR_LOOPBACK);
  CHECK_EQ(ntohs(from.sin_port), port_of(s));
  CHECK(port_of(s) != 0);
  CHECK_EQ(recv(r, buf, 2, MSG_TRUNC), 4);
  CHECK_EQ(get_int(s, SOL_SOCKET, SO_PROTOCOL), IPPROTO_UDP);

  CASE("a connected UDP socket learns that nobody listens");
  int dead = CHECK_OK(socket(AF_INET, SOCK_DGRAM, 0));
  struct sockaddr_in dead_addr = loopback4(0);
  CHECK_OK(bind(dead, (struct sockaddr*)&dead_addr, sizeof dead_addr));
  struct sockaddr_in gone = loopback4(port_of(dead));
  close(dead);
  int c = CHECK_OK(socket(AF_INET, SOCK_DGRAM, 0));
  CHECK_OK(connect(c, (struct sockaddr*)&gone, sizeof gone));
  CHECK_EQ(send(c, "x", 1, 0), 1);
  CHECK_ERR(send(c, "x", 1, 0), ECONNREFUSED);
  CHECK_ERR(send(r, "x", 1, 0), EDESTADDRREQ);
  close(c);
  close(s);
  close(r);
}

static void dual_stack(void) {
  CASE("an IPv6 listener on :: takes IPv4 connections as mapped addresses");
  int l = CHECK_OK(socket(AF_INET6, SOCK_STREAM, 0));
  struct sockaddr_in6 any6 = {0};
  any6.sin6_family = AF_INET6;
  CHECK_OK(bind(l, (struct sockaddr*)&any6, sizeof any6));
  CHECK_OK(listen(l, 4));
  int c = CHECK_OK(socket(AF_INET, SOCK_STREAM, 0));
  struct sockaddr_in to = loopback4(port_of(l));
  CHECK_OK(connect(c, (struct sockaddr*)&to, sizeof to));
  struct sockaddr_in6 peer;
  socklen_t len = sizeof peer;
  int a = CHECK_OK(accept(l, (struct sockaddr*)&peer, &len));
  CHECK_EQ(len, sizeof peer);
  CHECK_EQ(peer.sin6_family, AF_INET6);
  CHECK(IN6_IS_ADDR_V4MAPPED(&peer.sin6_addr));
  close(a);
  close(c);

  CASE("::1 to ::1");
  c = CHECK_OK(socket(AF_INET6, SOCK_STREAM, 0));
  struct sockaddr_in6 to6 = {0};
  to6.sin6_family = AF_INET6;
  to6.sin6_addr = in6addr_loopback;
  to6.sin6_port = htons(port_of(l));
  CHECK_OK(connect(c, (struct sockaddr*)&to6, sizeof to6));
  len = sizeof peer;
  a = CHECK_OK(accept(l, (struct sockaddr*)&peer, &len));
  CHECK(IN6_IS_ADDR_LOOPBACK(&peer.sin6_addr));
  close(a);
  close(c);
  close(l);

  CASE("IPV6_V6ONLY keeps IPv4 out");
  l = CHECK_OK(socket(AF_INET6, SOCK_STREAM, 0));
  int one = 1;
  CHECK_OK(setsockopt(l, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one));
  CHECK_EQ(get_int(l, IPPROTO_IPV6, IPV6_V6ONLY), 1);
  CHECK_OK(bind(l, (struct sockaddr*)&any6, sizeof any6));
  CHECK_OK(listen(l, 4));
  c = CHECK_OK(socket(AF_INET, SOCK_STREAM, 0));
  to = loopback4(port_of(l));
  CHECK_ERR(connect(c, (struct sockaddr*)&to, sizeof to), ECONNREFUSED);
  close(c);
  close(l);
}

int main(void) {
  CASE("socket types and protocols");
  CHECK_ERR(socket(AF_INET, SOCK_STREAM, IPPROTO_UDP), EPROTONOSUPPORT);
  CHECK_ERR(socket(AF_INET, SOCK_DGRAM, IPPROTO_TCP), EPROTONOSUPPORT);
  tcp_v4();
  udp_v4();
  dual_stack();
  return check_finish();
}
