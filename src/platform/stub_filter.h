// The seccomp filter of stub processes, written as raw BPF because it must
// test the instruction pointer, which libseccomp cannot. Both platforms use
// it: it lets a stub make its own calls from its own code, with pinned
// arguments, and stops everything else.
#pragma once

#include <linux/filter.h>

#include <cstdint>
#include <vector>

#include "util/result.h"

namespace moat {

// An argument a call must have: (argument & mask) == value.
struct ArgPin {
  int index = 0;  // 0 for the first argument (rdi) up to 5 (r9)
  uint64_t mask = ~uint64_t{0};
  uint64_t value = 0;
};

// One call the stub's code makes: the address just past its `syscall`
// instruction (what seccomp reports as the instruction pointer), its
// number, and what its arguments must be.
struct StubCall {
  uint64_t return_address = 0;
  int nr = 0;
  std::vector<ArgPin> pins;
  // When not 0, [first argument, first + second) must end at or below it,
  // for a memory call whose range cannot be pinned to one value.
  uint64_t range_end = 0;
  // What a matching call gets: SECCOMP_RET_TRACE lets only a traced
  // thread make it, after its tracer looked.
  uint32_t action = 0x7fff0000U;  // SECCOMP_RET_ALLOW
};

// Builds the program. It kills the process for a foreign architecture or
// an x32 number (int $0x80 and x32 calls come in with other tables), gives
// each of `calls` its action, and returns `otherwise` for every other call.
std::vector<sock_filter> BuildStubFilter(const std::vector<StubCall>& calls,
                                         uint32_t otherwise);

// Installs `program` on the calling thread with raw system calls only, so
// that it may run in a child of fork(). The caller has set no_new_privs.
// Returns 0 or an errno value.
int InstallStubFilter(const std::vector<sock_filter>& program);

}  // namespace moat
