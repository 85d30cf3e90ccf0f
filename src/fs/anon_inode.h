// Inodes for files that no directory holds: eventfd, timerfd, signalfd,
// epoll and sockets.
#pragma once

#include "vfs/inode.h"

namespace moat {

// An inode with `mode` on the anonymous-inode filesystem. Linux gives
// eventfd and friends mode 0600 without a file type.
InodePtr NewAnonInode(uint32_t mode);

}  // namespace moat
