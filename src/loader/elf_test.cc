#include "loader/elf.h"

#include <elf.h>
#include <gtest/gtest.h>

#include "testing/test_gofer.h"
#include "testing/test_kernel.h"

namespace moat {
namespace {

TEST(ShebangTest, SplitsInterpreterAndOneArgument) {
  auto s = ParseShebang("#!/bin/sh\necho");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->interpreter, "/bin/sh");
  EXPECT_EQ(s->argument, "");
  s = ParseShebang("#!  /usr/bin/env  python3 -u \n");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->interpreter, "/usr/bin/env");
  EXPECT_EQ(s->argument, "python3 -u");
}

TEST(ShebangTest, RejectsNonScripts) {
  EXPECT_EQ(ParseShebang("\x7f" "ELF").error(), ENOEXEC);
  EXPECT_EQ(ParseShebang("#!\n").error(), ENOEXEC);
  EXPECT_EQ(ParseShebang("").error(), ENOEXEC);
}

// Loads host binaries through a host-backed root.
class LoaderTest : public ::testing::Test {
 protected:
  LoaderTest() {
    auto mount = std::make_shared<Mount>();
    mount->root = std::make_shared<Dentry>("", nullptr, gofer_.Root());
    tk_.kernel->mounts = std::make_shared<MountNamespace>(mount);
    tk_.task->fs->root = tk_.task->fs->cwd = Path{mount, mount->root};
  }

  std::vector<uint64_t> Auxv(MemoryManager& mm) { return mm.auxv; }
  uint64_t AuxvValue(MemoryManager& mm, uint64_t key) {
    for (size_t i = 0; i + 1 < mm.auxv.size(); i += 2)
      if (mm.auxv[i] == key) return mm.auxv[i + 1];
    return ~0ull;
  }

  TestGofer gofer_{{gofer::Root{"/", true}}};
  TestKernel tk_;
};

TEST_F(LoaderTest, DynamicExecutableGetsInterpreter) {
  auto image = LoadExecutable(*tk_.task, tk_.task->fs->cwd, "/bin/true",
                              {"true", "x"}, {"A=1"});
  ASSERT_TRUE(image.ok()) << strerror(image.error());
  MemoryManager& mm = *image->mm;
  uint64_t base = AuxvValue(mm, AT_BASE);
  EXPECT_NE(base, 0u);
  EXPECT_EQ(image->regs.rip >= base, true);  // starts in ld.so
  EXPECT_NE(AuxvValue(mm, AT_ENTRY), image->regs.rip);
  EXPECT_EQ(AuxvValue(mm, AT_PAGESZ), 4096u);
  EXPECT_EQ(AuxvValue(mm, AT_PHENT), sizeof(Elf64_Phdr));

  // The stack holds argc, argv and envp as the ABI lays them out.
  uint64_t sp = image->regs.rsp;
  EXPECT_EQ(sp % 16, 0u);
  EXPECT_EQ(mm.Read<uint64_t>(sp).value(), 2u);
  uint64_t argv1 = mm.Read<uint64_t>(sp + 16).value();
  EXPECT_EQ(mm.CopyInString(argv1, 100).value(), "x");
  EXPECT_EQ(mm.Read<uint64_t>(sp + 24).value(), 0u);
  uint64_t env0 = mm.Read<uint64_t>(sp + 32).value();
  EXPECT_EQ(mm.CopyInString(env0, 100).value(), "A=1");
  uint64_t phdr = AuxvValue(mm, AT_PHDR);
  EXPECT_EQ(mm.Read<uint32_t>(phdr).ok(), true);
  uint64_t random = AuxvValue(mm, AT_RANDOM);
  EXPECT_TRUE(mm.CopyIn(random, &random, 8).ok());
}

TEST_F(LoaderTest, ScriptRunsItsInterpreter) {
  // /usr/bin/ldd is a shell script on Debian.
  auto image = LoadExecutable(*tk_.task, tk_.task->fs->cwd, "/usr/bin/ldd",
                              {"ldd", "--version"}, {});
  ASSERT_TRUE(image.ok()) << strerror(image.error());
  MemoryManager& mm = *image->mm;
  uint64_t sp = image->regs.rsp;
  EXPECT_EQ(mm.Read<uint64_t>(sp).value(), 3u);  // bash, ldd, --version
  uint64_t argv1 = mm.Read<uint64_t>(sp + 16).value();
  EXPECT_EQ(mm.CopyInString(argv1, 100).value(), "/usr/bin/ldd");
}

TEST_F(LoaderTest, ScriptViaCloexecFdFails) {
  ExecOptions options;
  options.path_inaccessible = true;
  EXPECT_EQ(LoadExecutable(*tk_.task, tk_.task->fs->cwd, "/usr/bin/ldd",
                           {"ldd"}, {}, options)
                .error(),
            ENOENT);
  // A binary needs no path after the exec, so it still loads.
  EXPECT_TRUE(LoadExecutable(*tk_.task, tk_.task->fs->cwd, "/bin/true",
                             {"true"}, {}, options)
                  .ok());
}

TEST_F(LoaderTest, RejectsWhatIsNotExecutable) {
  EXPECT_EQ(LoadExecutable(*tk_.task, tk_.task->fs->cwd, "/etc/passwd",
                           {"x"}, {})
                .error(),
            EACCES);
  EXPECT_EQ(LoadExecutable(*tk_.task, tk_.task->fs->cwd, "/etc", {"x"}, {})
                .error(),
            EACCES);
  EXPECT_EQ(LoadExecutable(*tk_.task, tk_.task->fs->cwd, "/no/such", {"x"},
                           {})
                .error(),
            ENOENT);
}

}  // namespace
}  // namespace moat
