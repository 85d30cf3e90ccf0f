#include "mm/memory_manager.h"

#include <gtest/gtest.h>

#include <cstring>

#include "mm/memory_object.h"
#include "testing/fake_platform.h"

namespace moat {
namespace {

class MemoryManagerTest : public ::testing::Test {
 protected:
  MemoryManagerTest()
      : as_(std::make_shared<FakeAddressSpace>()), mm_(as_) {
    mm_.mmap_base = 0x7f0000000000;
  }

  // Maps `object`, or anonymous memory without one.
  uint64_t Map(uint64_t length, int prot = PROT_READ | PROT_WRITE,
               int flags = MAP_PRIVATE | MAP_ANONYMOUS,
               std::shared_ptr<MemoryObject> object = nullptr) {
    MmapRequest req;
    req.length = length;
    req.prot = prot;
    req.flags = flags;
    req.object = std::move(object);
    auto r = mm_.Mmap(req);
    EXPECT_TRUE(r.ok());
    return r.ok() ? r.value() : 0;
  }

  std::shared_ptr<FakeAddressSpace> as_;
  MemoryManager mm_;
};

TEST_F(MemoryManagerTest, MmapPlacesTopDown) {
  uint64_t a = Map(8192);
  uint64_t b = Map(4096);
  EXPECT_EQ(a, 0x7f0000000000 - 8192);
  EXPECT_EQ(b, a - 4096);
}

TEST_F(MemoryManagerTest, MmapRejectsBadArguments) {
  MmapRequest req;
  req.length = 0;
  req.flags = MAP_PRIVATE;
  EXPECT_EQ(mm_.Mmap(req).error(), EINVAL);
  req.length = 4096;
  req.flags = 0;
  EXPECT_EQ(mm_.Mmap(req).error(), EINVAL);
  req.flags = MAP_PRIVATE | MAP_FIXED;
  req.addr = 0x1001;
  EXPECT_EQ(mm_.Mmap(req).error(), EINVAL);
  req.addr = 0x1000;
  EXPECT_EQ(mm_.Mmap(req).error(), EPERM);
}

TEST_F(MemoryManagerTest, CopyRoundTripsAcrossPages) {
  uint64_t a = Map(3 * 4096);
  std::string text(6000, 'x');
  ASSERT_TRUE(mm_.CopyOut(a + 4000, text.data(), text.size()).ok());
  std::string back(text.size(), '\0');
  ASSERT_TRUE(mm_.CopyIn(a + 4000, back.data(), back.size()).ok());
  EXPECT_EQ(back, text);
}

TEST_F(MemoryManagerTest, CopyFailsWithEfault) {
  uint64_t a = Map(4096, PROT_READ);
  char c = 1;
  EXPECT_EQ(mm_.CopyOut(a, &c, 1).error(), EFAULT);  // read-only
  EXPECT_EQ(mm_.CopyIn(a + 4096, &c, 1).error(), EFAULT);  // unmapped
  EXPECT_EQ(mm_.CopyIn(0, &c, 1).error(), EFAULT);
  EXPECT_EQ(mm_.CopyIn(~0ull - 2, &c, 8).error(), EFAULT);  // wraps
}

TEST_F(MemoryManagerTest, FaultMapsPrivatePagesWritable) {
  uint64_t a = Map(4096);
  EXPECT_EQ(mm_.HandleFault(a + 10, false), FaultResult::kHandled);
  ASSERT_TRUE(as_->pages.count(a));
  EXPECT_EQ(as_->pages[a].prot, PROT_READ | PROT_WRITE);
}

TEST_F(MemoryManagerTest, FaultOutsideVmaIsMapError) {
  uint64_t a = Map(4096);
  EXPECT_EQ(mm_.HandleFault(a + 4096, false), FaultResult::kMapError);
  uint64_t none = Map(4096, PROT_NONE);
  EXPECT_EQ(mm_.HandleFault(none, false), FaultResult::kAccessError);
}

TEST_F(MemoryManagerTest, SequentialFaultsFillDoublingRuns) {
  uint64_t a = Map(1 << 20);
  int faults = 0;
  for (uint64_t page = a; page < a + (1 << 20); page += 4096) {
    if (as_->pages.count(page)) continue;
    ASSERT_EQ(mm_.HandleFault(page, false), FaultResult::kHandled);
    faults++;
  }
  // 16 pages, then 16, 32, 64 and 128 more.
  EXPECT_EQ(faults, 5);
}

TEST_F(MemoryManagerTest, ScatteredFaultFillsItsAlignedBlock) {
  uint64_t a = Map(1 << 20);
  ASSERT_EQ(mm_.HandleFault(a + 40 * 4096, false), FaultResult::kHandled);
  EXPECT_EQ(mm_.ResidentPages(), 16u);
  EXPECT_TRUE(as_->pages.count(a + 47 * 4096));
  EXPECT_FALSE(as_->pages.count(a + 48 * 4096));
}

// A page the program wrote reads as resident, and one that no fault
// filled does not. The other pages of a fault's block may read either
// way: their frames are holes, or kept host pages that were zeroed.
TEST_F(MemoryManagerTest, MincoreCountsFilledAnonymousPages) {
  uint64_t a = Map(32 * 4096);
  ASSERT_EQ(mm_.HandleFault(a + 3 * 4096, false), FaultResult::kHandled);
  EXPECT_EQ(mm_.ResidentPages(), 16u);
  char c = 1;
  ASSERT_TRUE(mm_.CopyOut(a + 3 * 4096, &c, 1).ok());
  std::vector<uint8_t> vec;
  ASSERT_TRUE(mm_.Mincore(a, 32 * 4096, &vec).ok());
  ASSERT_EQ(vec.size(), 32u);
  EXPECT_EQ(vec[3], 1);
  for (int i = 16; i < 32; i++) EXPECT_EQ(vec[i], 0) << "page " << i;
}

TEST_F(MemoryManagerTest, MincoreCountsObjectPagesWithoutPtes) {
  uint64_t a =
      Map(2 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS);
  char c = 1;
  ASSERT_TRUE(mm_.CopyOut(a + 4096, &c, 1).ok());
  ASSERT_TRUE(mm_.Munmap(a + 4096, 4096).ok());
  // A second mapping of the same object reports the page as resident.
  auto alias = mm_.Mremap(a, 0, 2 * 4096, MREMAP_MAYMOVE, 0);
  ASSERT_TRUE(alias.ok());
  std::vector<uint8_t> vec;
  ASSERT_TRUE(mm_.Mincore(alias.value(), 2 * 4096, &vec).ok());
  EXPECT_EQ(vec, std::vector<uint8_t>({0, 1}));
}

// A fault maps the whole fault-around window of an object whose pages are
// in memory, before the faulting page as well as after it, in one host
// call; Linux's do_fault_around does the same.
TEST_F(MemoryManagerTest, FaultMapsTheWindowAroundObjectPages) {
  const uint64_t kPages = kFaultAroundPages;
  // Frames come in runs of kPages, as for a host file's pages.
  auto object = std::make_shared<MemoryObject>(kPages * 4096, kPages);
  MmapRequest req;
  req.length = kPages * 4096;
  req.prot = PROT_READ;
  req.flags = MAP_SHARED;
  req.object = object;
  auto mapped = mm_.Mmap(req);
  ASSERT_TRUE(mapped.ok());
  uint64_t b = mapped.value();
  ASSERT_EQ(b % (kPages * 4096), 0u) << "the window must start at b";
  uint64_t run;
  ASSERT_TRUE(object->GetPage(0, &run).ok());  // in memory, as if read
  ASSERT_EQ(run, kPages);
  int calls = as_->map_calls;
  EXPECT_EQ(mm_.HandleFault(b + (kPages / 2) * 4096, false),
            FaultResult::kHandled);
  EXPECT_EQ(as_->map_calls, calls + 1);
  for (uint64_t i = 0; i < kPages; i++)
    EXPECT_TRUE(as_->pages.count(b + i * 4096)) << "page " << i;
}

// Where the platform queues mappings for the resume, a fault in a read-only
// file mapping maps every cached page of its block, run by run, and leaves
// out the pages the file's cache does not contain.
TEST_F(MemoryManagerTest, FaultMapsCachedPagesOfItsBlock) {
  const uint64_t kRun = 16, kPages = 4 * kRun;
  auto object = std::make_shared<MemoryObject>(kPages * 4096, kRun);
  MmapRequest req;
  req.addr = 0x7e0000000000;  // aligned to the block
  req.length = kPages * 4096;
  req.prot = PROT_READ | PROT_EXEC;
  req.flags = MAP_PRIVATE | MAP_FIXED;
  req.object = object;
  ASSERT_TRUE(mm_.Mmap(req).ok());
  uint64_t run;
  for (uint64_t index : {0ul, 2 * kRun, 3 * kRun})  // run 1 not cached
    ASSERT_TRUE(object->GetPage(index, &run).ok());
  as_->queues = true;
  EXPECT_EQ(mm_.HandleFault(req.addr + 4096, false), FaultResult::kHandled);
  for (uint64_t i = 0; i < kPages; i++) {
    bool cached = i < kRun || i >= 2 * kRun;
    EXPECT_EQ(as_->pages.count(req.addr + i * 4096), cached ? 1u : 0u)
        << "page " << i;
  }
  EXPECT_EQ(mm_.ResidentPages(), 3 * kRun);
  // A platform that would have to map at once maps only the faulting run.
  as_->queues = false;
  ASSERT_TRUE(mm_.Munmap(req.addr, req.length).ok());
  ASSERT_TRUE(mm_.Mmap(req).ok());
  EXPECT_EQ(mm_.HandleFault(req.addr + 4096, false), FaultResult::kHandled);
  EXPECT_EQ(mm_.ResidentPages(), kRun);
}

// A loader's segments (MAP_FIXED) and executable mappings get their cached
// pages mapped by the mmap itself. A large read-only mapping without
// MAP_FIXED, such as a loader's first mapping of a whole library, does not.
TEST_F(MemoryManagerTest, MmapMapsCachedPagesAhead) {
  const uint64_t kRun = 16, kPages = 4 * kRun;
  auto object = std::make_shared<MemoryObject>(kPages * 4096, kRun);
  uint64_t run;
  for (uint64_t index : {0ul, 2 * kRun})
    ASSERT_TRUE(object->GetPage(index, &run).ok());
  as_->queues = true;
  MmapRequest req;
  req.addr = 0x7e0000000000;
  req.length = kPages * 4096;
  req.prot = PROT_READ | PROT_EXEC;
  req.flags = MAP_PRIVATE | MAP_FIXED;
  req.object = object;
  ASSERT_TRUE(mm_.Mmap(req).ok());
  for (uint64_t i = 0; i < kPages; i++) {
    bool cached = i < kRun || (i >= 2 * kRun && i < 3 * kRun);
    EXPECT_EQ(as_->pages.count(req.addr + i * 4096), cached ? 1u : 0u)
        << "page " << i;
  }
  EXPECT_EQ(as_->pages[req.addr].prot, PROT_READ | PROT_EXEC);

  req.addr = 0;
  req.prot = PROT_READ;
  req.flags = MAP_PRIVATE;
  auto whole = mm_.Mmap(req);
  ASSERT_TRUE(whole.ok());
  EXPECT_EQ(as_->pages.count(whole.value()), 0u);
}

// Small private mappings that a loader writes first thing are filled and
// mapped by the mmap: zero pages, and copies of a data segment's pages
// across a fault-around window's end.
TEST_F(MemoryManagerTest, MmapFillsSmallPrivateMappings) {
  as_->queues = true;
  uint64_t small = Map(3 * 4096);
  for (uint64_t i = 0; i < 3; i++) {
    ASSERT_EQ(as_->pages.count(small + i * 4096), 1u) << "page " << i;
    EXPECT_EQ(as_->pages[small + i * 4096].prot, PROT_READ | PROT_WRITE);
  }
  uint64_t large = Map(32 * 4096);
  EXPECT_EQ(as_->pages.count(large), 0u);

  auto object = std::make_shared<MemoryObject>(32 * 4096, 16);
  std::vector<uint8_t> data(6 * 4096);
  for (size_t i = 0; i < data.size(); i++) data[i] = uint8_t(i / 4096 + 1);
  ASSERT_TRUE(object->WriteAt(13 * 4096, data.data(), data.size()).ok());
  MmapRequest req;
  req.addr = 0x7e0000000000 + 13 * 4096;  // pages 13 to 18 of a window
  req.length = data.size();
  req.prot = PROT_READ | PROT_WRITE;
  req.flags = MAP_PRIVATE | MAP_FIXED;
  req.object = object;
  req.offset = 13 * 4096;
  ASSERT_TRUE(mm_.Mmap(req).ok());
  for (uint64_t i = 0; i < 6; i++)
    EXPECT_EQ(as_->pages.count(req.addr + i * 4096), 1u) << "page " << i;
  std::vector<uint8_t> seen(data.size());
  ASSERT_TRUE(mm_.CopyIn(req.addr, seen.data(), seen.size()).ok());
  EXPECT_EQ(seen, data);
  // The copies are private: a write leaves the file as it was.
  uint8_t zero = 0, byte = 0;
  ASSERT_TRUE(mm_.CopyOut(req.addr, &zero, 1).ok());
  ASSERT_TRUE(object->ReadAt(13 * 4096, &byte, 1).ok());
  EXPECT_EQ(byte, 1);
}

// A fault in a private writable file mapping copies the pages around it
// up to the end of the file, and still raises SIGBUS past it.
TEST_F(MemoryManagerTest, DataFaultStopsAtEndOfFile) {
  auto object = std::make_shared<MemoryObject>(10000, 16);  // 3 pages
  MmapRequest req;
  req.addr = 0x7e0000000000;
  req.length = 6 * 4096;
  req.prot = PROT_READ | PROT_WRITE;
  req.flags = MAP_PRIVATE | MAP_FIXED;
  req.object = object;
  ASSERT_TRUE(mm_.Mmap(req).ok());
  EXPECT_EQ(mm_.HandleFault(req.addr + 4096, false), FaultResult::kHandled);
  EXPECT_EQ(mm_.ResidentPages(), 3u);
  EXPECT_EQ(mm_.HandleFault(req.addr + 4 * 4096, false),
            FaultResult::kBusError);
}

// Where the platform maps ahead, a forked child starts with the parent's
// mapped pages: private ones read-only, so that a write still copies,
// shared ones as they are, and none of a MADV_DONTFORK range.
TEST_F(MemoryManagerTest, ForkMapsParentPagesAhead) {
  uint64_t priv = Map(2 * 4096);
  uint64_t shared =
      Map(4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS);
  uint64_t unforked = Map(4096);
  ASSERT_TRUE(mm_.Madvise(unforked, 4096, MADV_DONTFORK).ok());
  uint32_t v = 1;
  for (uint64_t a : {priv, priv + 4096, shared, unforked}) {
    ASSERT_TRUE(mm_.CopyOut(a, &v, 4).ok());
    ASSERT_EQ(mm_.HandleFault(a, true), FaultResult::kHandled);
  }
  auto child_as = std::make_shared<FakeAddressSpace>();
  child_as->maps_ahead = true;
  auto child = mm_.Fork(child_as);
  ASSERT_TRUE(child.ok());
  ASSERT_TRUE(child_as->pages.count(priv));
  EXPECT_EQ(child_as->pages[priv].prot, PROT_READ);
  EXPECT_EQ(child_as->pages[priv + 4096].prot, PROT_READ);
  EXPECT_EQ(child_as->pages[shared].prot, PROT_READ | PROT_WRITE);
  EXPECT_FALSE(child_as->pages.count(unforked));
  // The child's write to its read-only private page takes a copy.
  EXPECT_EQ(child.value()->HandleFault(priv, true), FaultResult::kHandled);
  EXPECT_EQ(child_as->pages[priv].prot, PROT_READ | PROT_WRITE);
  EXPECT_NE(child_as->pages[priv].frame, as_->pages[priv].frame);
}

// Before a new program's first run, the pages the loader wrote and the
// cached pages of read-only file mappings are mapped ahead. Pages of a run
// the platform does not take stay unmapped, and then fault as before.
TEST_F(MemoryManagerTest, MapAheadMapsLoaderAndCachedPages) {
  const uint64_t kRun = 16;
  auto object = std::make_shared<MemoryObject>(2 * kRun * 4096, kRun);
  MmapRequest text;
  text.addr = 0x7e0000000000;
  text.length = 2 * kRun * 4096;
  text.prot = PROT_READ | PROT_EXEC;
  text.flags = MAP_PRIVATE | MAP_FIXED;
  text.object = object;
  ASSERT_TRUE(mm_.Mmap(text).ok());
  uint64_t run;
  ASSERT_TRUE(object->GetPage(0, &run).ok());  // the second run not cached
  uint64_t stack = Map(2 * 4096);
  uint32_t v = 1;
  ASSERT_TRUE(mm_.CopyOut(stack + 4096, &v, 4).ok());

  as_->maps_ahead = true;
  mm_.MapAhead();
  // The write filled both stack pages, as a fault would have.
  EXPECT_EQ(as_->pages.size(), kRun + 2);
  EXPECT_EQ(as_->pages[text.addr].prot, PROT_READ | PROT_EXEC);
  EXPECT_FALSE(as_->pages.count(text.addr + kRun * 4096));
  EXPECT_EQ(as_->pages[stack].prot, PROT_READ | PROT_WRITE);
  EXPECT_EQ(as_->pages[stack + 4096].prot, PROT_READ | PROT_WRITE);
}

TEST_F(MemoryManagerTest, MapAheadRefusedLeavesPagesToFaults) {
  auto object = std::make_shared<MemoryObject>(16 * 4096, 16);
  MmapRequest text;
  text.length = 16 * 4096;
  text.prot = PROT_READ;
  text.flags = MAP_PRIVATE;
  text.object = object;
  ASSERT_TRUE(mm_.Mmap(text).ok());
  uint64_t run;
  ASSERT_TRUE(object->GetPage(0, &run).ok());
  uint64_t stack = Map(4096);
  uint32_t v = 1;
  ASSERT_TRUE(mm_.CopyOut(stack, &v, 4).ok());
  mm_.MapAhead();  // the fake platform does not map ahead by default
  EXPECT_TRUE(as_->pages.empty());
  // The cached file pages did not become resident; the stack page did
  // when the loader wrote it.
  EXPECT_EQ(mm_.ResidentPages(), 1u);
  // The kernel records the page as unmapped, so a fault maps it.
  EXPECT_EQ(mm_.HandleFault(stack, false), FaultResult::kHandled);
  EXPECT_EQ(as_->pages[stack].prot, PROT_READ | PROT_WRITE);
}

// A write from outside the process to a copy-on-write page the host maps
// fails with EFAULT. It must not write the page the parent shares, and it
// must not change the host's mapping from a thread that runs elsewhere.
TEST_F(MemoryManagerTest, OutsideWriteToMappedCowPageFails) {
  uint64_t a = Map(4096);
  uint32_t v = 1;
  ASSERT_TRUE(mm_.CopyOut(a, &v, 4).ok());
  auto child_as = std::make_shared<FakeAddressSpace>();
  auto child = mm_.Fork(child_as);
  ASSERT_TRUE(child.ok());
  ASSERT_EQ(child.value()->HandleFault(a, false), FaultResult::kHandled);
  ASSERT_TRUE(child_as->pages.count(a));
  child_as->changeable = false;
  int calls = child_as->map_calls;
  uint32_t w = 2;
  EXPECT_EQ(child.value()->CopyOut(a, &w, 4).error(), EFAULT);
  EXPECT_EQ(child_as->map_calls, calls);
  uint32_t parent_sees = 0;
  ASSERT_TRUE(mm_.CopyIn(a, &parent_sees, 4).ok());
  EXPECT_EQ(parent_sees, 1u);
}

TEST_F(MemoryManagerTest, ForkIsCopyOnWrite) {
  uint64_t a = Map(4096);
  uint32_t v = 1;
  ASSERT_TRUE(mm_.CopyOut(a, &v, 4).ok());
  ASSERT_EQ(mm_.HandleFault(a, false), FaultResult::kHandled);
  auto child_as = std::make_shared<FakeAddressSpace>();
  auto child = mm_.Fork(child_as);
  ASSERT_TRUE(child.ok());
  // The parent's writable mapping became read-only.
  EXPECT_EQ(as_->pages[a].prot, PROT_READ);

  uint32_t w = 2;
  ASSERT_TRUE(child.value()->CopyOut(a, &w, 4).ok());
  uint32_t parent_sees = 0, child_sees = 0;
  ASSERT_TRUE(mm_.CopyIn(a, &parent_sees, 4).ok());
  ASSERT_TRUE(child.value()->CopyIn(a, &child_sees, 4).ok());
  EXPECT_EQ(parent_sees, 1u);
  EXPECT_EQ(child_sees, 2u);

  // The parent now owns its page alone: a write fault upgrades in place.
  uint64_t before = as_->pages[a].frame;
  EXPECT_EQ(mm_.HandleFault(a, true), FaultResult::kHandled);
  EXPECT_EQ(as_->pages[a].prot, PROT_READ | PROT_WRITE);
  EXPECT_EQ(as_->pages[a].frame, before);
}

// The caller's stack pages are copied at fork: both processes keep them
// writable, so neither takes a copy-on-write fault there.
TEST_F(MemoryManagerTest, ForkCopiesListedPagesAtOnce) {
  uint64_t a = Map(3 * 4096);
  for (uint64_t page = a; page < a + 3 * 4096; page += 4096) {
    uint32_t v = uint32_t(page);
    ASSERT_TRUE(mm_.CopyOut(page, &v, 4).ok());
    ASSERT_EQ(mm_.HandleFault(page, true), FaultResult::kHandled);
  }
  uint64_t stack = a + 4096;
  auto child_as = std::make_shared<FakeAddressSpace>();
  child_as->maps_ahead = true;
  auto child = mm_.Fork(child_as, {stack, a + 100 * 4096});
  ASSERT_TRUE(child.ok());

  EXPECT_EQ(as_->pages[stack].prot, PROT_READ | PROT_WRITE);
  EXPECT_EQ(child_as->pages[stack].prot, PROT_READ | PROT_WRITE);
  EXPECT_NE(child_as->pages[stack].frame, as_->pages[stack].frame);
  EXPECT_EQ(as_->pages[a].prot, PROT_READ);
  EXPECT_EQ(child_as->pages[a].prot, PROT_READ);
  EXPECT_EQ(child_as->pages[a].frame, as_->pages[a].frame);

  uint32_t w = 7;
  ASSERT_TRUE(child.value()->CopyOut(stack, &w, 4).ok());
  uint32_t parent_sees = 0, child_sees = 0, child_next = 0;
  ASSERT_TRUE(mm_.CopyIn(stack, &parent_sees, 4).ok());
  ASSERT_TRUE(child.value()->CopyIn(stack, &child_sees, 4).ok());
  ASSERT_TRUE(child.value()->CopyIn(a + 2 * 4096, &child_next, 4).ok());
  EXPECT_EQ(parent_sees, uint32_t(stack));
  EXPECT_EQ(child_sees, 7u);
  EXPECT_EQ(child_next, uint32_t(a + 2 * 4096));
}

// A page that a child wrote right after a fork is copied for the next
// child at once, so that child takes no fault there.
TEST(MemoryManagerForkTest, ForkCopiesPagesChildrenWrote) {
  auto parent_as = std::make_shared<FakeAddressSpace>();
  auto parent = std::make_shared<MemoryManager>(parent_as);
  parent->mmap_base = 0x7f0000000000;
  MmapRequest req;
  req.length = 2 * 4096;
  req.prot = PROT_READ | PROT_WRITE;
  req.flags = MAP_PRIVATE | MAP_ANONYMOUS;
  auto mapped = parent->Mmap(req);
  ASSERT_TRUE(mapped.ok());
  uint64_t a = mapped.value();
  for (uint64_t page : {a, a + 4096}) {
    uint32_t v = 1;
    ASSERT_TRUE(parent->CopyOut(page, &v, 4).ok());
    ASSERT_EQ(parent->HandleFault(page, true), FaultResult::kHandled);
  }

  auto first_as = std::make_shared<FakeAddressSpace>();
  first_as->maps_ahead = true;
  auto first = parent->Fork(first_as);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first_as->pages[a].prot, PROT_READ);
  EXPECT_EQ(first.value()->HandleFault(a, true), FaultResult::kHandled);
  first.value().reset();

