// /dev: a tmpfs with moat's own device nodes. Nothing here reaches a host
// device.
#pragma once

#include "fs/tmpfs.h"

namespace moat {

// Builds the /dev tree and registers the device openers.
std::shared_ptr<TmpfsInode> NewDevFs();

// /dev/zero: mmap of it is anonymous memory.
class ZeroFile : public FileDescription {
 public:
  Result<size_t> Read(Task& t, void* buf, size_t len) override;
  Result<size_t> PRead(Task& t, void* buf, size_t len, uint64_t) override {
    return Read(t, buf, len);
  }
  Result<size_t> Write(Task&, const void*, size_t len) override {
    return len;
  }
  Result<size_t> PWrite(Task&, const void*, size_t len, uint64_t) override {
    return len;
  }
  Result<uint64_t> Seek(int64_t, int) override { return 0; }
};

}  // namespace moat
