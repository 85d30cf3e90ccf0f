#include "sandbox/confine.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util/log.h"

namespace moat {
namespace {

// The directory the empty root is first mounted on. It exists on every
// Debian system, and the mount is never seen outside the kernel's mount
// namespace.
constexpr const char* kStagingDir = "/tmp";

Status Fail(const char* what) {
  int error = errno;
  spdlog::error("confining the kernel: {} failed: {}", what, strerror(error));
  return Err(error);
}

}  // namespace

int KernelNamespaceFlags(bool host_network) {
  int flags = CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC |
              CLONE_NEWUTS;
  if (!host_network) flags |= CLONE_NEWNET;
  return flags;
}

Status BecomeNamespaceRoot() {
  // The front end already switched ids before exec. That made the process
  // undumpable, and an undumpable process's children cannot be traced
  // once capabilities are gone.
  if (getuid() != 0 || getgid() != 0) {
    errno = EPERM;
    return Fail("running as root of the kernel's user namespace");
  }
  if (prctl(PR_SET_DUMPABLE, 1) != 0) return Fail("PR_SET_DUMPABLE");
  // The kernel must not outlive the front end.
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) return Fail("PR_SET_PDEATHSIG");
  return Ok();
}

Status EnterEmptyRoot() {
  // Nothing done here may reach the host's mount namespace.
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
    return Fail("making mounts private");
  if (mount("moat-empty", kStagingDir, "tmpfs",
            MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,nr_inodes=2,mode=0500") !=
      0)
    return Fail("mounting the empty root");
  if (chdir(kStagingDir) != 0) return Fail("chdir to the empty root");
  // pivot_root(".", ".") stacks the old root on top of the new one, and
  // detaching it leaves only the empty tmpfs.
  if (syscall(SYS_pivot_root, ".", ".") != 0) return Fail("pivot_root");
  if (umount2(".", MNT_DETACH) != 0) return Fail("detaching the host root");
  if (chdir("/") != 0) return Fail("chdir to /");
  if (mount(nullptr, "/", nullptr,
            MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV |
                MS_NOEXEC,
            nullptr) != 0)
    return Fail("making the empty root read-only");
  return Ok();
}

Status DropPrivileges(uint64_t keep) {
  for (int cap = 0; cap <= CAP_LAST_CAP; cap++) {
    if ((keep >> cap) & 1) continue;
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL)
      return Fail("PR_CAPBSET_DROP");
  }
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0)
    return Fail("clearing ambient capabilities");
  struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2] = {};
  for (int i = 0; i < 2; i++) {
    data[i].effective = data[i].permitted = static_cast<uint32_t>(keep >> (32 * i));
  }
  if (syscall(SYS_capset, &header, data) != 0) return Fail("capset");
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
    return Fail("PR_SET_NO_NEW_PRIVS");
  return Ok();
}

}  // namespace moat