  auto second_as = std::make_shared<FakeAddressSpace>();
  second_as->maps_ahead = true;
  auto second = parent->Fork(second_as);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second_as->pages[a].prot, PROT_READ | PROT_WRITE);
  EXPECT_NE(second_as->pages[a].frame, parent_as->pages[a].frame);
  EXPECT_EQ(second_as->pages[a + 4096].prot, PROT_READ);
  EXPECT_EQ(second_as->pages[a + 4096].frame, parent_as->pages[a + 4096].frame);
}

TEST_F(MemoryManagerTest, WriteFaultFixedByAnotherThreadIsRetried) {
  uint64_t a = Map(4096);
  ASSERT_EQ(mm_.HandleFault(a, false), FaultResult::kHandled);
  auto child = mm_.Fork(std::make_shared<FakeAddressSpace>());
  ASSERT_TRUE(child.ok());
  // Two threads wrote to the copy-on-write page; the first fault to be
  // served makes it writable, and the second finds nothing left to do.
  EXPECT_EQ(mm_.HandleFault(a, true), FaultResult::kHandled);
  EXPECT_EQ(mm_.HandleFault(a, true), FaultResult::kHandled);
  EXPECT_EQ(as_->pages[a].prot, PROT_READ | PROT_WRITE);
  // An instruction fetch from the page is still refused: it is not
  // executable.
  EXPECT_EQ(mm_.HandleFault(a, true, true), FaultResult::kAccessError);
}

