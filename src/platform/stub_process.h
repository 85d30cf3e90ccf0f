// The first steps of a freshly forked stub on either platform: shedding
// the parts of moat's own process that a stub must not keep.
#pragma once

namespace moat {

// Leaves the terminal's session and resets every signal to its default,
// with SIGCHLD ignored since the host reaps stub threads. Sets the death
// signal so that the stub dies with the kernel. Unregisters glibc's rseq
// area, which is about to be unmapped: the host would fault writing it on
// the next preemption. Closes every descriptor but the MemoryFile's. Runs
// in the child of fork(), so it only makes system calls.
void ShedInheritedState(int memory_fd);

}  // namespace moat
