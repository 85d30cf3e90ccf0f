// Helpers shared by the syscall handlers.
#pragma once

#include <string>

#include "kernel/kernel.h"
#include "kernel/task.h"
#include "syscalls/table.h"
#include "vfs/fd_table.h"
#include "vfs/vfs.h"

namespace moat {

inline constexpr size_t kPathMax = 4096;

// The open file behind `fd`, or null.
FilePtr GetFile(Task& t, int fd);

// Copies in a path argument: EFAULT for a bad pointer, ENAMETOOLONG past
// PATH_MAX, ENOENT for an empty path unless `allow_empty`.
Result<std::string> CopyInPath(Task& t, uint64_t addr,
                               bool allow_empty = false);

// The starting point for a *at() call: the cwd for AT_FDCWD, otherwise
// the directory `dirfd` refers to (EBADF, ENOTDIR).
Result<Path> StartPath(Task& t, int dirfd, const std::string& path);

// Resolves a *at() path with AT_SYMLINK_NOFOLLOW and AT_EMPTY_PATH
// semantics. For an empty path with AT_EMPTY_PATH, the file itself.
Result<Path> ResolveAt(Task& t, int dirfd, uint64_t path_addr, int flags,
                       bool follow_default = true);

uint64_t NofileLimit(Task& t);

// Closes the host files' descriptors in `t`'s host process
// (AddressSpace::DropHostFiles) after a change of its root or, for the
// second form, of its credentials from `before`: at once for the calling
// task, before `t` next runs the program for another. Neither the next
// program nor this one after dropping a privilege may then map a file it
// could not read. A process whose descriptors could not be closed is
// killed.
void DropHostFiles(Task& t);
void DropHostFilesIfChanged(Task& t, const Credentials& before);

// Installs a new descriptor for `f` (EMFILE past RLIMIT_NOFILE).
Result<int> InstallFd(Task& t, FilePtr f, bool cloexec, int min_fd = 0);
// Installs a close-on-exec pidfd (pidfd_open(2)) that names `tg`.
// `flags` may hold PIDFD_NONBLOCK.
Result<int> InstallPidfd(Task& t, std::shared_ptr<ThreadGroup> tg,
                         unsigned flags);

// Runs `op` until it stops returning EAGAIN, waiting for `events` on the
// file between tries unless it is non-blocking. Returns -ERESTARTSYS when
// a signal arrives first.
int64_t BlockingIo(Task& t, FileDescription& f, uint32_t events,
                   const std::function<Result<size_t>()>& op);

// Blocks until `deadline`, a signal, or a Wake. Returns true on timeout.
bool SleepUntil(Task& t, Clock::time_point deadline, bool* interrupted);

Result<struct timespec> CopyInTimespec(Task& t, uint64_t addr);
std::chrono::nanoseconds TimespecToNanos(const struct timespec& ts);
// Converts a duration to a timespec; a negative one becomes zero.
struct timespec NanosToTimespec(std::chrono::nanoseconds ns);
Clock::time_point DeadlineFromTimespec(const struct timespec& ts);

// Converts an InodeAttr to struct stat.
struct stat ToStat(const InodeAttr& a);

// prctl(PR_SET_SECCOMP, mode, filter), which is seccomp(2) with the mode's
// operation and no flags.
int64_t PrctlSetSeccomp(Task& t, uint64_t mode, uint64_t filter);

}  // namespace moat