TEST_F(MemoryManagerTest, SharedMappingStaysSharedAfterFork) {
  uint64_t a = Map(4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS);
  auto child = mm_.Fork(std::make_shared<FakeAddressSpace>());
  ASSERT_TRUE(child.ok());
  uint32_t w = 7, r = 0;
  ASSERT_TRUE(child.value()->CopyOut(a, &w, 4).ok());
  ASSERT_TRUE(mm_.CopyIn(a, &r, 4).ok());
  EXPECT_EQ(r, 7u);
}

TEST_F(MemoryManagerTest, MunmapSplitsVma) {
  uint64_t a = Map(3 * 4096);
  ASSERT_TRUE(mm_.Munmap(a + 4096, 4096).ok());
  char c;
  EXPECT_TRUE(mm_.CopyIn(a, &c, 1).ok());
  EXPECT_EQ(mm_.CopyIn(a + 4096, &c, 1).error(), EFAULT);
  EXPECT_TRUE(mm_.CopyIn(a + 8192, &c, 1).ok());
  EXPECT_EQ(mm_.vmas().size(), 2u);
}

TEST_F(MemoryManagerTest, MprotectChecksRangeAndMaxProt) {
  uint64_t a = Map(2 * 4096);
  EXPECT_EQ(mm_.Mprotect(a, 3 * 4096, PROT_READ).error(), ENOMEM);
  EXPECT_EQ(mm_.Mprotect(a + 1, 4096, PROT_READ).error(), EINVAL);
  ASSERT_TRUE(mm_.Mprotect(a, 4096, PROT_READ).ok());
  char c = 0;
  EXPECT_EQ(mm_.CopyOut(a, &c, 1).error(), EFAULT);
  EXPECT_TRUE(mm_.CopyOut(a + 4096, &c, 1).ok());
}

