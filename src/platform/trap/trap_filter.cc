#include "platform/trap/trap_filter.h"

#include <linux/audit.h>
#include <linux/futex.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "util/log.h"

namespace moat {
namespace {

constexpr uint32_t kX32Bit = 0x40000000;

uint32_t Lo(uint64_t v) { return static_cast<uint32_t>(v); }
uint32_t Hi(uint64_t v) { return static_cast<uint32_t>(v >> 32); }
uint32_t ArgLo(int i) { return offsetof(seccomp_data, args) + 8 * i; }
uint32_t ArgHi(int i) { return ArgLo(i) + 4; }

// Classic BPF with forward labels, resolved by Finish. A label is an index
// into labels_; kNext is the next instruction.
class Assembler {
 public:
  static constexpr int kNext = -1;

  int NewLabel() {
    labels_.push_back(-1);
    return static_cast<int>(labels_.size()) - 1;
  }
  void Bind(int label) { labels_[label] = static_cast<int>(code_.size()); }
  void Stmt(uint16_t op, uint32_t k) { code_.push_back({op, 0, 0, k}); }
  void Load(uint32_t offset) { Stmt(BPF_LD | BPF_W | BPF_ABS, offset); }
  void Jump(uint16_t op, uint32_t k, int jt, int jf) {
    fixups_.push_back({code_.size(), jt, jf});
    code_.push_back({static_cast<uint16_t>(BPF_JMP | op), 0, 0, k});
  }
  void Goto(int label) { Jump(BPF_JA, 0, label, kNext); }

  std::vector<sock_filter> Finish() {
    for (const Fixup& f : fixups_) {
      sock_filter& insn = code_[f.at];
      auto offset = [&](int label) -> uint32_t {
        if (label == kNext) return 0;
        int target = labels_[label];
        MOAT_CHECK(target > static_cast<int>(f.at), "backward BPF jump");
        return static_cast<uint32_t>(target - f.at - 1);
      };
      if (BPF_OP(insn.code) == BPF_JA) {
        insn.k = offset(f.jt);
        continue;
      }
      uint32_t jt = offset(f.jt), jf = offset(f.jf);
      MOAT_CHECK(jt < 256 && jf < 256, "BPF jump too far");
      insn.jt = static_cast<uint8_t>(jt);
      insn.jf = static_cast<uint8_t>(jf);
    }
    return code_;
  }

