#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "mm/memory_file.h"
#include "platform/trap/trap_layout.h"
#include "platform/trap/trap_platform.h"

namespace moat {
namespace {

// Frames that the host has pages for are mapped populated; a run with a
// hole in it, or a single page, is mapped as before.
TEST(TrapMapOpTest, PopulatesOnlyRunsWithHostPages) {
  MemoryFile& mf = MemoryFile::Get();
  // Holes first: a fresh run from the never-used tail of the file.
  std::vector<uint64_t> reused_runs;
  uint64_t frame = 0;
  for (;;) {
    auto run = mf.Allocate(4);
    ASSERT_TRUE(run.ok());
    std::vector<uint8_t> resident(4);
    ASSERT_TRUE(mf.Resident(run.value(), 4, resident.data()).ok());
    if (resident == std::vector<uint8_t>(4, 0)) {
      frame = run.value();
      break;
    }
    reused_runs.push_back(run.value());  // a reused run, zeroed and resident
  }
  EXPECT_EQ(TrapMapOp(frame, 4 * kPageSize), MOAT_TRAP_OP_MMAP);

  memset(mf.Map(frame), 1, 3 * kPageSize);  // the last page stays a hole
  EXPECT_EQ(TrapMapOp(frame, 4 * kPageSize), MOAT_TRAP_OP_MMAP);
  EXPECT_EQ(TrapMapOp(frame, 3 * kPageSize), MOAT_TRAP_OP_MMAP_POPULATE);
  EXPECT_EQ(TrapMapOp(frame, kPageSize), MOAT_TRAP_OP_MMAP);

  mf.DecRefRun(frame, 4);
  for (uint64_t run : reused_runs) mf.DecRefRun(run, 4);
}

}  // namespace
}  // namespace moat
