#include <gtest/gtest.h>
#include <sys/mman.h>

#include <vector>

#include "mm/memory_manager.h"
#include "testing/fake_platform.h"

namespace moat {
namespace {

constexpr uint64_t kCode = 0x400000;

// Three 3-byte moves, then glibc's read: `xor %eax, %eax; syscall;
// cmp $-4096, %rax; ja; ret`, and `padding` up to a 16-byte boundary.
std::vector<uint8_t> ReadFunction(std::vector<uint8_t> padding,
                                  uint8_t ja = 0x20) {
  std::vector<uint8_t> code = {0x48, 0x89, 0xd2, 0x48, 0x89, 0xd2,
                               0x48, 0x89, 0xd2, 0x31, 0xc0, 0x0f,
                               0x05, 0x48, 0x3d, 0x00, 0xf0, 0xff,
                               0xff, 0x77, ja,   0xc3};
  code.insert(code.end(), padding.begin(), padding.end());
  return code;
}

const std::vector<uint8_t> kNopw = {0x66, 0x2e, 0x0f, 0x1f, 0x84,
                                    0x00, 0x00, 0x00, 0x00, 0x00};

class SyscallPatchTest : public ::testing::Test {
 protected:
  SyscallPatchTest() : as_(std::make_shared<FakeAddressSpace>()), mm_(as_) {
    as_->patch_entry = 0x7fffffe00100;
  }

  // Maps `code` at kCode as a program's text, read-only and executable.
  void LoadCode(const std::vector<uint8_t>& code) {
    MmapRequest req;
    req.addr = kCode;
    req.length = 4096;
    req.prot = PROT_READ | PROT_WRITE;
    req.flags = MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS;
    ASSERT_TRUE(mm_.Mmap(req).ok());
    ASSERT_TRUE(mm_.CopyOut(kCode, code.data(), code.size()).ok());
    ASSERT_TRUE(mm_.Mprotect(kCode, 4096, PROT_READ | PROT_EXEC).ok());
  }

  std::vector<uint8_t> Text(uint64_t addr, size_t n) {
    std::vector<uint8_t> bytes(n);
    EXPECT_TRUE(mm_.CopyIn(addr, bytes.data(), n).ok());
    return bytes;
  }

  // Traps from the read site often enough to patch it.
  void TrapFromRead() {
    for (int i = 0; i < 3; i++) mm_.MaybePatchSyscall(kCode + 13, 0);
  }

