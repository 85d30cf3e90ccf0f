// The gofer: the file server that holds the host directories of one
// sandbox and serves them to the kernel, which holds no host directory of
// its own.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "gofer/wire.h"

namespace moat::gofer {

struct Root {
  std::string host_path;
  bool read_only = true;
};

// The request handler, apart from any socket so that tests can drive it.
class Server {
 public:
  // Opens the roots. Fails with a message when a root cannot be opened.
  static std::string Open(std::vector<Root> roots, Server** out);
  ~Server();

  struct Reply {
    bool send = true;  // false for requests that have no reply
    std::vector<char> bytes;
    int fd = -1;  // attached to the reply, then closed by the caller
  };
  // Handles one request packet. Never fails: a malformed request gets an
  // EINVAL reply.
  Reply Handle(const char* data, size_t size);

  // Serves `sock` until the peer closes it. Returns the process exit code.
  int Serve(int sock);

  size_t node_count() const { return nodes_.size(); }

 private:
  struct Node {
    int fd;         // O_PATH, never followed
    uint32_t root;  // index into roots_
    uint32_t mode;  // S_IFMT bits
  };
  Server() = default;

  int Dispatch(uint32_t op, Decoder& in, Encoder& out, int* fd);
  int Attach(Decoder& in, Encoder& out);
  int Walk(Decoder& in, Encoder& out);
  int Stat(Decoder& in, Encoder& out);
  int Readlink(Decoder& in, Encoder& out);
  int OpenFile(Decoder& in, Encoder& out, int* fd);
  int ReadDir(Decoder& in, Encoder& out);
  int StatFs(Decoder& in, Encoder& out);
  int Create(Decoder& in, Encoder& out, int* fd);
  int Mkdir(Decoder& in, Encoder& out);
  int Mknod(Decoder& in, Encoder& out);
  int Symlink(Decoder& in, Encoder& out);
  int Link(Decoder& in, Encoder& out);
  int Unlink(Decoder& in, Encoder& out);
  int Rename(Decoder& in, Encoder& out);
  int SetAttr(Decoder& in, Encoder& out);

  // The node named by the next handle in `in`, or null.
  Node* NodeOf(Decoder& in);
  Node* DirOf(Decoder& in, int* error);
  // Adds a node for the O_PATH descriptor `fd` and encodes its handle and
  // stat. Takes `fd` in every case.
  int AddNode(int fd, uint32_t root, Encoder& out);
  // A node that Mkdir or Mknod makes: its directory, name, mode and owner.
  struct NewNode {
    Node* dir = nullptr;
    std::string name;
    uint32_t mode = 0, uid = 0, gid = 0;
  };
  // Reads the request of a node to make; returns 0 or an errno.
  int ReadNewNode(Decoder& in, NewNode* node);
  // Opens the node just made with `open_flags`, gives it its owner and
  // adds it.
  int AddMadeNode(const NewNode& node, int open_flags, Encoder& out);
  // Opens the node's file again through its /proc/self/fd link, which
  // leads to the node itself and so must not be opened with O_NOFOLLOW.
  int Reopen(const Node& n, int flags);
  bool Writable(const Node& n) const { return !roots_[n.root].read_only; }

  std::vector<Root> roots_;
  std::vector<int> root_fds_;
  int proc_fd_ = -1;  // /proc/self/fd
  uint64_t next_handle_ = 1;
  std::unordered_map<uint64_t, Node> nodes_;
};

}  // namespace moat::gofer
