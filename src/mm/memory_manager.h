// MemoryManager: one application address space as the kernel sees it. It
// keeps the VMAs and, for each resident page, the MemoryFile frame behind
// it, and mirrors both into the platform's AddressSpace as faults arrive.
#pragma once

#include <sys/mman.h>

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "mm/memory_file.h"
#include "mm/memory_object.h"
#include "platform/platform.h"
#include "util/result.h"
#include "vfs/inode.h"

namespace moat {

class Dentry;
struct Mount;

// A fault on private anonymous memory fills up to this many pages at once,
// in the aligned block around the faulting page.
inline constexpr uint64_t kFaultAroundPages = 16;
// A fault just past a run of resident anonymous pages fills as many pages
// ahead as the run is long, up to this many (2 MiB). A program that walks
// through new memory then takes a fault per doubling, not per 16 pages.
inline constexpr uint64_t kSequentialFillPages = 512;
// A fault in a read-only file mapping also maps the pages of the aligned
// block around it, up to this many (1 MiB), whose frames the file's cache
// contains, where the platform can queue the mappings for the resume.
inline constexpr uint64_t kMapCachedPages = 256;

// Whether [addr, addr+length) wraps or reaches past the application's end.
inline bool Overflows(uint64_t addr, uint64_t length) {
  return addr + length < addr || addr + length > kUserEnd;
}

struct Vma {
  uint64_t start = 0;
  uint64_t end = 0;
  int prot = 0;  // PROT_*
  // What mprotect may grant: a shared mapping of a file opened read-only
  // can never become writable.
  int max_prot = PROT_READ | PROT_WRITE | PROT_EXEC;
  bool shared = false;
  bool growsdown = false;
  bool dontfork = false;    // MADV_DONTFORK: absent in a forked child
  bool wipeonfork = false;  // MADV_WIPEONFORK: zero in a forked child
  // Mapped by the host from the file's own descriptor, never writable
  // (AddressSpace::MapHostFile), rather than page by page from the
  // MemoryFile. Its pages fault only where a change unmapped them, and a
  // page with a mapped PTE has the MemoryFile's frame over the file's.
  bool direct = false;
  bool host_mapping = true;              // MmapRequest::host_mapping
  std::shared_ptr<MemoryObject> object;  // null for private anonymous memory
  uint64_t offset = 0;                   // byte offset of `start` in object
  std::string name;  // path, or "[heap]", "[stack]"; shown in maps
  uint64_t dev = 0;
  uint64_t ino = 0;
};

// One resident page.
struct Pte {
  uint64_t frame = 0;
  int host_prot = 0;  // how the AddressSpace maps it now; 0 if not mapped
};

struct MmapRequest {
  uint64_t addr = 0;
  uint64_t length = 0;
  int prot = 0;
  int flags = 0;  // MAP_*
  int max_prot = PROT_READ | PROT_WRITE | PROT_EXEC;
  std::shared_ptr<MemoryObject> object;
  uint64_t offset = 0;
  std::string name;
  uint64_t dev = 0;
  uint64_t ino = 0;
  // Whether the platform may map the host file straight from the host's
  // page cache (AddressSpace::MapHostFile). False for a program that its
  // task may run but not read, because the stub could then map all of it.
  bool host_mapping = true;
};

// kOutOfMemory: the memory limit refused a page; the access is to be
// retried once the OOM killer's victim has exited.
enum class FaultResult {
  kHandled,
  kMapError,
  kAccessError,
  kBusError,
  kOutOfMemory
};

class MemoryManager : public std::enable_shared_from_this<MemoryManager> {
 public:
  explicit MemoryManager(std::shared_ptr<AddressSpace> as);
  ~MemoryManager();

  AddressSpace& address_space() { return *as_; }
  std::shared_ptr<AddressSpace> address_space_ptr() { return as_; }

