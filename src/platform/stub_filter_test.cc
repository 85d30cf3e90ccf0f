#include "platform/stub_filter.h"

#include <gtest/gtest.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

// A function that makes one system call from a known place, standing in
// for the stub's code: site_call(nr, arg0) returns the raw result.
extern "C" long site_call(long nr, long arg0);
extern "C" char site_return[];
asm(R"(
  .text
  .globl site_call
site_call:
  mov %rdi, %rax
  mov %rsi, %rdi
  syscall
  .globl site_return
site_return:
  ret
)");

namespace moat {
namespace {

constexpr long kPinned = 7;

// Runs `body` in a child under a filter that allows getppid(kPinned) and
// exit_group from the site, and fails everything else with EPERM. Returns
// the child's wait status.
int RunFiltered(int (*body)()) {
  uint64_t site = reinterpret_cast<uint64_t>(site_return);
  std::vector<StubCall> calls = {
      {site, SYS_getppid, {{0, ~uint64_t{0}, kPinned}}},
      {site, SYS_exit_group, {}},
  };
  auto program = BuildStubFilter(calls, SECCOMP_RET_ERRNO | EPERM);
  pid_t pid = fork();
  if (pid == 0) {
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) _exit(100);
    if (InstallStubFilter(program) != 0) _exit(101);
    site_call(SYS_exit_group, body());
    _exit(102);  // exit_group failed
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return status;
}

TEST(StubFilterTest, AllowsPinnedCallFromTheSiteOnly) {
  int status = RunFiltered([] {
    int bits = 0;
    if (site_call(SYS_getppid, kPinned) > 0) bits |= 1;
    if (site_call(SYS_getppid, kPinned + 1) == -EPERM) bits |= 2;
    // The pin covers the high half of the argument too.
    if (site_call(SYS_getppid, kPinned | (1L << 32)) == -EPERM) bits |= 4;
    // The same call from anywhere else is refused.
    if (syscall(SYS_getppid, kPinned) == -1 && errno == EPERM) bits |= 8;
    if (site_call(SYS_getpid, 0) == -EPERM) bits |= 16;
    return bits;
  });
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 31);
}

TEST(StubFilterTest, KillsX32Numbers) {
  int status = RunFiltered(
      [] { return int(site_call(SYS_getppid | 0x40000000, kPinned)); });
  ASSERT_TRUE(WIFSIGNALED(status)) << status;
  EXPECT_EQ(WTERMSIG(status), SIGSYS);
}

TEST(StubFilterTest, FitsBlocksOfManyPins) {
  std::vector<ArgPin> pins;
  for (int i = 0; i < 6; i++) pins.push_back({i, 0xff00ff00ff00ff00, 0});
  auto program = BuildStubFilter({{0x1000, 1, pins}}, SECCOMP_RET_KILL);
  // Arch and x32 checks, ip and nr, 6 pins of two masked words, allow and
  // the final return.
  EXPECT_EQ(program.size(), 6u + 6 + 6 * 6 + 1 + 1);
}

}  // namespace
}  // namespace moat
