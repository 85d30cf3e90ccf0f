// Unit tests of the count that --pids limits: live tasks, threads
// included, and zombies until they are reaped.
#include <gtest/gtest.h>

#include "kernel/kernel.h"
#include "kernel/task.h"

namespace moat {
namespace {

class TaskCountTest : public ::testing::Test {
 protected:
  TaskCountTest() : kernel_(nullptr, KernelConfig{}) {}

  std::shared_ptr<ThreadGroup> AddProcess(int tgid, int threads) {
    auto tg = std::make_shared<ThreadGroup>();
    tg->tgid = tgid;
    for (int i = 0; i < threads; i++) {
      auto t = std::make_shared<Task>(kernel_, tg);
      t->tid = tgid + i;
      tg->tasks.push_back(t);
      kernel_.RegisterTask(t);
    }
    kernel_.RegisterGroup(tg);
    return tg;
  }

  // What Task::ReleaseResources does to the kernel's tables.
  void ExitAll(ThreadGroup& tg) {
    for (auto& t : tg.tasks) kernel_.UnregisterTask(*t);
    tg.tasks.clear();
    tg.zombie = true;
  }

  Kernel kernel_;
};

TEST_F(TaskCountTest, ThreadsAndUnreapedZombiesCount) {
  EXPECT_EQ(kernel_.TaskCount(), 0u);
  auto init = AddProcess(1, 1);
  auto threaded = AddProcess(10, 3);
  EXPECT_EQ(kernel_.TaskCount(), 4u);
  ExitAll(*threaded);
  EXPECT_EQ(kernel_.TaskCount(), 2u);  // init and one zombie
  kernel_.UnregisterGroup(*threaded);  // reaped
  EXPECT_EQ(kernel_.TaskCount(), 1u);
}

}  // namespace
}  // namespace moat
