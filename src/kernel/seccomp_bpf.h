// Classic BPF as seccomp(2) accepts it: the load-time check and the
// interpreter that runs a filter on a struct seccomp_data.
#pragma once

#include <linux/filter.h>
#include <linux/seccomp.h>

#include <cstdint>
#include <span>

#include "util/result.h"

namespace moat {

// BPF_MAXINSNS: the most instructions one program may have.
inline constexpr size_t kMaxBpfInstructions = 4096;

// Checks `program` as Linux does before it attaches a filter
// (net/core/filter.c:bpf_check_classic, then
// kernel/seccomp.c:seccomp_check_filter), and returns EINVAL unless all
// these hold:
// - 1 to 4096 instructions, of the opcodes seccomp allows;
// - jumps inside the program, no division by a zero constant, no shift by
//   32 or more;
// - scratch memory written before it is read, on every path;
// - absolute loads only of aligned 32-bit words inside seccomp_data;
// - a RET as the last instruction.
Status CheckSeccompProgram(std::span<const sock_filter> program);

// Runs a program that CheckSeccompProgram accepted on `data` and returns
// its 32-bit result (a SECCOMP_RET_* action and its data).
uint32_t RunSeccompProgram(std::span<const sock_filter> program,
                           const seccomp_data& data);

}  // namespace moat
