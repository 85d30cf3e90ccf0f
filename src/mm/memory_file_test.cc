// Unit tests of the MemoryFile's reuse of freed frames.
#include "mm/memory_file.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

namespace moat {
namespace {

// A frame freed with data in it, then allocated for a caller that does not
// overwrite it, must read as zero: it may go to another process.
TEST(MemoryFileTest, AllocateReadsZeroAfterFree) {
  MemoryFile& mf = MemoryFile::Get();
  auto first = mf.Allocate(4);
  ASSERT_TRUE(first.ok());
  memset(mf.Map(first.value()), 0xa5, 4 * kPageSize);
  mf.DecRefRun(first.value(), 4);

  auto again = mf.Allocate(4);
  ASSERT_TRUE(again.ok());
  const uint8_t* bytes = mf.Map(again.value());
  for (uint64_t i = 0; i < 4 * kPageSize; i++)
    ASSERT_EQ(bytes[i], 0) << "byte " << i;
  mf.DecRefRun(again.value(), 4);
}

// A freed frame keeps its host page: the next Allocate gives it back
// zeroed, and AllocateForOverwrite as it was.
TEST(MemoryFileTest, AllocateReusesFreedFrame) {
  MemoryFile& mf = MemoryFile::Get();
  auto first = mf.Allocate(1);
  ASSERT_TRUE(first.ok());
  memset(mf.Map(first.value()), 0x5a, kPageSize);
  uint64_t used = mf.UsedBytes();
  mf.DecRef(first.value());
  EXPECT_EQ(mf.UsedBytes(), used - kPageSize);

  auto reused = mf.Allocate(1);
  ASSERT_TRUE(reused.ok());
  EXPECT_EQ(reused.value(), first.value());
  EXPECT_EQ(mf.UsedBytes(), used);
  EXPECT_EQ(mf.RefCount(reused.value()), 1u);
  uint8_t resident = 0;
  ASSERT_TRUE(mf.Resident(reused.value(), 1, &resident).ok());
  EXPECT_EQ(resident, 1);
  const uint8_t* bytes = mf.Map(reused.value());
  for (uint64_t i = 0; i < kPageSize; i++) ASSERT_EQ(bytes[i], 0) << i;

  memset(mf.Map(reused.value()), 0x77, kPageSize);
  mf.DecRef(reused.value());
  auto overwrite = mf.AllocateForOverwrite(1);
  ASSERT_TRUE(overwrite.ok());
  EXPECT_EQ(overwrite.value(), first.value());
  EXPECT_EQ(mf.Map(overwrite.value())[0], 0x77);
  mf.DecRef(overwrite.value());
}

// Under a --memory limit, freeing keeps at most an eighth of it.
TEST(MemoryFileTest, LimitBoundsKeptFrames) {
  MemoryFile& mf = MemoryFile::Get();
  mf.SetLimit(mf.UsedBytes() + 64 * kPageSize);
  auto run = mf.Allocate(32);
  ASSERT_TRUE(run.ok());
  memset(mf.Map(run.value()), 1, 32 * kPageSize);
  uint64_t holes = mf.holes_punched();
  for (uint64_t i = 0; i < 32; i++) mf.DecRef(run.value() + i * kPageSize);
  EXPECT_GT(mf.holes_punched(), holes);
  std::vector<uint8_t> resident(32);
  ASSERT_TRUE(mf.Resident(run.value(), 32, resident.data()).ok());
  uint64_t resident_pages = 0;
  for (uint8_t r : resident) resident_pages += r;
  EXPECT_LE(resident_pages, (mf.LimitBytes() / kPageSize) / 8);
  mf.SetLimit(0);
}

}  // namespace
}  // namespace moat
