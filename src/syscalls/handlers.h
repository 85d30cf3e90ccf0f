// Declarations of every implemented syscall handler, from syscalls.def.
#pragma once

#include "syscalls/table.h"

namespace moat {

#define SYSCALL(nr, name, handler, kinds) \
  int64_t handler(Task& t, const SyscallArgs& args);
#define UNIMPLEMENTED(nr, name, kinds)
#include "syscalls/syscalls.def"
#undef SYSCALL
#undef UNIMPLEMENTED

}  // namespace moat
