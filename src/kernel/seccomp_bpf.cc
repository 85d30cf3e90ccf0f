#include "kernel/seccomp_bpf.h"

#include <cstring>
#include <vector>

namespace moat {
namespace {

// The size of struct seccomp_data, which BPF_LEN loads.
constexpr uint32_t kDataSize = sizeof(seccomp_data);

bool IsConditionalJump(uint16_t code) {
  switch (code) {
    case BPF_JMP | BPF_JEQ | BPF_K:
    case BPF_JMP | BPF_JEQ | BPF_X:
    case BPF_JMP | BPF_JGE | BPF_K:
    case BPF_JMP | BPF_JGE | BPF_X:
    case BPF_JMP | BPF_JGT | BPF_K:
    case BPF_JMP | BPF_JGT | BPF_X:
    case BPF_JMP | BPF_JSET | BPF_K:
    case BPF_JMP | BPF_JSET | BPF_X:
      return true;
  }
  return false;
}

// Whether seccomp accepts the opcode at all. This is the intersection of
// bpf_check_classic's table and seccomp_check_filter's list: no MOD, no
// packet loads of bytes or halfwords, no indirect loads, no BPF_MSH.
bool IsSeccompOpcode(uint16_t code) {
  if (IsConditionalJump(code)) return true;
  switch (code) {
    case BPF_RET | BPF_K:
    case BPF_RET | BPF_A:
    case BPF_ALU | BPF_ADD | BPF_K:
    case BPF_ALU | BPF_ADD | BPF_X:
    case BPF_ALU | BPF_SUB | BPF_K:
    case BPF_ALU | BPF_SUB | BPF_X:
    case BPF_ALU | BPF_MUL | BPF_K:
    case BPF_ALU | BPF_MUL | BPF_X:
    case BPF_ALU | BPF_DIV | BPF_K:
    case BPF_ALU | BPF_DIV | BPF_X:
    case BPF_ALU | BPF_AND | BPF_K:
    case BPF_ALU | BPF_AND | BPF_X:
    case BPF_ALU | BPF_OR | BPF_K:
    case BPF_ALU | BPF_OR | BPF_X:
    case BPF_ALU | BPF_XOR | BPF_K:
    case BPF_ALU | BPF_XOR | BPF_X:
    case BPF_ALU | BPF_LSH | BPF_K:
    case BPF_ALU | BPF_LSH | BPF_X:
    case BPF_ALU | BPF_RSH | BPF_K:
    case BPF_ALU | BPF_RSH | BPF_X:
    case BPF_ALU | BPF_NEG:
    case BPF_LD | BPF_W | BPF_ABS:
    case BPF_LD | BPF_W | BPF_LEN:
    case BPF_LDX | BPF_W | BPF_LEN:
    case BPF_LD | BPF_IMM:
    case BPF_LDX | BPF_IMM:
    case BPF_MISC | BPF_TAX:
    case BPF_MISC | BPF_TXA:
    case BPF_LD | BPF_MEM:
    case BPF_LDX | BPF_MEM:
    case BPF_ST:
    case BPF_STX:
    case BPF_JMP | BPF_JA:
      return true;
  }
  return false;
}

// Checks the operand of one instruction at `pc` of a program of `length`.
bool CheckOperand(const sock_filter& insn, size_t pc, size_t length) {
  switch (insn.code) {
    case BPF_ALU | BPF_DIV | BPF_K:
      return insn.k != 0;
    case BPF_ALU | BPF_LSH | BPF_K:
    case BPF_ALU | BPF_RSH | BPF_K:
      return insn.k < 32;
    case BPF_LD | BPF_MEM:
    case BPF_LDX | BPF_MEM:
    case BPF_ST:
    case BPF_STX:
      return insn.k < BPF_MEMWORDS;
    case BPF_JMP | BPF_JA:
      return insn.k < length - pc - 1;
    case BPF_LD | BPF_W | BPF_ABS:
      // Only whole, aligned fields of seccomp_data.
      return insn.k < kDataSize && insn.k % 4 == 0;
  }
  if (IsConditionalJump(insn.code))
    return pc + insn.jt + 1 < length && pc + insn.jf + 1 < length;
  return true;
}

// Checks that every scratch word is stored before it is loaded, on every
// path, as Linux net/core/filter.c:check_load_and_stores does: one bit per
// word, and a jump target keeps only the words valid on all its entries.
bool CheckMemoryUse(std::span<const sock_filter> program) {
  std::vector<uint16_t> valid_at(program.size(), 0xffff);
  uint16_t valid = 0;
  for (size_t pc = 0; pc < program.size(); pc++) {
    const sock_filter& insn = program[pc];
    valid &= valid_at[pc];
    if (insn.code == BPF_ST || insn.code == BPF_STX) {
      valid |= 1 << insn.k;
    } else if (insn.code == (BPF_LD | BPF_MEM) ||
               insn.code == (BPF_LDX | BPF_MEM)) {
      if (!(valid & (1 << insn.k))) return false;
    } else if (insn.code == (BPF_JMP | BPF_JA)) {
      valid_at[pc + 1 + insn.k] &= valid;
      valid = 0xffff;
    } else if (IsConditionalJump(insn.code)) {
      valid_at[pc + 1 + insn.jt] &= valid;
      valid_at[pc + 1 + insn.jf] &= valid;
      valid = 0xffff;
    }
  }
  return true;
}

uint32_t LoadWord(const seccomp_data& data, uint32_t offset) {
  uint32_t word;
  memcpy(&word, reinterpret_cast<const char*>(&data) + offset, sizeof word);
  return word;
}

bool JumpTaken(uint16_t code, uint32_t a, uint32_t operand) {
  switch (BPF_OP(code)) {
    case BPF_JEQ:
      return a == operand;
    case BPF_JGT:
      return a > operand;
    case BPF_JGE:
      return a >= operand;
    default:  // BPF_JSET
      return (a & operand) != 0;
  }
}

}  // namespace

Status CheckSeccompProgram(std::span<const sock_filter> program) {
  if (program.empty() || program.size() > kMaxBpfInstructions)
    return Err(EINVAL);
  for (size_t pc = 0; pc < program.size(); pc++) {
    if (!IsSeccompOpcode(program[pc].code)) return Err(EINVAL);
    if (!CheckOperand(program[pc], pc, program.size())) return Err(EINVAL);
  }
  uint16_t last = program.back().code;
  if (last != (BPF_RET | BPF_K) && last != (BPF_RET | BPF_A))
    return Err(EINVAL);
  if (!CheckMemoryUse(program)) return Err(EINVAL);
  return Ok();
}

uint32_t RunSeccompProgram(std::span<const sock_filter> program,
                           const seccomp_data& data) {
  uint32_t a = 0, x = 0;
  uint32_t memory[BPF_MEMWORDS] = {};
  // Every jump goes forward and the check kept them inside the program,
  // so the loop ends at a RET.
  for (size_t pc = 0;; pc++) {
    const sock_filter& insn = program[pc];
    uint32_t k = insn.k;
    uint32_t operand = BPF_SRC(insn.code) == BPF_X ? x : k;
    switch (insn.code) {
      case BPF_RET | BPF_K:
        return k;
      case BPF_RET | BPF_A:
        return a;
      case BPF_LD | BPF_W | BPF_ABS:
        a = LoadWord(data, k);
        break;
      case BPF_LD | BPF_W | BPF_LEN:
        a = kDataSize;
        break;
      case BPF_LDX | BPF_W | BPF_LEN:
        x = kDataSize;
        break;
      case BPF_LD | BPF_IMM:
        a = k;
        break;
      case BPF_LDX | BPF_IMM:
        x = k;
        break;
      case BPF_LD | BPF_MEM:
        a = memory[k];
        break;
      case BPF_LDX | BPF_MEM:
        x = memory[k];
        break;
      case BPF_ST:
        memory[k] = a;
        break;
      case BPF_STX:
        memory[k] = x;
        break;
      case BPF_MISC | BPF_TAX:
        x = a;
        break;
      case BPF_MISC | BPF_TXA:
        a = x;
        break;
      case BPF_JMP | BPF_JA:
        pc += k;
        break;
      case BPF_ALU | BPF_NEG:
        a = -a;
        break;
      case BPF_ALU | BPF_ADD | BPF_K:
      case BPF_ALU | BPF_ADD | BPF_X:
        a += operand;
        break;
      case BPF_ALU | BPF_SUB | BPF_K:
      case BPF_ALU | BPF_SUB | BPF_X:
        a -= operand;
        break;
      case BPF_ALU | BPF_MUL | BPF_K:
      case BPF_ALU | BPF_MUL | BPF_X:
        a *= operand;
        break;
      case BPF_ALU | BPF_DIV | BPF_K:
      case BPF_ALU | BPF_DIV | BPF_X:
        // Linux ends the program with 0 on a division by a zero X
        // (net/core/filter.c:bpf_convert_filter).
        if (operand == 0) return 0;
        a /= operand;
        break;
      case BPF_ALU | BPF_AND | BPF_K:
      case BPF_ALU | BPF_AND | BPF_X:
        a &= operand;
        break;
      case BPF_ALU | BPF_OR | BPF_K:
      case BPF_ALU | BPF_OR | BPF_X:
        a |= operand;
        break;
      case BPF_ALU | BPF_XOR | BPF_K:
      case BPF_ALU | BPF_XOR | BPF_X:
        a ^= operand;
        break;
      // A shift by X uses its low five bits, as the eBPF that Linux
      // translates the filter to does.
      case BPF_ALU | BPF_LSH | BPF_K:
      case BPF_ALU | BPF_LSH | BPF_X:
        a <<= operand & 31;
        break;
      case BPF_ALU | BPF_RSH | BPF_K:
      case BPF_ALU | BPF_RSH | BPF_X:
        a >>= operand & 31;
        break;
      default:  // a conditional jump
        pc += JumpTaken(insn.code, a, operand) ? insn.jt : insn.jf;
        break;
    }
  }
}

}  // namespace moat
