// Unit tests of --memory's accounting: the MemoryFile's limit, the page
// faults it refuses, and the OOM killer's choice of victim.
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <thread>

#include "kernel/oom.h"
#include "mm/memory_file.h"
#include "mm/memory_manager.h"
#include "testing/fake_platform.h"

namespace moat {
namespace {

// Sets a limit `pages` above what is in use now, and removes it after.
class MemoryLimitTest : public ::testing::Test {
 protected:
  void Limit(uint64_t pages) {
    mf_.SetLimit(mf_.UsedBytes() + pages * kPageSize);
    mf_.SetLimitHandler([this] { handler_calls_++; });
  }
  ~MemoryLimitTest() override {
    mf_.SetLimit(0);
    mf_.SetLimitHandler(nullptr);
  }

  MemoryFile& mf_ = MemoryFile::Get();
  int handler_calls_ = 0;
};

TEST_F(MemoryLimitTest, AllocationAboveLimitFails) {
  Limit(4);
  EXPECT_TRUE(mf_.HasRoom(4));
  EXPECT_FALSE(mf_.HasRoom(5));
  auto three = mf_.Allocate(3);
  ASSERT_TRUE(three.ok());
  EXPECT_EQ(mf_.Allocate(2).error(), ENOMEM);
  EXPECT_EQ(handler_calls_, 1);
  auto single = mf_.Allocate(1);
  ASSERT_TRUE(single.ok());
  EXPECT_EQ(mf_.Allocate(1).error(), ENOMEM);
  EXPECT_EQ(handler_calls_, 2);
  // Freed frames make room again.
  mf_.DecRefRun(three.value(), 3);
  EXPECT_TRUE(mf_.HasRoom(3));
  auto again = mf_.Allocate(3);
  ASSERT_TRUE(again.ok());
  mf_.DecRefRun(again.value(), 3);
  mf_.DecRef(single.value());
  EXPECT_EQ(handler_calls_, 2);
}

// Frames that another thread lets go of, as the trap platform's factory
// does once a stub process is gone, make room for the next allocation.
TEST_F(MemoryLimitTest, FramesReleasedLaterMakeRoom) {
  Limit(2);
  auto two = mf_.Allocate(2);
  ASSERT_TRUE(two.ok());
  std::thread([&] { mf_.DecRefRunLater(two.value(), 2); }).join();
  auto again = mf_.Allocate(2);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(handler_calls_, 0);
  mf_.DecRefRun(again.value(), 2);
}

TEST_F(MemoryLimitTest, NoLimitByDefault) {
  EXPECT_EQ(mf_.LimitBytes(), 0u);
  mf_.SetLimit(64 << 20);
  EXPECT_EQ(mf_.LimitBytes(), 64u << 20);
  mf_.SetLimit(0);
  EXPECT_EQ(mf_.LimitBytes(), 0u);
  EXPECT_TRUE(mf_.HasRoom(1ull << 40));
}

TEST_F(MemoryLimitTest, FaultAtLimitFillsOnePage) {
  auto as = std::make_shared<FakeAddressSpace>();
  MemoryManager mm(as);
  mm.mmap_base = 0x7f0000000000;
  MmapRequest req;
  req.length = 64 * kPageSize;
  req.prot = PROT_READ | PROT_WRITE;
  req.flags = MAP_PRIVATE | MAP_ANONYMOUS;
  uint64_t a = mm.Mmap(req).value();
  Limit(1);
  // The fault-around block does not fit; the faulting page alone does.
  EXPECT_EQ(mm.HandleFault(a + 20 * kPageSize, false), FaultResult::kHandled);
  EXPECT_EQ(mm.ResidentPages(), 1u);
  EXPECT_EQ(handler_calls_, 0);
  EXPECT_EQ(mm.HandleFault(a, false), FaultResult::kOutOfMemory);
  EXPECT_EQ(handler_calls_, 1);
  // A write to a page shared since fork needs a copy, which is refused too.
  auto child = mm.Fork(std::make_shared<FakeAddressSpace>());
  ASSERT_TRUE(child.ok());
  EXPECT_EQ(mm.HandleFault(a + 20 * kPageSize, true),
            FaultResult::kOutOfMemory);
  EXPECT_EQ(handler_calls_, 2);
  // The kernel's own writes fail with EFAULT, as copy_to_user does.
  char c = 1;
  EXPECT_EQ(mm.CopyOut(a + 30 * kPageSize, &c, 1).error(), EFAULT);
}

TEST(OomVictimTest, ChoosesLargestAdjusted) {
  ThreadGroup* a = reinterpret_cast<ThreadGroup*>(0x10);
  ThreadGroup* b = reinterpret_cast<ThreadGroup*>(0x20);
  ThreadGroup* c = reinterpret_cast<ThreadGroup*>(0x30);
  EXPECT_EQ(ChooseOomVictim({}, 1000), nullptr);
  EXPECT_EQ(ChooseOomVictim({{a, 10, 0}, {b, 500, 0}, {c, 20, 0}}, 1000),
            b);
  // +500 of 100000 pages is worth 50000 pages.
  EXPECT_EQ(ChooseOomVictim({{a, 100, 500}, {b, 40000, 0}}, 100000), a);
  EXPECT_EQ(ChooseOomVictim({{a, 100, 0}, {b, 40000, -400}}, 100000), a);
  // -1000 is never chosen, even alone.
  EXPECT_EQ(ChooseOomVictim({{a, 10, 0}, {b, 900, -1000}}, 1000), a);
  EXPECT_EQ(ChooseOomVictim({{b, 900, -1000}}, 1000), nullptr);
  // Ties go to the newer process.
  EXPECT_EQ(ChooseOomVictim({{a, 7, 0}, {b, 7, 0}}, 1000), b);
}

}  // namespace
}  // namespace moat
