#include "oci/spec.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

namespace moat::oci {
namespace {

// A fresh bundle directory with an empty rootfs. Write() adds config.json.
class BundleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/var/tmp/moat-spec-test.XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    bundle_ = dir;
    ASSERT_EQ(mkdir((bundle_ + "/rootfs").c_str(), 0755), 0);
  }
  void TearDown() override {
    unlink((bundle_ + "/config.json").c_str());
    rmdir((bundle_ + "/rootfs").c_str());
    rmdir(bundle_.c_str());
  }
  void Write(const nlohmann::json& config) {
    std::ofstream(bundle_ + "/config.json") << config.dump();
  }
  std::string bundle_;
};

TEST_F(BundleTest, DefaultSpecLoads) {
  Write(DefaultSpec());
  Spec spec;
  ASSERT_EQ(LoadBundle(bundle_, &spec), "");
  EXPECT_EQ(spec.process.args, std::vector<std::string>{"sh"});
  EXPECT_TRUE(spec.process.terminal);
  EXPECT_TRUE(spec.root_readonly);
  EXPECT_EQ(spec.root_path, bundle_ + "/rootfs");
  EXPECT_EQ(spec.process.rlimits.size(), 1u);
  EXPECT_EQ(spec.process.rlimits[0].resource, RLIMIT_NOFILE);
  // CAP_KILL is bit 5, CAP_AUDIT_WRITE 29, CAP_NET_BIND_SERVICE 10.
  EXPECT_EQ(spec.process.cap_effective, (1ull << 5) | (1ull << 10) |
                                            (1ull << 29));
  EXPECT_EQ(spec.mounts[1].kind, "dev");
  EXPECT_EQ(spec.mounts.back().kind, "cgroup");
}

TEST_F(BundleTest, MissingConfigIsNamed) {
  Spec spec;
  std::string e = LoadBundle(bundle_, &spec);
  EXPECT_NE(e.find("config.json"), std::string::npos) << e;
}

TEST_F(BundleTest, BadFieldsAreNamed) {
  struct Case {
    const char* pointer;
    nlohmann::json value;
    const char* expected;
  } cases[] = {
      {"/mounts/0/type", "nfs", "type \"nfs\""},
      {"/process/rlimits/0/type", "RLIMIT_BOGUS", "RLIMIT_BOGUS"},
      {"/process/capabilities/bounding/0", "CAP_BOGUS", "CAP_BOGUS"},
      {"/process/cwd", "relative", "process.cwd"},
      {"/process/args", nlohmann::json::array(), "process.args"},
      {"/ociVersion", "2.0.0", "ociVersion"},
      {"/hooks", {{"createContainer", {{{"path", "/bin/true"}}}}},
       "hooks.createContainer"},
      {"/linux/devices", {{{"path", "/dev/sda"}}}, "/dev/sda"},
      {"/linux/seccomp",
       {{"defaultAction", "SCMP_ACT_ALLOW"},
        {"syscalls",
         {{{"names", {"mkdir"}},
           {"action", "SCMP_ACT_ERRNO"},
           {"args", {{{"index", 0}, {"op", "SCMP_CMP_BOGUS"}}}}}}}},
       "SCMP_CMP_BOGUS"},
  };
  for (const Case& c : cases) {
    nlohmann::json config = DefaultSpec();
    config[nlohmann::json::json_pointer(c.pointer)] = c.value;
    Write(config);
    Spec spec;
    std::string e = LoadBundle(bundle_, &spec);
    EXPECT_NE(e.find(c.expected), std::string::npos)
        << c.pointer << ": " << e;
  }
}

TEST_F(BundleTest, SpecSurvivesJson) {
  nlohmann::json config = DefaultSpec();
  config["process"]["user"] = {{"uid", 1000}, {"gid", 100},
                               {"additionalGids", {5, 6}}};
  config["annotations"] = {{"a", "b"}};
  Write(config);
  Spec spec;
  ASSERT_EQ(LoadBundle(bundle_, &spec), "");
  Spec copy = SpecFromJson(ToJson(spec));
  EXPECT_EQ(copy.process.uid, 1000u);
  EXPECT_EQ(copy.process.gid, 100u);
  EXPECT_EQ(copy.process.additional_gids, (std::vector<uint32_t>{5, 6}));
  EXPECT_EQ(copy.annotations.at("a"), "b");
  EXPECT_EQ(copy.mounts.size(), spec.mounts.size());
}

TEST_F(BundleTest, SeccompProfileSurvivesJson) {
  nlohmann::json config = DefaultSpec();
  config["linux"]["seccomp"] = {
      {"defaultAction", "SCMP_ACT_ALLOW"},
      {"flags", {"SECCOMP_FILTER_FLAG_LOG"}},
      {"syscalls",
       {{{"names", {"mkdir"}}, {"action", "SCMP_ACT_ERRNO"}}}}};
  Write(config);
  Spec spec;
  ASSERT_EQ(LoadBundle(bundle_, &spec), "");
  EXPECT_FALSE(spec.seccomp.instructions.empty());
  Spec copy = SpecFromJson(ToJson(spec));
  EXPECT_EQ(copy.seccomp.instructions, spec.seccomp.instructions);
  EXPECT_EQ(copy.seccomp.flags, spec.seccomp.flags);
}

TEST_F(BundleTest, NoSeccompProfileNoProgram) {
  Write(DefaultSpec());
  Spec spec;
  ASSERT_EQ(LoadBundle(bundle_, &spec), "");
  EXPECT_TRUE(spec.seccomp.instructions.empty());
}

TEST(SignalTest, NamesAndNumbers) {
  EXPECT_EQ(ParseSignal("SIGTERM"), SIGTERM);
  EXPECT_EQ(ParseSignal("KILL"), SIGKILL);
  EXPECT_EQ(ParseSignal("15"), 15);
  EXPECT_EQ(ParseSignal("SIGBOGUS"), 0);
  EXPECT_EQ(ParseSignal("0"), 0);
  EXPECT_EQ(ParseSignal("99"), 0);
  EXPECT_EQ(ParseSignal(""), 0);
}

}  // namespace
}  // namespace moat::oci
