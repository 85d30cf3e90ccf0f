// Syscall patching: on a platform whose threads take a host signal for
// every system call (trap), a hot `mov $nr, %eax; syscall` site is
// rewritten to jump into the stub's PatchedSyscallEntry, which hands the
// call to the kernel without the signal.
//
// The site's seven bytes become `jmp *ADDR`, an indirect jump through a
// table at a fixed low address (ff 24 25 and a 32-bit address). The table
// starts at 0x050f0000, so the address's two high bytes are 0f 05 and the
// old `syscall` stays where it was. A thread stopped between the two old
// instructions, or code that jumps straight to the `syscall`, still makes
// its call through the trap. Each table entry points to the site's
// trampoline, which loads the number and the return address into %eax and
// %rcx, as `syscall` would leave them, and jumps to the entry. A jump, not
// a call: a call would push into the program's red zone.
//
// glibc's syscall(3) takes the number in %rdi and moves it into %rax, and
// its site is `mov 0x8(%rsp), %r9; syscall`, also seven bytes. Its
// trampoline makes that move itself and leaves the number in %eax. Only
// the function's exact body is taken (kSyscallFunction).
//
// The new bytes go into a private copy of the page, built aside and mapped
// in one step, so a `read` of the file still shows the original bytes and
// no thread runs half a patch. Sites in writable memory are never patched.
// A change of protection or a move puts back the sites it touches first,
// and an unmapping drops their records.
#include <sys/syscall.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "mm/memory_file.h"
#include "mm/memory_manager.h"
#include "util/log.h"

