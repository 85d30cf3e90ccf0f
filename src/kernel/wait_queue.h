// Wait queues: how a blocked task learns that an object became ready. All
// of it is guarded by the kernel lock.
#pragma once

#include <cstdint>
#include <functional>
#include <list>

namespace moat {

// Event bits, the same as poll(2)'s and epoll(7)'s.
inline constexpr uint32_t kEventIn = 0x001;
inline constexpr uint32_t kEventPri = 0x002;
inline constexpr uint32_t kEventOut = 0x004;
inline constexpr uint32_t kEventErr = 0x008;
inline constexpr uint32_t kEventHup = 0x010;
inline constexpr uint32_t kEventRdHup = 0x2000;

class Waiter {
 public:
  explicit Waiter(std::function<void(uint32_t)> callback, uint32_t mask = ~0u)
      : callback_(std::move(callback)), mask_(mask) {}
  void Notify(uint32_t events) {
    if (events & mask_) callback_(events & mask_);
  }
  uint32_t mask() const { return mask_; }

 private:
  std::function<void(uint32_t)> callback_;
  uint32_t mask_;
};

class WaitQueue {
 public:
  void Add(Waiter* w) { waiters_.push_back(w); }
  void Remove(Waiter* w) { waiters_.remove(w); }
  // Calls every waiter interested in `events`. A waiter may remove itself.
  void Notify(uint32_t events) {
    for (auto it = waiters_.begin(); it != waiters_.end();) {
      Waiter* w = *it++;
      w->Notify(events);
    }
  }
  bool empty() const { return waiters_.empty(); }

 private:
  std::list<Waiter*> waiters_;
};

// Registers a waiter for the lifetime of a scope.
class WaitQueueEntry {
 public:
  WaitQueueEntry(WaitQueue* q, Waiter* w) : q_(q), w_(w) {
    if (q_) q_->Add(w_);
  }
  ~WaitQueueEntry() {
    if (q_) q_->Remove(w_);
  }
  WaitQueueEntry(const WaitQueueEntry&) = delete;
  WaitQueueEntry& operator=(const WaitQueueEntry&) = delete;

 private:
  WaitQueue* q_;
  Waiter* w_;
};

}  // namespace moat
