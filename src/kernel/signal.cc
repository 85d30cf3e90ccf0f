#include "kernel/signal.h"

namespace moat {

bool PendingSignals::Enqueue(const siginfo_t& info) {
  int sig = info.si_signo;
  if (sig < SIGRTMIN && (set_ & SigBit(sig))) return false;  // coalesced
  set_ |= SigBit(sig);
  queue_.push_back(info);
  return true;
}

bool PendingSignals::Dequeue(SignalSet blocked, siginfo_t* info) {
  SignalSet ready = set_ & ~blocked;
  if (ready == 0) return false;
  // Lowest number first, except that SIGKILL and SIGSTOP jump the queue.
  int sig = __builtin_ctzll(ready) + 1;
  if (ready & SigBit(SIGKILL)) sig = SIGKILL;
  return DequeueSignal(sig, info);
}

bool PendingSignals::DequeueSignal(int sig, siginfo_t* info) {
  bool found = false;
  bool more = false;
  for (auto it = queue_.begin(); it != queue_.end();) {
    if (it->si_signo != sig) {
      ++it;
      continue;
    }
    if (found) {
      more = true;
      break;
    }
    *info = *it;
    it = queue_.erase(it);
    found = true;
  }
  if (!more) set_ &= ~SigBit(sig);
  return found;
}

siginfo_t* PendingSignals::FindTimer(int id) {
  for (auto& info : queue_)
    if (info.si_code == SI_TIMER && info.si_timerid == id) return &info;
  return nullptr;
}

void PendingSignals::Discard(int sig) {
  std::erase_if(queue_, [sig](auto& i) { return i.si_signo == sig; });
  set_ &= ~SigBit(sig);
}

DefaultAction DefaultActionOf(int sig) {
  switch (sig) {
    case SIGCHLD: case SIGURG: case SIGWINCH:
      return DefaultAction::kIgnore;
    case SIGSTOP: case SIGTSTP: case SIGTTIN: case SIGTTOU:
      return DefaultAction::kStop;
    case SIGCONT:
      return DefaultAction::kContinue;
    case SIGQUIT: case SIGILL: case SIGTRAP: case SIGABRT: case SIGBUS:
    case SIGFPE: case SIGSEGV: case SIGXCPU: case SIGXFSZ: case SIGSYS:
      return DefaultAction::kCoreDump;
    default:
      return DefaultAction::kTerminate;
  }
}

}  // namespace moat
