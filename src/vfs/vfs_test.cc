#include "vfs/vfs.h"

#include <gtest/gtest.h>

#include "testing/test_kernel.h"

namespace moat {
namespace {

class ResolveTest : public ::testing::Test {
 protected:
  ResolveTest() {
    Credentials root;
    auto a = tk_.root->Mkdir("a", 0755, root).value();
    auto b = std::static_pointer_cast<TmpfsInode>(a)->Mkdir("b", 0755, root);
    (void)std::static_pointer_cast<TmpfsInode>(b.value())
        ->Create("file", 0644, root);
    (void)tk_.root->Symlink("abs", "/a/b", root);
    (void)tk_.root->Symlink("rel", "a/b/file", root);
    (void)tk_.root->Symlink("loop", "loop", root);
    (void)tk_.root->Symlink("dangling", "/nowhere", root);
    (void)tk_.root->Create("plain", 0644, root);
  }

  Result<Path> Resolve(const std::string& path, bool follow = true) {
    ResolveOptions opts;
    opts.follow_final = follow;
    return ResolvePath(*tk_.task, tk_.task->fs->cwd, path, opts);
  }

  std::string Name(const Path& p) {
    return PathName(p, tk_.task->fs->root);
  }

  TestKernel tk_;
};

TEST_F(ResolveTest, WalksComponents) {
  EXPECT_EQ(Name(Resolve("/a/b/file").value()), "/a/b/file");
  EXPECT_EQ(Name(Resolve("a//b/./file").value()), "/a/b/file");
}

TEST_F(ResolveTest, DotDotStopsAtRoot) {
  EXPECT_EQ(Name(Resolve("/../../a/..").value()), "/");
  EXPECT_EQ(Name(Resolve("a/b/../../..").value()), "/");
}

TEST_F(ResolveTest, FollowsSymlinks) {
  EXPECT_EQ(Name(Resolve("/abs/file").value()), "/a/b/file");
  EXPECT_EQ(Name(Resolve("/rel").value()), "/a/b/file");
  EXPECT_EQ(Name(Resolve("/rel", false).value()), "/rel");
}

TEST_F(ResolveTest, ReportsErrors) {
  EXPECT_EQ(Resolve("/missing").error(), ENOENT);
  EXPECT_EQ(Resolve("/plain/x").error(), ENOTDIR);
  EXPECT_EQ(Resolve("/plain/").error(), ENOTDIR);
  EXPECT_EQ(Resolve("/loop").error(), ELOOP);
  EXPECT_EQ(Resolve("/dangling").error(), ENOENT);
  EXPECT_EQ(Resolve("").error(), ENOENT);
  EXPECT_EQ(Resolve(std::string(5000, 'a')).error(), ENAMETOOLONG);
}

TEST_F(ResolveTest, ChrootClampsDotDotAndAbsoluteLinks) {
  tk_.task->fs->root = Resolve("/a").value();
  EXPECT_EQ(Name(Resolve("/../../b/file").value()), "/b/file");
  // "/abs" no longer exists under the new root.
  EXPECT_EQ(Resolve("/abs").error(), ENOENT);
}

TEST_F(ResolveTest, BeneathRejectsEscapes) {
  ResolveOptions opts;
  opts.beneath = true;
  auto ra = Resolve("/a");
  ASSERT_TRUE(ra.ok()) << ra.error();
  Path a = ra.value();
  EXPECT_EQ(ResolvePath(*tk_.task, a, "../plain", opts).error(), EXDEV);
  EXPECT_EQ(ResolvePath(*tk_.task, a, "/plain", opts).error(), EXDEV);
  EXPECT_TRUE(ResolvePath(*tk_.task, a, "b/file", opts).ok());
}

TEST_F(ResolveTest, ParentSplitsLastComponent) {
  auto r = ResolveParent(*tk_.task, tk_.task->fs->cwd, "/a/b/new", {});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Name(r->first), "/a/b");
  EXPECT_EQ(r->second, "new");
  EXPECT_EQ(ResolveParent(*tk_.task, tk_.task->fs->cwd, "/x/y", {}).error(),
            ENOENT);
}

TEST_F(ResolveTest, CrossesMounts) {
  Path at = Resolve("/a").value();
  auto other = NewTmpfs(0755);
  Credentials root;
  (void)other->Mkdir("inside", 0755, root);
  tk_.kernel->mounts->AddMount(
      at, std::make_shared<Dentry>("", nullptr, other), "tmpfs", "tmpfs");
  auto inside = Resolve("/a/inside");
  ASSERT_TRUE(inside.ok()) << inside.error();
  EXPECT_FALSE(Resolve("/a/b").ok());  // hidden by the mount
  EXPECT_EQ(Name(Resolve("/a/inside/..").value()), "/a");
  EXPECT_EQ(Name(Resolve("/a/..").value()), "/");
}

// A path walked again finds the dentries of its last walk, although
// nothing held them in between.
TEST_F(ResolveTest, KeepsUnusedDentries) {
  std::weak_ptr<Dentry> first = Resolve("/a/b/file").value().dentry;
  EXPECT_FALSE(first.expired());
  EXPECT_EQ(Resolve("/a/b/file").value().dentry, first.lock());
}

// A removed entry leaves the dentry cache, which would otherwise keep its
// inode, and so a tmpfs file's pages, alive.
TEST_F(ResolveTest, ForgottenDentryLeavesCache) {
  Path dir = Resolve("/a/b").value();
  std::weak_ptr<Dentry> file = Resolve("/a/b/file").value().dentry;
  std::weak_ptr<Inode> inode = file.lock()->inode;
  ASSERT_TRUE(dir.inode().Unlink("file").ok());
  DentryForget(dir, "file");
  EXPECT_TRUE(file.expired());
  EXPECT_TRUE(inode.expired());
  EXPECT_EQ(Resolve("/a/b/file").error(), ENOENT);
}

// An unmounted filesystem's files are freed once nothing else uses them,
// even when the dentry cache had kept their dentries.
TEST_F(ResolveTest, DetachedMountLeavesCache) {
  Path at = Resolve("/a").value();
  auto other = NewTmpfs(0755);
  Credentials root;
  ASSERT_TRUE(other->Create("inside", 0644, root).ok());
  auto mount = tk_.kernel->mounts->AddMount(
      at, std::make_shared<Dentry>("", nullptr, other), "tmpfs", "tmpfs");
  std::weak_ptr<Inode> inside = Resolve("/a/inside").value().dentry->inode;
  std::weak_ptr<Inode> fs_root = other;
  other.reset();
  tk_.kernel->mounts->DetachTree(mount);
  mount.reset();
  EXPECT_TRUE(inside.expired());
  EXPECT_TRUE(fs_root.expired());
}

}  // namespace
}  // namespace moat
