// Unit tests of the MemoryFile's reuse of freed frames.
#include "mm/memory_file.h"

#include <gtest/gtest.h>

#include <cstring>

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

// AllocateForOverwrite gives frames whose host pages are still there, where
// Allocate gives holes that the host fills on first touch.
TEST(MemoryFileTest, OverwriteReusesFreedFrame) {
  MemoryFile& mf = MemoryFile::Get();
  auto first = mf.Allocate(1);
  ASSERT_TRUE(first.ok());
  memset(mf.Map(first.value()), 0x5a, kPageSize);
  uint64_t used = mf.UsedBytes();
  mf.DecRef(first.value());
  EXPECT_EQ(mf.UsedBytes(), used - kPageSize);

  auto reused = mf.AllocateForOverwrite(1);
  ASSERT_TRUE(reused.ok());
  EXPECT_EQ(mf.UsedBytes(), used);
  EXPECT_EQ(mf.RefCount(reused.value()), 1u);
  uint8_t resident = 0;
  ASSERT_TRUE(mf.Resident(reused.value(), 1, &resident).ok());
  EXPECT_EQ(resident, 1);

  auto fresh = mf.Allocate(1);
  ASSERT_TRUE(fresh.ok());
  ASSERT_TRUE(mf.Resident(fresh.value(), 1, &resident).ok());
  EXPECT_EQ(resident, 0);
  mf.DecRef(reused.value());
  mf.DecRef(fresh.value());
}

}  // namespace
}  // namespace moat
