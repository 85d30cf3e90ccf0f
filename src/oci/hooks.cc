// OCI hooks: host programs that the engine names in config.json, run by
// the front end with the container's state on their standard input.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include <fmt/format.h>

#include "oci/spec.h"

namespace moat::oci {
namespace {

// Waits for `pid` for up to `timeout` seconds (0: no limit); kills it
// after that. Returns its wait status, -1 on a timeout, or -2 when
// waitpid fails.
int WaitWithTimeout(pid_t pid, int timeout) {
  auto end = std::chrono::steady_clock::now() + std::chrono::seconds(timeout);
  for (;;) {
    int status;
    pid_t done = waitpid(pid, &status, timeout > 0 ? WNOHANG : 0);
    if (done == pid) return status;
    if (done < 0 && errno != EINTR) return -2;
    if (timeout > 0 && std::chrono::steady_clock::now() > end) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

std::string RunHook(const Hook& h, const std::string& state) {
  int in[2];
  if (pipe2(in, O_CLOEXEC) != 0) return strerror(errno);
  std::vector<std::string> args = h.args.empty() ? std::vector{h.path} : h.args;
  std::vector<char*> argv, envp;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env = h.env;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(in[0], STDIN_FILENO);
    execve(h.path.c_str(), argv.data(), envp.data());
    _exit(127);
  }
  close(in[0]);
  if (pid > 0) (void)!write(in[1], state.data(), state.size());
  close(in[1]);
  if (pid < 0) return fmt::format("hook {}: fork: {}", h.path, strerror(errno));
  int status = WaitWithTimeout(pid, h.timeout);
  if (status == -1)
    return fmt::format("hook {}: timed out after {} s", h.path, h.timeout);
  if (status == -2)
    return fmt::format("hook {}: waiting failed: {}", h.path, strerror(errno));
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return fmt::format("hook {}: failed with status {}", h.path,
                       WIFEXITED(status) ? WEXITSTATUS(status)
                                         : 128 + WTERMSIG(status));
  return "";
}

}  // namespace

std::vector<Hook> HooksOf(const nlohmann::json& hooks,
                          const std::string& kind) {
  std::vector<Hook> out;
  if (!hooks.is_object() || !hooks.contains(kind)) return out;
  for (const auto& j : hooks[kind]) {
    Hook h;
    h.path = j.value("path", "");
    h.args = j.value("args", std::vector<std::string>{});
    h.env = j.value("env", std::vector<std::string>{});
    h.timeout = j.value("timeout", 0);
    out.push_back(h);
  }
  return out;
}

nlohmann::json BundleHooks(const std::string& bundle) {
  std::ifstream in(bundle + "/config.json");
  auto j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("hooks")) return {};
  return j["hooks"];
}

std::string RunHooks(const std::vector<Hook>& hooks,
                     const nlohmann::json& state) {
  std::string text = state.dump();
  for (const Hook& h : hooks)
    if (std::string e = RunHook(h, text); !e.empty()) return e;
  return "";
}

}  // namespace moat::oci
