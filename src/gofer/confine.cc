#include "gofer/confine.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <linux/mount.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "sandbox/confine.h"
#include "util/log.h"

namespace moat::gofer {
namespace {

// The directory the new root is assembled on before pivot_root. The mount
// lives only in the gofer's mount namespace, and the roots are cloned
// before it exists, so a root under /tmp is not hidden by it.
constexpr const char* kStagingDir = "/tmp";

Status Fail(const char* what) {
  int error = errno;
  spdlog::error("gofer: confining itself: {} failed: {}", what,
                strerror(error));
  return Err(error);
}

// Landlock's interface (linux/landlock.h), spelled out because the headers
// of older distributions lack the newer rights and fields.
struct RulesetAttr {
  uint64_t handled_access_fs;
  uint64_t handled_access_net;  // ABI 4
  uint64_t scoped;              // ABI 6
};
struct __attribute__((packed)) PathBeneathAttr {
  uint64_t allowed_access;
  int32_t parent_fd;
};
constexpr int kRulePathBeneath = 1;
constexpr uint32_t kCreateRulesetVersion = 1;
enum : uint64_t {
  kExecute = 1 << 0, kWriteFile = 1 << 1, kReadFile = 1 << 2,
  kReadDir = 1 << 3, kRemoveDir = 1 << 4, kRemoveFile = 1 << 5,
  kMakeDir = 1 << 7, kMakeReg = 1 << 8, kMakeFifo = 1 << 10,
  kMakeSym = 1 << 12,
  kRefer = 1 << 13,     // ABI 2
  kTruncate = 1 << 14,  // ABI 3
  kIoctlDev = 1 << 15,  // ABI 5
};
constexpr uint64_t kNetBindTcp = 1, kNetConnectTcp = 2;
constexpr uint64_t kScopeAbstractUnix = 1, kScopeSignal = 2;

// Every file right that the host's Landlock ABI version defines. Handling
// all of them refuses each one that no rule grants.
uint64_t HandledFsRights(int abi) {
  uint64_t rights = (uint64_t{1} << 13) - 1;
  if (abi >= 2) rights |= kRefer;
  if (abi >= 3) rights |= kTruncate;
  if (abi >= 5) rights |= kIoctlDev;
  return rights;
}

// Clones `path` and the mounts under it into a detached tree, read-only
// for a read-only root.
int CloneTree(const Root& root) {
  int tree = static_cast<int>(
      syscall(SYS_open_tree, AT_FDCWD, root.host_path.c_str(),
              OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE));
  if (tree < 0 || !root.read_only) return tree;
  mount_attr attr = {};
  attr.attr_set = MOUNT_ATTR_RDONLY;
  // Defence in depth only: the server refuses writes to a read-only root
  // itself, so a host without mount_setattr (before 5.12) is no worse off.
  if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH | AT_RECURSIVE,
              &attr, sizeof attr) != 0)
    spdlog::debug("gofer: cannot make {} read-only: {}", root.host_path,
                  strerror(errno));
  return tree;
}

// Calls the gofer makes with any arguments, once it serves.
constexpr int kAllowed[] = {
    // Requests and replies, and the log.
    SYS_recvmsg, SYS_sendmsg, SYS_read, SYS_write, SYS_writev, SYS_close,
    // The requests themselves, relative to descriptors under the roots.
    SYS_openat, SYS_fstat, SYS_newfstatat, SYS_statx, SYS_fstatfs,
    SYS_readlinkat, SYS_getdents64, SYS_lseek, SYS_mkdirat, SYS_symlinkat,
    SYS_linkat, SYS_unlinkat, SYS_renameat2, SYS_fchownat, SYS_fchown,
    SYS_fchmodat, SYS_utimensat, SYS_ftruncate,
    // Memory of the gofer itself.
    SYS_brk, SYS_munmap, SYS_mremap, SYS_madvise,
    // The rest of the process: locks inside the logger, signals, time and
    // exit.
    SYS_futex, SYS_rt_sigreturn, SYS_rt_sigprocmask, SYS_getpid, SYS_gettid,
    SYS_clock_gettime, SYS_gettimeofday, SYS_exit, SYS_exit_group,
};

constexpr int kFcntls[] = {F_GETFD, F_SETFD, F_GETFL, F_DUPFD_CLOEXEC};

}  // namespace

Status InstallGoferFilter(bool audit) {
  HandleForbiddenCalls("gofer", audit);
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_TRAP);
  if (ctx == nullptr) return Err(ENOMEM);
  int rc = 0;
  for (int nr : kAllowed) rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
  for (int cmd : kFcntls) {
    rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(fcntl), 1,
                           SCMP_A1(SCMP_CMP_EQ, static_cast<scmp_datum_t>(cmd)));
  }
  // FIFOs only (Server::Mknod): never a device or socket node.
  rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mknodat), 1,
                         SCMP_A2(SCMP_CMP_MASKED_EQ, S_IFMT, S_IFIFO));
  // No executable memory, ever.
  rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
                         SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
  rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
                         SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
  if (rc == 0) rc = seccomp_load(ctx);
  seccomp_release(ctx);
  if (rc != 0) {
    spdlog::error("gofer: installing its seccomp filter failed: {}",
                  strerror(-rc));
    return Err(-rc);
  }
  return Ok();
}

