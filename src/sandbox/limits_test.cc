// Unit tests of the parsing of `moat do --memory/--pids/--cpus` and of the
// host cgroup values derived from them.
#include "sandbox/limits.h"

#include <gtest/gtest.h>

namespace moat {
namespace {

uint64_t Memory(const std::string& text) {
  uint64_t out = 0;
  std::string error = ParseMemoryLimit(text, &out);
  EXPECT_EQ(error, "") << text;
  return out;
}

std::string MemoryError(const std::string& text) {
  uint64_t out = 12345;
  std::string error = ParseMemoryLimit(text, &out);
  EXPECT_EQ(out, 12345u) << text << " changed the value";
  return error;
}

TEST(LimitsTest, MemorySizeSuffixes) {
  EXPECT_EQ(Memory("256M"), 256ull << 20);
  EXPECT_EQ(Memory("256m"), 256ull << 20);
  EXPECT_EQ(Memory("8192K"), 8ull << 20);
  EXPECT_EQ(Memory("2G"), 2ull << 30);
  EXPECT_EQ(Memory("1t"), 1ull << 40);
  EXPECT_EQ(Memory("67108864"), 64ull << 20);
}

TEST(LimitsTest, BadMemorySizeErrors) {
  for (const char* bad : {"", "M", "12X", "1.5G", "-1M", "64MB", " 64M",
                          "64M ", "0x100000"}) {
    std::string error = MemoryError(bad);
    EXPECT_NE(error.find(std::string("--memory ") + bad + ":"),
              std::string::npos)
        << error;
    EXPECT_NE(error.find("such as --memory 256M"), std::string::npos)
        << error;
    EXPECT_EQ(error.find('\n'), std::string::npos);
  }
}

TEST(LimitsTest, MemorySizeRange) {
  EXPECT_NE(MemoryError("0").find("at least 4M"), std::string::npos);
  EXPECT_NE(MemoryError("4095K").find("at least 4M"), std::string::npos);
  EXPECT_EQ(Memory("4M"), 4ull << 20);
  EXPECT_NE(MemoryError("99999999999999999999").find("expected a size"),
            std::string::npos);
  EXPECT_NE(MemoryError("9999999999T").find("too large"), std::string::npos);
}

TEST(LimitsTest, Pids) {
  uint64_t out = 0;
  EXPECT_EQ(ParsePidsLimit("64", &out), "");
  EXPECT_EQ(out, 64u);
  EXPECT_EQ(ParsePidsLimit("1", &out), "");
  EXPECT_EQ(out, 1u);
  for (const char* bad : {"0", "", "-5", "5k", "1.5", "4194305"}) {
    out = 7;
    std::string error = ParsePidsLimit(bad, &out);
    EXPECT_NE(error.find(std::string("--pids ") + bad + ":"),
              std::string::npos)
        << error;
    EXPECT_NE(error.find("such as --pids 64"), std::string::npos);
    EXPECT_EQ(out, 7u);
  }
}

TEST(LimitsTest, Cpus) {
  double out = 0;
  EXPECT_EQ(ParseCpusLimit("1.5", 4, &out), "");
  EXPECT_DOUBLE_EQ(out, 1.5);
  EXPECT_EQ(ParseCpusLimit("4", 4, &out), "");
  EXPECT_DOUBLE_EQ(out, 4);
  EXPECT_EQ(ParseCpusLimit(".5", 4, &out), "");
  EXPECT_DOUBLE_EQ(out, 0.5);
  EXPECT_EQ(ParseCpusLimit("0.01", 4, &out), "");
  for (const char* bad : {"0", "0.001", "5", "4.01", "", ".", "1.2.3",
                          "inf", "nan", "1e0", "-1", "0x2"}) {
    out = 3;
    std::string error = ParseCpusLimit(bad, 4, &out);
    EXPECT_NE(error.find(std::string("--cpus ") + bad + ":"),
              std::string::npos)
        << error;
    EXPECT_NE(error.find("from 0.01 to 4"), std::string::npos) << error;
    EXPECT_DOUBLE_EQ(out, 3);
  }
}

TEST(LimitsTest, VisibleCpusRoundUp) {
  EXPECT_EQ(VisibleCpus(0, 8), 8);  // no limit
  EXPECT_EQ(VisibleCpus(0.01, 8), 1);
  EXPECT_EQ(VisibleCpus(1, 8), 1);
  EXPECT_EQ(VisibleCpus(1.5, 8), 2);
  EXPECT_EQ(VisibleCpus(8, 8), 8);
  EXPECT_EQ(VisibleCpus(3, 2), 2);
}

TEST(LimitsTest, BackstopsAboveLimits) {
  for (uint64_t m : {4ull << 20, 256ull << 20, 16ull << 30}) {
    EXPECT_GT(BackstopMemory(m), m + (128ull << 20));
  }
  for (uint64_t p : {1u, 64u, 4194304u}) EXPECT_GT(BackstopPids(p), 3 * p);
}

}  // namespace
}  // namespace moat
