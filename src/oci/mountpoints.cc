// Mountpoints that a read-only root lacks, made on the host before the
// gofer serves that root read-only. runc also makes them in the bundle's
// root and only then remounts it read-only (runc's
// libcontainer/rootfs_linux.go: prepareRootfs, then finalizeRootfs).
// containerd's CRI plugin relies on this: a pod's sandbox container has a
// read-only root, and the pause image has no /etc/resolv.conf for the bind
// that CRI puts there.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "oci/spec.h"
#include "util/log.h"

namespace moat::oci {
namespace {

// Whether `path` is `dir` or lies below it.
bool Below(const std::string& path, const std::string& dir) {
  if (dir == "/") return true;
  return path.starts_with(dir) &&
         (path.size() == dir.size() || path[dir.size()] == '/');
}

std::vector<std::string> Components(const std::string& path) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    std::string name = path.substr(start, end - start);
    if (!name.empty() && name != ".") out.push_back(name);
    start = end + 1;
  }
  return out;
}

// Makes `name` in `dir` if it is missing: an empty file or a directory.
// A failure is left for the kernel to report as it mounts.
void MakeLast(int dir, const char* name, bool file, const std::string& dest) {
  struct stat st;
  if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT)
    return;
  int result;
  if (file) {
    result = openat(dir, name,
                    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (result >= 0) close(result);
  } else {
    result = mkdirat(dir, name, 0755);
  }
  if (result < 0)
    spdlog::debug("making mountpoint {} in root.path failed: {}", dest,
                  strerror(errno));
}

// Makes the missing directories of `dest` below the directory `dir`, and
// an empty file at the end when `file`, then closes `dir`. It follows no
// symlink, so it cannot leave the root. The kernel resolves a path that
// goes through a symlink later, inside the root.
void MakeBelow(int dir, const std::string& dest, bool file) {
  std::vector<std::string> names = Components(dest);
  for (size_t i = 0; i < names.size() && dir >= 0; i++) {
    const char* name = names[i].c_str();
    if (i + 1 == names.size()) {
      MakeLast(dir, name, file, dest);
      break;
    }
    int flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
    int next = openat(dir, name, flags);
    if (next < 0 && errno == ENOENT && mkdirat(dir, name, 0755) == 0)
      next = openat(dir, name, flags);
    close(dir);
    dir = next;
  }
  if (dir >= 0) close(dir);
}

}  // namespace

void MakeMountPoints(const Spec& spec) {
  // Under a writable root the kernel makes them as it mounts.
  if (!spec.root_readonly) return;
  int root = open(spec.root_path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (root < 0) return;
  for (size_t i = 0; i < spec.mounts.size(); i++) {
    const MountSpec& m = spec.mounts[i];
    // The kernel makes a path inside an earlier mount in that mount.
    bool covered = false;
    for (size_t j = 0; j < i && !covered; j++)
      covered = Below(m.destination, spec.mounts[j].destination);
    if (!covered) MakeBelow(dup(root), m.destination, m.kind == "file");
  }
  close(root);
}

}  // namespace moat::oci
