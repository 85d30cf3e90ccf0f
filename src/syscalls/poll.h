// The temporary signal masks of ppoll, pselect6 and epoll_pwait.
#pragma once

#include "kernel/task.h"
#include "vfs/inode.h"

namespace moat {

// ppoll, pselect6 and epoll_pwait: installs the mask at `addr` (of
// `size` bytes) for the duration of the call, as rt_sigsuspend does. A
// null `addr` changes nothing.
Status SetTemporarySigmask(Task& t, uint64_t addr, uint64_t size);
// Puts the caller's mask back unless `ret` is a restart or EINTR; then
// signal delivery restores it once a handler frame has saved it.
void FinishTemporarySigmask(Task& t, int64_t ret);

}  // namespace moat
