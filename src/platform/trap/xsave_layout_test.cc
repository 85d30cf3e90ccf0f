#include <gtest/gtest.h>
#include <signal.h>
#include <ucontext.h>

#include <cstdint>
#include <cstring>

#include "platform/trap/trap_platform.h"

namespace moat {
namespace {

// The software bytes the host writes into the FXSAVE area of a signal
// frame (struct _fpx_sw_bytes in asm/sigcontext.h).
struct SoftwareBytes {
  uint32_t magic1;
  uint32_t extended_size;
  uint64_t xfeatures;
  uint32_t xstate_size;
};
constexpr uint32_t kFpXstateMagic1 = 0x46505853;

SoftwareBytes frame_bytes;

void SaveFrameBytes(int, siginfo_t*, void* context) {
  auto* uc = static_cast<ucontext_t*>(context);
  memcpy(&frame_bytes, reinterpret_cast<char*>(uc->uc_mcontext.fpregs) + 464,
         sizeof frame_bytes);
}

// The stubs' FPU area has the size and components of the host's own
// signal frames: on a CPU with AMX, XCR0 alone would count 8 KiB of tile
// data that the frames leave out.
TEST(XsaveLayoutTest, MatchesTheHostSignalFrame) {
  struct sigaction action = {}, old = {};
  action.sa_sigaction = SaveFrameBytes;
  action.sa_flags = SA_SIGINFO;
  ASSERT_EQ(sigaction(SIGUSR2, &action, &old), 0);
  raise(SIGUSR2);
  ASSERT_EQ(sigaction(SIGUSR2, &old, nullptr), 0);
  ASSERT_EQ(frame_bytes.magic1, kFpXstateMagic1);

  auto layout = HostXsaveLayout();
  ASSERT_TRUE(layout.ok());
  EXPECT_EQ(layout.value().size, frame_bytes.xstate_size);
  EXPECT_EQ(layout.value().features, frame_bytes.xfeatures);
}

}  // namespace
}  // namespace moat
