#include "fs/eventfd.h"

#include <cstring>

#include "fs/anon_inode.h"

namespace moat {
namespace {

// The counter never reaches this: a write that would get there blocks
// (Linux fs/eventfd.c:eventfd_write).
constexpr uint64_t kCountMax = UINT64_MAX;

}  // namespace

EventFd::EventFd(uint64_t initial, bool semaphore)
    : count_(initial), semaphore_(semaphore) {
  inode = NewAnonInode(S_IRUSR | S_IWUSR);
}

Result<size_t> EventFd::Read(Task&, void* buf, size_t len) {
  if (len < sizeof(uint64_t)) return Err(EINVAL);
  if (count_ == 0) return Err(EAGAIN);
  uint64_t value = semaphore_ ? 1 : count_;
  count_ -= value;
  memcpy(buf, &value, sizeof(value));
  queue_.Notify(kEventOut);
  return sizeof(value);
}

Result<size_t> EventFd::Write(Task&, const void* buf, size_t len) {
  if (len < sizeof(uint64_t)) return Err(EINVAL);
  uint64_t value;
  memcpy(&value, buf, sizeof(value));
  if (value == kCountMax) return Err(EINVAL);
  if (kCountMax - count_ <= value) return Err(EAGAIN);
  count_ += value;
  if (value) queue_.Notify(kEventIn);
  return sizeof(value);
}

uint32_t EventFd::Readiness(uint32_t mask) {
  uint32_t ready = 0;
  if (count_ > 0) ready |= kEventIn;
  if (count_ < kCountMax - 1) ready |= kEventOut;
  return ready & mask;
}

}  // namespace moat