TEST_F(MemoryManagerTest, MprotectKeepsMappedPagesMapped) {
  uint64_t a = Map(4 * 4096);
  for (int i = 0; i < 3; i++)
    ASSERT_EQ(mm_.HandleFault(a + i * 4096, false), FaultResult::kHandled);
  ASSERT_TRUE(mm_.Madvise(a + 4096, 4096, MADV_DONTNEED).ok());
  int unmaps = as_->unmap_calls;
  int protects = as_->protect_calls;
  ASSERT_TRUE(mm_.Mprotect(a, 4 * 4096, PROT_READ).ok());
  // One call for each run of mapped pages, and none for a change that
  // leaves the host's protection as it is.
  EXPECT_EQ(as_->protect_calls, protects + 2);
  EXPECT_EQ(as_->unmap_calls, unmaps);
  EXPECT_EQ(as_->pages[a].prot, PROT_READ);
  EXPECT_EQ(as_->pages[a + 2 * 4096].prot, PROT_READ);
  ASSERT_TRUE(mm_.Mprotect(a, 4 * 4096, PROT_READ).ok());
  EXPECT_EQ(as_->protect_calls, protects + 2);
  // No access left: the pages go.
  ASSERT_TRUE(mm_.Mprotect(a, 4 * 4096, PROT_NONE).ok());
  EXPECT_FALSE(as_->pages.count(a));
  EXPECT_EQ(mm_.HandleFault(a, false), FaultResult::kAccessError);
}

