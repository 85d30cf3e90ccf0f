// /proc, built from kernel state. Nothing here reads the host's /proc.
#pragma once

#include "vfs/inode.h"

namespace moat {

class Kernel;

// Returns the root directory of a new procfs instance for `kernel`.
InodePtr NewProcFs(Kernel& kernel);

}  // namespace moat
