// /proc, built from kernel state. Nothing here reads the host's /proc.
#pragma once

#include "vfs/inode.h"

namespace moat {

class Kernel;

// Returns the root directory of a new procfs instance for `kernel`.
InodePtr NewProcFs(Kernel& kernel);

// Makes a /sys with Linux's layout and the CPU files, nothing of the host.
InodePtr NewSysFs(Kernel& kernel);

}  // namespace moat
