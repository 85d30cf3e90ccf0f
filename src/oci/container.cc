#include "oci/container.h"

#include <linux/audit.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <thread>

#include "fs/dev.h"
#include "fs/devpts.h"
#include "fs/gofer_fs.h"
#include "fs/proc.h"
#include "fs/tmpfs.h"
#include "kernel/seccomp.h"
#include "kernel/seccomp_bpf.h"
#include "util/log.h"

namespace moat::oci {
namespace {

// The largest spec the front end may hand over.
constexpr size_t kMaxSpec = 64 << 20;

std::shared_ptr<Dentry> RootDentry(InodePtr inode) {
  return std::make_shared<Dentry>("", nullptr, std::move(inode));
}

// Resolves `path`, making what is missing of it: directories, and for a
// file mount an empty file at the end, as runc does in the bundle's root.
Result<Path> MountPoint(Task& init, const std::string& path, bool file) {
  Path at = init.fs->root;
  Credentials root;
  size_t start = 1;
  while (start < path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    std::string name = path.substr(start, end - start);
    start = end + 1;
    if (name.empty() || name == ".") continue;
    auto next = ResolvePath(init, at, name, {});
    if (!next.ok()) {
      bool last = start >= path.size();
      auto made = last && file ? at.inode().Create(name, S_IFREG | 0644, root)
                               : at.inode().Mkdir(name, 0755, root);
      if (!made.ok()) return Err(made.error());
      next = LookupChild(init, at, name);
      if (!next.ok()) return Err(next.error());
    }
    at = next.value();
  }
  return at;
}

// A read-only or writable regular file holding `contents`, on a tmpfs of
// its own.
Result<InodePtr> FileWith(Task& init, const std::string& contents) {
  auto fs = NewTmpfs(0755);
  Credentials root;
  auto node = fs->Create("file", S_IFREG | 0644, root);
  if (!node.ok()) return Err(node.error());
  auto file = node.value()->Open(O_RDWR);
  if (!file.ok()) return Err(file.error());
  if (!contents.empty()) {
    auto n = file.value()->PWrite(init, contents.data(), contents.size(), 0);
    if (!n.ok()) return Err(n.error());
  }
  return node.value();
}

// A bind of a host directory that the sandbox already serves through
// `first`: another mount of the same dentries, as bind mounts are.
Status BindAgain(Task& init, const MountSpec& m,
                 const std::shared_ptr<Mount>& first) {
  auto at = MountPoint(init, m.destination, false);
  if (!at.ok()) return Err(at.error());
  auto mount = std::make_shared<Mount>(*first);
  mount->expiry_mark = false;
  mount->nosuid = m.nosuid;
  mount->nodev = m.nodev;
  mount->noexec = m.noexec;
  init.mount_ns->Attach(mount, at.value());
  return {};
}

// The root inode and filesystem type of one mount entry.
Result<std::pair<InodePtr, std::string>> MountSource(
    Kernel& k, Task& init, const MountSpec& m,
    const std::shared_ptr<gofer::Client>& client) {
  using Pair = std::pair<InodePtr, std::string>;
  if (m.kind == "proc") return Pair{NewProcFs(k), "proc"};
  if (m.kind == "sysfs") return Pair{NewSysFs(k), "sysfs"};
  if (m.kind == "dev") return Pair{NewDevFs(), "devtmpfs"};
  if (m.kind == "devpts") return Pair{NewDevpts(), "devpts"};
  if (m.kind == "cgroup") return Pair{NewTmpfs(0555), "tmpfs"};
  if (m.kind == "tmpfs" || m.kind == "mqueue")
    return Pair{NewTmpfs(m.mode), "tmpfs"};
  if (m.kind == "file") {
    auto f = FileWith(init, m.contents);
    if (!f.ok()) return Err(f.error());
    return Pair{f.value(), "tmpfs"};
  }
  auto dir = GoferInode::Attach(client, m.gofer_root, m.read_only);
  if (!dir.ok()) return Err(dir.error());
  return Pair{dir.value(), "bind"};
}

Status MountEntry(Kernel& k, Task& init, const MountSpec& m,
                  const std::shared_ptr<gofer::Client>& client,
                  SharedBinds& binds) {
  std::shared_ptr<Mount>* shared = nullptr;
  if (m.kind == "bind") shared = &binds[{m.source, m.read_only}];
  if (shared && *shared) return BindAgain(init, m, *shared);
  auto source = MountSource(k, init, m, client);
  if (!source.ok()) {
    spdlog::error("mount {} on {}: {}", m.kind, m.destination,
                  strerror(source.error()));
    return Err(source.error());
  }
  auto at = MountPoint(init, m.destination, m.kind == "file");
  if (!at.ok()) {
    spdlog::error("mount {} on {}: the mountpoint cannot be made: {}",
                  m.kind, m.destination, strerror(at.error()));
    return Err(at.error());
  }
  auto& [inode, fstype] = source.value();
  std::shared_ptr<SuperBlock> sb;
  if (auto* t = dynamic_cast<TmpfsInode*>(inode.get())) sb = t->fs();
  auto mount =
      init.mount_ns->AddMount(at.value(), RootDentry(inode), fstype,
                              m.kind == "bind" ? m.source : fstype, sb);
  mount->read_only = m.read_only || m.kind == "cgroup";
  mount->nosuid = m.nosuid;
  mount->nodev = m.nodev;
  mount->noexec = m.noexec;
  if (shared) *shared = mount;
  return {};
}

// maskedPaths: an empty directory or file over each one that exists.
void MaskPath(Task& init, const std::string& path) {
  auto p = ResolvePath(init, init.fs->root, path, {});
  if (!p.ok()) return;
  InodePtr cover;
  if (p->inode().IsDir()) {
    cover = NewTmpfs(0555);
  } else if (auto f = FileWith(init, ""); f.ok()) {
    cover = f.value();
  }
  if (!cover) return;
  auto m =
      init.mount_ns->AddMount(p.value(), RootDentry(cover), "tmpfs", "tmpfs");
  m->read_only = true;
}

// readonlyPaths: a read-only bind of each one that exists onto itself.
void MakeReadOnly(Task& init, const std::string& path) {
  auto p = ResolvePath(init, init.fs->root, path, {});
  if (!p.ok()) return;
  auto m = std::make_shared<Mount>(*p->mount);
  m->root = p->dentry;
  m->read_only = true;
  m->expiry_mark = false;
  init.mount_ns->Attach(m, p.value());
}

}  // namespace

std::unique_ptr<Container> Container::Load(int spec_fd, int control_fd) {
  std::string text;
  char buf[65536];
  for (off_t off = 0; text.size() < kMaxSpec;) {
    ssize_t n = pread(spec_fd, buf, sizeof buf, off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buf, n);
    off += n;
  }
  close(spec_fd);
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded()) {
    spdlog::error("the container's spec did not reach the kernel whole");
    return nullptr;
  }
  std::unique_ptr<Container> c(new Container);
  c->spec_ = SpecFromJson(j);
  c->control_fd_ = control_fd;
  return c;
}

