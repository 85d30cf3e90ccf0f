#include "oci/state.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <fmt/format.h>

#include <fstream>
#include <sstream>

namespace moat::oci {
namespace {

constexpr size_t kMaxMessage = 1 << 20;

// A socket address for DIR/control that fits sun_path whatever the length
// of DIR: the path goes through a descriptor of DIR in /proc/self/fd.
struct ControlAddress {
  int dir_fd = -1;
  sockaddr_un addr = {};
  explicit ControlAddress(const std::string& dir) {
    dir_fd = open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    addr.sun_family = AF_UNIX;
    snprintf(addr.sun_path, sizeof addr.sun_path, "/proc/self/fd/%d/control",
             dir_fd);
  }
  ~ControlAddress() {
    if (dir_fd >= 0) close(dir_fd);
  }
};

}  // namespace

std::string ValidateId(const std::string& id) {
  if (id.empty() || id.size() > 1024 || id == "." || id == "..")
    return fmt::format("container id \"{}\": invalid; use letters, digits, "
                       "'_', '+', '-' and '.'",
                       id);
  for (char c : id)
    if (!isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '+' &&
        c != '-' && c != '.')
      return fmt::format("container id \"{}\": invalid character '{}'; use "
                         "letters, digits, '_', '+', '-' and '.'",
                         id, c);
  return "";
}

std::string StateDir(const std::string& root, const std::string& id) {
  return root + "/" + id;
}

std::string SaveState(const std::string& root, const State& s) {
  nlohmann::json j = {{"id", s.id},
                      {"bundle", s.bundle},
                      {"status", s.status},
                      {"pid", s.pid},
                      {"pid_start", s.pid_start},
                      {"kernel_pid", s.kernel_pid},
                      {"sandbox", s.sandbox},
                      {"created", s.created},
                      {"annotations", s.annotations}};
  std::string dir = StateDir(root, s.id);
  std::string tmp = dir + "/state.json.tmp";
  {
    std::ofstream out(tmp);
    out << j.dump() << "\n";
    if (!out) return fmt::format("{}: cannot be written", tmp);
  }
  if (rename(tmp.c_str(), (dir + "/state.json").c_str()) != 0)
    return fmt::format("{}/state.json: {}", dir, strerror(errno));
  return "";
}

std::string LoadState(const std::string& root, const std::string& id,
                      State* out) {
  if (std::string e = ValidateId(id); !e.empty()) return e;
  std::string path = StateDir(root, id) + "/state.json";
  std::ifstream in(path);
  if (!in)
    return fmt::format("container \"{}\" does not exist under --root {}", id,
                       root);
  auto j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_discarded())
    return fmt::format("{}: damaged; remove it with `moat delete --force {}`",
                       path, id);
  out->id = j.value("id", id);
  out->bundle = j.value("bundle", "");
  out->status = j.value("status", "created");
  out->pid = j.value("pid", 0);
  out->pid_start = j.value("pid_start", uint64_t(0));
  out->kernel_pid = j.value("kernel_pid", 0);
  out->sandbox = j.value("sandbox", "");
  out->created = j.value("created", "");
  out->annotations =
      j.value("annotations", std::map<std::string, std::string>{});
  return "";
}

std::vector<std::string> ListIds(const std::string& root) {
  std::vector<std::string> ids;
  DIR* d = opendir(root.c_str());
  if (!d) return ids;
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    struct stat st;
    if (stat((root + "/" + name + "/state.json").c_str(), &st) == 0)
      ids.push_back(name);
  }
  closedir(d);
  std::sort(ids.begin(), ids.end());
  return ids;
}

uint64_t ProcessStartTime(pid_t pid) {
  if (pid <= 0) return 0;
  std::ifstream in(fmt::format("/proc/{}/stat", pid));
  std::string line;
  if (!std::getline(in, line)) return 0;
  // The command name may hold spaces and parentheses: fields follow the
  // last ')'.
  size_t close = line.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(line.substr(close + 2));
  std::string field;
  rest >> field;  // field 3, the state
  if (field == "Z" || field == "X") return 0;
  for (int i = 4; i <= 22; i++) rest >> field;
  return std::strtoull(field.c_str(), nullptr, 10);
}

