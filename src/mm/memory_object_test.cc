// Unit tests of how a MemoryObject gives its frames back: a large file
// must be freed with a few host calls, not one per page, because freeing
// runs with the kernel lock held.
#include "mm/memory_object.h"

#include <gtest/gtest.h>

#include <memory>

#include "mm/memory_file.h"

namespace moat {
namespace {

constexpr uint64_t kPages = 4096;

// Allocates frames for every page of a new object of kPages pages, as
// fallocate(2) on a tmpfs file does.
std::unique_ptr<MemoryObject> FilledObject() {
  auto object = std::make_unique<MemoryObject>(kPages * kPageSize);
  EXPECT_TRUE(object->Allocate(0, kPages).ok());
  EXPECT_EQ(object->pages(), kPages);
  return object;
}

TEST(MemoryObjectTest, DestructionFreesFramesInRuns) {
  MemoryFile& mf = MemoryFile::Get();
  auto object = FilledObject();
  uint64_t used = mf.UsedBytes();
  uint64_t holes = mf.holes_punched();
  object.reset();
  EXPECT_EQ(mf.UsedBytes(), used - kPages * kPageSize);
  EXPECT_LT(mf.holes_punched() - holes, kPages / 64);
}

TEST(MemoryObjectTest, TruncateFreesFramesInRuns) {
  MemoryFile& mf = MemoryFile::Get();
  auto object = FilledObject();
  uint64_t used = mf.UsedBytes();
  uint64_t holes = mf.holes_punched();
  object->Truncate(kPageSize);
  EXPECT_EQ(object->pages(), 1u);
  EXPECT_EQ(mf.UsedBytes(), used - (kPages - 1) * kPageSize);
  EXPECT_LT(mf.holes_punched() - holes, kPages / 64);
}

TEST(MemoryObjectTest, PunchHoleKeepsSharedFrames) {
  MemoryFile& mf = MemoryFile::Get();
  auto object = FilledObject();
  uint64_t run;
  uint64_t shared = object->GetPage(10, &run).value();
  mf.IncRef(shared);  // as a mapping of the page would
  uint64_t used = mf.UsedBytes();
  object->PunchHole(0, 64 * kPageSize);
  EXPECT_EQ(object->pages(), kPages - 64);
  EXPECT_EQ(mf.RefCount(shared), 1u);
  EXPECT_EQ(mf.UsedBytes(), used - 63 * kPageSize);
  mf.DecRef(shared);
  EXPECT_EQ(mf.UsedBytes(), used - 64 * kPageSize);
}

TEST(MemoryObjectTest, QuotasCountTheirPagesTogether) {
  uint64_t before = PageQuota::all_used;
  auto quota = std::make_shared<PageQuota>();
  auto object = std::make_unique<MemoryObject>(kPages * kPageSize);
  object->set_quota(quota);
  ASSERT_TRUE(object->Allocate(0, 16).ok());
  EXPECT_EQ(quota->used, 16u);
  EXPECT_EQ(PageQuota::all_used, before + 16);
  object->Truncate(4 * kPageSize);
  EXPECT_EQ(PageQuota::all_used, before + 4);
  object.reset();
  EXPECT_EQ(PageQuota::all_used, before);
}

}  // namespace
}  // namespace moat
