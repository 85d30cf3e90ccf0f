#include "gofer/server.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>

#include "testing/test_gofer.h"

namespace moat::gofer {
namespace {

namespace fs = std::filesystem;

// A scratch tree: DIR/root (served) holds file "f", directory "d", a link
// "out" to the secret outside the root, and a link "up" to "..".
class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/moat-gofer-test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    base_ = tmpl;
    fs::create_directories(base_ / "root" / "d");
    WriteFile(base_ / "secret", "outside");
    WriteFile(base_ / "root" / "f", "inside");
    fs::create_symlink(base_ / "secret", base_ / "root" / "out");
    fs::create_symlink("..", base_ / "root" / "up");
  }
  void TearDown() override {
    delete server_;
    MakeRemovable(base_);
    fs::remove_all(base_);
  }

  // Gives back the owner's rights on every directory: random requests
  // leave some that only root could remove.
  static void MakeRemovable(const fs::path& dir) {
    std::error_code ec;
    fs::permissions(dir, fs::perms::owner_all, fs::perm_options::add, ec);
    for (auto& e : fs::directory_iterator(dir, ec)) {
      if (!e.is_symlink(ec) && e.is_directory(ec)) MakeRemovable(e.path());
    }
  }

  static void WriteFile(const fs::path& p, const std::string& text) {
    int fd = open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(write(fd, text.data(), text.size()), ssize_t(text.size()));
    close(fd);
  }

  void OpenServer(bool read_only) {
    std::string error =
        Server::Open({Root{(base_ / "root").string(), read_only}}, &server_);
    ASSERT_EQ(error, "");
  }

  // Sends `e` and returns the reply's errno; the fields are left in
  // `fields_` and a descriptor in `fd_`.
  uint32_t Call(const Encoder& e) {
    if (fd_ >= 0) close(fd_);
    Server::Reply r = server_->Handle(e.bytes().data(), e.size());
    fd_ = r.fd;
    Decoder d(r.bytes.data(), r.bytes.size());
    uint32_t status = 0;
    EXPECT_TRUE(d.U32(&status));
    fields_.assign(r.bytes.begin() + 4, r.bytes.end());
    return status;
  }
  Encoder Request(Op op) {
    Encoder e;
    e.U32(static_cast<uint32_t>(op));
    return e;
  }
  uint64_t Attach() {
    Encoder e = Request(Op::kAttach);
    e.U32(0);
    EXPECT_EQ(Call(e), 0u);
    return HandleOfReply();
  }
  uint64_t HandleOfReply() {
    Decoder d(fields_.data(), fields_.size());
    uint64_t handle = 0;
    EXPECT_TRUE(d.U64(&handle));
    return handle;
  }
  uint32_t Walk(uint64_t dir, const std::string& name, uint64_t* out) {
    Encoder e = Request(Op::kWalk);
    e.U64(dir);
    e.Str(name);
    uint32_t status = Call(e);
    if (status == 0) *out = HandleOfReply();
    return status;
  }
  uint32_t OpenHandle(uint64_t handle, uint32_t flags) {
    Encoder e = Request(Op::kOpen);
    e.U64(handle);
    e.U32(flags);
    return Call(e);
  }

