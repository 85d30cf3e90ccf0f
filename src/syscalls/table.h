// The syscall table: every x86-64 syscall's number, name, argument kinds
// and handler, from syscalls.def.
#pragma once

#include <array>
#include <cstdint>

#include "kernel/task.h"

namespace moat {

struct SyscallArgs {
  std::array<uint64_t, 6> a;
  uint64_t operator[](int i) const { return a[i]; }
  int Int(int i) const { return static_cast<int>(a[i]); }
};

// A handler returns the result or -errno, as the Linux syscall does.
using SyscallHandler = int64_t (*)(Task&, const SyscallArgs&);

struct SyscallInfo {
  int nr;
  const char* name;
  SyscallHandler handler;  // null when unimplemented
  const char* arg_kinds;   // see syscalls.def
};

const SyscallInfo* LookupSyscall(int64_t nr);

// Converts a Result to the "value or -errno" convention.
template <typename T>
int64_t ToReturn(const Result<T>& r) {
  return r.ok() ? static_cast<int64_t>(r.value()) : -int64_t(r.error());
}
inline int64_t ToReturn(const Status& s) {
  return s.ok() ? 0 : -int64_t(s.error());
}

}  // namespace moat
