// Gofers for tests that need host files without starting `moat gofer`.
#pragma once

#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

#include "fs/gofer_fs.h"
#include "gofer/confine.h"
#include "gofer/process.h"
#include "gofer/server.h"

namespace moat {

// A gofer served by a thread of the test process.
class TestGofer {
 public:
  explicit TestGofer(std::vector<gofer::Root> roots) {
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0)
      abort();
    server_sock_ = pair[1];
    client_ = std::make_shared<gofer::Client>(pair[0]);
    std::string error = gofer::Server::Open(std::move(roots), &server_);
    if (!error.empty()) abort();
    thread_ = std::thread([this] { server_->Serve(server_sock_); });
  }
  ~TestGofer() {
    shutdown(server_sock_, SHUT_RDWR);
    thread_.join();
    close(server_sock_);
    delete server_;
  }

  // The root inode of root number `index`.
  InodePtr Root(uint32_t index = 0) {
    auto root = GoferInode::Attach(client_, index, false);
    if (!root.ok()) abort();
    return root.value();
  }
  gofer::Server& server() { return *server_; }

 private:
  int server_sock_;
  std::shared_ptr<gofer::Client> client_;
  gofer::Server* server_ = nullptr;
  std::thread thread_;
};

// A gofer in its own process, confined as `moat gofer` confines itself:
// namespaces (as root), Landlock, capabilities and the seccomp filter. A
// call the filter refuses kills it, and the test sees ECONNRESET.
class ConfinedTestGofer {
 public:
  explicit ConfinedTestGofer(std::vector<gofer::Root> roots) {
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0)
      abort();
    pid_ = static_cast<pid_t>(syscall(SYS_clone,
                                      gofer::NamespaceFlags() | SIGCHLD,
                                      nullptr, nullptr, nullptr, nullptr));
    if (pid_ < 0) abort();
    if (pid_ == 0)
      _exit(gofer::Main(pair[1], std::move(roots), "", false, false));
    close(pair[1]);
    client_ = std::make_shared<gofer::Client>(pair[0]);
  }
  ~ConfinedTestGofer() {
    client_.reset();
    int status;
    waitpid(pid_, &status, 0);
  }

  InodePtr Root(uint32_t index = 0) {
    auto root = GoferInode::Attach(client_, index, false);
    if (!root.ok()) abort();
    return root.value();
  }
  pid_t pid() const { return pid_; }
  gofer::Client& client() { return *client_; }

 private:
  pid_t pid_ = -1;
  std::shared_ptr<gofer::Client> client_;
};

}  // namespace moat
