#include "syscalls/table.h"

#include <fmt/format.h>

#include "kernel/kernel.h"
#include "kernel/signal_delivery.h"
#include "syscalls/handlers.h"
#include "util/log.h"

namespace moat {
namespace {

constexpr int kMaxSyscall = 512;

struct Table {
  std::array<SyscallInfo, kMaxSyscall> rows{};
  Table() {
#define SYSCALL(nr, name, handler, kinds) rows[nr] = {nr, #name, handler, kinds};
#define UNIMPLEMENTED(nr, name, kinds) rows[nr] = {nr, #name, nullptr, kinds};
#include "syscalls/syscalls.def"
#undef SYSCALL
#undef UNIMPLEMENTED
  }
};

const Table& GetTable() {
  static const Table table;
  return table;
}

std::string FormatArg(Task& t, char kind, uint64_t v) {
  switch (kind) {
    case 'I': return fmt::format("{}", int64_t(v));
    case 'F': return fmt::format("{}", int(v));
    case 'Z': return fmt::format("{}", v);
    case 'G': return fmt::format("{}", int(v));
    case 'O': return fmt::format("{:#o}", v);
    case 'S': {
      if (!t.mm_) return fmt::format("{:#x}", v);
      auto s = t.mm().CopyInString(v, 256);
      if (!s.ok()) return fmt::format("{:#x}", v);
      std::string out = "\"";
      for (char c : s.value()) {
        if (c == '"' || c == '\\') out += '\\';
        if (c >= 32 && c < 127) out += c;
        else out += fmt::format("\\x{:02x}", uint8_t(c));
      }
      return out + "\"";
    }
    default: return fmt::format("{:#x}", v);
  }
}

}  // namespace

const SyscallInfo* LookupSyscall(int64_t nr) {
  if (nr < 0 || nr >= kMaxSyscall) return nullptr;
  const SyscallInfo& row = GetTable().rows[nr];
  return row.name ? &row : nullptr;
}

std::string FormatSyscall(Task& t, int64_t nr, const SyscallArgs& args) {
  const SyscallInfo* info = LookupSyscall(nr);
  if (info == nullptr) return fmt::format("syscall_{}(...)", nr);
  std::string call = info->name;
  call += '(';
  const char* k = info->arg_kinds;
  for (int i = 0; k[i]; i++) {
    if (i) call += ", ";
    call += FormatArg(t, k[i], args[i]);
  }
  return call + ')';
}

void TraceSyscall(Task& t, int64_t nr, const SyscallArgs& args, int64_t ret,
                  const std::string& call) {
  spdlog::logger* log = StraceLogger();
  if (log == nullptr) return;
  std::string line = fmt::format("[{}:{}] ", t.tg().tgid, t.tid);
  line += call.empty() ? FormatSyscall(t, nr, args) : call;
  if (ret == kNoReturnValue) {
    line += " = ?";
  } else if (ret < 0 && ret > -4096) {
    const char* name = strerrorname_np(int(-ret));
    line += fmt::format(" = -1 {} ({})", name ? name : "?",
                        strerror(int(-ret)));
  } else {
    line += fmt::format(" = {}", ret);
  }
  log->info(line);
}

}  // namespace moat