int NamespaceFlags() {
  if (geteuid() != 0) return 0;
  return CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC |
         CLONE_NEWUTS;
}

Status EnterServedRoots(std::vector<Root>& roots) {
  // A proc mounted here would show the host's processes unless the gofer
  // has a pid namespace of its own.
  if (getpid() != 1) {
    errno = EPERM;
    return Fail("checking for its own pid namespace");
  }
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
    return Fail("making mounts private");
  std::vector<int> trees;
  for (const Root& root : roots) {
    int tree = CloneTree(root);
    if (tree < 0) {
      Status failed = Fail("cloning a root");
      for (int t : trees) close(t);
      return failed;
    }
    trees.push_back(tree);
  }

  if (mount("moat-gofer", kStagingDir, "tmpfs", MS_NOSUID | MS_NODEV,
            "size=16k,mode=0500") != 0)
    return Fail("mounting the new root");
  if (chdir(kStagingDir) != 0) return Fail("chdir to the new root");
  Status status = Ok();
  for (size_t i = 0; i < trees.size(); i++) {
    std::string name = std::to_string(i);
    if (status.ok() && (mkdir(name.c_str(), 0500) != 0 ||
                        syscall(SYS_move_mount, trees[i], "", AT_FDCWD,
                                name.c_str(), MOVE_MOUNT_F_EMPTY_PATH) != 0))
      status = Fail("mounting a root in the new root");
    close(trees[i]);
    roots[i].host_path = "/" + name;
  }
  if (!status.ok()) return status;
  if (mkdir("proc", 0555) != 0 ||
      mount("proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
            nullptr) != 0)
    return Fail("mounting its own proc");
  // As for the kernel, the old root goes on top of the new one and is then
  // detached. The roots' copies stay, since they are mounted in the new
  // root.
  if (syscall(SYS_pivot_root, ".", ".") != 0) return Fail("pivot_root");
  if (umount2(".", MNT_DETACH) != 0) return Fail("detaching the host root");
  if (chdir("/") != 0) return Fail("chdir to /");
  if (mount(nullptr, "/", nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY |
                                       MS_NOSUID | MS_NODEV | MS_NOEXEC,
            nullptr) != 0)
    return Fail("making the new root read-only");
  return Ok();
}

Status RestrictToRoots(const std::vector<Root>& roots) {
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
    return Fail("PR_SET_NO_NEW_PRIVS");
  int abi = static_cast<int>(syscall(SYS_landlock_create_ruleset, nullptr, 0,
                                     kCreateRulesetVersion));
  if (abi < 1) {
    spdlog::debug("gofer: the host has no Landlock; namespaces and seccomp "
                  "confine the gofer");
    return Ok();
  }
  RulesetAttr attr = {HandledFsRights(abi), 0, 0};
  size_t size = sizeof(uint64_t);
  if (abi >= 4) {
    attr.handled_access_net = kNetBindTcp | kNetConnectTcp;
    size = 2 * sizeof(uint64_t);
  }
  if (abi >= 6) {
    attr.scoped = kScopeAbstractUnix | kScopeSignal;
    size = sizeof attr;
  }

  int ruleset = static_cast<int>(
      syscall(SYS_landlock_create_ruleset, &attr, size, 0));
  if (ruleset < 0) return Fail("landlock_create_ruleset");
  const uint64_t read = kReadFile | kReadDir;
  const uint64_t write = kWriteFile | kRemoveDir | kRemoveFile | kMakeDir |
                         kMakeReg | kMakeFifo | kMakeSym | kRefer | kTruncate;
  Status status = Ok();
  for (const Root& root : roots) {
    PathBeneathAttr rule = {(root.read_only ? read : read | write) &
                                attr.handled_access_fs,
                            open(root.host_path.c_str(),
                                 O_PATH | O_DIRECTORY | O_CLOEXEC)};
    if (rule.parent_fd < 0) {
      status = Fail("opening a root for Landlock");
      break;
    }
    int rc = static_cast<int>(syscall(SYS_landlock_add_rule, ruleset,
                                      kRulePathBeneath, &rule, 0));
    close(rule.parent_fd);
    if (rc != 0) {
      status = Fail("landlock_add_rule");
      break;
    }
  }
  if (status.ok() && syscall(SYS_landlock_restrict_self, ruleset, 0) != 0)
    status = Fail("landlock_restrict_self");
  close(ruleset);
  return status;
}

Status DropGoferCapabilities() {
  // An unprivileged gofer has no capabilities to drop and may not change
  // its bounding set; no_new_privs, which RestrictToRoots set, keeps it
  // from gaining any.
  if (geteuid() != 0) return Ok();
  uint64_t keep = 0;
  for (int cap : {CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH,
                  CAP_FOWNER, CAP_FSETID})
    keep |= uint64_t{1} << cap;
  return DropPrivileges(keep);
}

}  // namespace moat::gofer
