#include "platform/platform.h"

#include "platform/ptrace/ptrace_platform.h"
#include "platform/trap/trap_platform.h"

namespace moat {

Result<std::unique_ptr<Platform>> NewPlatform(const std::string& name,
                                              bool patching) {
  if (name == "ptrace") {
    auto p = TRY(PtracePlatform::Create());
    return std::unique_ptr<Platform>(std::move(p));
  }
  if (name == "trap") {
    auto p = TRY(TrapPlatform::Create(patching));
    return std::unique_ptr<Platform>(std::move(p));
  }
  return Err(EINVAL);
}

}  // namespace moat
