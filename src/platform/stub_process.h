// What both platforms do in a freshly forked stub before it copies in its
// code: the parts of moat's own process it must not keep.
#pragma once

namespace moat {

// Leaves the terminal's session, resets every signal to its default with
// SIGCHLD ignored (the host reaps stub threads), dies with the kernel,
// unregisters glibc's rseq area (which is about to be unmapped; the host
// would fault writing it on the next preemption) and closes every
// descriptor but the MemoryFile's. Runs in the child of fork(), so it only
// makes system calls.
void ShedInheritedState(int memory_fd);

}  // namespace moat