  Result<uint64_t> Mmap(const MmapRequest& req);
  Status Munmap(uint64_t addr, uint64_t length);
  Status Mprotect(uint64_t addr, uint64_t length, int prot);
  Result<uint64_t> Mremap(uint64_t old_addr, uint64_t old_length,
                          uint64_t new_length, int flags, uint64_t new_addr);
  Status Madvise(uint64_t addr, uint64_t length, int advice);
  Result<uint64_t> Brk(uint64_t addr);
  Status Mincore(uint64_t addr, uint64_t length, std::vector<uint8_t>* out);

  // Copies the address space for fork(2): private pages become
  // copy-on-write in both, shared ones stay shared. The private pages at
  // `copy_now` that only the parent references are copied for the child
  // at once instead, because both processes are about to write them (the
  // caller's stack), and each copy-on-write fault costs a trap. So are the
  // pages that an earlier child wrote in its first copy-on-write faults.
  // With no `child_as`, the child gets a copy of this address space made by
  // the host (AddressSpace::ForkHost), or `new_space()` where the platform
  // cannot make one.
  Result<std::shared_ptr<MemoryManager>> Fork(
      std::shared_ptr<AddressSpace> child_as,
      std::initializer_list<uint64_t> copy_now = {},
      const std::function<Result<std::shared_ptr<AddressSpace>>()>& new_space =
          nullptr);
  // Maps ahead, before a new program's first run, the pages it is about to
  // touch: those the loader wrote, such as the stack, and the cached pages
  // of its ELF files' read-only mappings, up to kMapCachedPages of each.
  // Each of them would otherwise take a fault.
  void MapAhead();

  // Serves a fault the application took at `addr`. `access_error` is true
  // when the page was mapped but the access was not allowed; `fetch` when
  // the fault was at the instruction pointer.
  FaultResult HandleFault(uint64_t addr, bool access_error,
                          bool fetch = false);

  // Copy between the application and the kernel. EFAULT when any byte is
  // not mapped with the needed permission.
  Status CopyIn(uint64_t addr, void* dst, size_t length);
  Status CopyOut(uint64_t addr, const void* src, size_t length);
  Status ZeroOut(uint64_t addr, size_t length);
  // Whether every byte of [addr, addr+length) is mapped with `prot`.
  bool RangeAccessible(uint64_t addr, uint64_t length, int prot);
  // Reads a NUL-terminated string of at most `max` bytes; ENAMETOOLONG
  // when there is no NUL within them.
  Result<std::string> CopyInString(uint64_t addr, size_t max);

  template <typename T>
  Result<T> Read(uint64_t addr) {
    T v;
    TRY_STATUS(CopyIn(addr, &v, sizeof(T)));
    return v;
  }
  template <typename T>
  Status Write(uint64_t addr, const T& v) {
    return CopyOut(addr, &v, sizeof(T));
  }

  // Rewrites the `mov $nr, %eax; syscall` site that ends at `ret`, the
  // return address of a call that trapped, so that later calls enter the
  // kernel through the platform's PatchedSyscallEntry (syscall_patch.cc).
  void MaybePatchSyscall(uint64_t ret, uint64_t nr);
  // Puts back every patched site and stops patching in this address space,
  // because its threads may no longer run with their slot as GS base.
  void StopPatching();
  size_t PatchedSites() const { return patches_.sites.size(); }

  // Marks `inode` as running in this address space until it goes away,
  // which keeps writers out (ETXTBSY).
  void SetExecutable(std::shared_ptr<Inode> inode);

  // The text of /proc/[pid]/maps.
  std::string Maps() const;
  const std::map<uint64_t, Vma>& vmas() const { return vmas_; }
  uint64_t ResidentPages() const { return ptes_.size(); }
  // Pages filled on demand so far: the minor faults of getrusage(2).
  uint64_t populated_pages = 0;
  uint64_t PeakResidentPages() const {
    return std::max<uint64_t>(peak_pages_, ptes_.size());
  }
  uint64_t VirtualSize() const;