TEST_F(MemoryManagerTest, MremapGrowsAndMovesWithContents) {
  uint64_t a = Map(4096);
  uint64_t blocker = Map(4096);
  ASSERT_EQ(blocker, a - 4096);
  uint32_t v = 42;
  ASSERT_TRUE(mm_.CopyOut(a, &v, 4).ok());
  // Growing needs the page after `a`, which is free at the top.
  auto grown = mm_.Mremap(a, 4096, 8192, 0, 0);
  ASSERT_TRUE(grown.ok());
  // Moving: ask for more than fits in place below a fixed neighbour.
  auto moved = mm_.Mremap(blocker, 4096, 1 << 20, MREMAP_MAYMOVE, 0);
  ASSERT_TRUE(moved.ok());
  EXPECT_NE(moved.value(), blocker);
  uint32_t r = 0;
  ASSERT_TRUE(mm_.CopyIn(a, &r, 4).ok());
  EXPECT_EQ(r, 42u);
  EXPECT_EQ(mm_.Mremap(a, 4096, 0, 0, 0).error(), EINVAL);
  EXPECT_EQ(mm_.Mremap(a + 1, 4096, 8192, 0, 0).error(), EINVAL);
}

TEST_F(MemoryManagerTest, MremapDontUnmapMovesPagesAndKeepsVma) {
  uint64_t a = Map(4096);
  uint32_t v = 42;
  ASSERT_TRUE(mm_.CopyOut(a, &v, 4).ok());
  EXPECT_EQ(
      mm_.Mremap(a, 4096, 8192, MREMAP_MAYMOVE | MREMAP_DONTUNMAP, 0).error(),
      EINVAL);
  EXPECT_EQ(mm_.Mremap(a, 4096, 4096, MREMAP_DONTUNMAP, 0).error(), EINVAL);
  auto moved = mm_.Mremap(a, 4096, 4096, MREMAP_MAYMOVE | MREMAP_DONTUNMAP, 0);
  ASSERT_TRUE(moved.ok());
  EXPECT_NE(moved.value(), a);
  uint32_t r = 0;
  ASSERT_TRUE(mm_.CopyIn(moved.value(), &r, 4).ok());
  EXPECT_EQ(r, 42u);
  // The old range is still mapped and reads as fresh zero memory.
  ASSERT_TRUE(mm_.CopyIn(a, &r, 4).ok());
  EXPECT_EQ(r, 0u);
}

