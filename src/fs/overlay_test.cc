// Unit tests of the overlay's inodes: one inode per entry, which copy-up
// and rename change in place.
#include "fs/overlay.h"

#include <fcntl.h>
#include <gtest/gtest.h>

#include <algorithm>

namespace moat {
namespace {

class OverlayTest : public ::testing::Test {
 protected:
  OverlayTest() {
    lower_ = NewTmpfs(0755);
    EXPECT_TRUE(lower_->Create("f", 0644, root_).ok());
    EXPECT_TRUE(lower_->Mkdir("d", 0755, root_).ok());
    overlay_ = NewOverlay(lower_);
  }

  std::vector<std::string> Names() {
    std::vector<std::string> names;
    auto entries = overlay_->ReadDir();
    for (auto& e : entries.value()) names.push_back(e.name);
    std::sort(names.begin(), names.end());
    return names;
  }

  Credentials root_;
  std::shared_ptr<TmpfsInode> lower_;
  std::shared_ptr<OverlayInode> overlay_;
};

TEST_F(OverlayTest, LookupsShareOneInode) {
  auto first = overlay_->Lookup("f");
  auto second = overlay_->Lookup("f");
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(first.value(), second.value());
}

// A dentry keeps the inode it looked up. After a rename of a lower file,
// that inode is the copy the rename made, so opening it for writing must
// not copy it up again under its old name.
TEST_F(OverlayTest, RenamedFileKeepsItsCopy) {
  InodePtr cached = overlay_->Lookup("f").value();
  ASSERT_TRUE(overlay_->Rename("f", *overlay_, "g", 0).ok());
  ASSERT_TRUE(cached->Open(O_WRONLY).ok());
  EXPECT_EQ(overlay_->Lookup("f").error(), ENOENT);
  EXPECT_EQ(overlay_->Lookup("g").value(), cached);
  EXPECT_EQ(Names(), (std::vector<std::string>{"d", "g"}));
}

// A file made through a cached directory inode after the directory's
// rename lands under the new name.
TEST_F(OverlayTest, RenamedDirectoryTakesNewEntries) {
  auto dir = overlay_->Mkdir("e", 0755, root_);
  ASSERT_TRUE(dir.ok());
  InodePtr cached = dir.value();
  ASSERT_TRUE(overlay_->Rename("e", *overlay_, "e2", 0).ok());
  ASSERT_TRUE(cached->Create("inside", 0644, root_).ok());
  EXPECT_EQ(overlay_->Lookup("e").error(), ENOENT);
  auto e2 = overlay_->Lookup("e2");
  ASSERT_TRUE(e2.ok());
  EXPECT_TRUE(e2.value()->Lookup("inside").ok());
  EXPECT_EQ(e2.value()->ReadDir().value().size(), 1u);
}

TEST_F(OverlayTest, UnlinkedNameLooksUpAnew) {
  InodePtr old = overlay_->Lookup("f").value();
  ASSERT_TRUE(overlay_->Unlink("f").ok());
  EXPECT_EQ(overlay_->Lookup("f").error(), ENOENT);
  ASSERT_TRUE(overlay_->Create("f", 0600, root_).ok());
  InodePtr remade = overlay_->Lookup("f").value();
  EXPECT_NE(remade, old);
  EXPECT_EQ(remade->Mode() & 07777, 0600u);
}

}  // namespace
}  // namespace moat
