// seccomp(2) and prctl(PR_SET_SECCOMP): installing strict mode and filters
// on the calling task. kernel/seccomp.cc runs them.
#include "kernel/seccomp.h"

#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#include <vector>

#include "kernel/seccomp_bpf.h"
#include "syscalls/handlers.h"
#include "syscalls/table.h"
#include "syscalls/util.h"

namespace moat {
namespace {

constexpr uint32_t kKnownFilterFlags =
    SECCOMP_FILTER_FLAG_TSYNC | SECCOMP_FILTER_FLAG_LOG |
    SECCOMP_FILTER_FLAG_SPEC_ALLOW | SECCOMP_FILTER_FLAG_NEW_LISTENER |
    SECCOMP_FILTER_FLAG_TSYNC_ESRCH | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV;

int64_t SetModeStrict(Task& t) {
  if (t.seccomp_mode == SECCOMP_MODE_FILTER) return -EINVAL;
  // NOTE: Linux also makes rdtsc fault in strict mode (disable_TSC); moat
  // cannot, so the time stamp counter stays readable.
  t.seccomp_mode = SECCOMP_MODE_STRICT;
  return 0;
}

// Copies in and checks the struct sock_fprog at `addr`, in the order of
// Linux kernel/seccomp.c:seccomp_prepare_filter: the length, then the
// privilege, then the instructions.
Result<std::vector<sock_filter>> CopyInProgram(Task& t, uint64_t addr) {
  auto fprog = t.mm().Read<sock_fprog>(addr);
  if (!fprog.ok()) return Err(EFAULT);
  if (fprog->len == 0 || fprog->len > kMaxBpfInstructions) return Err(EINVAL);
  // A filter could fool a set-user-ID program, so an unprivileged caller
  // must first give up gaining privileges.
  if (!t.no_new_privs && !t.creds.HasCapability(CAP_SYS_ADMIN))
    return Err(EACCES);
  std::vector<sock_filter> program(fprog->len);
  uint64_t insns = reinterpret_cast<uint64_t>(fprog->filter);
  if (!t.mm()
           .CopyIn(insns, program.data(), program.size() * sizeof(sock_filter))
           .ok())
    return Err(EFAULT);
  TRY_STATUS(CheckSeccompProgram(program));
  return program;
}

int64_t SetModeFilter(Task& t, uint32_t flags, uint64_t addr) {
  if (flags & ~kKnownFilterFlags) return -EINVAL;
  if ((flags & SECCOMP_FILTER_FLAG_TSYNC) &&
      (flags & SECCOMP_FILTER_FLAG_NEW_LISTENER) &&
      !(flags & SECCOMP_FILTER_FLAG_TSYNC_ESRCH))
    return -EINVAL;
  if ((flags & SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV) &&
      !(flags & SECCOMP_FILTER_FLAG_NEW_LISTENER))
    return -EINVAL;
  // TODO: user notification (a listener descriptor that a supervisor reads
  // seccomp_notif from) is not implemented. Failing here, before the
  // pointer is read, is how callers such as libseccomp learn that the
  // kernel lacks the flag.
  if (flags & SECCOMP_FILTER_FLAG_NEW_LISTENER) return -EINVAL;
  auto program = CopyInProgram(t, addr);
  if (!program.ok()) return -program.error();
  return AttachSeccompFilter(t, std::move(program.value()), flags);
}

int64_t GetActionAvail(Task& t, uint64_t addr) {
  auto action = t.mm().Read<uint32_t>(addr);
  if (!action.ok()) return -EFAULT;
  switch (action.value()) {
    case SECCOMP_RET_KILL_PROCESS:
    case SECCOMP_RET_KILL_THREAD:
    case SECCOMP_RET_TRAP:
    case SECCOMP_RET_ERRNO:
    case SECCOMP_RET_TRACE:
    case SECCOMP_RET_LOG:
    case SECCOMP_RET_ALLOW:
      return 0;
  }
  // SECCOMP_RET_USER_NOTIF too: without listeners it could never notify.
  return -EOPNOTSUPP;
}

int64_t GetNotifSizes(Task& t, uint64_t addr) {
  seccomp_notif_sizes sizes = {
      sizeof(seccomp_notif), sizeof(seccomp_notif_resp), sizeof(seccomp_data)};
  return ToReturn(t.mm().Write(addr, sizes));
}

// The operations of seccomp(2) (kernel/seccomp.c:do_seccomp).
int64_t DoSeccomp(Task& t, uint32_t op, uint32_t flags, uint64_t addr) {
  switch (op) {
    case SECCOMP_SET_MODE_STRICT:
      if (flags != 0 || addr != 0) return -EINVAL;
      return SetModeStrict(t);
    case SECCOMP_SET_MODE_FILTER:
      return SetModeFilter(t, flags, addr);
    case SECCOMP_GET_ACTION_AVAIL:
      if (flags != 0) return -EINVAL;
      return GetActionAvail(t, addr);
    case SECCOMP_GET_NOTIF_SIZES:
      if (flags != 0) return -EINVAL;
      return GetNotifSizes(t, addr);
  }
  return -EINVAL;
}

}  // namespace

// Implements seccomp(2). SECCOMP_FILTER_FLAG_NEW_LISTENER fails with
// EINVAL, and SECCOMP_GET_ACTION_AVAIL reports SECCOMP_RET_USER_NOTIF as
// unavailable.
int64_t Seccomp(Task& t, const SyscallArgs& args) {
  return DoSeccomp(t, static_cast<uint32_t>(args[0]),
                   static_cast<uint32_t>(args[1]), args[2]);
}

int64_t PrctlSetSeccomp(Task& t, uint64_t mode, uint64_t filter) {
  // Strict mode ignores the third argument (kernel/seccomp.c:
  // prctl_set_seccomp).
  if (mode == SECCOMP_MODE_STRICT)
    return DoSeccomp(t, SECCOMP_SET_MODE_STRICT, 0, 0);
  if (mode == SECCOMP_MODE_FILTER)
    return DoSeccomp(t, SECCOMP_SET_MODE_FILTER, 0, filter);
  return -EINVAL;
}

}  // namespace moat