Status BuildMounts(Kernel& k, Task& init, const Spec& spec, InodePtr root,
                   const std::shared_ptr<gofer::Client>& client,
                   SharedBinds& binds) {
  auto root_mount = std::make_shared<Mount>();
  root_mount->root = RootDentry(std::move(root));
  root_mount->fstype = "bind";
  root_mount->source = spec.root_path;
  root_mount->read_only = spec.root_readonly;
  init.mount_ns = std::make_shared<MountNamespace>(root_mount);
  init.fs->root = Path{root_mount, root_mount->root};
  init.fs->cwd = init.fs->root;
  for (const MountSpec& m : spec.mounts)
    TRY_STATUS(MountEntry(k, init, m, client, binds));
  for (const auto& p : spec.masked_paths) MaskPath(init, p);
  for (const auto& p : spec.readonly_paths) MakeReadOnly(init, p);
  return {};
}

Status Container::SetupMounts(Kernel& k, Task& init, InodePtr root,
                              std::shared_ptr<gofer::Client> client) {
  TRY_STATUS(BuildMounts(k, init, spec_, std::move(root), client, binds_));
  k.mounts = init.mount_ns;
  return {};
}

void ApplyProcess(const Process& p, Task& t) {
  Credentials& c = t.creds;
  c.ruid = c.euid = c.suid = c.fsuid = p.uid;
  c.rgid = c.egid = c.sgid = c.fsgid = p.gid;
  c.groups = p.additional_gids;
  if (p.has_capabilities) {
    c.cap_effective = p.cap_effective;
    c.cap_permitted = p.cap_permitted;
    c.cap_inheritable = p.cap_inheritable;
    c.cap_bounding = p.cap_bounding;
  } else if (p.uid != 0) {
    c.cap_effective = c.cap_permitted = 0;
  }
  t.no_new_privs = p.no_new_privileges;
  if (p.umask >= 0) t.fs->umask = p.umask & 0777;
  for (const Rlimit& r : p.rlimits)
    t.tg().rlimits[r.resource] = {r.soft, r.hard};
}

