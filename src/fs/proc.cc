#include "fs/proc.h"

#include "fs/tmpfs.h"

namespace moat {

InodePtr NewProcFs(Kernel&) {
  // TODO: /proc has no entries yet.
  return NewTmpfs(0555);
}

}  // namespace moat