  // Layout set up by the ELF loader, shown in /proc.
  uint64_t brk_start = 0;
  uint64_t brk = 0;
  uint64_t stack_top = 0;
  uint64_t arg_start = 0, arg_end = 0, env_start = 0, env_end = 0;
  std::vector<uint64_t> auxv;
  std::string exe_path;
  // The executable itself, for /proc/[pid]/exe: found again by its dentry
  // even when its path is renamed or out of the reader's reach.
  std::shared_ptr<Mount> exe_mount;
  std::shared_ptr<Dentry> exe_dentry;
  uint64_t mmap_base = 0;

 private:
  Result<uint64_t> FindGap(uint64_t length, uint64_t hint) const;
  Status SetForkAdvice(uint64_t addr, uint64_t length, int advice);
  Result<uint64_t> MincoreRun(const Vma& vma, uint64_t page, uint64_t end,
                              uint8_t* out);
  Result<uint64_t> MremapTo(uint64_t old_addr, uint64_t old_length,
                            uint64_t new_length, int flags, uint64_t new_addr);
  Status RemapAllowed(const Vma& vma, uint64_t old_addr,
                      uint64_t old_length) const;
  // Moves [old_addr, old_addr+old_length), which lies in one VMA, to a new
  // VMA of `new_length` at `target`, which is free. `keep_old` leaves the
  // old VMA mapped, without its pages.
  uint64_t MoveRange(uint64_t old_addr, uint64_t old_length,
                     uint64_t new_length, uint64_t target, bool keep_old);
  Vma* FindVma(uint64_t addr);
  // Splits VMAs so that `addr` is a boundary.
  void SplitAt(uint64_t addr);
  void RemoveRange(uint64_t start, uint64_t end);
  // Drops the PTEs of [start, end). Unmaps the range in the host when any
  // of them was mapped, or when `unmap` is set.
  void DropPtes(uint64_t start, uint64_t end, bool unmap = false);
  // Maps a new VMA of a host file from the host's page cache where the
  // platform can. Returns whether it did.
  bool MapDirect(Vma& vma);
  // Makes `vma` direct on a fault, with the other read-only VMAs of its
  // file, where none of them has a page yet. Exec maps a program and its
  // loader before any of its threads runs, when the platform cannot map
  // host files yet. Returns whether `vma` is direct now.
  bool MapDirectOnFault(Vma& vma);
  // Makes a direct VMA an ordinary one: its host mapping goes, and its
  // pages fault in from the MemoryFile.
  Status Undirect(Vma& vma);
  // Installs a PTE for the page at `page`, copying on write if needed.
  // Returns the PTE and, through *fresh, whether the frame changed.
  Result<Pte*> EnsurePage(Vma& vma, uint64_t page, bool write);
  uint64_t ResidentRunBefore(const Vma& vma, uint64_t page,
                             uint64_t limit) const;
  Status PopulateAnonymous(Vma& vma, uint64_t page);
  void ShrinkToAbsent(uint64_t page, uint64_t* first, uint64_t* last) const;
  Status PopulateCopies(Vma& vma, uint64_t page);
  Status PopulateAround(Vma& vma, uint64_t page);
  // Calls `add(addr, frame, pages)` for each run of pages in [start, end) of
  // a file mapping that have no PTE and whose frames the file's cache
  // contains, in order, until `add` returns false.
  void ForEachCachedRun(
      const Vma& vma, uint64_t start, uint64_t end,
      const std::function<bool(uint64_t, uint64_t, uint64_t)>& add);
  // Inserts PTEs for `pages` consecutive pages and frames, with a reference
  // to each frame.
  void InsertPtes(uint64_t addr, uint64_t frame, uint64_t pages, int host_prot);
  void MapCachedAround(const Vma& vma, uint64_t page);
  // Maps the cached pages of [start, end) in `vma`, a read-only file
  // mapping, as far as the platform can queue them for the resume.
  void MapCachedRange(const Vma& vma, uint64_t start, uint64_t end);
  // Fills the first pages of `vma`, private memory about to be written,
  // and maps them with the resume if the platform can queue them.
  void FillAhead(Vma& vma);
  // Maps ahead (AddressSpace::MapFileAhead) the PTEs whose host_prot is
  // set, in runs of consecutive pages and frames with one protection, and
  // clears host_prot in the runs the platform did not accept.
  void MapPtesAhead();
  bool PrivateExclusive(const Vma& vma, const Pte& pte) const;
  int HostProtFor(const Vma& vma, const Pte& pte) const;
  // Maps a run of PTEs in the host: at once if `now`, else possibly only
  // when the faulting thread resumes (AddressSpace::MapFileOnResume).
  Status MapRun(uint64_t start, uint64_t pages, int prot, bool now);
  Status CopyPages(uint64_t addr, size_t length, bool write, void* buf,
                   const void* src);
  // Adds `page`, just copied on write in this forked child, to the
  // parent's fork_copies_, for the child's first kMaxForkCopies copies.
  void ReportForkCopy(uint64_t page);

