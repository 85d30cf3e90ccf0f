// A Platform that runs nothing: it records what the kernel maps, so that
// the memory manager, the loader and the VFS can be tested without stubs.
#pragma once

#include <map>
#include <memory>

#include "platform/platform.h"

namespace moat {

class FakeAddressSpace : public AddressSpace {
 public:
  struct Mapping {
    uint64_t frame;
    int prot;
  };
  Status MapFile(uint64_t addr, uint64_t length, uint64_t frame,
                 int prot) override {
    for (uint64_t off = 0; off < length; off += 4096)
      pages[addr + off] = Mapping{frame + off, prot};
    map_calls++;
    return Ok();
  }
  Status Unmap(uint64_t addr, uint64_t length) override {
    for (uint64_t off = 0; off < length; off += 4096) pages.erase(addr + off);
    unmap_calls++;
    return Ok();
  }
  Status Protect(uint64_t addr, uint64_t length, int prot) override {
    for (uint64_t off = 0; off < length; off += 4096) {
      auto it = pages.find(addr + off);
      if (it != pages.end()) it->second.prot = prot;
    }
    protect_calls++;
    return Ok();
  }
  bool MapFileIfQueued(uint64_t addr, uint64_t length, uint64_t frame,
                       int prot) override {
    return queues && MapFile(addr, length, frame, prot).ok();
  }
  bool MapFileAhead(uint64_t addr, uint64_t length, uint64_t frame,
                    int prot) override {
    if (!maps_ahead) return false;
    ahead_calls++;
    return MapFile(addr, length, frame, prot).ok();
  }
  // With maps_host_files, records each page as kHostFilePage.
  Status MapHostFile(uint64_t addr, uint64_t length, int prot,
                     const std::shared_ptr<void>& file, int fd,
                     uint64_t offset) override {
    if (!maps_host_files) return Err(ENOTSUP);
    for (uint64_t off = 0; off < length; off += 4096)
      pages[addr + off] = Mapping{kHostFilePage, prot};
    return Ok();
  }
  Status PrepareThread() override { return Ok(); }
  bool ChangeableHere() const override { return changeable; }
  uint64_t PatchedSyscallEntry() const override { return patch_entry; }

  // The frame recorded for a page that MapHostFile mapped.
  static constexpr uint64_t kHostFilePage = ~uint64_t{0};

  std::map<uint64_t, Mapping> pages;  // page address -> mapping
  bool maps_host_files = false;       // accepts MapHostFile
  bool changeable = true;  // false: the caller runs in another process
  bool queues = false;     // accepts MapFileIfQueued
  bool maps_ahead = false;  // accepts MapFileAhead
  uint64_t patch_entry = 0;  // nonzero: system call sites may be patched
  int ahead_calls = 0;
  int map_calls = 0;
  int unmap_calls = 0;
  int protect_calls = 0;
};

class FakePlatform : public Platform {
 public:
  std::string Name() const override { return "fake"; }
  Result<std::shared_ptr<AddressSpace>> NewAddressSpace() override {
    return std::shared_ptr<AddressSpace>(std::make_shared<FakeAddressSpace>());
  }
  std::unique_ptr<Context> NewContext() override { return nullptr; }
};

}  // namespace moat