 private:
  struct Fixup {
    size_t at;
    int jt, jf;
  };
  std::vector<sock_filter> code_;
  std::vector<int> labels_;
  std::vector<Fixup> fixups_;
};

// Allows the call when [arg0, arg0 + arg1) lies below `end`, computed in
// 64 bits from 32-bit halves without overflow; goes to `deny` otherwise.
void CheckRangeBelow(Assembler& a, uint64_t end, int allow, int deny) {
  constexpr int kNext = Assembler::kNext;
  a.Load(ArgHi(0));
  a.Jump(BPF_JGT | BPF_K, Hi(end), deny, kNext);
  a.Stmt(BPF_ST, 0);  // M[0] = high half of the address
  a.Load(ArgHi(1));
  a.Jump(BPF_JGT | BPF_K, Hi(end), deny, kNext);
  a.Stmt(BPF_MISC | BPF_TAX, 0);
  a.Stmt(BPF_LD | BPF_MEM, 0);
  a.Stmt(BPF_ALU | BPF_ADD | BPF_X, 0);
  a.Stmt(BPF_ST, 0);  // M[0] = sum of the high halves, at most 2 * Hi(end)
  a.Load(ArgLo(1));
  a.Stmt(BPF_MISC | BPF_TAX, 0);
  a.Load(ArgLo(0));
  a.Stmt(BPF_ALU | BPF_ADD | BPF_X, 0);
  a.Stmt(BPF_ST, 1);  // M[1] = low half of the end, carry lost
  int no_carry = a.NewLabel();
  a.Jump(BPF_JGE | BPF_X, 0, no_carry, kNext);
  a.Stmt(BPF_LD | BPF_MEM, 0);
  a.Stmt(BPF_ALU | BPF_ADD | BPF_K, 1);
  a.Stmt(BPF_ST, 0);
  a.Bind(no_carry);
  a.Stmt(BPF_LD | BPF_MEM, 0);
  a.Jump(BPF_JGT | BPF_K, Hi(end), deny, kNext);
  a.Jump(BPF_JEQ | BPF_K, Hi(end), kNext, allow);
  a.Stmt(BPF_LD | BPF_MEM, 1);
  a.Jump(BPF_JGT | BPF_K, Lo(end), deny, allow);
}

}  // namespace

std::vector<sock_filter> BuildTrapStubFilter(const TrapFilterSpec& spec) {
  constexpr int kNext = Assembler::kNext;
  MOAT_CHECK(Hi(spec.code_begin) == Hi(spec.code_end - 1) &&
                 Hi(spec.user_end) == Hi(spec.code_begin),
             "stub code must not cross a 4 GiB boundary");
  Assembler a;
  int allow = a.NewLabel(), trace = a.NewLabel(), trap = a.NewLabel(),
      kill = a.NewLabel();

  a.Load(offsetof(seccomp_data, arch));
  a.Jump(BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, kNext, kill);
  a.Load(offsetof(seccomp_data, nr));
  a.Jump(BPF_JSET | BPF_K, kX32Bit, kill, kNext);
  // Only calls from the stub's code go further.
  a.Load(offsetof(seccomp_data, instruction_pointer) + 4);
  a.Jump(BPF_JEQ | BPF_K, Hi(spec.code_begin), kNext, trap);
  a.Load(offsetof(seccomp_data, instruction_pointer));
  a.Jump(BPF_JGT | BPF_K, Lo(spec.code_begin), kNext, trap);
  a.Jump(BPF_JGE | BPF_K, Lo(spec.code_end), trap, kNext);

  int futex = a.NewLabel(), mmap = a.NewLabel(), range = a.NewLabel();
  a.Load(offsetof(seccomp_data, nr));
  // rt_sigreturn, pause and sigaltstack act on the calling thread only.
  a.Jump(BPF_JEQ | BPF_K, SYS_rt_sigreturn, allow, kNext);
  a.Jump(BPF_JEQ | BPF_K, SYS_pause, allow, kNext);
  a.Jump(BPF_JEQ | BPF_K, SYS_sigaltstack, allow, kNext);
  a.Jump(BPF_JEQ | BPF_K, SYS_futex, futex, kNext);
  a.Jump(BPF_JEQ | BPF_K, SYS_mmap, mmap, kNext);
  a.Jump(BPF_JEQ | BPF_K, SYS_mprotect, range, kNext);
  a.Jump(BPF_JEQ | BPF_K, SYS_munmap, range, kNext);
  a.Goto(trace);

  // futex: plain FUTEX_WAIT or FUTEX_WAKE on a word of the stub's area.
  a.Bind(futex);
  int futex_addr = a.NewLabel();
  a.Load(ArgLo(1));
  a.Jump(BPF_JEQ | BPF_K, FUTEX_WAIT, futex_addr, kNext);
  a.Jump(BPF_JEQ | BPF_K, FUTEX_WAKE, futex_addr, trace);
  a.Bind(futex_addr);
  a.Load(ArgHi(0));
  a.Jump(BPF_JEQ | BPF_K, Hi(spec.user_end), kNext, trace);
  a.Load(ArgLo(0));
  a.Jump(BPF_JGE | BPF_K, Lo(spec.user_end), allow, trace);

  // mmap: only MAP_SHARED | MAP_FIXED of the MemoryFile, below user_end.
  // The host reads the descriptor as an int, so its high half is ignored.
  a.Bind(mmap);
  a.Load(ArgHi(3));
  a.Jump(BPF_JEQ | BPF_K, 0, kNext, trace);
  a.Load(ArgLo(3));
  a.Jump(BPF_JEQ | BPF_K, MAP_SHARED | MAP_FIXED, kNext, trace);
  a.Load(ArgLo(4));
  a.Jump(BPF_JEQ | BPF_K, static_cast<uint32_t>(spec.memory_fd), range,
         trace);

  // munmap, mprotect and mmap: the range must lie below user_end, so that
  // the stub's code and slots stay as the platform made them.
  a.Bind(range);
  CheckRangeBelow(a, spec.user_end, allow, trace);

  a.Bind(allow);
  a.Stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  a.Bind(trace);
  a.Stmt(BPF_RET | BPF_K, SECCOMP_RET_TRACE);
  a.Bind(trap);
  a.Stmt(BPF_RET | BPF_K, SECCOMP_RET_TRAP);
  a.Bind(kill);
  a.Stmt(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
  return a.Finish();
}

}  // namespace moat
