#include "fs/dev.h"

#include <sys/random.h>
#include <sys/sysmacros.h>

#include <cstring>

#include "fs/devpts.h"
#include "kernel/kernel.h"

namespace moat {
namespace {

class NullFile : public FileDescription {
 public:
  Result<size_t> Read(Task&, void*, size_t) override { return size_t(0); }
  Result<size_t> PRead(Task&, void*, size_t, uint64_t) override {
    return size_t(0);
  }
  Result<size_t> Write(Task&, const void*, size_t len) override {
    return len;
  }
  Result<size_t> PWrite(Task&, const void*, size_t len, uint64_t) override {
    return len;
  }
  Result<uint64_t> Seek(int64_t, int) override { return 0; }
};

class FullFile : public ZeroFile {
 public:
  Result<size_t> Write(Task&, const void*, size_t) override {
    return Err(ENOSPC);
  }
  Result<size_t> PWrite(Task&, const void*, size_t, uint64_t) override {
    return Err(ENOSPC);
  }
};

class RandomFile : public FileDescription {
 public:
  Result<size_t> Read(Task&, void* buf, size_t len) override {
    // The kernel's own entropy comes from the host's random source, which
    // is the only host device moat reads.
    len = std::min<size_t>(len, 1 << 20);
    ssize_t n = getrandom(buf, len, 0);
    if (n < 0) return Err(errno);
    return size_t(n);
  }
  Result<size_t> PRead(Task& t, void* buf, size_t len, uint64_t) override {
    return Read(t, buf, len);
  }
  Result<size_t> Write(Task&, const void*, size_t len) override {
    return len;
  }
  Result<uint64_t> Seek(int64_t, int) override { return 0; }
};

template <typename F>
DeviceOpener Opener() {
  return [](InodePtr node, int flags) -> Result<FilePtr> {
    auto f = std::make_shared<F>();
    f->inode = node;
    f->flags = flags;
    return FilePtr(f);
  };
}

}  // namespace

Result<size_t> ZeroFile::Read(Task&, void* buf, size_t len) {
  memset(buf, 0, len);
  return len;
}

std::shared_ptr<TmpfsInode> NewDevFs() {
  RegisterDevice(makedev(1, 3), Opener<NullFile>());
  RegisterDevice(makedev(1, 5), Opener<ZeroFile>());
  RegisterDevice(makedev(1, 7), Opener<FullFile>());
  RegisterDevice(makedev(1, 8), Opener<RandomFile>());
  RegisterDevice(makedev(1, 9), Opener<RandomFile>());
  RegisterTtyDevices();

  auto root = NewTmpfs(0755);
  Credentials root_creds;
  auto add_dev = [&](const char* name, int major, int minor, uint32_t mode) {
    (void)root->Mknod(name, S_IFCHR | mode, makedev(major, minor),
                      root_creds);
  };
  add_dev("null", 1, 3, 0666);
  add_dev("zero", 1, 5, 0666);
  add_dev("full", 1, 7, 0666);
  add_dev("random", 1, 8, 0666);
  add_dev("urandom", 1, 9, 0666);
  add_dev("tty", 5, 0, 0666);
  add_dev("console", 5, 1, 0600);
  add_dev("ptmx", 5, 2, 0666);
  (void)root->Symlink("fd", "/proc/self/fd", root_creds);
  (void)root->Symlink("stdin", "/proc/self/fd/0", root_creds);
  (void)root->Symlink("stdout", "/proc/self/fd/1", root_creds);
  (void)root->Symlink("stderr", "/proc/self/fd/2", root_creds);
  (void)root->Mkdir("shm", 01777, root_creds);
  (void)root->Mkdir("pts", 0755, root_creds);
  (void)root->Mkdir("mqueue", 01777, root_creds);
  return root;
}

}  // namespace moat
