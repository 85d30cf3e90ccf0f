// Unit tests of the seccomp BPF check and interpreter.
#include "kernel/seccomp_bpf.h"

#include <gtest/gtest.h>
#include <linux/audit.h>
#include <sys/syscall.h>

#include <cstddef>
#include <vector>

namespace moat {
namespace {

using Program = std::vector<sock_filter>;

constexpr uint32_t kNr = offsetof(seccomp_data, nr);
constexpr uint32_t kArch = offsetof(seccomp_data, arch);
constexpr uint32_t kArg0Low = offsetof(seccomp_data, args[0]);
constexpr uint32_t kArg0High = kArg0Low + 4;
constexpr uint32_t kIpLow = offsetof(seccomp_data, instruction_pointer);

sock_filter Stmt(uint16_t code, uint32_t k) {
  return sock_filter{code, 0, 0, k};
}
sock_filter Jump(uint16_t code, uint32_t k, uint8_t jt, uint8_t jf) {
  return sock_filter{code, jt, jf, k};
}
sock_filter Ret(uint32_t k) { return Stmt(BPF_RET | BPF_K, k); }

seccomp_data Data(int nr, uint64_t arg0 = 0) {
  seccomp_data d = {};
  d.nr = nr;
  d.arch = AUDIT_ARCH_X86_64;
  d.instruction_pointer = 0x401000;
  d.args[0] = arg0;
  return d;
}

int Check(const Program& p) {
  Status s = CheckSeccompProgram(p);
  return s.ok() ? 0 : s.error();
}

// Checks `p`, which must pass, and runs it on `d`.
uint32_t CheckAndRun(const Program& p, const seccomp_data& d) {
  EXPECT_EQ(Check(p), 0);
  return RunSeccompProgram(p, d);
}

TEST(SeccompBpfCheck, AcceptsTypicalFilter) {
  Program p = {Stmt(BPF_LD | BPF_W | BPF_ABS, kArch),
               Jump(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
               Ret(SECCOMP_RET_KILL_PROCESS),
               Stmt(BPF_LD | BPF_W | BPF_ABS, kNr),
               Jump(BPF_JMP | BPF_JEQ | BPF_K, SYS_mkdir, 0, 1),
               Ret(SECCOMP_RET_ERRNO | EPERM),
               Ret(SECCOMP_RET_ALLOW)};
  EXPECT_EQ(Check(p), 0);
}

TEST(SeccompBpfCheck, RejectsBadLength) {
  EXPECT_EQ(Check({}), EINVAL);
  Program longest(kMaxBpfInstructions, Ret(SECCOMP_RET_ALLOW));
  EXPECT_EQ(Check(longest), 0);
  longest.push_back(Ret(SECCOMP_RET_ALLOW));
  EXPECT_EQ(Check(longest), EINVAL);
}

TEST(SeccompBpfCheck, RequiresRetLast) {
  EXPECT_EQ(Check({Ret(0), Stmt(BPF_LD | BPF_IMM, 0)}), EINVAL);
  EXPECT_EQ(Check({Stmt(BPF_RET | BPF_A, 0)}), 0);
  // RET X is no classic BPF opcode.
  EXPECT_EQ(Check({Stmt(BPF_RET | BPF_X, 0)}), EINVAL);
}

TEST(SeccompBpfCheck, RejectsOpcodesSeccompForbids) {
  const uint16_t forbidden[] = {
      BPF_LD | BPF_H | BPF_ABS,
      BPF_LD | BPF_B | BPF_ABS,
      BPF_LD | BPF_W | BPF_IND,
      BPF_LD | BPF_B | BPF_IND,
      BPF_LDX | BPF_B | BPF_MSH,
      BPF_ALU | BPF_MOD | BPF_K,
      BPF_ALU | BPF_MOD | BPF_X,
      BPF_MISC | 0x40,
      0xffff,
  };
  for (uint16_t code : forbidden) {
    SCOPED_TRACE(code);
    EXPECT_EQ(Check({Stmt(code, 1), Ret(0)}), EINVAL);
  }
}

TEST(SeccompBpfCheck, RejectsLoadsOutsideSeccompData) {
  EXPECT_EQ(Check({Stmt(BPF_LD | BPF_W | BPF_ABS, 60), Ret(0)}), 0);
  EXPECT_EQ(Check({Stmt(BPF_LD | BPF_W | BPF_ABS, 64), Ret(0)}), EINVAL);
  EXPECT_EQ(Check({Stmt(BPF_LD | BPF_W | BPF_ABS, 1), Ret(0)}), EINVAL);
  EXPECT_EQ(Check({Stmt(BPF_LD | BPF_W | BPF_ABS, 0xfffff000), Ret(0)}),
            EINVAL);
}

TEST(SeccompBpfCheck, RejectsJumpsPastTheEnd) {
  EXPECT_EQ(Check({Stmt(BPF_JMP | BPF_JA, 0), Ret(0)}), 0);
  EXPECT_EQ(Check({Stmt(BPF_JMP | BPF_JA, 1), Ret(0)}), EINVAL);
  EXPECT_EQ(Check({Stmt(BPF_JMP | BPF_JA, 0xffffffff), Ret(0)}), EINVAL);
  EXPECT_EQ(Check({Jump(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 1), Ret(0)}), EINVAL);
  EXPECT_EQ(Check({Jump(BPF_JMP | BPF_JGT | BPF_X, 0, 1, 0), Ret(0)}), EINVAL);
}

TEST(SeccompBpfCheck, RejectsBadConstants) {
  EXPECT_EQ(Check({Stmt(BPF_ALU | BPF_DIV | BPF_K, 0), Ret(0)}), EINVAL);
  EXPECT_EQ(Check({Stmt(BPF_ALU | BPF_LSH | BPF_K, 32), Ret(0)}), EINVAL);
  EXPECT_EQ(Check({Stmt(BPF_ALU | BPF_RSH | BPF_K, 31), Ret(0)}), 0);
  EXPECT_EQ(Check({Stmt(BPF_ST, BPF_MEMWORDS), Ret(0)}), EINVAL);
  EXPECT_EQ(Check({Stmt(BPF_STX, BPF_MEMWORDS - 1), Ret(0)}), 0);
}

TEST(SeccompBpfCheck, RequiresScratchWrittenOnEveryPath) {
  EXPECT_EQ(Check({Stmt(BPF_LD | BPF_MEM, 0), Ret(0)}), EINVAL);
  EXPECT_EQ(Check({Stmt(BPF_ST, 0), Stmt(BPF_LDX | BPF_MEM, 0), Ret(0)}), 0);
  // Only the path that falls through stores word 1.
  Program one_path = {Jump(BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 0), Stmt(BPF_ST, 1),
                      Stmt(BPF_LD | BPF_MEM, 1), Ret(0)};
  EXPECT_EQ(Check(one_path), EINVAL);
  Program both_paths = {Stmt(BPF_ST, 1),
                        Jump(BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 0),
                        Stmt(BPF_ST, 1), Stmt(BPF_LD | BPF_MEM, 1), Ret(0)};
  EXPECT_EQ(Check(both_paths), 0);
}

TEST(SeccompBpfRun, MatchesSyscallNumber) {
  Program p = {Stmt(BPF_LD | BPF_W | BPF_ABS, kNr),
               Jump(BPF_JMP | BPF_JEQ | BPF_K, SYS_mkdir, 0, 1),
               Ret(SECCOMP_RET_ERRNO | EPERM), Ret(SECCOMP_RET_ALLOW)};
  EXPECT_EQ(CheckAndRun(p, Data(SYS_mkdir)), SECCOMP_RET_ERRNO | EPERM);
  EXPECT_EQ(CheckAndRun(p, Data(SYS_getpid)), SECCOMP_RET_ALLOW);
}

TEST(SeccompBpfRun, LoadsBothHalvesOfAnArgument) {
  Program p = {Stmt(BPF_LD | BPF_W | BPF_ABS, kArg0High),
               Jump(BPF_JMP | BPF_JEQ | BPF_K, 0x12345678, 0, 3),
               Stmt(BPF_LD | BPF_W | BPF_ABS, kArg0Low),
               Jump(BPF_JMP | BPF_JEQ | BPF_K, 0x9abcdef0, 0, 1),
               Ret(1),
               Ret(2)};
  EXPECT_EQ(CheckAndRun(p, Data(0, 0x123456789abcdef0)), 1u);
  EXPECT_EQ(CheckAndRun(p, Data(0, 0x9abcdef0)), 2u);
  EXPECT_EQ(CheckAndRun(p, Data(0, 0x1234567800000000)), 2u);
}

TEST(SeccompBpfRun, ComparesUnsigned) {
  Program p = {Stmt(BPF_LD | BPF_W | BPF_ABS, kArg0Low),
               Jump(BPF_JMP | BPF_JGT | BPF_K, 10, 0, 1),
               Ret(1),
               Jump(BPF_JMP | BPF_JGE | BPF_K, 10, 0, 1),
               Ret(2),
               Jump(BPF_JMP | BPF_JSET | BPF_K, 4, 0, 1),
               Ret(3),
               Ret(4)};
  EXPECT_EQ(CheckAndRun(p, Data(0, 0xffffffff)), 1u);
  EXPECT_EQ(CheckAndRun(p, Data(0, 10)), 2u);
  EXPECT_EQ(CheckAndRun(p, Data(0, 5)), 3u);
  EXPECT_EQ(CheckAndRun(p, Data(0, 3)), 4u);
}

TEST(SeccompBpfRun, Arithmetic) {
  Program p = {Stmt(BPF_LD | BPF_IMM, 7),              // A = 7
               Stmt(BPF_ALU | BPF_MUL | BPF_K, 6),     // 42
               Stmt(BPF_ALU | BPF_ADD | BPF_K, 8),     // 50
               Stmt(BPF_ALU | BPF_DIV | BPF_K, 5),     // 10
               Stmt(BPF_ALU | BPF_LSH | BPF_K, 4),     // 160
               Stmt(BPF_ALU | BPF_OR | BPF_K, 3),      // 163
               Stmt(BPF_ALU | BPF_AND | BPF_K, 0xf0),  // 160
               Stmt(BPF_ALU | BPF_XOR | BPF_K, 0xff),  // 95
               Stmt(BPF_ALU | BPF_SUB | BPF_K, 5),     // 90
               Stmt(BPF_ALU | BPF_RSH | BPF_K, 1),     // 45
               Stmt(BPF_RET | BPF_A, 0)};
  EXPECT_EQ(CheckAndRun(p, Data(0)), 45u);
  Program neg = {Stmt(BPF_LD | BPF_IMM, 1), Stmt(BPF_ALU | BPF_NEG, 0),
                 Stmt(BPF_RET | BPF_A, 0)};
  EXPECT_EQ(CheckAndRun(neg, Data(0)), 0xffffffffu);
}

TEST(SeccompBpfRun, IndexRegisterAndScratch) {
  Program p = {Stmt(BPF_LD | BPF_W | BPF_ABS, kNr),
               Stmt(BPF_ST, 5),
               Stmt(BPF_LDX | BPF_IMM, 3),
               Stmt(BPF_ALU | BPF_ADD | BPF_X, 0),  // A = nr + 3
               Stmt(BPF_MISC | BPF_TAX, 0),         // X = nr + 3
               Stmt(BPF_LD | BPF_MEM, 5),           // A = nr
               Jump(BPF_JMP | BPF_JGT | BPF_X, 0, 0, 1),
               Ret(1),
               Stmt(BPF_MISC | BPF_TXA, 0),
               Stmt(BPF_RET | BPF_A, 0)};
  EXPECT_EQ(CheckAndRun(p, Data(40)), 43u);
}

TEST(SeccompBpfRun, LengthAndInstructionPointer) {
  Program p = {Stmt(BPF_LD | BPF_W | BPF_LEN, 0),
               Stmt(BPF_LDX | BPF_W | BPF_LEN, 0),
               Stmt(BPF_ALU | BPF_ADD | BPF_X, 0), Stmt(BPF_RET | BPF_A, 0)};
  EXPECT_EQ(CheckAndRun(p, Data(0)), 2 * sizeof(seccomp_data));
  Program ip = {Stmt(BPF_LD | BPF_W | BPF_ABS, kIpLow),
                Stmt(BPF_RET | BPF_A, 0)};
  EXPECT_EQ(CheckAndRun(ip, Data(0)), 0x401000u);
}

TEST(SeccompBpfRun, DivisionByZeroIndexReturnsZero) {
  Program p = {Stmt(BPF_LD | BPF_IMM, 9), Stmt(BPF_LDX | BPF_IMM, 0),
               Stmt(BPF_ALU | BPF_DIV | BPF_X, 0), Ret(SECCOMP_RET_ALLOW)};
  EXPECT_EQ(CheckAndRun(p, Data(0)), 0u);
}

TEST(SeccompBpfRun, ShiftByIndexUsesLowBits) {
  Program p = {Stmt(BPF_LD | BPF_IMM, 1), Stmt(BPF_LDX | BPF_IMM, 33),
               Stmt(BPF_ALU | BPF_LSH | BPF_X, 0), Stmt(BPF_RET | BPF_A, 0)};
  EXPECT_EQ(CheckAndRun(p, Data(0)), 2u);
}

TEST(SeccompBpfRun, JumpAlways) {
  Program p = {Stmt(BPF_JMP | BPF_JA, 1), Ret(1), Ret(2)};
  EXPECT_EQ(CheckAndRun(p, Data(0)), 2u);
}

}  // namespace
}  // namespace moat
