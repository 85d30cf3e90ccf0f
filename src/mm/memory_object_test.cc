// Unit tests of how a MemoryObject gives its frames back: a large file
// must be freed with a few host calls, not one per page, because freeing
// runs with the kernel lock held.
#include "mm/memory_object.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <vector>

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

// A host file's pages are read into frames that freed memory may have
// left dirty: every byte must come from the file, and the bytes past its
// end must read as zero.
TEST(MemoryObjectTest, HostFileFillsReusedFrames) {
  MemoryFile& mf = MemoryFile::Get();
  auto dirty = mf.Allocate(48);
  ASSERT_TRUE(dirty.ok());
  memset(mf.Map(*dirty), 0xee, 48 * kPageSize);
  mf.DecRefRun(*dirty, 48);

  char path[] = "/tmp/moat-host-file-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  unlink(path);
  const uint64_t size = 20 * kPageSize + 100;
  std::vector<uint8_t> data(size);
  for (uint64_t i = 0; i < size; i++) data[i] = uint8_t(i * 7 + i / kPageSize);
  ASSERT_EQ(pwrite(fd, data.data(), size, 0), ssize_t(size));

  HostFileObject object(fd, size);
  for (uint64_t page = 0; page * kPageSize < size; page++) {
    uint64_t run;
    auto frame = object.GetPage(page, &run);
    ASSERT_TRUE(frame.ok());
    const uint8_t* bytes = mf.Map(*frame);
    uint64_t in_file = std::min<uint64_t>(kPageSize, size - page * kPageSize);
    EXPECT_EQ(memcmp(bytes, data.data() + page * kPageSize, in_file), 0)
        << "page " << page;
    for (uint64_t i = in_file; i < kPageSize; i++)
      ASSERT_EQ(bytes[i], 0) << "page " << page << " byte " << i;
  }
}

}  // namespace
}  // namespace moat
