// Logging for the whole of moat, through spdlog. Messages about a task carry
// "[pid:tid]" with the ids seen inside the sandbox.
#pragma once

#include <spdlog/spdlog.h>

#include <string>

namespace moat {

// Sets up the global logger. An empty path logs to stderr, and "fd:N" to
// the open descriptor N.
void InitLogging(const std::string& path, bool debug);

// Makes InitLogging write one JSON object ({"level", "msg", "time"}) per
// line, which container engines read back from runc's --log.
void SetLogJson(bool json);
bool LogJson();

// The settings InitLogging was given, for the processes moat starts.
const std::string& LogPath();
bool LogDebug();

// The logger that --strace lines go to; null when tracing is off.
spdlog::logger* StraceLogger();
void EnableStrace(const std::string& path);

[[noreturn]] void Panic(const std::string& message);

}  // namespace moat

#define MOAT_CHECK(cond, ...)                                   \
  do {                                                          \
    if (!(cond)) ::moat::Panic(fmt::format(__VA_ARGS__));       \
  } while (0)