TEST_F(MemoryManagerTest, MremapOfZeroBytesAliasesSharedPages) {
  uint64_t priv = Map(4096);
  EXPECT_EQ(mm_.Mremap(priv, 0, 4096, MREMAP_MAYMOVE, 0).error(), EINVAL);
  uint64_t a = Map(4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS);
  EXPECT_EQ(mm_.Mremap(a, 0, 4096, 0, 0).error(), ENOMEM);
  auto alias = mm_.Mremap(a, 0, 4096, MREMAP_MAYMOVE, 0);
  ASSERT_TRUE(alias.ok());
  EXPECT_NE(alias.value(), a);
  uint32_t v = 7, r = 0;
  ASSERT_TRUE(mm_.CopyOut(a, &v, 4).ok());
  ASSERT_TRUE(mm_.CopyIn(alias.value(), &r, 4).ok());
  EXPECT_EQ(r, 7u);
}

TEST_F(MemoryManagerTest, BrkGrowsAndShrinks) {
  mm_.brk_start = mm_.brk = 0x600000;
  EXPECT_EQ(mm_.Brk(0).value(), 0x600000u);
  EXPECT_EQ(mm_.Brk(0x603000).value(), 0x603000u);
  char c = 1;
  EXPECT_TRUE(mm_.CopyOut(0x602fff, &c, 1).ok());
  EXPECT_EQ(mm_.Brk(0x601000).value(), 0x601000u);
  EXPECT_EQ(mm_.CopyOut(0x602000, &c, 1).error(), EFAULT);
}

