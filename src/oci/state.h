// A container's state on the host: the directory --root/ID with its
// state.json and control socket. It outlives the command that wrote it.
#pragma once

#include <sys/types.h>

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace moat::oci {

struct State {
  std::string id;
  std::string bundle;
  std::string status = "created";  // as last recorded: created or running
  pid_t pid = 0;                   // the monitor, named in the pid file
  uint64_t pid_start = 0;          // its start time, against pid reuse
  pid_t kernel_pid = 0;  // the sandbox's kernel, shared in a pod
  // For a container that joined a pod: the id of the pod's sandbox
  // container, whose kernel and control socket serve it.
  std::string sandbox;
  std::string created;  // RFC 3339
  std::map<std::string, std::string> annotations;
};

// Returns "" or why `id` cannot name a container.
std::string ValidateId(const std::string& id);

std::string StateDir(const std::string& root, const std::string& id);

// Writes DIR/state.json atomically. Returns "" or an error.
std::string SaveState(const std::string& root, const State& s);
// Reads it back. Returns "" or an error naming the container.
std::string LoadState(const std::string& root, const std::string& id,
                      State* out);
// The container ids under `root`.
std::vector<std::string> ListIds(const std::string& root);

// The status now: "stopped" once the monitor is gone.
std::string CurrentStatus(const State& s);
// The state as `moat state` prints it (runtime-spec "State").
nlohmann::json RuntimeState(const State& s);
// The state hooks get: the kernel's pid, since the kernel process is in
// the sandbox's namespaces, where hooks such as Docker's network setup
// look.
nlohmann::json HookState(const State& s, const std::string& status);

// A live process's start time (field 22 of /proc/PID/stat), or 0 when it
// is gone or a zombie.
uint64_t ProcessStartTime(pid_t pid);

// The control socket: one SOCK_SEQPACKET socket per container, on which
// the kernel serves requests; messages are JSON, descriptors ride along.
int ListenControl(const std::string& dir);
int ConnectControl(const std::string& dir);
bool SendMessage(int fd, const nlohmann::json& msg,
                 const std::vector<int>& fds = {});
// Returns false at end of connection or on error.
bool ReceiveMessage(int fd, nlohmann::json* msg,
                    std::vector<int>* fds = nullptr);
// The error a reply from the kernel carries, "" if none.
std::string ReplyError(const nlohmann::json& reply);
// One request and its reply. Returns "" or an error.
std::string Request(const std::string& dir, const nlohmann::json& req,
                    nlohmann::json* reply);
// The directory whose control socket serves `s`: its own, or the pod
// sandbox's for a container that joined a pod.
std::string ControlDir(const std::string& root, const State& s);
// `req` addressed to the container `s`: a request to a pod sandbox's
// kernel names the member it is for.
nlohmann::json AddressedTo(const State& s, nlohmann::json req);
// One request to the kernel that serves `s`.
std::string RequestFor(const std::string& root, const State& s,
                       const nlohmann::json& req, nlohmann::json* reply);

}  // namespace moat::oci