  // Record of the patched call sites, with their original bytes, and of
  // the trampoline area they jump through.
  struct SyscallPatches {
    std::map<uint64_t, std::array<uint8_t, 7>> sites;
    // Traps so far from each site not patched yet.
    std::unordered_map<uint64_t, uint32_t> traps;
    uint32_t trampolines = 0;  // trampolines written so far
    bool area = false;         // the area is mapped
    bool stopped = false;      // no more patching here
  };
  // Updates the patched sites before a change to [start, end). With
  // `restore` their pages stay, so their original bytes go back. Otherwise
  // the pages go and only the records are dropped. A change that touches
  // the trampoline area stops patching first.
  void PatchesChanging(uint64_t start, uint64_t end, bool restore);
  bool ReservePatchArea();
  // Patches a `xor %eax, %eax; syscall` site of read, as MaybePatchSyscall
  // does. False when `ret` does not follow such a site.
  bool MaybePatchZeroSite(uint64_t ret, uint64_t entry);
  // Whether the seven bytes at `site` are the call of glibc's syscall(3),
  // within its whole body.
  bool IsSyscallFunctionSite(uint64_t site);
  bool AddTrampoline(uint64_t nr, uint64_t ret, uint64_t entry,
                     std::array<uint8_t, 7>* jump);
  bool AddSyscallFunctionTrampoline(uint64_t ret, uint64_t entry,
                                    std::array<uint8_t, 7>* jump);
  bool WriteTrampoline(std::vector<uint8_t> code, std::array<uint8_t, 7>* jump);
  // Writes a site's original bytes back if its page is still resident.
  void RestoreSite(uint64_t site, const std::array<uint8_t, 7>& bytes);
  // Unmaps the trampoline area if it lies in [start, end), for a mapping
  // that the program requests there and Linux would have room for.
  void ReleasePatchArea(uint64_t start, uint64_t end);
  // Writes `n` bytes at `addr`, in one page of a private VMA, whatever its
  // protection, as ptrace's POKETEXT does. With `swap` the new page is
  // built aside and mapped in one step, for code other threads may run.
  Status WriteText(uint64_t addr, const void* src, size_t n, bool swap);

  std::shared_ptr<AddressSpace> as_;
  SyscallPatches patches_;
  std::shared_ptr<Inode> exe_inode_;
  std::map<uint64_t, Vma> vmas_;  // keyed by start
  std::map<uint64_t, Pte> ptes_;  // keyed by page address
  uint64_t peak_pages_ = 0;       // updated when pages are dropped
  // Pages that children wrote in their first copy-on-write faults, which
  // the next Fork copies at once: a shell's or make's children write the
  // same pages of libc and the loader after each fork.
  static constexpr size_t kMaxForkCopies = 8;
  std::vector<uint64_t> fork_copies_;
  // In a child: the parent that learns those pages, while the child has
  // faults left to report.
  std::weak_ptr<MemoryManager> fork_parent_;
  int fork_faults_left_ = 0;
};

}  // namespace moat
