// The OCI linux.seccomp profile, compiled in the front end with libseccomp
// into the classic BPF program that the container's processes get in the
// kernel.
#pragma once

#include <linux/filter.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace moat::oci {

struct SeccompProgram {
  // The instructions, each a struct sock_filter packed into 64 bits with
  // PackInstruction, so that the program crosses to the kernel as JSON.
  std::vector<uint64_t> instructions;
  uint32_t flags = 0;  // SECCOMP_FILTER_FLAG_* from the profile's flags
};

uint64_t PackInstruction(const sock_filter& insn);
sock_filter UnpackInstruction(uint64_t packed);

// Compiles `profile` (linux.seccomp: defaultAction, defaultErrnoRet,
// architectures, flags, syscalls[].names, action, errnoRet, args). Names
// of calls that libseccomp does not know are skipped, as runc skips them.
// Returns "" or a one-line error that names the invalid value.
std::string CompileSeccompProfile(const nlohmann::json& profile,
                                  SeccompProgram* out);

// The "seccomp" object of `moat features`: the actions, operators and
// flags that CompileSeccompProfile accepts.
nlohmann::json SeccompFeatures();

}  // namespace moat::oci