  std::shared_ptr<FakeAddressSpace> as_;
  MemoryManager mm_;
};

TEST_F(SyscallPatchTest, ReadJumpsThroughPadding) {
  LoadCode(ReadFunction(kNopw));
  TrapFromRead();
  EXPECT_EQ(mm_.PatchedSites(), 2u);
  // The `xor` jumps 11 bytes ahead, past the `syscall`, which stays.
  EXPECT_EQ(Text(kCode + 9, 4), (std::vector<uint8_t>{0xeb, 0x0b, 0x0f, 0x05}));
  // The padding jumps through the first table entry.
  EXPECT_EQ(Text(kCode + 22, 7),
            (std::vector<uint8_t>{0xff, 0x24, 0x25, 0x00, 0x00, 0x0f, 0x05}));
}

TEST_F(SyscallPatchTest, ReadWithoutRoomStaysAsItIs) {
  // read_nocancel: its `ret` is 3 bytes before a 16-byte boundary.
  std::vector<uint8_t> code(16, 0x90);
  code.insert(code.end(), {0x31, 0xc0, 0x0f, 0x05, 0x48, 0x3d, 0x00, 0xf0,
                           0xff, 0xff, 0x77, 0x04, 0xc3, 0x0f, 0x1f, 0x00});
  LoadCode(code);
  for (int i = 0; i < 3; i++) mm_.MaybePatchSyscall(kCode + 20, 0);
  EXPECT_EQ(mm_.PatchedSites(), 0u);
  EXPECT_EQ(Text(kCode, code.size()), code);
}

TEST_F(SyscallPatchTest, ReadWithOtherTailStaysAsItIs) {
  // Padding that is not all NOPs, and a `ja` into the padding.
  for (auto code : {ReadFunction({0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00,
                                  0x00, 0x00, 0xcc}),
                    ReadFunction(kNopw, 0x02)}) {
    SCOPED_TRACE(code.back());
    LoadCode(code);
    TrapFromRead();
    EXPECT_EQ(mm_.PatchedSites(), 0u);
    EXPECT_EQ(Text(kCode, code.size()), code);
  }
}

TEST_F(SyscallPatchTest, ProtectionChangeRestoresRead) {
  std::vector<uint8_t> code = ReadFunction(kNopw);
  LoadCode(code);
  TrapFromRead();
  ASSERT_EQ(mm_.PatchedSites(), 2u);
  ASSERT_TRUE(mm_.Mprotect(kCode, 4096, PROT_READ | PROT_WRITE).ok());
  EXPECT_EQ(mm_.PatchedSites(), 0u);
  EXPECT_EQ(Text(kCode, code.size()), code);
}

// glibc's syscall(3): `endbr64`, the moves of the number and arguments,
// `mov 0x8(%rsp), %r9; syscall` at kCode + 22, `cmp $-4095, %rax; jae;
// ret`, then an int3 where glibc sets errno.
std::vector<uint8_t> SyscallFunction() {
  return {0xf3, 0x0f, 0x1e, 0xfa, 0x48, 0x89, 0xf8, 0x48, 0x89, 0xf7,
          0x48, 0x89, 0xd6, 0x48, 0x89, 0xca, 0x4d, 0x89, 0xc2, 0x4d,
          0x89, 0xc8, 0x4c, 0x8b, 0x4c, 0x24, 0x08, 0x0f, 0x05, 0x48,
          0x3d, 0x01, 0xf0, 0xff, 0xff, 0x73, 0x01, 0xc3, 0xcc};
}

TEST_F(SyscallPatchTest, SyscallFunctionJumpsToTrampoline) {
  LoadCode(SyscallFunction());
  for (int i = 0; i < 3; i++) mm_.MaybePatchSyscall(kCode + 29, 110);
  EXPECT_EQ(mm_.PatchedSites(), 1u);
  EXPECT_EQ(Text(kCode + 22, 7),
            (std::vector<uint8_t>{0xff, 0x24, 0x25, 0x00, 0x00, 0x0f, 0x05}));
  // The trampoline loads %r9 as the site did and sends arch_prctl (158)
  // to a `syscall` of its own.
  EXPECT_EQ(Text(0x05100000, 12),
            (std::vector<uint8_t>{0x4c, 0x8b, 0x4c, 0x24, 0x08, 0x3d, 158, 0, 0,
                                  0, 0x74, 24}));
  EXPECT_EQ(Text(0x05100000 + 12 + 24, 2), (std::vector<uint8_t>{0x0f, 0x05}));
}

TEST_F(SyscallPatchTest, OtherDynamicSiteStaysAsItIs) {
  // The same site after a move that is not glibc's.
  std::vector<uint8_t> code = SyscallFunction();
  code[6] = 0xf0;  // mov %rsi, %rax
  LoadCode(code);
  for (int i = 0; i < 3; i++) mm_.MaybePatchSyscall(kCode + 29, 110);
  EXPECT_EQ(mm_.PatchedSites(), 0u);
  EXPECT_EQ(Text(kCode, code.size()), code);
}

TEST_F(SyscallPatchTest, SyscallFunctionTrampolineMayCrossAPage) {
  // 127 one-place trampolines first, so that the two-place one starts in
  // the last place of the first page.
  std::vector<uint8_t> code;
  for (int i = 0; i < 127; i++)
    code.insert(code.end(), {0x90, 0xb8, 39, 0, 0, 0, 0x0f, 0x05});
  size_t function = code.size();
  std::vector<uint8_t> body = SyscallFunction();
  code.insert(code.end(), body.begin(), body.end());
  LoadCode(code);
  for (int i = 0; i < 127; i++)
    for (int j = 0; j < 3; j++) mm_.MaybePatchSyscall(kCode + 8 * i + 8, 39);
  ASSERT_EQ(mm_.PatchedSites(), 127u);
  for (int i = 0; i < 3; i++) mm_.MaybePatchSyscall(kCode + function + 29, 110);
  EXPECT_EQ(mm_.PatchedSites(), 128u);
  EXPECT_EQ(Text(0x05100000 + 127 * 32, 5),
            (std::vector<uint8_t>{0x4c, 0x8b, 0x4c, 0x24, 0x08}));
  EXPECT_EQ(Text(0x05100000 + 127 * 32 + 36, 2),
            (std::vector<uint8_t>{0x0f, 0x05}));
}

}  // namespace
}  // namespace moat