  // Makes every kind of change in the writable root `root` serves.
  void ChangeWritableRoot(InodePtr root) {
    Credentials creds;
    auto made = root->Create("new", S_IFREG | 0600, creds);
    ASSERT_TRUE(made.ok()) << strerror(made.error());
    auto file = (*made)->Open(O_RDWR);
    ASSERT_TRUE(file.ok());
    ASSERT_TRUE(root->Mkdir("dir", 0755, creds).ok());
    ASSERT_TRUE(root->Symlink("link", "new", creds).ok());
    // A FIFO, whose data the kernel keeps: a device node is refused.
    ASSERT_TRUE(root->Mknod("fifo", S_IFIFO | 0600, 0, creds).ok());
    auto device = root->Mknod("null", S_IFCHR | 0666, makedev(1, 3), creds);
    ASSERT_FALSE(device.ok());
    EXPECT_EQ(device.error(), EPERM);
    ASSERT_TRUE(root->Link("hard", made.value()).ok());
    ASSERT_TRUE(root->Rename("hard", *root, "moved", 0).ok());
    ASSERT_TRUE(root->Unlink("f").ok());
    EXPECT_EQ(root->Rmdir("d").ok(), true);
    SetAttrRequest attr;
    attr.mask = SetAttrRequest::kMode | SetAttrRequest::kSize |
                SetAttrRequest::kMtime;
    // Only root may give a file away.
    if (geteuid() == 0) attr.mask |= SetAttrRequest::kUid;
    attr.mode = 0640;
    attr.size = 5;
    attr.mtime = {1000000000, 0};
    attr.uid = 1234;
    ASSERT_TRUE((*made)->SetAttr(attr).ok());
    auto entries = root->ReadDir();
    ASSERT_TRUE(entries.ok());
    std::set<std::string> names;
    for (auto& e : *entries) names.insert(e.name);
    EXPECT_EQ(names, (std::set<std::string>{"new", "dir", "link", "fifo",
                                            "moved", "out", "up"}));
    struct stat st;
    ASSERT_EQ(lstat((base_ / "root" / "fifo").c_str(), &st), 0);
    EXPECT_TRUE(S_ISFIFO(st.st_mode));
    EXPECT_EQ(fs::read_symlink(base_ / "root" / "link"), "new");
    EXPECT_EQ(fs::hard_link_count(base_ / "root" / "new"), 2u);
    ASSERT_EQ(stat((base_ / "root" / "new").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0640u);
    EXPECT_EQ(st.st_size, 5);
    EXPECT_EQ(st.st_mtim.tv_sec, 1000000000);
    EXPECT_EQ(st.st_uid, geteuid() == 0 ? 1234u : geteuid());
  }

  fs::path base_;
  Server* server_ = nullptr;
  std::vector<char> fields_;
  int fd_ = -1;
};

TEST_F(ServerTest, RejectsNamesThatAreNotOneComponent) {
  OpenServer(true);
  uint64_t root = Attach();
  uint64_t child;
  const std::vector<std::string> names = {
      "", ".", "..", "d/f", std::string("f\0x", 3), std::string(256, 'a')};
  for (const std::string& name : names) {
    EXPECT_EQ(Walk(root, name, &child), uint32_t(EINVAL)) << name;
  }
  EXPECT_EQ(Walk(root, "f", &child), 0u);
}

TEST_F(ServerTest, NeverFollowsSymlinks) {
  OpenServer(true);
  uint64_t root = Attach();
  uint64_t out, up, beyond;
  ASSERT_EQ(Walk(root, "out", &out), 0u);
  // The link itself is the node: it cannot be opened or walked through.
  EXPECT_EQ(OpenHandle(out, O_RDONLY), uint32_t(EACCES));
  EXPECT_EQ(fd_, -1);
  ASSERT_EQ(Walk(root, "up", &up), 0u);
  EXPECT_EQ(Walk(up, "secret", &beyond), uint32_t(ENOTDIR));
  Encoder e = Request(Op::kReadlink);
  e.U64(up);
  ASSERT_EQ(Call(e), 0u);
  Decoder d(fields_.data(), fields_.size());
  std::string target;
  ASSERT_TRUE(d.Str(&target, kMaxLinkTarget));
  EXPECT_EQ(target, "..");
}

TEST_F(ServerTest, HandsOutRegularFilesOnly) {
  OpenServer(true);
  uint64_t root = Attach();
  EXPECT_EQ(OpenHandle(root, O_RDONLY), uint32_t(EISDIR));
  EXPECT_EQ(fd_, -1);
  uint64_t file;
  ASSERT_EQ(Walk(root, "f", &file), 0u);
  ASSERT_EQ(OpenHandle(file, O_RDONLY), 0u);
  ASSERT_GE(fd_, 0);
  char buf[16] = {};
  EXPECT_EQ(pread(fd_, buf, sizeof buf, 0), 6);
  EXPECT_STREQ(buf, "inside");
  EXPECT_EQ(OpenHandle(file, O_RDONLY | O_DIRECTORY), uint32_t(EINVAL));
  EXPECT_EQ(OpenHandle(file, O_RDONLY | O_PATH), uint32_t(EINVAL));
}

TEST_F(ServerTest, ReadOnlyRootRejectsEveryChange) {
  OpenServer(true);
  uint64_t root = Attach();
  uint64_t file;
  ASSERT_EQ(Walk(root, "f", &file), 0u);
  EXPECT_EQ(OpenHandle(file, O_WRONLY), uint32_t(EROFS));
  EXPECT_EQ(OpenHandle(file, O_RDONLY | O_TRUNC), uint32_t(EROFS));

  Encoder create = Request(Op::kCreate);
  create.U64(root);
  create.Str("new");
  for (uint32_t v : {uint32_t(O_RDWR), 0644u, 0u, 0u}) create.U32(v);
  EXPECT_EQ(Call(create), uint32_t(EROFS));

  Encoder unlink = Request(Op::kUnlink);
  unlink.U64(root);
  unlink.Str("f");
  unlink.U32(0);
  EXPECT_EQ(Call(unlink), uint32_t(EROFS));

  Encoder rename = Request(Op::kRename);
  rename.U64(root);
  rename.Str("f");
  rename.U64(root);
  rename.Str("g");
  rename.U32(0);
  EXPECT_EQ(Call(rename), uint32_t(EROFS));

  Encoder chmod = Request(Op::kSetAttr);
  chmod.U64(file);
  WireSetAttr a;
  a.mask = 1;
  a.mode = 0777;
  chmod.SetAttr(a);
  EXPECT_EQ(Call(chmod), uint32_t(EROFS));
  EXPECT_TRUE(fs::exists(base_ / "root" / "f"));
  EXPECT_FALSE(fs::exists(base_ / "root" / "new"));
}

TEST_F(ServerTest, MalformedRequestsGetErrors) {
  OpenServer(true);
  uint64_t root = Attach();
  EXPECT_EQ(Call(Encoder()), uint32_t(EINVAL));
  EXPECT_EQ(Call(Request(static_cast<Op>(999))), uint32_t(ENOSYS));
  Encoder truncated = Request(Op::kWalk);
  truncated.U32(7);
  EXPECT_EQ(Call(truncated), uint32_t(EINVAL));
  Encoder unknown = Request(Op::kStat);
  unknown.U64(root + 1000);
  EXPECT_EQ(Call(unknown), uint32_t(EBADF));
  Encoder trailing = Request(Op::kStat);
  trailing.U64(root);
  trailing.U8(0);
  EXPECT_EQ(Call(trailing), uint32_t(EINVAL));
  Encoder huge_name = Request(Op::kWalk);
  huge_name.U64(root);
  huge_name.U32(0xffffffff);
  EXPECT_EQ(Call(huge_name), uint32_t(EINVAL));
  Encoder release = Request(Op::kRelease);
  release.U64(root + 1000);
  EXPECT_FALSE(server_->Handle(release.bytes().data(), release.size()).send);
}

TEST_F(ServerTest, RandomPacketsNeverCrash) {
  OpenServer(false);
  std::mt19937_64 rng(12345);
  for (int i = 0; i < 20000; i++) {
    Encoder e;
    e.U32(1 + rng() % 16);
    int fields = rng() % 6;
    for (int j = 0; j < fields; j++) {
      switch (rng() % 3) {
        case 0: e.U64(rng() % 8); break;
        case 1: e.U32(static_cast<uint32_t>(rng())); break;
        default: e.Str(std::string(rng() % 8, char('a' + rng() % 3)));
      }
    }
    Server::Reply r = server_->Handle(e.bytes().data(), e.size());
    if (r.fd >= 0) close(r.fd);
  }
  // Whatever the packets did, it happened inside the root.
  for (auto& entry : fs::directory_iterator(base_)) {
    EXPECT_TRUE(entry.path().filename() == "root" ||
                entry.path().filename() == "secret")
        << entry.path();
  }
}

TEST_F(ServerTest, WritableRootServesChanges) {
  TestGofer gofer({Root{(base_ / "root").string(), false}});
  ChangeWritableRoot(gofer.Root());
}

// The same changes through a gofer confined as `moat gofer` is: each needs
// only calls its seccomp filter and Landlock rules allow.
TEST_F(ServerTest, ConfinedGoferServesChanges) {
  ConfinedTestGofer gofer({Root{(base_ / "root").string(), false}});
  ChangeWritableRoot(gofer.Root());
  std::ifstream status("/proc/" + std::to_string(gofer.pid()) + "/status");
  std::string line, seccomp, no_new_privs;
  while (std::getline(status, line)) {
    if (line.starts_with("Seccomp:")) seccomp = line;
    if (line.starts_with("NoNewPrivs:")) no_new_privs = line;
  }
  EXPECT_EQ(seccomp, "Seccomp:\t2");
  EXPECT_EQ(no_new_privs, "NoNewPrivs:\t1");
}

// A confined gofer opens nothing outside its root, even through a symlink
// its own host would follow: the walk refuses it and Landlock backs that.
TEST_F(ServerTest, ConfinedGoferKeepsToItsRoot) {
  ConfinedTestGofer gofer({Root{(base_ / "root").string(), true}});
  InodePtr root = gofer.Root();
  auto out = root->Lookup("out");
  ASSERT_TRUE(out.ok());
  EXPECT_FALSE((*out)->Open(O_RDONLY).ok());
  Credentials creds;
  auto made = root->Create("x", S_IFREG | 0600, creds);
  ASSERT_FALSE(made.ok());
  EXPECT_EQ(made.error(), EROFS);
  EXPECT_TRUE(root->Lookup("f").ok());
}

// The kernel disconnects when its program has exited, while inodes still
// hold the connection: the gofer exits then, and later requests fail.
TEST_F(ServerTest, GoferExitsOnDisconnect) {
  ConfinedTestGofer gofer({Root{(base_ / "root").string(), true}});
  InodePtr root = gofer.Root();
  ASSERT_TRUE(root->Lookup("f").ok());
  gofer.client().Disconnect();
  int status = -1;
  ASSERT_EQ(waitpid(gofer.pid(), &status, 0), gofer.pid());
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  auto after = root->Lookup("f");
  ASSERT_FALSE(after.ok());
  EXPECT_EQ(after.error(), EIO);
}

TEST_F(ServerTest, LongListingsComeInSeveralPackets) {
  for (int i = 0; i < 3000; i++)
    WriteFile(base_ / "root" / "d" / (std::string(60, 'x') +
                                      std::to_string(i)), "");
  TestGofer gofer({Root{(base_ / "root").string(), true}});
  auto dir = gofer.Root()->Lookup("d");
  ASSERT_TRUE(dir.ok());
  auto entries = (*dir)->ReadDir();
  ASSERT_TRUE(entries.ok());
  std::set<std::string> names;
  for (auto& e : *entries) names.insert(e.name);
  EXPECT_EQ(entries->size(), 3000u);
  EXPECT_EQ(names.size(), 3000u);
}

// Reads the fields of a kReadDir reply: its entry count and its flag for
// entries left.
void ReadDirReply(const std::vector<char>& fields, uint32_t* count,
                  uint8_t* more) {
  Decoder d(fields.data(), fields.size());
  ASSERT_TRUE(d.U32(count));
  for (uint32_t i = 0; i < *count; i++) {
    WireDirEntry entry;
    ASSERT_TRUE(d.Entry(&entry));
  }
  ASSERT_TRUE(d.U8(more));
  EXPECT_TRUE(d.AtEnd());
}

TEST_F(ServerTest, ReadDirFlagsEntriesLeft) {
  for (int i = 0; i < 3000; i++)
    WriteFile(base_ / "root" / "d" / (std::string(60, 'x') + std::to_string(i)),
              "");
  OpenServer(true);
  uint64_t root = Attach();
  // A short listing fits one reply, whose flag is 0.
  Encoder short_list = Request(Op::kReadDir);
  short_list.U64(root);
  short_list.U64(0);
  ASSERT_EQ(Call(short_list), 0u);
  uint32_t count = 0;
  uint8_t more = 1;
  ReadDirReply(fields_, &count, &more);
  EXPECT_GT(count, 0u);
  EXPECT_EQ(more, 0);
  // 3,000 long names do not fit one packet.
  uint64_t d;
  ASSERT_EQ(Walk(root, "d", &d), 0u);
  Encoder long_list = Request(Op::kReadDir);
  long_list.U64(d);
  long_list.U64(0);
  ASSERT_EQ(Call(long_list), 0u);
  ReadDirReply(fields_, &count, &more);
  EXPECT_LT(count, 3000u);
  EXPECT_EQ(more, 1);
}

TEST_F(ServerTest, ReleasedHandlesCloseTheirFiles) {
  OpenServer(true);
  uint64_t root = Attach();
  size_t before = server_->node_count();
  uint64_t file;
  ASSERT_EQ(Walk(root, "f", &file), 0u);
  EXPECT_EQ(server_->node_count(), before + 1);
  Encoder release = Request(Op::kRelease);
  release.U64(file);
  server_->Handle(release.bytes().data(), release.size());
  EXPECT_EQ(server_->node_count(), before);
  Encoder stat = Request(Op::kStat);
  stat.U64(file);
  EXPECT_EQ(Call(stat), uint32_t(EBADF));
}

// Returns the errno of opening `p` natively with `flags`, or 0.
uint32_t NativeOpenError(const fs::path& p, int flags) {
  int fd = open(p.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return errno;
  close(fd);
  return 0;
}

// The gofer runs as the user who started moat, so it must open a file
// exactly when this process can open it natively.
TEST_F(ServerTest, ServesOnlyWhatItsUserMayOpen) {
  WriteFile(base_ / "root" / "d" / "g", "hidden");
  fs::permissions(base_ / "root" / "f", fs::perms::none);
  fs::permissions(base_ / "root" / "d", fs::perms::none);
  uint32_t file_error = NativeOpenError(base_ / "root" / "f", O_RDONLY);
  uint32_t walk_error = NativeOpenError(base_ / "root" / "d" / "g", O_PATH);
  OpenServer(true);
  uint64_t root = Attach();
  uint64_t f, d, g;
  ASSERT_EQ(Walk(root, "f", &f), 0u);
  EXPECT_EQ(OpenHandle(f, O_RDONLY), file_error);
  ASSERT_EQ(Walk(root, "d", &d), 0u);
  EXPECT_EQ(Walk(d, "g", &g), walk_error);
}

// A new file gets the sandbox's ids only when the gofer may chown (as
// root). Otherwise it belongs to the user who started moat.
TEST_F(ServerTest, NewFileOwnerFollowsChownRights) {
  constexpr uint32_t kOther = 65534;
  WriteFile(base_ / "probe", "");
  bool can_chown = chown((base_ / "probe").c_str(), kOther, kOther) == 0;
  TestGofer gofer({Root{(base_ / "root").string(), false}});
  Credentials creds;
  creds.euid = creds.fsuid = kOther;
  creds.egid = creds.fsgid = kOther;
  ASSERT_TRUE(gofer.Root()->Create("new", S_IFREG | 0600, creds).ok());
  ASSERT_TRUE(gofer.Root()->Mkdir("dir", 0755, creds).ok());
  for (const char* name : {"new", "dir"}) {
    struct stat st;
    ASSERT_EQ(stat((base_ / "root" / name).c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, can_chown ? kOther : geteuid()) << name;
    EXPECT_EQ(st.st_gid, can_chown ? kOther : getegid()) << name;
  }
}

}  // namespace
}  // namespace moat::gofer