TEST_F(MemoryManagerTest, CopyInStringStopsAtNul) {
  uint64_t a = Map(4096);
  ASSERT_TRUE(mm_.CopyOut(a, "hello", 6).ok());
  EXPECT_EQ(mm_.CopyInString(a, 100).value(), "hello");
  EXPECT_EQ(mm_.CopyInString(a, 3).error(), ENAMETOOLONG);
}

// A read-only mapping of a host file of kPages pages, which the fake
// platform maps as the host's own.
class DirectMappingTest : public MemoryManagerTest {
 protected:
  void SetUp() override {
    as_->maps_host_files = true;
    char path[] = "/tmp/moat-direct-XXXXXX";
    int fd = mkstemp(path);
    ASSERT_GE(fd, 0);
    unlink(path);
    std::string data(kPages * kPageSize, 'f');
    ASSERT_EQ(write(fd, data.data(), data.size()), ssize_t(data.size()));
    file_ = std::make_shared<HostFileObject>(fd, data.size());
    addr_ = MapFile(PROT_READ);
    ASSERT_NE(addr_, 0u);
  }

  uint64_t MapFile(int prot) {
    return Map(kPages * kPageSize, prot, MAP_PRIVATE, file_);
  }

  bool HostFilePage(uint64_t page) {
    auto it = as_->pages.find(page);
    return it != as_->pages.end() &&
           it->second.frame == FakeAddressSpace::kHostFilePage;
  }

  static constexpr uint64_t kPages = 4;
  std::shared_ptr<MemoryObject> file_;
  uint64_t addr_ = 0;
};

TEST_F(DirectMappingTest, MapsTheHostFileWithoutFrames) {
  for (uint64_t i = 0; i < kPages; i++)
    EXPECT_TRUE(HostFilePage(addr_ + i * kPageSize)) << i;
  EXPECT_EQ(as_->map_calls, 0);
  EXPECT_TRUE(mm_.vmas().at(addr_).direct);
  char byte = 0;
  ASSERT_TRUE(mm_.CopyIn(addr_ + kPageSize, &byte, 1).ok());
  EXPECT_EQ(byte, 'f');
}

TEST_F(DirectMappingTest, AnonymousMapOverUnmapsTheFile) {
  MmapRequest req;
  req.addr = addr_ + kPageSize;
  req.length = kPageSize;
  req.prot = PROT_READ | PROT_WRITE;
  req.flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;
  ASSERT_TRUE(mm_.Mmap(req).ok());
  EXPECT_FALSE(HostFilePage(addr_ + kPageSize));
  EXPECT_TRUE(HostFilePage(addr_));
  EXPECT_TRUE(HostFilePage(addr_ + 2 * kPageSize));
}

TEST_F(DirectMappingTest, WritableProtectionMakesItOrdinary) {
  ASSERT_TRUE(mm_.Mprotect(addr_, kPageSize, PROT_READ | PROT_WRITE).ok());
  EXPECT_FALSE(HostFilePage(addr_));
  EXPECT_FALSE(mm_.vmas().at(addr_).direct);
  EXPECT_TRUE(mm_.vmas().at(addr_ + kPageSize).direct);
  EXPECT_EQ(mm_.HandleFault(addr_, false), FaultResult::kHandled);
  ASSERT_TRUE(as_->pages.count(addr_));
  EXPECT_NE(as_->pages[addr_].frame, FakeAddressSpace::kHostFilePage);
}

