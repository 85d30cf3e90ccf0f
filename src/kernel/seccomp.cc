#include "kernel/seccomp.h"

#include <linux/audit.h>
#include <linux/seccomp.h>
#include <sys/syscall.h>

#include <algorithm>

#include "kernel/kernel.h"
#include "kernel/seccomp_bpf.h"
#include "kernel/signal_delivery.h"
#include "syscalls/table.h"
#include "util/log.h"

namespace moat {
namespace {

// Linux kernel/seccomp.c:MAX_INSNS_PER_PATH, and the 4 instructions each
// filter adds to the count.
constexpr size_t kMaxPathLength = 32768;
constexpr size_t kFilterPenalty = 4;
// The largest errno SECCOMP_RET_ERRNO returns (MAX_ERRNO).
constexpr uint32_t kMaxErrno = 4095;
// siginfo's si_code for a SIGSYS from seccomp, which glibc does not define.
constexpr int kSysSeccomp = 1;
// The i386 numbers of read, write, exit and sigreturn, which strict mode
// allows through `int $0x80`.
constexpr int kStrictI386[] = {3, 4, 1, 119};
constexpr int kStrictX8664[] = {SYS_read, SYS_write, SYS_exit,
                                SYS_rt_sigreturn};

// The struct seccomp_data of the call in `regs`. Through `int $0x80` the
// number and arguments are the i386 ones, truncated to 32 bits.
seccomp_data DataOf(const Registers& regs, bool int80) {
  seccomp_data data = {};
  data.nr = static_cast<int>(regs.orig_rax);
  data.instruction_pointer = regs.rip;
  if (int80) {
    data.arch = AUDIT_ARCH_I386;
    uint64_t args[] = {regs.rbx, regs.rcx, regs.rdx,
                       regs.rsi, regs.rdi, regs.rbp};
    for (int i = 0; i < 6; i++) data.args[i] = static_cast<uint32_t>(args[i]);
  } else {
    data.arch = AUDIT_ARCH_X86_64;
    uint64_t args[] = {regs.rdi, regs.rsi, regs.rdx,
                       regs.r10, regs.r8,  regs.r9};
    for (int i = 0; i < 6; i++) data.args[i] = args[i];
  }
  return data;
}

// Ranks an action for the "strictest wins" rule: Linux compares the
// action bits as a signed number, so KILL_PROCESS (0x80000000) is the
// lowest and ALLOW the highest (kernel/seccomp.c:seccomp_run_filters).
int32_t Rank(uint32_t result) {
  return static_cast<int32_t>(result & SECCOMP_RET_ACTION_FULL);
}

// Runs every filter of the chain, newest first. On a tie the newer
// filter's result, with its data, wins. `match` gets the deciding filter.
uint32_t RunFilters(const SeccompFilter* f, const seccomp_data& data,
                    const SeccompFilter** match) {
  uint32_t result = SECCOMP_RET_ALLOW;
  *match = f;
  for (; f != nullptr; f = f->prev.get()) {
    uint32_t current = RunSeccompProgram(f->program, data);
    if (Rank(current) < Rank(result)) {
      result = current;
      *match = f;
    }
  }
  return result;
}

void LogAction(Task& t, const seccomp_data& data, const char* action) {
  const SyscallInfo* info =
      data.arch == AUDIT_ARCH_X86_64 ? LookupSyscall(data.nr) : nullptr;
  spdlog::debug("[{}:{}] seccomp: {} ({}) at {:#x}: {}", t.tg().tgid, t.tid,
                info != nullptr ? info->name : "syscall", data.nr,
                data.instruction_pointer, action);
}

// Ends the thread, or the process when it is the last thread, with SIGSYS
// and a core dump status (kernel/seccomp.c:__seccomp_filter).
void KillForSeccomp(Task& t, bool whole_process) {
  ThreadGroup& tg = t.tg();
  if (whole_process || tg.tasks.size() == 1) {
    t.kernel().ExitGroup(tg, SIGSYS | 0x80);
  } else {
    t.Exit(SIGSYS);
  }
}

// SECCOMP_RET_TRAP: the handler gets the registers of the call, with rax
// back at the call number, and a SIGSYS that describes it
// (kernel/seccomp.c:force_sig_seccomp).
void TrapForSeccomp(Task& t, const seccomp_data& data, uint32_t reason) {
  t.regs.rax = t.regs.orig_rax;
  siginfo_t info = {};
  info.si_signo = SIGSYS;
  info.si_code = kSysSeccomp;
  info.si_errno = static_cast<int>(reason);
  info.si_call_addr = reinterpret_cast<void*>(data.instruction_pointer);
  info.si_syscall = data.nr;
  info.si_arch = data.arch;
  ForceSignal(t, info);
}

std::optional<int64_t> CheckStrict(Task& t, const seccomp_data& data) {
  std::span<const int> allowed = kStrictX8664;
  if (data.arch == AUDIT_ARCH_I386) allowed = kStrictI386;
  if (std::ranges::find(allowed, data.nr) != allowed.end()) return {};
  LogAction(t, data, "killed by strict mode");
  t.Exit(SIGKILL);
  return kNoReturnValue;
}

std::optional<int64_t> ApplyAction(Task& t, uint32_t result,
                                   const SeccompFilter& match,
                                   const seccomp_data& data) {
  uint32_t reason = result & SECCOMP_RET_DATA;
  switch (result & SECCOMP_RET_ACTION_FULL) {
    case SECCOMP_RET_ALLOW:
      return {};
    case SECCOMP_RET_LOG:
      LogAction(t, data, "logged");
      return {};
    case SECCOMP_RET_ERRNO:
      if (match.log) LogAction(t, data, "errno");
      return -int64_t{std::min(reason, kMaxErrno)};
    case SECCOMP_RET_TRACE:
      // No tracer can attach inside, and without one Linux fails the call.
      if (match.log) LogAction(t, data, "trace without a tracer");
      return -ENOSYS;
    case SECCOMP_RET_USER_NOTIF:
      // Only a filter with a listener notifies, and seccomp(2) attaches
      // none (see SECCOMP_FILTER_FLAG_NEW_LISTENER), so the call fails as
      // on Linux without a listener.
      return -ENOSYS;
    case SECCOMP_RET_TRAP:
      if (match.log) LogAction(t, data, "trap");
      TrapForSeccomp(t, data, reason);
      return kNoReturnValue;
    case SECCOMP_RET_KILL_THREAD:
      LogAction(t, data, "killed the thread");
      KillForSeccomp(t, false);
      return kNoReturnValue;
  }
  // SECCOMP_RET_KILL_PROCESS, and any unknown action.
  LogAction(t, data, "killed the process");
  KillForSeccomp(t, true);
  return kNoReturnValue;
}

// Whether `ancestor` is on the chain that ends at `f`. The empty chain is
// an ancestor of every chain (kernel/seccomp.c:is_ancestor).
bool IsAncestor(const SeccompFilter* ancestor, const SeccompFilter* f) {
  if (ancestor == nullptr) return true;
  for (; f != nullptr; f = f->prev.get())
    if (f == ancestor) return true;
  return false;
}

// SECCOMP_FILTER_FLAG_TSYNC: the tid of the first other thread that has
// its own filters or strict mode, or 0 when all can take the caller's.
int FindUnsyncableThread(Task& t, const SeccompFilter* proposed) {
  for (auto& other : t.tg().tasks) {
    if (other.get() == &t) continue;
    if (other->seccomp_mode == SECCOMP_MODE_DISABLED) continue;
    if (other->seccomp_mode == SECCOMP_MODE_FILTER &&
        IsAncestor(other->seccomp_filter.get(), proposed))
      continue;
    return other->tid;
  }
  return 0;
}

void SyncThreads(Task& t) {
  for (auto& other : t.tg().tasks) {
    if (other.get() == &t) continue;
    other->seccomp_filter = t.seccomp_filter;
    other->seccomp_mode = SECCOMP_MODE_FILTER;
    if (t.no_new_privs) other->no_new_privs = true;
  }
}

}  // namespace

std::optional<int64_t> CheckSeccomp(Task& t, bool int80) {
  seccomp_data data = DataOf(t.regs, int80);
  if (t.seccomp_mode == SECCOMP_MODE_STRICT) return CheckStrict(t, data);
  const SeccompFilter* match = nullptr;
  uint32_t result = RunFilters(t.seccomp_filter.get(), data, &match);
  MOAT_CHECK(match != nullptr, "[{}] seccomp filter mode without a filter",
             t.tid);
  return ApplyAction(t, result, *match, data);
}

uint32_t SeccompVerdict(const Task& t, const seccomp_data& data) {
  const SeccompFilter* match = nullptr;
  return RunFilters(t.seccomp_filter.get(), data, &match);
}

int64_t AttachSeccompFilter(Task& t, std::vector<sock_filter> program,
                            uint32_t flags) {
  if (t.seccomp_mode != SECCOMP_MODE_DISABLED &&
      t.seccomp_mode != SECCOMP_MODE_FILTER)
    return -EINVAL;
  // Linux counts every filter already attached with a penalty of 4, and
  // the new one without. NOTE: Linux counts the instructions of the eBPF
  // it translates each filter to, which are more than the classic ones, so
  // it reaches the limit with fewer filters than moat does.
  const SeccompFilter* prev = t.seccomp_filter.get();
  size_t total = program.size() + (prev != nullptr ? prev->path_length : 0);
  if (total > kMaxPathLength) return -ENOMEM;
  auto filter = std::make_shared<SeccompFilter>();
  filter->path_length = total + kFilterPenalty;
  filter->count = prev != nullptr ? prev->count + 1 : 1;
  if (flags & SECCOMP_FILTER_FLAG_TSYNC) {
    int tid = FindUnsyncableThread(t, t.seccomp_filter.get());
    if (tid != 0)
      return (flags & SECCOMP_FILTER_FLAG_TSYNC_ESRCH) ? -ESRCH : tid;
  }
  filter->program = std::move(program);
  filter->prev = std::move(t.seccomp_filter);
  filter->log = (flags & SECCOMP_FILTER_FLAG_LOG) != 0;
  t.seccomp_filter = std::move(filter);
  t.seccomp_mode = SECCOMP_MODE_FILTER;
  if (flags & SECCOMP_FILTER_FLAG_TSYNC) SyncThreads(t);
  return 0;
}

}  // namespace moat