namespace {

// Fails the start when the task's filter would not allow an execve. runc
// attaches the filter right before its execve of the process, so the filter
// judges that execve too, while moat loads the program itself. An ERRNO
// verdict fails the start with that errno, as runc's exec would fail. A
// kill or trap fails it with EPERM, where runc's process would die of
// SIGSYS once started. The execve's arguments are unknown here and read
// as 0.
Status CheckFirstExec(Task& t) {
  seccomp_data data = {};
  data.nr = SYS_execve;
  data.arch = AUDIT_ARCH_X86_64;
  uint32_t verdict = SeccompVerdict(t, data);
  uint32_t action = verdict & SECCOMP_RET_ACTION_FULL;
  if (action == SECCOMP_RET_ALLOW || action == SECCOMP_RET_LOG) return Ok();
  int error = action == SECCOMP_RET_ERRNO
                  ? std::clamp<int>(verdict & SECCOMP_RET_DATA, 1, 4095)
                  : EPERM;
  spdlog::error("linux.seccomp: the profile fails execve, so the program "
                "cannot start: {}",
                action == SECCOMP_RET_ERRNO ? strerror(error)
                                            : "the call would kill or trap");
  return Err(error);
}

}  // namespace

Status ApplySeccomp(const SeccompProgram& seccomp, Task& t) {
  if (seccomp.instructions.empty()) return Ok();
  std::vector<sock_filter> program;
  for (uint64_t packed : seccomp.instructions)
    program.push_back(UnpackInstruction(packed));
  if (Status s = CheckSeccompProgram(program); !s.ok()) {
    spdlog::error("linux.seccomp: the kernel rejected the filter that the "
                  "front end compiled, which is a bug in moat");
    return s;
  }
  // Attached as runc attaches it, whether or not the process has
  // no_new_privs, because runc still has CAP_SYS_ADMIN at that point. The
  // process has no other threads yet, so TSYNC has nothing to do.
  int64_t ret = AttachSeccompFilter(
      t, std::move(program), seccomp.flags & ~SECCOMP_FILTER_FLAG_TSYNC);
  if (ret != 0) {
    spdlog::error("linux.seccomp: attaching the filter failed: {}",
                  strerror(int(-ret)));
    return Err(int(-ret));
  }
  return CheckFirstExec(t);
}

Status Container::SetupInit(Task& init) {
  ApplyProcess(spec_.process, init);
  return ApplySeccomp(spec_.seccomp, init);
}

int Container::WaitForStart(Kernel& k) {
  std::thread([this, &k] { ServeLoop(k); }).detach();
  std::unique_lock lock(mu_);
  cv_.wait(lock, [this] { return started_ || early_exit_ >= 0; });
  return started_ ? -1 : early_exit_;
}

}  // namespace moat::oci
