// Unit tests of tmpfs limits that keep one file from taking all of the
// sandbox's memory file.
#include "fs/tmpfs.h"

#include <gtest/gtest.h>

#include "mm/memory_file.h"
#include "mm/memory_object.h"

namespace moat {
namespace {

TEST(TmpfsTest, MemfdFsHasDefaultSizeLimit) {
  uint64_t half_of_ram = DefaultTmpfsOptions().max_pages;
  ASSERT_GT(half_of_ram, 0u);
  EXPECT_EQ(MemfdFs()->quota->limit, half_of_ram);
}

TEST(TmpfsTest, MemfdFallocateBeyondLimitFails) {
  std::shared_ptr<PageQuota> quota = MemfdFs()->quota;
  ASSERT_NE(quota->limit, UINT64_MAX);
  MemoryObject file(0);
  file.set_quota(quota);
  uint64_t used = MemoryFile::Get().UsedBytes();
  uint64_t pages = quota->limit - quota->used + 1;
  EXPECT_EQ(file.Allocate(0, pages).error(), ENOSPC);
  EXPECT_EQ(file.pages(), 0u);
  EXPECT_EQ(MemoryFile::Get().UsedBytes(), used);
}

}  // namespace
}  // namespace moat