std::string CurrentStatus(const State& s) {
  if (s.pid <= 0 || ProcessStartTime(s.pid) != s.pid_start) return "stopped";
  return s.status;
}

nlohmann::json RuntimeState(const State& s) {
  std::string status = CurrentStatus(s);
  nlohmann::json j = {{"ociVersion", "1.0.2"},
                      {"id", s.id},
                      {"status", status},
                      {"pid", status == "stopped" ? 0 : s.pid},
                      {"bundle", s.bundle},
                      {"created", s.created}};
  j["annotations"] = s.annotations;
  return j;
}

nlohmann::json HookState(const State& s, const std::string& status) {
  nlohmann::json j = RuntimeState(s);
  j["status"] = status;
  j["pid"] = s.kernel_pid;
  return j;
}

int ListenControl(const std::string& dir) {
  ControlAddress a(dir);
  int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0 || a.dir_fd < 0) return -1;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a.addr), sizeof a.addr) != 0 ||
      listen(fd, 16) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

int ConnectControl(const std::string& dir) {
  ControlAddress a(dir);
  int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0 || a.dir_fd < 0) return -1;
  if (connect(fd, reinterpret_cast<sockaddr*>(&a.addr), sizeof a.addr) != 0) {
    int error = errno;
    close(fd);
    errno = error;
    return -1;
  }
  return fd;
}

bool SendMessage(int fd, const nlohmann::json& msg,
                 const std::vector<int>& fds) {
  std::string text = msg.dump();
  iovec iov = {text.data(), text.size()};
  msghdr mh = {};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  std::vector<char> control(CMSG_SPACE(sizeof(int) * fds.size()));
  if (!fds.empty()) {
    mh.msg_control = control.data();
    mh.msg_controllen = control.size();
    cmsghdr* c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  ssize_t n;
  do {
    n = sendmsg(fd, &mh, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  return n == ssize_t(text.size());
}

bool ReceiveMessage(int fd, nlohmann::json* msg, std::vector<int>* fds) {
  std::string buf(kMaxMessage, '\0');
  iovec iov = {buf.data(), buf.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 8)];
  msghdr mh = {};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = control;
  mh.msg_controllen = sizeof control;
  ssize_t n;
  do {
    n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n <= 0) return false;
  for (cmsghdr* c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    std::vector<int> got(count);
    memcpy(got.data(), CMSG_DATA(c), count * sizeof(int));
    for (int f : got) {
      if (fds)
        fds->push_back(f);
      else
        close(f);
    }
  }
  buf.resize(n);
  *msg = nlohmann::json::parse(buf, nullptr, false);
  return !msg->is_discarded();
}

std::string ReplyError(const nlohmann::json& reply) {
  // The kernel may be in the hands of the program, so its replies are
  // checked before use.
  if (!reply.is_object()) return "invalid reply from the sandbox";
  auto it = reply.find("error");
  if (it == reply.end()) return "";
  return it->is_string() ? it->get<std::string>()
                         : "invalid reply from the sandbox";
}

std::string Request(const std::string& dir, const nlohmann::json& req,
                    nlohmann::json* reply) {
  int fd = ConnectControl(dir);
  if (fd < 0)
    return fmt::format("{}/control: {}; the sandbox is gone", dir,
                       strerror(errno));
  bool ok = SendMessage(fd, req) && ReceiveMessage(fd, reply);
  close(fd);
  if (!ok) return fmt::format("{}/control: the sandbox did not reply", dir);
  return ReplyError(*reply);
}

std::string ControlDir(const std::string& root, const State& s) {
  return StateDir(root, s.sandbox.empty() ? s.id : s.sandbox);
}

nlohmann::json AddressedTo(const State& s, nlohmann::json req) {
  if (!s.sandbox.empty()) req["container"] = s.id;
  return req;
}

std::string RequestFor(const std::string& root, const State& s,
                       const nlohmann::json& req, nlohmann::json* reply) {
  return Request(ControlDir(root, s), AddressedTo(s, req), reply);
}

}  // namespace moat::oci
