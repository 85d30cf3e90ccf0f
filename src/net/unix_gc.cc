// Collecting AF_UNIX sockets that only files in flight keep alive, after
// Linux net/unix/garbage.c. A socket whose receive queue contains, through
// SCM_RIGHTS, a descriptor of itself, or of a socket whose queue contains
// it, stays alive after the program closes every descriptor, although no
// process can ever receive those messages. Without a collector such cycles keep their
// memory, and every file they hold, until the sandbox ends.
#include "net/unix_gc.h"

#include <algorithm>
#include <mutex>
#include <set>
#include <unordered_map>
#include <vector>

#include "kernel/kernel.h"
#include "net/unix.h"

namespace moat {
namespace {

// A socket still in flight after a collection is looked at again after
// this long, twice as long each time up to kMaxRecheck, so that a cycle
// whose last descriptor closes later is found too.
constexpr auto kFirstRecheck = std::chrono::milliseconds(50);
constexpr auto kMaxRecheck = std::chrono::seconds(2);

struct Registry {
  std::mutex mu;  // sockets are made and freed on any thread
  std::set<UnixSocket*> sockets;
  bool collecting = false;
  size_t sent_since_collection = 0;
  bool scheduled = false;
  Clock::duration recheck = kFirstRecheck;
};

Registry& Sockets() {
  static Registry* r = new Registry();
  return *r;
}

// The messages a socket's owner could still receive: its own queue and
// those of the connections waiting in its accept queue.
template <typename F>
void ForEachQueuedFile(UnixEndpoint& e, F f) {
  for (auto& m : e.messages)
    for (auto& file : m.fds) f(file);
  for (auto& embryo : e.accept_queue)
    for (auto& m : embryo->messages)
      for (auto& file : m.fds) f(file);
}

UnixSocket* AsSocket(const FilePtr& file) {
  auto* s = dynamic_cast<UnixSocket*>(file.get());
  return s;
}

struct InFlight {
  const FilePtr* any = nullptr;  // one of the queued references
  long queued = 0;    // references from queues of any socket
  long internal = 0;  // references from queues of candidates
  bool live = false;
};

// Finds the garbage among `sockets`: sockets that queues hold and nothing
// else does, and that no live socket's queue can reach.
std::vector<FilePtr> FindGarbage(const std::set<UnixSocket*>& sockets) {
  std::unordered_map<UnixSocket*, InFlight> flight;
  for (UnixSocket* s : sockets) {
    ForEachQueuedFile(s->endpoint(), [&](const FilePtr& file) {
      if (UnixSocket* q = AsSocket(file)) {
        flight[q].any = &file;
        flight[q].queued++;
      }
    });
  }
  // A candidate has no reference but those in queues: no descriptor,
  // no task, no epoll set.

  std::vector<UnixSocket*> candidates;
  for (auto& [s, f] : flight)
    if (f.any->use_count() == f.queued) candidates.push_back(s);
  for (UnixSocket* c : candidates) {
    ForEachQueuedFile(c->endpoint(), [&](const FilePtr& file) {
      auto it = flight.find(AsSocket(file));
      if (it != flight.end()) it->second.internal++;
    });
  }

  // Held from outside the candidates' queues: live, with all it reaches.
  std::vector<UnixSocket*> work;
  for (UnixSocket* c : candidates) {
    InFlight& f = flight[c];
    if (f.queued > f.internal) {
      f.live = true;
      work.push_back(c);
    }
  }
  while (!work.empty()) {
    UnixSocket* s = work.back();
    work.pop_back();
    ForEachQueuedFile(s->endpoint(), [&](const FilePtr& file) {
      auto it = flight.find(AsSocket(file));
      if (it == flight.end() || it->second.live) return;
      it->second.live = true;
      work.push_back(it->first);
    });
  }
  std::vector<FilePtr> garbage;
  for (UnixSocket* c : candidates) {
    InFlight& f = flight[c];
    if (!f.live && f.queued == f.internal) garbage.push_back(*f.any);
  }
  return garbage;
}

}  // namespace

void RegisterUnixSocket(UnixSocket* s) {
  std::lock_guard lock(Sockets().mu);
  Sockets().sockets.insert(s);
}

void UnregisterUnixSocket(UnixSocket* s) {
  std::lock_guard lock(Sockets().mu);
  Sockets().sockets.erase(s);
}

void NoteSocketsSent(size_t count) {
  {
    std::lock_guard lock(Sockets().mu);
    Sockets().sent_since_collection += count;
    Sockets().recheck = kFirstRecheck;
  }
  ScheduleUnixCollection(kFirstRecheck);
}

void ScheduleUnixCollection(Clock::duration delay) {
  Registry& r = Sockets();
  {
    std::lock_guard lock(r.mu);
    if (r.scheduled || r.sent_since_collection == 0) return;
    r.scheduled = Kernel::current != nullptr;
  }
  if (Kernel::current == nullptr) {
    CollectUnixGarbage();  // unit tests, which run no kernel
    return;
  }
  Kernel::current->AddTimer(Clock::now() + delay, [] {
    {
      std::lock_guard lock(Sockets().mu);
      Sockets().scheduled = false;
    }
    CollectUnixGarbage();
  });
}

void CollectUnixGarbage() {
  Registry& r = Sockets();
  std::vector<FilePtr> garbage;
  {
    std::lock_guard lock(r.mu);
    // Freeing garbage closes sockets, which calls here again.
    if (r.collecting || r.sent_since_collection == 0) return;
    r.collecting = true;
    garbage = FindGarbage(r.sockets);
  }
  // `garbage` keeps a reference to every socket while the queues are
  // emptied, so no socket is freed while its own queue is being emptied.
  std::vector<UnixMessage> dropped;
  for (auto& file : garbage) {
    UnixEndpoint& e = static_cast<UnixSocket&>(*file).endpoint();
    auto take = [&](UnixEndpoint& from) {
      for (auto& m : from.messages) dropped.push_back(std::move(m));
      from.messages.clear();
      from.queued_bytes = 0;
    };
    take(e);
    for (auto& embryo : e.accept_queue) take(*embryo);
  }
  dropped.clear();
  garbage.clear();

  std::lock_guard lock(r.mu);
  r.collecting = false;
  // Sockets still in flight are counted again, so the next close looks.
  r.sent_since_collection = 0;
  for (UnixSocket* s : r.sockets) {
    ForEachQueuedFile(s->endpoint(), [&](const FilePtr& file) {
      if (AsSocket(file)) r.sent_since_collection++;
    });
  }
  if (r.sent_since_collection == 0 || r.scheduled || !Kernel::current) return;
  r.scheduled = true;
  auto delay = r.recheck;
  r.recheck = std::min<Clock::duration>(2 * r.recheck, kMaxRecheck);
  Kernel::current->AddTimer(Clock::now() + delay, [] {
    {
      std::lock_guard lock(Sockets().mu);
      Sockets().scheduled = false;
    }
    CollectUnixGarbage();
  });
}

}  // namespace moat
