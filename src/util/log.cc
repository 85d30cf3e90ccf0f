#include "util/log.h"

#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <unistd.h>

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <mutex>

namespace moat {
namespace {

std::shared_ptr<spdlog::logger> g_strace;
std::string g_log_path;
bool g_log_debug = false;
bool g_log_json = false;

// Writes each message to a descriptor that the process was given open, for
// a process that can no longer open the log file by its path.
class FdSink : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit FdSink(int fd) : fd_(fd) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t line;
    formatter_->format(msg, line);
    (void)!write(fd_, line.data(), line.size());
  }
  void flush_() override {}

 private:
  int fd_;
};

std::shared_ptr<spdlog::logger> MakeLogger(const std::string& name,
                                           const std::string& path) {
  if (path.empty()) return spdlog::stderr_logger_mt(name);
  if (path.starts_with("fd:")) {
    int fd = atoi(path.c_str() + 3);
    return std::make_shared<spdlog::logger>(name,
                                            std::make_shared<FdSink>(fd));
  }
  return spdlog::basic_logger_mt(name, path);
}

// Formats each message as one JSON object per line.
class JsonFormatter : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg,
              spdlog::memory_buf_t& dest) override {
    auto t = std::chrono::system_clock::to_time_t(msg.time);
    struct tm tm;
    gmtime_r(&t, &tm);
    char when[32];
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    std::string level(spdlog::level::to_string_view(msg.level).data(),
                      spdlog::level::to_string_view(msg.level).size());
    if (level == "warning") level = "warn";
    nlohmann::json j = {{"level", level},
              {"msg", std::string(msg.payload.data(), msg.payload.size())},
              {"time", when}};
    std::string line = j.dump() + "\n";
    dest.append(line.data(), line.data() + line.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>();
  }
};

}  // namespace

void SetLogJson(bool json) { g_log_json = json; }

bool LogJson() { return g_log_json; }

void InitLogging(const std::string& path, bool debug) {
  g_log_path = path;
  g_log_debug = debug;
  auto logger = MakeLogger("moat", path);
  logger->set_pattern("moat: %l: %v");
  if (g_log_json) logger->set_formatter(std::make_unique<JsonFormatter>());
  logger->set_level(debug ? spdlog::level::debug : spdlog::level::warn);
  logger->flush_on(spdlog::level::debug);
  spdlog::set_default_logger(logger);
}

void EnableStrace(const std::string& path) {
  g_strace = MakeLogger("strace", path);
  g_strace->set_pattern("%v");
  g_strace->flush_on(spdlog::level::info);
}

spdlog::logger* StraceLogger() { return g_strace.get(); }

const std::string& LogPath() { return g_log_path; }

bool LogDebug() { return g_log_debug; }

void Panic(const std::string& message) {
  spdlog::critical("kernel bug: {}", message);
  spdlog::default_logger()->flush();
  std::abort();
}

}  // namespace moat
