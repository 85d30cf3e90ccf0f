// Signal state: dispositions, pending queues and masks.
#pragma once

#include <signal.h>

#include <array>
#include <cstdint>
#include <deque>

namespace moat {

inline constexpr int kMaxSignal = 64;

// A 64-bit signal set as the kernel ABI passes it: bit N-1 is signal N.
using SignalSet = uint64_t;
inline SignalSet SigBit(int sig) { return 1ull << (sig - 1); }
inline constexpr SignalSet kUnblockable = (1ull << (SIGKILL - 1)) |
                                          (1ull << (SIGSTOP - 1));

// struct sigaction as rt_sigaction(2) passes it on x86-64.
struct KernelSigaction {
  uint64_t handler = 0;  // SIG_DFL (0), SIG_IGN (1) or an address
  uint64_t flags = 0;
  uint64_t restorer = 0;
  SignalSet mask = 0;
};

struct SignalHandlers {
  std::array<KernelSigaction, kMaxSignal + 1> actions{};
};

// Pending signals with their siginfo. Standard signals queue at most once;
// real-time ones queue every instance.
class PendingSignals {
 public:
  bool Enqueue(const siginfo_t& info);
  // Removes and returns the lowest pending signal not in `blocked`.
  bool Dequeue(SignalSet blocked, siginfo_t* info);
  bool DequeueSignal(int sig, siginfo_t* info);
  SignalSet set() const { return set_; }
  // The queued signal of POSIX timer `id`, or null.
  siginfo_t* FindTimer(int id);
  void Discard(int sig);

 private:
  SignalSet set_ = 0;
  std::deque<siginfo_t> queue_;
};

enum class DefaultAction { kTerminate, kCoreDump, kIgnore, kStop, kContinue };
DefaultAction DefaultActionOf(int sig);

}  // namespace moat
