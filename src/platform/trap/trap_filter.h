// The seccomp filter of the trap platform's stubs, written as raw BPF
// because it tests the instruction pointer, which libseccomp cannot.
#pragma once

#include <linux/filter.h>

#include <cstdint>
#include <vector>

namespace moat {

struct TrapFilterSpec {
  // A system call counts as the stub's when the address after its
  // instruction lies in (code_begin, code_end).
  uint64_t code_begin = 0;
  uint64_t code_end = 0;
  // The application's memory ends here; the stub's own area starts here.
  uint64_t user_end = 0;
  // The MemoryFile's descriptor, the only one stubs map.
  int memory_fd = -1;
};

// Builds the filter: a call not made for x86-64 or with the x32 bit kills
// the process; a call from outside the stub's code traps (SIGSYS, which
// the stub's handler hands to the kernel); the stub's own calls are
// allowed with the arguments pinned as trap_filter.cc says; any other call
// from the stub's code asks the tracer, which only the factory's injections
// have, and fails with ENOSYS without one.
std::vector<sock_filter> BuildTrapStubFilter(const TrapFilterSpec& spec);

}  // namespace moat