TEST_F(DirectMappingTest, ReadOnlyProtectionStaysDirect) {
  ASSERT_TRUE(mm_.Mprotect(addr_, kPageSize, PROT_NONE).ok());
  EXPECT_TRUE(mm_.vmas().at(addr_).direct);
  ASSERT_TRUE(as_->pages.count(addr_));
  EXPECT_EQ(as_->pages[addr_].prot, PROT_NONE);
}

TEST_F(DirectMappingTest, MoveLeavesNoMappingBehind) {
  auto moved = mm_.Mremap(addr_, kPages * kPageSize, kPages * kPageSize,
                          MREMAP_MAYMOVE | MREMAP_FIXED, 0x200000000);
  ASSERT_TRUE(moved.ok());
  for (uint64_t i = 0; i < kPages; i++)
    EXPECT_FALSE(as_->pages.count(addr_ + i * kPageSize)) << i;
}

// Mappings made while the platform could not map host files, as exec maps
// a program before its first thread runs, become direct on a fault.
TEST_F(DirectMappingTest, FaultMakesExecMappingsDirect) {
  as_->maps_host_files = false;
  uint64_t text = MapFile(PROT_READ | PROT_EXEC);
  uint64_t rodata = MapFile(PROT_READ);
  uint64_t data = MapFile(PROT_READ | PROT_WRITE);
  EXPECT_FALSE(mm_.vmas().at(text).direct);
  as_->maps_host_files = true;
  EXPECT_EQ(mm_.HandleFault(text + kPageSize, false, true),
            FaultResult::kHandled);
  for (uint64_t i = 0; i < kPages; i++) {
    EXPECT_TRUE(HostFilePage(text + i * kPageSize)) << i;
    EXPECT_TRUE(HostFilePage(rodata + i * kPageSize)) << i;
  }
  EXPECT_TRUE(mm_.vmas().at(rodata).direct);
  EXPECT_FALSE(mm_.vmas().at(data).direct);
  EXPECT_FALSE(HostFilePage(data));
  EXPECT_EQ(mm_.ResidentPages(), 0u);
}

TEST_F(DirectMappingTest, FaultKeepsMappingWithPages) {
  as_->maps_host_files = false;
  uint64_t addr = MapFile(PROT_READ);
  char byte = 0;
  ASSERT_TRUE(mm_.CopyIn(addr, &byte, 1).ok());
  as_->maps_host_files = true;
  EXPECT_EQ(mm_.HandleFault(addr + kPageSize, false), FaultResult::kHandled);
  EXPECT_FALSE(mm_.vmas().at(addr).direct);
  EXPECT_FALSE(HostFilePage(addr + kPageSize));
}

// A fault in a writable private mapping of a host file copies its pages
// from the file without keeping them in the file's cache.
TEST_F(DirectMappingTest, WritableCopyBypassesCache) {
  uint64_t data =
      Map(kPages * kPageSize, PROT_READ | PROT_WRITE, MAP_PRIVATE, file_);
  ASSERT_EQ(mm_.HandleFault(data, false), FaultResult::kHandled);
  char byte = 0;
  ASSERT_TRUE(mm_.CopyIn(data + kPageSize, &byte, 1).ok());
  EXPECT_EQ(byte, 'f');
  for (uint64_t i = 0; i < kPages; i++) EXPECT_FALSE(file_->HasFrame(i)) << i;
  ASSERT_TRUE(mm_.CopyOut(data, "w", 1).ok());
  ASSERT_TRUE(mm_.CopyIn(data, &byte, 1).ok());
  EXPECT_EQ(byte, 'w');
  ASSERT_EQ(pread(file_->HostFd(), &byte, 1, 0), 1);
  EXPECT_EQ(byte, 'f');
}

TEST_F(DirectMappingTest, CopyPastEndOfFile) {
  char path[] = "/tmp/moat-direct-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  unlink(path);
  std::string text(kPageSize + kPageSize / 2, 'g');
  ASSERT_EQ(write(fd, text.data(), text.size()), ssize_t(text.size()));
  auto half = std::make_shared<HostFileObject>(fd, text.size());
  uint64_t data = Map(3 * kPageSize, PROT_READ | PROT_WRITE, MAP_PRIVATE, half);
  ASSERT_EQ(mm_.HandleFault(data, false), FaultResult::kHandled);
  char bytes[2] = {0, 1};
  ASSERT_TRUE(mm_.CopyIn(data + text.size() - 1, bytes, 2).ok());
  EXPECT_EQ(bytes[0], 'g');
  EXPECT_EQ(bytes[1], 0);
  EXPECT_EQ(mm_.HandleFault(data + 2 * kPageSize, false),
            FaultResult::kBusError);
}

TEST_F(DirectMappingTest, ChildWithoutHostForkIsOrdinary) {
  auto child = mm_.Fork(std::make_shared<FakeAddressSpace>());
  ASSERT_TRUE(child.ok());
  EXPECT_FALSE(child.value()->vmas().at(addr_).direct);
}

}  // namespace
}  // namespace moat