namespace moat {
namespace {

constexpr uint64_t kPatchTable = 0x050f0000;
constexpr uint64_t kTableEntries = 0x10000 / 8;
constexpr uint64_t kTrampolines = kPatchTable + 0x10000;
constexpr uint64_t kTrampolineSize = 32;
constexpr uint64_t kPatchAreaEnd =
    kTrampolines + kTableEntries * kTrampolineSize;
constexpr size_t kSiteSize = 7;
// A site is patched on its third trap, because a patch costs a page copy
// and a host mmap. A short-lived process (a shell's child, a compiler
// pass) makes many of its calls only once or twice, and patching those on
// their first trap made fork+exec of /bin/true about 10% slower (6 paired
// runs of bench/micro.c fork_exec).
constexpr uint32_t kTrapsBeforePatch = 3;

// glibc's syscall(3) after its `endbr64`, from `mov %rdi, %rax` to the
// `ret` of a call that succeeded. The site is the `mov 0x8(%rsp), %r9` and
// the `syscall` at kSyscallFunctionSite.
constexpr uint8_t kSyscallFunction[] = {
    0x48, 0x89, 0xf8,                    // mov %rdi, %rax
    0x48, 0x89, 0xf7,                    // mov %rsi, %rdi
    0x48, 0x89, 0xd6,                    // mov %rdx, %rsi
    0x48, 0x89, 0xca,                    // mov %rcx, %rdx
    0x4d, 0x89, 0xc2,                    // mov %r8, %r10
    0x4d, 0x89, 0xc8,                    // mov %r9, %r8
    0x4c, 0x8b, 0x4c, 0x24, 0x08,        // mov 0x8(%rsp), %r9
    0x0f, 0x05,                          // syscall
    0x48, 0x3d, 0x01, 0xf0, 0xff, 0xff,  // cmp $-4095, %rax
    0x73, 0x01,                          // jae
    0xc3,                                // ret
};
constexpr size_t kSyscallFunctionSite = 18;

bool Overlaps(uint64_t start, uint64_t end, uint64_t other_start,
              uint64_t other_end) {
  return start < other_end && other_start < end;
}

// Returns whether `byte`, right before the site, could be a prefix of its
// `mov`. The site would then be the tail of another instruction, as in
// 41 b8, a move into %r8d.
bool MaybePrefix(uint8_t byte) {
  if (byte >= 0x40 && byte <= 0x4f) return true;  // REX
  switch (byte) {
    case 0x26: case 0x2e: case 0x36: case 0x3e: case 0x64: case 0x65:
    case 0x66: case 0x67: case 0xf0: case 0xf2: case 0xf3:
      return true;
  }
  return false;
}

// Returns whether `n` bytes at `p` are whole NOP instructions, as
// assemblers pad with.
bool IsNopPadding(const uint8_t* p, size_t n) {
  static const std::vector<std::vector<uint8_t>> kNops = {
      {0x90},
      {0x66, 0x90},
      {0x0f, 0x1f, 0x00},
      {0x0f, 0x1f, 0x40, 0x00},
      {0x0f, 0x1f, 0x44, 0x00, 0x00},
      {0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00},
      {0x0f, 0x1f, 0x80, 0x00, 0x00, 0x00, 0x00},
      {0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00},
      {0x66, 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00},
      {0x66, 0x2e, 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00},
  };
  size_t i = 0;
  while (i < n) {
    // Longer forms repeat the 66 prefix (data16 cs nopw).
    size_t prefixes = 0;
    while (i + prefixes < n && p[i + prefixes] == 0x66 &&
           i + prefixes + 1 < n && p[i + prefixes + 1] == 0x66)
      prefixes++;
    size_t at = i + prefixes;
    size_t matched = 0;
    for (const auto& nop : kNops)
      if (nop.size() <= n - at && memcmp(p + at, nop.data(), nop.size()) == 0)
        matched = std::max(matched, nop.size());
    if (matched == 0) return false;
    i = at + matched;
  }
  return i == n;
}

void Put32(uint8_t* p, uint32_t v) { memcpy(p, &v, 4); }
void Put64(uint8_t* p, uint64_t v) { memcpy(p, &v, 8); }

}  // namespace

void MemoryManager::MaybePatchSyscall(uint64_t ret, uint64_t nr) {
  uint64_t entry = as_->PatchedSyscallEntry();
  if (entry == 0 || patches_.stopped) return;
  // arch_prctl may give the thread a GS base of its own, and then the
  // entry could not find its slot on the way back.
  if (nr == SYS_arch_prctl || nr > INT32_MAX) return;
  if (patches_.trampolines >= kTableEntries) return;
  if (nr == 0 && MaybePatchZeroSite(ret, entry)) return;
  uint64_t site = ret - kSiteSize;
  if (ret < kSiteSize + 1 || PageDown(site) != PageDown(ret - 1)) return;
  Vma* vma = FindVma(site);
  if (vma == nullptr || vma->shared || (vma->prot & PROT_WRITE) ||
      !(vma->prot & PROT_EXEC) || patches_.sites.count(site))
    return;
  if (++patches_.traps[site] < kTrapsBeforePatch) return;
  patches_.traps.erase(site);
  uint8_t bytes[kSiteSize + 1];
  if (!CopyIn(site - 1, bytes, sizeof bytes).ok()) return;
  uint32_t imm;
  memcpy(&imm, bytes + 2, 4);
  bool immediate = bytes[1] == 0xb8 && imm == nr && bytes[6] == 0x0f &&
                   bytes[7] == 0x05 && !MaybePrefix(bytes[0]);
  if (!immediate && !IsSyscallFunctionSite(site)) return;
  std::array<uint8_t, kSiteSize> jump;
  bool added = immediate ? AddTrampoline(nr, ret, entry, &jump)
                         : AddSyscallFunctionTrampoline(ret, entry, &jump);
  if (!added) return;
  if (!WriteText(site, jump.data(), kSiteSize, true).ok()) return;
  std::array<uint8_t, kSiteSize> old;
  memcpy(old.data(), bytes + 1, kSiteSize);
  patches_.sites.emplace(site, old);
  SPDLOG_DEBUG("patched system call {} at {:#x}", nr, site);
}

bool MemoryManager::IsSyscallFunctionSite(uint64_t site) {
  if (site < kSyscallFunctionSite) return false;
  uint8_t code[sizeof kSyscallFunction];
  uint64_t start = site - kSyscallFunctionSite;
  Vma* vma = FindVma(start);
  if (vma == nullptr || vma->end < start + sizeof code) return false;
  return CopyIn(start, code, sizeof code).ok() &&
         memcmp(code, kSyscallFunction, sizeof code) == 0;
}

// glibc's read loads its number with `xor %eax, %eax` (31 c0), and its
// four-byte site has no room for the jump. The `xor` becomes a two-byte
// jump (eb) forward into the alignment padding after the function's `ret`,
// where the seven-byte jump to the trampoline goes. Only read's exact tail
// is taken, decoded forward from the `syscall`: `cmp $-4096, %rax`, `ja`,
// `ret`, then NOPs up to the next 16-byte boundary, which nothing runs.
// The `syscall` itself stays, as at other sites.
bool MemoryManager::MaybePatchZeroSite(uint64_t ret, uint64_t entry) {
  static constexpr uint8_t kTail[] = {0x31, 0xc0, 0x0f, 0x05, 0x48, 0x3d,
                                      0x00, 0xf0, 0xff, 0xff, 0x77};
  constexpr uint64_t kRetOffset = 12;  // of the `ret`, from the site
  uint64_t site = ret - 4;
  uint64_t pad = site + kRetOffset + 1;
  uint64_t end = (pad + 15) & ~uint64_t{15};
  if (ret < 5 || end - pad < kSiteSize ||
      PageDown(site - 1) != PageDown(end - 1))
    return false;

  Vma* vma = FindVma(site - 1);
  if (vma == nullptr || vma->end < end || vma->shared ||
      (vma->prot & PROT_WRITE) || !(vma->prot & PROT_EXEC))
    return false;
  if (patches_.sites.count(site)) return true;
  if (++patches_.traps[site] < kTrapsBeforePatch) return true;
  patches_.traps.erase(site);

  uint8_t code[32];
  size_t n = end - (site - 1);
  if (n > sizeof code || !CopyIn(site - 1, code, n).ok()) return false;
  const uint8_t* at = code + 1;
  if (MaybePrefix(code[0]) || memcmp(at, kTail, sizeof kTail) != 0 ||
      at[kRetOffset] != 0xc3 || !IsNopPadding(at + (pad - site), end - pad))
    return false;
  // The `ja` must not lead into the padding that is about to change.
  uint64_t target = site + kRetOffset + int8_t(at[kRetOffset - 1]);
  if (target >= pad && target < end) return false;

  std::array<uint8_t, kSiteSize> jump;
  if (!AddTrampoline(0, ret, entry, &jump)) return true;
  // The padding first: until the site leads there, nothing runs it.
  if (!WriteText(pad, jump.data(), kSiteSize, true).ok()) return true;
  std::array<uint8_t, kSiteSize> old_pad, old_site;
  memcpy(old_pad.data(), at + (pad - site), kSiteSize);
  memcpy(old_site.data(), at, kSiteSize);
  patches_.sites.emplace(pad, old_pad);
  uint8_t short_jump[2] = {0xeb, uint8_t(pad - (site + 2))};
  if (!WriteText(site, short_jump, sizeof short_jump, true).ok()) return true;
  patches_.sites.emplace(site, old_site);
  SPDLOG_DEBUG("patched system call 0 at {:#x} through {:#x}", site, pad);
  return true;
}

namespace {

void Append64(std::vector<uint8_t>& code, uint64_t v) {
  code.resize(code.size() + 8);
  Put64(code.data() + code.size() - 8, v);
}

// Appends `jmp *0(%rip)` and the 64-bit address it jumps to.
void AppendJump(std::vector<uint8_t>& code, uint64_t target) {
  code.insert(code.end(), {0xff, 0x25, 0, 0, 0, 0});
  Append64(code, target);
}

// Appends `movabs $ret, %rcx; jmp *entry`: the way into the stub, with
// %rcx as `syscall` would leave it.
void EnterStub(std::vector<uint8_t>& code, uint64_t ret, uint64_t entry) {
  code.insert(code.end(), {0x48, 0xb9});  // movabs $ret, %rcx
  Append64(code, ret);
  AppendJump(code, entry);
}

}  // namespace

// Writes a trampoline that enters the stub as call `nr` returning to
// `ret`, and its table entry. Stores in *jump the site's new bytes.
bool MemoryManager::AddTrampoline(uint64_t nr, uint64_t ret, uint64_t entry,
                                  std::array<uint8_t, kSiteSize>* jump) {
  std::vector<uint8_t> code = {0xb8};  // mov $nr, %eax
  code.resize(5);
  Put32(code.data() + 1, uint32_t(nr));
  EnterStub(code, ret, entry);
  return WriteTrampoline(code, jump);
}

// The trampoline of a syscall(3) site: its `mov 0x8(%rsp), %r9`, then the
// stub with the number the function put in %eax. arch_prctl takes the
// `syscall` instead (see MaybePatchSyscall), and then jumps back to `ret`.
bool MemoryManager::AddSyscallFunctionTrampoline(
    uint64_t ret, uint64_t entry, std::array<uint8_t, kSiteSize>* jump) {
  std::vector<uint8_t> code = {
      0x4c, 0x8b, 0x4c, 0x24, 0x08,  // mov 0x8(%rsp), %r9
      0x3d, 0x00, 0x00, 0x00, 0x00,  // cmp $SYS_arch_prctl, %eax
      0x74, 0x00,                    // je to the `syscall` below
  };
  Put32(code.data() + 6, SYS_arch_prctl);
  size_t je_end = code.size();
  EnterStub(code, ret, entry);
  code[je_end - 1] = uint8_t(code.size() - je_end);
  code.insert(code.end(), {0x0f, 0x05});  // syscall
  AppendJump(code, ret);
  return WriteTrampoline(code, jump);
}

// Writes `code` into as many trampoline places as it fills, with int3
// after it, and the table entry of the first. Stores in *jump the site's
// new bytes, which jump through that entry.
bool MemoryManager::WriteTrampoline(std::vector<uint8_t> code,
                                    std::array<uint8_t, kSiteSize>* jump) {
  if (!patches_.area && !ReservePatchArea()) return false;
  size_t places = (code.size() + kTrampolineSize - 1) / kTrampolineSize;
  uint32_t index = patches_.trampolines;
  if (index + places > kTableEntries) return false;
  code.resize(places * kTrampolineSize, 0xcc);  // int3
  uint64_t trampoline = kTrampolines + index * kTrampolineSize;
  uint64_t slot = kPatchTable + index * 8;
  // One page at a time, as WriteText takes them.
  for (size_t done = 0; done < code.size();) {
    uint64_t at = trampoline + done;
    size_t n = std::min(code.size() - done, size_t(PageUp(at + 1) - at));
    if (!WriteText(at, code.data() + done, n, false).ok()) return false;
    done += n;
  }
  if (!WriteText(slot, &trampoline, 8, false).ok()) return false;
  patches_.trampolines += places;
  *jump = {0xff, 0x24, 0x25};  // jmp *slot
  Put32(jump->data() + 3, uint32_t(slot));
  return true;
}

// Maps the table and the trampolines, private and read-only to the
// program, if nothing is there yet. Their pages fill as sites are patched.
bool MemoryManager::ReservePatchArea() {
  auto it = vmas_.lower_bound(kPatchTable);
  bool occupied = (it != vmas_.end() && it->first < kPatchAreaEnd) ||
               (it != vmas_.begin() && std::prev(it)->second.end > kPatchTable);
  if (occupied) {
    patches_.stopped = true;
    return false;
  }
  Vma vma;
  vma.start = kPatchTable;
  vma.end = kPatchAreaEnd;
  vma.prot = PROT_READ | PROT_EXEC;
  vmas_.emplace(kPatchTable, std::move(vma));
  patches_.area = true;
  return true;
}

Status MemoryManager::WriteText(uint64_t addr, const void* src, size_t n,
                                bool swap) {
  uint64_t page = PageDown(addr);
  Vma* vma = FindVma(addr);
  if (vma == nullptr || vma->shared || PageDown(addr + n - 1) != page)
    return Err(EFAULT);
  MemoryFile& mf = MemoryFile::Get();
  if (!swap) {
    Pte* pte = TRY(EnsurePage(*vma, page, true));
    memcpy(mf.Map(pte->frame) + (addr - page), src, n);
    // The program jumps here on its next call: map the page with the
    // resume rather than on a fault.
    if (pte->host_prot == 0 &&
        as_->MapFileIfQueued(page, kPageSize, pte->frame, vma->prot))
      pte->host_prot = vma->prot;
    return Ok();
  }
  Pte* pte = TRY(EnsurePage(*vma, page, false));
  // A direct VMA's page is mapped in the host from the file.
  bool mapped = pte->host_prot != 0 || vma->direct;
  if (mapped && !as_->ChangeableHere()) return Err(EFAULT);
  uint64_t copy = TRY(mf.AllocateForOverwrite(1));
  memcpy(mf.Map(copy), mf.Map(pte->frame), kPageSize);
  memcpy(mf.Map(copy) + (addr - page), src, n);
  if (mapped) {
    Status mapped = as_->MapFile(page, kPageSize, copy, vma->prot);
    if (!mapped.ok()) {
      mf.DecRef(copy);
      return mapped;
    }
    pte->host_prot = vma->prot;
  }
  mf.DecRef(pte->frame);
  pte->frame = copy;
  return Ok();
}

void MemoryManager::PatchesChanging(uint64_t start, uint64_t end,
                                    bool restore) {
  if (patches_.area && Overlaps(start, end, kPatchTable, kPatchAreaEnd)) {
    // The program maps over the area or changes it: its entries can no
    // longer be trusted to lead to the trampolines.
    StopPatching();
    patches_.area = false;
    return;
  }
  if (patches_.sites.empty()) return;
  auto it = patches_.sites.lower_bound(start >= kSiteSize ? start - kSiteSize
                                                           : 0);
  while (it != patches_.sites.end() && it->first < end) {
    if (it->first + kSiteSize <= start) {
      ++it;
      continue;
    }
    if (restore) RestoreSite(it->first, it->second);
    it = patches_.sites.erase(it);
  }
}

void MemoryManager::ReleasePatchArea(uint64_t start, uint64_t end) {
  if (!patches_.area || !Overlaps(start, end, kPatchTable, kPatchAreaEnd))
    return;
  RemoveRange(kPatchTable, kPatchAreaEnd);  // stops patching first
}

void MemoryManager::RestoreSite(uint64_t site,
                                const std::array<uint8_t, 7>& bytes) {
  // A site whose page is no longer resident shows the file's bytes.
  if (ptes_.count(PageDown(site)))
    (void)WriteText(site, bytes.data(), kSiteSize, true);
}

void MemoryManager::StopPatching() {
  patches_.stopped = true;
  for (auto& [site, bytes] : patches_.sites) RestoreSite(site, bytes);
  patches_.sites.clear();
}

}  // namespace moat
