// Unit tests of the OCI seccomp profile compiler: each profile is compiled
// with libseccomp and the result is run by the kernel's BPF interpreter.
#include "oci/seccomp_profile.h"

#include <gtest/gtest.h>
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <sys/syscall.h>

#include "kernel/seccomp_bpf.h"

namespace moat::oci {
namespace {

using nlohmann::json;

// The i386 number of mkdir, for filters that cover SCMP_ARCH_X86.
constexpr int kI386Mkdir = 39;

class SeccompProfileTest : public ::testing::Test {
 protected:
  // Compiles `profile`, which must succeed, and checks the result.
  void Compile(const json& profile) {
    std::string error = CompileSeccompProfile(profile, &compiled_);
    ASSERT_EQ(error, "");
    for (uint64_t packed : compiled_.instructions)
      program_.push_back(UnpackInstruction(packed));
    ASSERT_TRUE(CheckSeccompProgram(program_).ok());
  }

  // The filter's result for call `nr` with `args` on `arch`.
  uint32_t Evaluate(int nr, std::vector<uint64_t> args = {},
                    uint32_t arch = AUDIT_ARCH_X86_64) {
    seccomp_data data = {};
    data.nr = nr;
    data.arch = arch;
    for (size_t i = 0; i < args.size() && i < 6; i++) data.args[i] = args[i];
    return RunSeccompProgram(program_, data);
  }

