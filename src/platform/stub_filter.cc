#include "platform/stub_filter.h"

#include <linux/audit.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "util/log.h"

namespace moat {
namespace {

// The x32 ABI marks its call numbers with this bit.
constexpr uint32_t kX32Bit = 0x40000000;

constexpr uint32_t kNrOffset = offsetof(seccomp_data, nr);
constexpr uint32_t kArchOffset = offsetof(seccomp_data, arch);
constexpr uint32_t kIpOffset = offsetof(seccomp_data, instruction_pointer);

uint32_t ArgOffset(int index) {
  return offsetof(seccomp_data, args) + 8 * static_cast<uint32_t>(index);
}

sock_filter Load(uint32_t offset) {
  return BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offset);
}

sock_filter Return(uint32_t action) {
  return BPF_STMT(BPF_RET | BPF_K, action);
}

// Emits a check that [arg0, arg0 + arg1) ends at or below `end`, adding
// 64-bit values from 32-bit halves. Scratch M[0] holds the high half of
// the sum, M[1] the low half. The jumps in `misses` leave the block when
// their test holds.
void EmitRangeBelow(uint64_t end, std::vector<sock_filter>& block,
                    std::vector<size_t>& misses) {
  const uint32_t hi = static_cast<uint32_t>(end >> 32);
  const uint32_t lo = static_cast<uint32_t>(end);
  auto miss_if_above = [&](uint32_t k) {
    misses.push_back(block.size());
    block.push_back(BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, k, 0, 0));
  };
  block.push_back(Load(ArgOffset(0) + 4));
  miss_if_above(hi);
  block.push_back(BPF_STMT(BPF_ST, 0));
  block.push_back(Load(ArgOffset(1) + 4));
  miss_if_above(hi);  // so the high halves add without overflow
  block.push_back(BPF_STMT(BPF_MISC | BPF_TAX, 0));
  block.push_back(BPF_STMT(BPF_LD | BPF_MEM, 0));
  block.push_back(BPF_STMT(BPF_ALU | BPF_ADD | BPF_X, 0));
  block.push_back(BPF_STMT(BPF_ST, 0));
  block.push_back(Load(ArgOffset(1)));
  block.push_back(BPF_STMT(BPF_MISC | BPF_TAX, 0));
  block.push_back(Load(ArgOffset(0)));
  block.push_back(BPF_STMT(BPF_ALU | BPF_ADD | BPF_X, 0));
  block.push_back(BPF_STMT(BPF_ST, 1));
  // A low sum below the addend wrapped: carry one into the high half.
  block.push_back(BPF_JUMP(BPF_JMP | BPF_JGE | BPF_X, 0, 3, 0));
  block.push_back(BPF_STMT(BPF_LD | BPF_MEM, 0));
  block.push_back(BPF_STMT(BPF_ALU | BPF_ADD | BPF_K, 1));
  block.push_back(BPF_STMT(BPF_ST, 0));
  block.push_back(BPF_STMT(BPF_LD | BPF_MEM, 0));
  miss_if_above(hi);
  // Below the high half of `end`: the low halves do not matter.
  block.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, hi, 0, 2));
  block.push_back(BPF_STMT(BPF_LD | BPF_MEM, 1));
  miss_if_above(lo);
}

// Emits the checks of one call as a block that ends in its action. A
// failed check jumps past the block's end, to the next call's block.
void EmitCall(const StubCall& call, std::vector<sock_filter>& out) {
  std::vector<sock_filter> block;
  std::vector<size_t> misses;  // jumps to patch to the block's end
  std::vector<size_t> taken_misses;  // the same, when the test holds
  auto require = [&](uint32_t value) {
    misses.push_back(block.size());
    block.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, value, 0, 0));
  };
  auto require_masked = [&](uint32_t mask, uint32_t value) {
    if (mask != ~uint32_t{0})
      block.push_back(BPF_STMT(BPF_ALU | BPF_AND | BPF_K, mask));
    require(value);
  };

  block.push_back(Load(kIpOffset));
  require(static_cast<uint32_t>(call.return_address));
  block.push_back(Load(kIpOffset + 4));
  require(static_cast<uint32_t>(call.return_address >> 32));
  block.push_back(Load(kNrOffset));
  require(static_cast<uint32_t>(call.nr));
  for (const ArgPin& pin : call.pins) {
    MOAT_CHECK(pin.index >= 0 && pin.index < 6, "bad argument {}", pin.index);
    block.push_back(Load(ArgOffset(pin.index)));
    require_masked(static_cast<uint32_t>(pin.mask),
                   static_cast<uint32_t>(pin.value & pin.mask));
    block.push_back(Load(ArgOffset(pin.index) + 4));
    require_masked(static_cast<uint32_t>(pin.mask >> 32),
                   static_cast<uint32_t>((pin.value & pin.mask) >> 32));
  }
  if (call.range_end != 0) EmitRangeBelow(call.range_end, block, taken_misses);
  block.push_back(Return(call.action));
  // A miss goes to the first instruction after the block.
  auto skip_to_end = [&](size_t at) {
    size_t skip = block.size() - at - 1;
    MOAT_CHECK(skip < 256, "stub filter block too long");
    return static_cast<uint8_t>(skip);
  };
  for (size_t at : misses) block[at].jf = skip_to_end(at);
  for (size_t at : taken_misses) block[at].jt = skip_to_end(at);
  out.insert(out.end(), block.begin(), block.end());
}

}  // namespace

std::vector<sock_filter> BuildStubFilter(const std::vector<StubCall>& calls,
                                         uint32_t otherwise) {
  std::vector<sock_filter> program = {
      Load(kArchOffset),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
      Return(SECCOMP_RET_KILL_PROCESS),
      Load(kNrOffset),
      BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, kX32Bit, 0, 1),
      Return(SECCOMP_RET_KILL_PROCESS),
  };
  for (const StubCall& call : calls) EmitCall(call, program);
  program.push_back(Return(otherwise));
  MOAT_CHECK(program.size() <= BPF_MAXINSNS, "stub filter too long: {}",
             program.size());
  return program;
}

int InstallStubFilter(const std::vector<sock_filter>& program) {
  sock_fprog fprog = {static_cast<unsigned short>(program.size()),
                      const_cast<sock_filter*>(program.data())};
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog) != 0)
    return errno;
  return 0;
}

}  // namespace moat
