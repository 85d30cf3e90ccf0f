// A kernel with a fake platform and one task whose root is a fresh tmpfs,
// for tests of code that needs a Task.
#pragma once

#include <memory>

#include "fs/tmpfs.h"
#include "kernel/kernel.h"
#include "testing/fake_platform.h"
#include "vfs/fd_table.h"

namespace moat {

struct TestKernel {
  TestKernel() {
    static Kernel* shared = new Kernel(std::make_unique<FakePlatform>(),
                                       KernelConfig{});
    kernel = shared;
    root = NewTmpfs(0755);
    auto mount = std::make_shared<Mount>();
    mount->root = std::make_shared<Dentry>("", nullptr, root);
    kernel->mounts = std::make_shared<MountNamespace>(mount);
    auto tg = std::make_shared<ThreadGroup>();
    task = std::make_shared<Task>(*kernel, tg);
    task->fs = std::make_shared<FsContext>();
    task->mount_ns = kernel->mounts;
    task->fs->root = task->fs->cwd = Path{mount, mount->root};
    task->fds = std::make_shared<FdTable>();
    task->handlers = std::make_shared<SignalHandlers>();
  }
  Kernel* kernel;
  std::shared_ptr<TmpfsInode> root;
  std::shared_ptr<Task> task;
};

}  // namespace moat