  SeccompProgram compiled_;
  std::vector<sock_filter> program_;
};

// The error of compiling `profile`, which must fail.
std::string CompileError(const json& profile) {
  SeccompProgram out;
  return CompileSeccompProfile(profile, &out);
}

json DenyMkdir() {
  return {{"defaultAction", "SCMP_ACT_ALLOW"},
          {"architectures", {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86"}},
          {"syscalls",
           {{{"names", {"mkdir", "mkdirat", "no_such_call"}},
             {"action", "SCMP_ACT_ERRNO"},
             {"errnoRet", EPERM}}}}};
}

TEST_F(SeccompProfileTest, DenyMkdirProfile) {
  Compile(DenyMkdir());
  EXPECT_EQ(Evaluate(SYS_mkdir), SECCOMP_RET_ERRNO | EPERM);
  EXPECT_EQ(Evaluate(SYS_mkdirat), SECCOMP_RET_ERRNO | EPERM);
  EXPECT_EQ(Evaluate(SYS_getpid), SECCOMP_RET_ALLOW);
  EXPECT_EQ(Evaluate(kI386Mkdir, {}, AUDIT_ARCH_I386),
            SECCOMP_RET_ERRNO | EPERM);
}

TEST_F(SeccompProfileTest, OtherArchitectureGetsBadArchAction) {
  json profile = DenyMkdir();
  profile.erase("architectures");
  Compile(profile);
  // libseccomp's default action for a foreign architecture kills.
  EXPECT_EQ(Evaluate(kI386Mkdir, {}, AUDIT_ARCH_I386) & SECCOMP_RET_ACTION_FULL,
            SECCOMP_RET_KILL_THREAD);
}

TEST_F(SeccompProfileTest, ErrnoDefaultsToEperm) {
  Compile({{"defaultAction", "SCMP_ACT_ERRNO"},
           {"syscalls",
            {{{"names", {"getpid"}}, {"action", "SCMP_ACT_ALLOW"}},
             {{"names", {"getppid"}}, {"action", "SCMP_ACT_ERRNO"}}}}});
  EXPECT_EQ(Evaluate(SYS_getpid), SECCOMP_RET_ALLOW);
  EXPECT_EQ(Evaluate(SYS_getppid), SECCOMP_RET_ERRNO | EPERM);
  EXPECT_EQ(Evaluate(SYS_mkdir), SECCOMP_RET_ERRNO | EPERM);
}

TEST_F(SeccompProfileTest, DefaultErrnoRet) {
  Compile(
      {{"defaultAction", "SCMP_ACT_ERRNO"},
       {"defaultErrnoRet", ENOSYS},
       {"syscalls", {{{"names", {"getpid"}}, {"action", "SCMP_ACT_ALLOW"}}}}});
  EXPECT_EQ(Evaluate(SYS_mkdir), SECCOMP_RET_ERRNO | ENOSYS);
}

TEST_F(SeccompProfileTest, ArgumentConditions) {
  json rules = json::array();
  rules.push_back(
      {{"names", {"personality"}},
       {"action", "SCMP_ACT_ALLOW"},
       {"args", {{{"index", 0}, {"value", 8}, {"op", "SCMP_CMP_EQ"}}}}});
  rules.push_back({{"names", {"clone"}},
                   {"action", "SCMP_ACT_ALLOW"},
                   {"args",
                    {{{"index", 0},
                      {"value", 0x10000000},
                      {"valueTwo", 0},
                      {"op", "SCMP_CMP_MASKED_EQ"}}}}});
  rules.push_back(
      {{"names", {"kill"}},
       {"action", "SCMP_ACT_TRAP"},
       {"args", {{{"index", 1}, {"value", 9}, {"op", "SCMP_CMP_GE"}}}}});
  Compile({{"defaultAction", "SCMP_ACT_ERRNO"}, {"syscalls", rules}});
  EXPECT_EQ(Evaluate(SYS_personality, {8}), SECCOMP_RET_ALLOW);
  EXPECT_EQ(Evaluate(SYS_personality, {9}), SECCOMP_RET_ERRNO | EPERM);
  EXPECT_EQ(Evaluate(SYS_clone, {0x00010000}), SECCOMP_RET_ALLOW);
  EXPECT_EQ(Evaluate(SYS_clone, {0x10010000}), SECCOMP_RET_ERRNO | EPERM);
  EXPECT_EQ(Evaluate(SYS_kill, {1, 15}), SECCOMP_RET_TRAP);
  EXPECT_EQ(Evaluate(SYS_kill, {1, 2}), SECCOMP_RET_ERRNO | EPERM);
}

TEST_F(SeccompProfileTest, RepeatedArgumentMakesSeparateRules) {
  // Either condition allows the call, as runc compiles it.
  Compile({{"defaultAction", "SCMP_ACT_ERRNO"},
           {"syscalls",
            {{{"names", {"personality"}},
              {"action", "SCMP_ACT_ALLOW"},
              {"args",
               {{{"index", 0}, {"value", 0}, {"op", "SCMP_CMP_EQ"}},
                {{"index", 0}, {"value", 8}, {"op", "SCMP_CMP_EQ"}}}}}}}});
  EXPECT_EQ(Evaluate(SYS_personality, {0}), SECCOMP_RET_ALLOW);
  EXPECT_EQ(Evaluate(SYS_personality, {8}), SECCOMP_RET_ALLOW);
  EXPECT_EQ(Evaluate(SYS_personality, {4}), SECCOMP_RET_ERRNO | EPERM);
}

TEST_F(SeccompProfileTest, RuleWithDefaultActionIsSkipped) {
  Compile(
      {{"defaultAction", "SCMP_ACT_ALLOW"},
       {"syscalls", {{{"names", {"getpid"}}, {"action", "SCMP_ACT_ALLOW"}}}}});
  EXPECT_EQ(Evaluate(SYS_getpid), SECCOMP_RET_ALLOW);
}

TEST_F(SeccompProfileTest, FlagsAreKept) {
  json profile = DenyMkdir();
  profile["flags"] = {"SECCOMP_FILTER_FLAG_LOG",
                      "SECCOMP_FILTER_FLAG_SPEC_ALLOW"};
  Compile(profile);
  EXPECT_EQ(compiled_.flags,
            SECCOMP_FILTER_FLAG_LOG | SECCOMP_FILTER_FLAG_SPEC_ALLOW);
}

TEST(SeccompProfileErrors, NameTheInvalidValue) {
  struct Case {
    json profile;
    const char* expected;
  };
  json deny = DenyMkdir();
  std::vector<Case> cases;
  cases.push_back({{{"defaultAction", "SCMP_ACT_MAYBE"}}, "SCMP_ACT_MAYBE"});

  json bad_action = deny;
  bad_action["syscalls"][0]["action"] = "SCMP_ACT_SOMETIMES";
  cases.push_back({bad_action,
                   "syscalls[0].action: unknown action "
                   "\"SCMP_ACT_SOMETIMES\""});

  json bad_op = deny;
  bad_op["syscalls"][0]["args"] = {{{"index", 0}, {"op", "SCMP_CMP_ALMOST"}}};
  cases.push_back({bad_op, "args[0].op: unknown operator \"SCMP_CMP_ALMOST\""});

  json bad_index = deny;
  bad_index["syscalls"][0]["args"] = {{{"index", 6}, {"op", "SCMP_CMP_EQ"}}};
  cases.push_back({bad_index, "args[0].index 6"});

  json bad_errno = deny;
  bad_errno["syscalls"][0]["action"] = "SCMP_ACT_ALLOW";
  cases.push_back({bad_errno, "errnoRet"});

  json notify = deny;
  notify["syscalls"][0]["action"] = "SCMP_ACT_NOTIFY";
  cases.push_back({notify, "SCMP_ACT_NOTIFY"});

  json bad_arch = deny;
  bad_arch["architectures"] = {"SCMP_ARCH_PDP11"};
  cases.push_back({bad_arch, "\"SCMP_ARCH_PDP11\""});

  json bad_flag = deny;
  bad_flag["flags"] = {"SECCOMP_FILTER_FLAG_MAGIC"};
  cases.push_back({bad_flag, "\"SECCOMP_FILTER_FLAG_MAGIC\""});

  cases.push_back({json::array(), "linux.seccomp: not an object"});

  for (const Case& c : cases) {
    std::string error = CompileError(c.profile);
    EXPECT_NE(error.find(c.expected), std::string::npos)
        << "expected \"" << c.expected << "\" in \"" << error << "\"";
    EXPECT_EQ(error.find('\n'), std::string::npos) << error;
  }
}

}  // namespace
}  // namespace moat::oci
