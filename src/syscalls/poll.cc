// poll(2), ppoll(2), select(2) and pselect6(2).
#include "syscalls/poll.h"

#include <poll.h>
#include <sys/select.h>

#include <vector>

#include "fs/epoll.h"
#include "syscalls/handlers.h"
#include "syscalls/util.h"

namespace moat {
namespace {

// The bits select(2) counts for each of its sets (Linux fs/select.c).
constexpr uint32_t kSelectIn = POLLRDNORM | POLLRDBAND | POLLIN | POLLHUP |
                               POLLERR;
constexpr uint32_t kSelectOut = POLLWRBAND | POLLWRNORM | POLLOUT | POLLERR;
constexpr uint32_t kSelectEx = POLLPRI;

struct PollEntry {
  FilePtr file;  // null for a negative or bad descriptor
  uint32_t events = 0;
  uint32_t revents = 0;
};

using Deadline = std::optional<Clock::time_point>;

int CheckEntries(std::vector<PollEntry>& entries) {
  int ready = 0;
  for (auto& e : entries) {
    if (!e.file) continue;
    e.revents = PollReadiness(*e.file, e.events);
    if (e.revents) ready++;
  }
  return ready;
}

// Waits until an entry is ready, the deadline passes, or a signal comes.
// Returns the number of ready entries, or -EINTR.
int64_t WaitEntries(Task& t, std::vector<PollEntry>& entries,
                    Deadline deadline) {
  // One waiter on every queue, registered before the first check so that
  // no change between the check and Block is missed.
  Waiter waiter([&t](uint32_t) { t.Wake(); });
  for (auto& e : entries)
    if (e.file)
      if (WaitQueue* q = e.file->Queue()) q->Add(&waiter);
  for (;;) {
    int ready = CheckEntries(entries);
    if (ready) return ready;
    if (deadline && Clock::now() >= *deadline) return 0;
    BlockResult r = t.Block(deadline);
    if (r == BlockResult::kTimedOut) return CheckEntries(entries);
    if (r == BlockResult::kInterrupted) return -EINTR;
  }
}

Deadline DeadlineAfter(std::chrono::nanoseconds d) {
  return Clock::now() + std::chrono::duration_cast<Clock::duration>(d);
}

struct timespec Remaining(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(
                  deadline - Clock::now()).count();
  if (left < 0) left = 0;
  return {time_t(left / 1000000000), long(left % 1000000000)};
}

// Copies in a pollfd array and looks up its files. Bad descriptors get
// POLLNVAL at once.
Result<std::vector<PollEntry>> LoadPollFds(Task& t, uint64_t addr,
                                           uint64_t nfds,
                                           std::vector<struct pollfd>* fds) {
  if (nfds > NofileLimit(t)) return Err(EINVAL);
  fds->resize(nfds);
  TRY_STATUS(t.mm().CopyIn(addr, fds->data(), nfds * sizeof(struct pollfd)));
  std::vector<PollEntry> entries(nfds);
  for (size_t i = 0; i < nfds; i++) {
    (*fds)[i].revents = 0;
    if ((*fds)[i].fd < 0) continue;
    entries[i].file = GetFile(t, (*fds)[i].fd);
    entries[i].events = uint16_t((*fds)[i].events) | POLLERR | POLLHUP;
  }
  return entries;
}

// Polls, and copies the results out. Returns the count, -EINTR or -errno.
int64_t DoPoll(Task& t, uint64_t addr, uint64_t nfds, Deadline deadline) {
  std::vector<struct pollfd> fds;
  auto entries = LoadPollFds(t, addr, nfds, &fds);
  if (!entries.ok()) return -entries.error();
  int invalid = 0;
  for (size_t i = 0; i < nfds; i++)
    if (fds[i].fd >= 0 && !entries->at(i).file) invalid++;
  int64_t ret = invalid ? CheckEntries(*entries)
                        : WaitEntries(t, *entries, deadline);
  if (ret < 0) return ret;
  ret = 0;
  for (size_t i = 0; i < nfds; i++) {
    if (fds[i].fd < 0) continue;
    fds[i].revents = entries->at(i).file ? entries->at(i).revents : POLLNVAL;
    if (fds[i].revents) ret++;
  }
  if (!t.mm().CopyOut(addr, fds.data(), nfds * sizeof(struct pollfd)).ok())
    return -EFAULT;
  return ret;
}

int64_t PollRestartable(Task& t, uint64_t addr, uint64_t nfds,
                        Deadline deadline) {
  int64_t ret = DoPoll(t, addr, nfds, deadline);
  if (ret != -EINTR) return ret;
  // Without a handler the call resumes, to the same deadline, through
  // restart_syscall (Linux fs/select.c:do_restart_poll).
  t.restart_block = [addr, nfds, deadline](Task& task) {
    return PollRestartable(task, addr, nfds, deadline);
  };
  return kERestartBlock;
}

// The size of the descriptor table as Linux would have grown it to hold
// the open descriptors: select(2) never looks past it.
int SelectLimit(Task& t) {
  int highest = t.fds->entries().empty() ? 0 : t.fds->entries().rbegin()->first;
  if (highest < 64) return 64;
  int n = 1;
  while (n < highest / 128 + 1) n <<= 1;
  return 128 * n;
}

struct FdSets {
  std::vector<uint64_t> bits[3];  // in, out, exceptions
};

Result<int64_t> DoSelect(Task& t, int nfds, const uint64_t addrs[3],
                         Deadline deadline) {
  if (nfds < 0) return Err(EINVAL);
  nfds = std::min(nfds, SelectLimit(t));
  size_t words = (size_t(nfds) + 63) / 64;
  FdSets sets;
  for (int s = 0; s < 3; s++) {
    sets.bits[s].assign(words, 0);
    if (addrs[s])
      TRY_STATUS(t.mm().CopyIn(addrs[s], sets.bits[s].data(), words * 8));
  }
  std::vector<PollEntry> entries;
  std::vector<int> fds;
  for (int fd = 0; fd < nfds; fd++) {
    uint32_t events = 0;
    uint64_t bit = 1ull << (fd % 64);
    if (sets.bits[0][fd / 64] & bit) events |= kSelectIn;
    if (sets.bits[1][fd / 64] & bit) events |= kSelectOut;
    if (sets.bits[2][fd / 64] & bit) events |= kSelectEx;
    if (!events) continue;
    FilePtr f = GetFile(t, fd);
    if (!f) return Err(EBADF);
    entries.push_back({f, events, 0});
    fds.push_back(fd);
  }
  int64_t ret = WaitEntries(t, entries, deadline);
  if (ret < 0) return Err(-ret);
  FdSets out;
  for (auto& b : out.bits) b.assign(words, 0);
  ret = 0;
  for (size_t i = 0; i < entries.size(); i++) {
    uint32_t r = entries[i].revents;
    uint32_t want = entries[i].events;
    int fd = fds[i];
    uint32_t masks[3] = {kSelectIn, kSelectOut, kSelectEx};
    for (int s = 0; s < 3; s++) {
      if ((want & masks[s]) && (r & masks[s])) {
        out.bits[s][fd / 64] |= 1ull << (fd % 64);
        ret++;
      }
    }
  }
  for (int s = 0; s < 3; s++)
    if (addrs[s])
      TRY_STATUS(t.mm().CopyOut(addrs[s], out.bits[s].data(), words * 8));
  return ret;
}

// select and pselect6 report the time left (Linux
// fs/select.c:poll_select_finish); a zero or absent timeout stays as is.
template <typename TimeT>
int64_t FinishSelect(Task& t, int64_t ret, uint64_t timeout_addr,
                     Deadline deadline, bool zero_timeout) {
  if (ret == -EINTR) ret = kERestartNoHand;
  if (!deadline || zero_timeout || !timeout_addr) return ret;
  struct timespec left = Remaining(*deadline);
  Status s;
  if constexpr (std::is_same_v<TimeT, struct timeval>) {
    struct timeval tv = {left.tv_sec, left.tv_nsec / 1000};
    s = t.mm().Write(timeout_addr, tv);
  } else {
    s = t.mm().Write(timeout_addr, left);
  }
  // Without the update a restart would wait the whole time again.
  if (!s.ok() && ret == kERestartNoHand) ret = -EINTR;
  return ret;
}

}  // namespace

Status SetTemporarySigmask(Task& t, uint64_t addr, uint64_t size) {
  if (!addr) return Ok();
  if (size != sizeof(SignalSet)) return Err(EINVAL);
  SignalSet mask = TRY(t.mm().Read<SignalSet>(addr));
  t.saved_mask = t.blocked;
  t.blocked = mask & ~kUnblockable;
  return Ok();
}

void FinishTemporarySigmask(Task& t, int64_t ret) {
  if (ret == -EINTR || ret == kERestartNoHand || ret == kERestartSys ||
      ret == kERestartBlock)
    return;
  if (t.saved_mask) {
    t.blocked = *t.saved_mask;
    t.saved_mask.reset();
  }
}

// Implements poll(2).
int64_t Poll(Task& t, const SyscallArgs& args) {
  int timeout_ms = args.Int(2);
  Deadline deadline;
  if (timeout_ms >= 0)
    deadline = DeadlineAfter(std::chrono::milliseconds(timeout_ms));
  return PollRestartable(t, args[0], args[1], deadline);
}

// Implements ppoll(2).
int64_t Ppoll(Task& t, const SyscallArgs& args) {
  Deadline deadline;
  bool zero = false;
  if (args[2]) {
    auto ts = CopyInTimespec(t, args[2]);
    if (!ts.ok()) return -ts.error();
    deadline = DeadlineFromTimespec(ts.value());
    zero = ts->tv_sec == 0 && ts->tv_nsec == 0;
  }
  Status s = SetTemporarySigmask(t, args[3], args[4]);
  if (!s.ok()) return -s.error();
  int64_t ret = DoPoll(t, args[0], args[1], deadline);
  ret = FinishSelect<struct timespec>(t, ret, args[2], deadline, zero);
  FinishTemporarySigmask(t, ret);
  return ret;
}

// Implements select(2).
int64_t Select(Task& t, const SyscallArgs& args) {
  Deadline deadline;
  bool zero = false;
  if (args[4]) {
    auto tv = t.mm().Read<struct timeval>(args[4]);
    if (!tv.ok()) return -EFAULT;
    if (tv->tv_sec < 0 || tv->tv_usec < 0) return -EINVAL;
    auto d = std::chrono::seconds(tv->tv_sec) +
             std::chrono::microseconds(tv->tv_usec);
    deadline = DeadlineFromTimespec(
        {time_t(d.count() / 1000000), long(d.count() % 1000000) * 1000});
    zero = d.count() == 0;
  }
  uint64_t addrs[3] = {args[1], args[2], args[3]};
  auto r = DoSelect(t, args.Int(0), addrs, deadline);
  return FinishSelect<struct timeval>(t, ToReturn(r), args[4], deadline,
                                      zero);
}

// Implements pselect6(2).
int64_t Pselect6(Task& t, const SyscallArgs& args) {
  Deadline deadline;
  bool zero = false;
  if (args[4]) {
    auto ts = CopyInTimespec(t, args[4]);
    if (!ts.ok()) return -ts.error();
    deadline = DeadlineFromTimespec(ts.value());
    zero = ts->tv_sec == 0 && ts->tv_nsec == 0;
  }
  // The sixth argument points to {const sigset_t* set; size_t size}.
  uint64_t mask_addr = 0, mask_size = 0;
  if (args[5]) {
    auto pair = t.mm().Read<std::array<uint64_t, 2>>(args[5]);
    if (!pair.ok()) return -EFAULT;
    mask_addr = pair.value()[0];
    mask_size = pair.value()[1];
  }
  Status s = SetTemporarySigmask(t, mask_addr, mask_size);
  if (!s.ok()) return -s.error();
  uint64_t addrs[3] = {args[1], args[2], args[3]};
  auto r = DoSelect(t, args.Int(0), addrs, deadline);
  int64_t ret =
      FinishSelect<struct timespec>(t, ToReturn(r), args[4], deadline, zero);
  FinishTemporarySigmask(t, ret);
  return ret;
}

}  // namespace moat
