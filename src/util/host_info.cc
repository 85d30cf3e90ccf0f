#include "util/host_info.h"

#include <unistd.h>

#include <algorithm>

namespace moat {

int HostCpuCount() {
  static const int count =
      std::max<int>(1, static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN)));
  return count;
}

}  // namespace moat
