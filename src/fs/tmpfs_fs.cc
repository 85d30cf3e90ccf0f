// The per-instance side of tmpfs: mount options, size and inode limits,
// statfs, and fallocate, after Linux mm/shmem.c.
#include <fmt/format.h>
#include <linux/falloc.h>
#include <sys/sysinfo.h>

#include <cstring>

#include "fs/tmpfs.h"
#include "kernel/task.h"
#include "mm/memory_file.h"

namespace moat {
namespace {

constexpr int64_t kTmpfsMagic = 0x01021994;

uint64_t TotalRamPages() {
  struct sysinfo si;
  if (sysinfo(&si) != 0) return 0;
  return uint64_t(si.totalram) * si.mem_unit / kPageSize;
}

// Parses a number as Linux lib/cmdline.c:memparse does: decimal, octal
// with a leading 0 or hex with 0x, then an optional K, M, G, T, P or E.
// *rest is what follows.
bool MemParse(const std::string& text, uint64_t* value, std::string* rest) {
  if (text.empty() || !isdigit(static_cast<unsigned char>(text[0])))
    return false;
  char* end = nullptr;
  errno = 0;
  *value = strtoull(text.c_str(), &end, 0);
  if (errno != 0) return false;
  size_t used = end - text.c_str();
  static const char kSuffixes[] = "kmgtpe";
  if (used < text.size()) {
    const char* at = strchr(kSuffixes, tolower(text[used]));
    if (at != nullptr && text[used] != '\0') {
      int shift = 10 * int(at - kSuffixes + 1);
      if (*value > (UINT64_MAX >> shift)) return false;
      *value <<= shift;
      used++;
    }
  }
  *rest = text.substr(used);
  return true;
}

// Parses a plain decimal or octal number that must fill `text`.
bool ParseNumber(const std::string& text, int base, uint64_t* value) {
  if (text.empty() || !isdigit(static_cast<unsigned char>(text[0])))
    return false;
  char* end = nullptr;
  errno = 0;
  *value = strtoull(text.c_str(), &end, base);
  return errno == 0 && *end == '\0';
}

// Applies one "key=value" tmpfs option.
Status ParseTmpfsOption(const std::string& option, TmpfsOptions* options) {
  size_t eq = option.find('=');
  std::string key = option.substr(0, eq);
  // Flags that Linux accepts and moat has no use for.
  if (key == "inode32" || key == "inode64" || key == "noswap")
    return eq == std::string::npos ? Ok() : Err(EINVAL);
  if (eq == std::string::npos) return Err(EINVAL);
  std::string value = option.substr(eq + 1);
  uint64_t number = 0;
  std::string rest;
  if (key == "size") {
    if (!MemParse(value, &number, &rest)) return Err(EINVAL);
    if (rest == "%") {
      number = number * TotalRamPages() / 100 * kPageSize;
      rest.clear();
    }
    if (!rest.empty()) return Err(EINVAL);
    options->max_pages = PageUp(number) / kPageSize;
    options->has_size = true;
  } else if (key == "nr_blocks") {
    if (!MemParse(value, &number, &rest) || !rest.empty()) return Err(EINVAL);
    options->max_pages = number;
    options->has_size = true;
  } else if (key == "nr_inodes") {
    if (!MemParse(value, &number, &rest) || !rest.empty()) return Err(EINVAL);
    options->max_inodes = number;
    options->has_inodes = true;
  } else if (key == "mode") {
    if (!ParseNumber(value, 8, &number)) return Err(EINVAL);
    options->mode = number & 07777;
  } else if (key == "uid" || key == "gid") {
    if (!ParseNumber(value, 10, &number) || number >= UINT32_MAX)
      return Err(EINVAL);
    (key == "uid" ? options->uid : options->gid) = uint32_t(number);
  } else if (key == "huge") {
    static const char* const kHuge[] = {"never", "always", "within_size",
                                        "advise"};
    for (const char* name : kHuge)
      if (value == name) return Ok();
    return Err(EINVAL);
  } else if (key == "mpol") {
    // NUMA policies mean nothing to moat's memory, so any is accepted.
    return value.empty() ? Err(EINVAL) : Ok();
  } else {
    return Err(EINVAL);
  }
  return Ok();
}

}  // namespace

TmpfsOptions DefaultTmpfsOptions() {
  TmpfsOptions options;
  options.max_pages = TotalRamPages() / 2;
  options.max_inodes = TotalRamPages() / 2;
  return options;
}

Status ParseTmpfsOptions(const std::vector<std::string>& list,
                         TmpfsOptions* options) {
  for (const std::string& option : list)
    TRY_STATUS(ParseTmpfsOption(option, options));
  return Ok();
}

std::shared_ptr<TmpfsFs> MemfdFs() {
  static auto fs = std::make_shared<TmpfsFs>(DefaultTmpfsOptions());
  return fs;
}

TmpfsFs::TmpfsFs(const TmpfsOptions& options)
    : dev(NewAnonDev()),
      quota(std::make_shared<PageQuota>()),
      options_(options) {
  if (options.max_pages != 0) quota->limit = options.max_pages;
}

std::string TmpfsFs::Options() const {
  // Linux mm/shmem.c:shmem_show_options lists what differs from the
  // defaults.
  TmpfsOptions defaults = DefaultTmpfsOptions();
  std::string out;
  if (options_.max_pages != defaults.max_pages)
    out += fmt::format(",size={}k", options_.max_pages * (kPageSize / 1024));
  if (options_.max_inodes != defaults.max_inodes)
    out += fmt::format(",nr_inodes={}", options_.max_inodes);
  if (options_.mode != 01777) out += fmt::format(",mode={:03o}", options_.mode);
  if (options_.uid != 0) out += fmt::format(",uid={}", options_.uid);
  if (options_.gid != 0) out += fmt::format(",gid={}", options_.gid);
  return out;
}

Status TmpfsFs::Reconfigure(const std::vector<std::string>& list) {
  TmpfsOptions next = options_;
  next.has_size = next.has_inodes = false;
  TRY_STATUS(ParseTmpfsOptions(list, &next));
  // Linux mm/shmem.c:shmem_reconfigure: a limit can change but not appear
  // where there was none, nor fall below what is in use. The root's mode
  // and owner stay as they are.
  if (next.has_size && next.max_pages != 0 &&
      (options_.max_pages == 0 || quota->used > next.max_pages))
    return Err(EINVAL);
  if (next.has_inodes && next.max_inodes != 0 &&
      (options_.max_inodes == 0 || used_inodes > next.max_inodes))
    return Err(EINVAL);
  if (next.has_size) {
    options_.max_pages = next.max_pages;
    quota->limit = next.max_pages != 0 ? next.max_pages : UINT64_MAX;
  }
  if (next.has_inodes) options_.max_inodes = next.max_inodes;
  return Ok();
}

struct statfs TmpfsFs::StatFs() const {
  struct statfs s = SimpleStatFs(kTmpfsMagic);
  if (options_.max_pages != 0) {
    s.f_blocks = options_.max_pages;
    s.f_bfree = s.f_bavail =
        quota->used < options_.max_pages ? options_.max_pages - quota->used : 0;
  }
  if (options_.max_inodes != 0) {
    s.f_files = options_.max_inodes;
    s.f_ffree = used_inodes < options_.max_inodes
                    ? options_.max_inodes - used_inodes
                    : 0;
  }
  memcpy(&s.f_fsid, &dev, sizeof(s.f_fsid));
  return s;
}

Status TmpfsFile::Allocate(Task& t, int mode, uint64_t offset,
                           uint64_t length) {
  // Pages per step of a large allocation, between which other tasks may
  // take the kernel lock: filling a GiB takes a few hundred ms.
  constexpr uint64_t kStep = 4096;
  std::shared_ptr<TmpfsInode> node = node_;
  MemoryObject& data = *node->data;
  uint64_t end = offset + length;
  node->attr.mtime = node->attr.ctime = Now();
  if (mode & FALLOC_FL_PUNCH_HOLE) {
    data.PunchHole(offset, length);
    return Ok();
  }
  uint64_t first = offset / kPageSize;
  uint64_t last = PageUp(end) / kPageSize;
  if (!data.HasRoomFor(first, last - first)) return Err(ENOSPC);
  for (uint64_t at = first; at < last; at += kStep) {
    TRY_STATUS(data.Allocate(at, std::min(kStep, last - at)));
    if (last - at <= kStep) break;
    t.Reschedule();
    // A dying task stops here; what it allocated stays with the file, as
    // after a short write.
    if (t.FatalSignalPending()) return Err(EINTR);
  }
  if (!(mode & FALLOC_FL_KEEP_SIZE) && end > data.size()) data.Truncate(end);
  return Ok();
}

}  // namespace moat
