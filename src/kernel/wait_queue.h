// Wait queues: how a blocked task learns that an object became ready. All
// of it is guarded by the kernel lock.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <list>
#include <vector>

namespace moat {

// Event bits, the same as poll(2)'s and epoll(7)'s.
inline constexpr uint32_t kEventIn = 0x001;
inline constexpr uint32_t kEventPri = 0x002;
inline constexpr uint32_t kEventOut = 0x004;
inline constexpr uint32_t kEventErr = 0x008;
inline constexpr uint32_t kEventHup = 0x010;
inline constexpr uint32_t kEventRdHup = 0x2000;

class WaitQueue;

// A waiter records the queues it is on, so either side may be destroyed
// first. A destroyed waiter leaves its queues, and a destroyed queue drops
// its waiters. epoll needs this because its registration may outlive the
// watched file's queue, or the queue may outlive the epoll file.
class Waiter {
 public:
  explicit Waiter(std::function<void(uint32_t)> callback, uint32_t mask = ~0u)
      : callback_(std::move(callback)), mask_(mask) {}
  ~Waiter();
  Waiter(const Waiter&) = delete;
  Waiter& operator=(const Waiter&) = delete;
  void Notify(uint32_t events) {
    if (events & mask_) callback_(events & mask_);
  }
  uint32_t mask() const { return mask_; }
  void set_mask(uint32_t mask) { mask_ = mask; }

 private:
  friend class WaitQueue;
  std::function<void(uint32_t)> callback_;
  uint32_t mask_;
  std::vector<WaitQueue*> queues_;
};

class WaitQueue {
 public:
  WaitQueue() = default;
  WaitQueue(const WaitQueue&) = delete;
  WaitQueue& operator=(const WaitQueue&) = delete;
  ~WaitQueue() {
    for (Waiter* w : waiters_) std::erase(w->queues_, this);
  }
  void Add(Waiter* w) {
    waiters_.push_back(w);
    w->queues_.push_back(this);
  }
  void Remove(Waiter* w) {
    auto it = std::find(waiters_.begin(), waiters_.end(), w);
    if (it == waiters_.end()) return;
    waiters_.erase(it);
    auto q = std::find(w->queues_.begin(), w->queues_.end(), this);
    if (q != w->queues_.end()) w->queues_.erase(q);
  }
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

inline Waiter::~Waiter() {
  while (!queues_.empty()) queues_.back()->Remove(this);
}

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
