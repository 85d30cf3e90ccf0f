// Unit tests of procfs: the files are read straight from the inodes, with
// a kernel that has thread groups registered but runs no tasks.
#include "fs/proc.h"

#include <gtest/gtest.h>

#include <regex>
#include <sstream>

#include "fs/proc_internal.h"
#include "kernel/kernel.h"
#include "kernel/task.h"

namespace moat {
namespace {

class ProcTest : public ::testing::Test {
 protected:
  ProcTest() : kernel_(nullptr, KernelConfig{}) {
    root_ = NewProcFs(kernel_);
    tg_ = std::make_shared<ThreadGroup>();
    task_ = std::make_shared<Task>(kernel_, tg_);
    task_->tid = tg_->tgid = 1;
    task_->comm = "init";
    tg_->leader = task_;
    tg_->tasks.push_back(task_);
    kernel_.RegisterGroup(tg_);
    kernel_.RegisterTask(task_);
  }

  // The text of the file at `path` (relative to /proc).
  std::string Read(const std::string& path) {
    InodePtr node = root_;
    std::stringstream parts(path);
    std::string name;
    while (std::getline(parts, name, '/')) {
      auto next = node->Lookup(name);
      EXPECT_TRUE(next.ok()) << path;
      if (!next.ok()) return "";
      node = next.value();
    }
    auto f = node->Open(O_RDONLY);
    EXPECT_TRUE(f.ok()) << path;
    if (!f.ok()) return "";
    std::string out(1 << 16, '\0');
    auto n = f.value()->PRead(*task_, out.data(), out.size(), 0);
    EXPECT_TRUE(n.ok());
    out.resize(n.ok() ? n.value() : 0);
    return out;
  }

  std::vector<std::string> List(InodePtr dir) {
    std::vector<std::string> names;
    auto entries = dir->ReadDir();
    EXPECT_TRUE(entries.ok());
    for (auto& e : entries.value()) names.push_back(e.name);
    return names;
  }

  Kernel kernel_;
  InodePtr root_;
  std::shared_ptr<ThreadGroup> tg_;
  std::shared_ptr<Task> task_;
};

bool Has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

TEST_F(ProcTest, RootListsOnlySandboxProcesses) {
  auto names = List(root_);
  EXPECT_TRUE(Has(names, "1"));
  EXPECT_TRUE(Has(names, "self"));
  EXPECT_TRUE(Has(names, "meminfo"));
  EXPECT_FALSE(Has(names, "2"));
  EXPECT_EQ(root_->Lookup("2").error(), ENOENT);
  EXPECT_EQ(root_->Lookup("01").error(), ENOENT);
  EXPECT_EQ(root_->Attr()->ino, 1u);
}

TEST_F(ProcTest, StatHasTheFiftyTwoLinuxFields) {
  std::string stat = Read("1/stat");
  ASSERT_EQ(stat.back(), '\n');
  EXPECT_EQ(stat.rfind("1 (init) ", 0), 0u) << stat;
  std::stringstream rest(stat.substr(stat.rfind(')') + 2));
  int fields = 2;
  std::string field;
  while (rest >> field) fields++;
  EXPECT_EQ(fields, 52);
}

TEST_F(ProcTest, StatusStartsAsLinuxDoes) {
  std::string status = Read("1/status");
  EXPECT_EQ(status.rfind("Name:\tinit\nUmask:\t0022\nState:\t", 0), 0u)
      << status;
  EXPECT_NE(status.find("\nPid:\t1\nPPid:\t0\n"), std::string::npos);
  EXPECT_NE(status.find("\nUid:\t0\t0\t0\t0\n"), std::string::npos);
  EXPECT_NE(status.find("\nCapEff:\t000001ffffffffff\n"), std::string::npos);
  EXPECT_EQ(Read("1/comm"), "init\n");
  EXPECT_EQ(Read("1/cgroup"), "0::/\n");
}

TEST_F(ProcTest, ThreadDirectoriesAreListedUnderTask) {
  auto task_dir = root_->Lookup("1").value()->Lookup("task").value();
  EXPECT_EQ(List(task_dir), (std::vector<std::string>{"1"}));
  EXPECT_EQ(Read("1/task/1/comm"), "init\n");
  // A thread's directory is a different directory from its process's.
  auto a = root_->Lookup("1").value()->Attr()->ino;
  auto b = task_dir->Lookup("1").value()->Attr()->ino;
  EXPECT_NE(a, b);
  EXPECT_EQ(a, root_->Lookup("1").value()->Attr()->ino);
}

TEST_F(ProcTest, SystemFilesKeepLinuxLayout) {
  std::string mem = Read("meminfo");
  EXPECT_TRUE(std::regex_search(
      mem, std::regex("^MemTotal: {7} *[0-9]{8,} kB\nMemFree: ")))
      << mem.substr(0, 80);
  EXPECT_EQ(Read("version").rfind("Linux version 6.1.0-moat ", 0), 0u);
  EXPECT_TRUE(std::regex_match(
      Read("uptime"), std::regex("[0-9]+\\.[0-9]{2} [0-9]+\\.[0-9]{2}\n")));
  EXPECT_EQ(Read("sys/kernel/ostype"), "Linux\n");
  EXPECT_EQ(Read("sys/kernel/cap_last_cap"), "40\n");
  EXPECT_NE(Read("cpuinfo").find("processor\t: 0\n"), std::string::npos);
  std::string limits = Read("1/limits");
  EXPECT_EQ(limits.rfind("Limit                     Soft Limit", 0), 0u);
}

TEST_F(ProcTest, RootMaySetTheHostname) {
  auto node = root_->Lookup("sys")
                  .value()
                  ->Lookup("kernel")
                  .value()
                  ->Lookup("hostname")
                  .value();
  auto f = node->Open(O_WRONLY).value();
  ASSERT_TRUE(f->PWrite(*task_, "box\nignored", 11, 0).ok());
  EXPECT_EQ(kernel_.config().hostname, "box");
  EXPECT_EQ(Read("sys/kernel/hostname"), "box\n");
  task_->creds.cap_effective = 0;
  EXPECT_EQ(f->PWrite(*task_, "x", 1, 0).error(), EPERM);
}

TEST(ProcHelpers, ParseIntAcceptsWhatKstrtointDoes) {
  EXPECT_EQ(proc::ParseInt("-1000\n").value(), -1000);
  EXPECT_EQ(proc::ParseInt("+7").value(), 7);
  EXPECT_FALSE(proc::ParseInt("").ok());
  EXPECT_FALSE(proc::ParseInt("1x").ok());
  EXPECT_FALSE(proc::ParseInt("\n").ok());
}

TEST(ProcHelpers, PidInoIsStableAndDistinct) {
  EXPECT_EQ(proc::PidIno(5, 5, 9), proc::PidIno(5, 5, 9));
  EXPECT_NE(proc::PidIno(5, 5, 9), proc::PidIno(5, 6, 9));
  EXPECT_NE(proc::PidIno(5, 5, 1, 3), proc::PidIno(5, 5, 1, 4));
  EXPECT_LT(proc::PidIno(5, 5, 9), 1ull << 63);
}

}  // namespace
}  // namespace moat
