// The collector of AF_UNIX sockets kept alive only by files in flight.
// Every function expects the kernel lock held.
#pragma once

#include <chrono>
#include <cstddef>

namespace moat {

class UnixSocket;

void RegisterUnixSocket(UnixSocket* s);
void UnregisterUnixSocket(UnixSocket* s);

// Counts `count` socket descriptors queued by SCM_RIGHTS, which makes the
// next CollectUnixGarbage look for cycles, and schedules one.
void NoteSocketsSent(size_t count);

// Frees every socket that only the queues of unreachable sockets hold,
// with the files in those queues. While sockets stay in flight it runs
// again on the kernel's timer thread, after a growing delay, since the
// close that makes a cycle garbage may drop only a descriptor, not a file.
void CollectUnixGarbage();

// Runs CollectUnixGarbage on the timer thread after `delay`, when sockets
// are in flight. A closing socket calls this, as Linux's unix_release_sock
// starts its collector. The collection runs later, on the timer thread, so
// it never meets a socket that is half closed.
void ScheduleUnixCollection(std::chrono::steady_clock::duration delay);

}  // namespace moat
