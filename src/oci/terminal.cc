#include "oci/terminal.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include <cstring>
#include <fmt/format.h>

namespace moat::oci {
namespace {

// Connects to a unix stream socket by a path of any length, through a
// descriptor of its directory.
int ConnectStream(const std::string& path) {
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : path.substr(0, slash);
  if (dir.empty()) dir = "/";
  std::string name = path.substr(slash == std::string::npos ? 0 : slash + 1);
  int dir_fd = open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) return -1;
  sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  int len = snprintf(addr.sun_path, sizeof addr.sun_path,
                     "/proc/self/fd/%d/%s", dir_fd, name.c_str());
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  bool ok = fd >= 0 && len < int(sizeof addr.sun_path) &&
            connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  int error = errno;
  close(dir_fd);
  if (!ok) {
    if (fd >= 0) close(fd);
    errno = error;
    return -1;
  }
  return fd;
}

bool SendFd(int sock, int fd, const char* name) {
  iovec iov = {const_cast<char*>(name), strlen(name)};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr mh = {};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = control;
  mh.msg_controllen = sizeof control;
  cmsghdr* c = CMSG_FIRSTHDR(&mh);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof fd);
  return sendmsg(sock, &mh, MSG_NOSIGNAL) == ssize_t(iov.iov_len);
}

}  // namespace

std::string SendConsole(const std::string& socket_path, unsigned rows,
                        unsigned cols, int* slave) {
  int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0)
    return fmt::format("opening a pty: {}", strerror(errno));
  const char* name = ptsname(master);
  *slave = name ? open(name, O_RDWR | O_NOCTTY | O_CLOEXEC) : -1;
  if (*slave < 0) {
    close(master);
    return fmt::format("opening the pty's slave: {}", strerror(errno));
  }
  if (rows && cols) {
    struct winsize ws = {};
    ws.ws_row = rows;
    ws.ws_col = cols;
    ioctl(master, TIOCSWINSZ, &ws);
  }
  int sock = ConnectStream(socket_path);
  bool sent = sock >= 0 && SendFd(sock, master, "/dev/ptmx");
  int error = errno;
  if (sock >= 0) close(sock);
  close(master);
  if (!sent) {
    close(*slave);
    *slave = -1;
    return fmt::format("--console-socket {}: {}", socket_path,
                       strerror(error));
  }
  return "";
}

}  // namespace moat::oci
