// ELF loading, after Linux fs/binfmt_elf.c and fs/binfmt_script.c.
#include "loader/elf.h"

#include <elf.h>
#include <sys/auxv.h>
#include <sys/random.h>

#include <cstring>

#include "kernel/kernel.h"
#include "util/log.h"
#include "vfs/vfs.h"

namespace moat {
namespace {

constexpr int kMaxScriptDepth = 4;
constexpr uint64_t kStackSize = 8ull << 20;
// The base address of PIE executables in Linux's default layout, before
// randomization.
constexpr uint64_t kPieBase = 0x555555554000;

uint64_t RandomPages(uint64_t max_pages) {
  uint64_t r = 0;
  (void)getrandom(&r, sizeof(r), 0);
  return (r % max_pages) * kPageSize;
}

struct LoadedElf {
  uint64_t entry = 0;
  uint64_t bias = 0;
  uint64_t phdr_addr = 0;
  uint16_t phnum = 0;
  uint64_t end = 0;  // highest mapped address
  std::string interp;
};

Result<FilePtr> OpenExecutable(Task& t, const Path& dir,
                               const std::string& path, bool follow,
                               Path* out) {
  ResolveOptions opts;
  opts.follow_final = follow;
  Path p = TRY(ResolvePath(t, dir, path, opts));
  auto attr = TRY(p.inode().Attr());
  if (S_ISDIR(attr.mode)) return Err(EACCES);
  if (S_ISLNK(attr.mode)) return Err(ELOOP);
  if (!S_ISREG(attr.mode)) return Err(EACCES);
  if (p.mount->noexec) return Err(EACCES);
  TRY_STATUS(CheckAccess(attr, t.creds, X_OK));
  if (p.inode().writers > 0) return Err(ETXTBSY);
  FilePtr f = TRY(p.inode().Open(O_RDONLY));
  f->mount = p.mount;
  f->dentry = p.dentry;
  *out = p;
  return f;
}

Result<std::string> ReadHead(Task& t, FileDescription& f, size_t n) {
  std::string buf(n, '\0');
  size_t got = TRY(f.PRead(t, buf.data(), n, 0));
  buf.resize(got);
  return buf;
}

// Maps the PT_LOAD segments of `f` at `bias` (for ET_DYN) into `mm`.
Result<LoadedElf> MapElf(Task& t, MemoryManager& mm, FileDescription& f,
                         const std::string& name, bool is_interp) {
  std::string head = TRY(ReadHead(t, f, sizeof(Elf64_Ehdr)));
  if (head.size() < sizeof(Elf64_Ehdr)) return Err(ENOEXEC);
  Elf64_Ehdr eh;
  memcpy(&eh, head.data(), sizeof(eh));
  if (memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
      eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_machine != EM_X86_64 ||
      (eh.e_type != ET_EXEC && eh.e_type != ET_DYN) ||
      eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 ||
      eh.e_phnum > 1024)
    return Err(ENOEXEC);

  std::vector<Elf64_Phdr> ph(eh.e_phnum);
  size_t ph_bytes = ph.size() * sizeof(Elf64_Phdr);
  size_t got = TRY(f.PRead(t, ph.data(), ph_bytes, eh.e_phoff));
  if (got != ph_bytes) return Err(ENOEXEC);

  LoadedElf out;
  uint64_t lo = UINT64_MAX, hi = 0;
  for (auto& p : ph) {
    if (p.p_type == PT_INTERP && !is_interp) {
      if (p.p_filesz == 0 || p.p_filesz > 4096) return Err(ENOEXEC);
      std::string interp(p.p_filesz, '\0');
      TRY(f.PRead(t, interp.data(), p.p_filesz, p.p_offset));
      out.interp = interp.c_str();
    }
    if (p.p_type != PT_LOAD || p.p_memsz == 0) continue;
    if (p.p_filesz > p.p_memsz) return Err(ENOEXEC);
    lo = std::min(lo, PageDown(p.p_vaddr));
    hi = std::max(hi, PageUp(p.p_vaddr + p.p_memsz));
  }
  if (lo >= hi) return Err(ENOEXEC);

  if (eh.e_type == ET_DYN) {
    // Reserve the whole span first so the segments land together.
    uint64_t want = is_interp ? 0 : kPieBase + RandomPages(1 << 16);
    MmapRequest reserve;
    reserve.addr = want;
    reserve.length = hi - lo;
    reserve.flags = MAP_PRIVATE | MAP_ANONYMOUS;
    uint64_t base = TRY(mm.Mmap(reserve));
    out.bias = base - lo;
  }

  auto object = TRY(f.Mappable());
  auto attr = TRY(f.Stat());
  // A program that the task may run but not read (mode 0711) stays out of
  // the host's mappings, because through them the stub could map all of it.
  bool readable = CheckAccess(attr, t.creds, R_OK).ok();
  for (auto& p : ph) {
    if (p.p_type != PT_LOAD || p.p_memsz == 0) continue;
    int prot = ((p.p_flags & PF_R) ? PROT_READ : 0) |
               ((p.p_flags & PF_W) ? PROT_WRITE : 0) |
               ((p.p_flags & PF_X) ? PROT_EXEC : 0);
    uint64_t start = PageDown(out.bias + p.p_vaddr);
    uint64_t file_end = out.bias + p.p_vaddr + p.p_filesz;
    uint64_t mem_end = PageUp(out.bias + p.p_vaddr + p.p_memsz);
    if ((p.p_vaddr - p.p_offset) & kPageMask) return Err(ENOEXEC);
    if (p.p_filesz > 0) {
      MmapRequest req;
      req.addr = start;
      req.length = PageUp(file_end) - start;
      req.prot = prot;
      req.flags = MAP_PRIVATE | MAP_FIXED;
      req.object = object;
      req.offset = PageDown(p.p_offset);
      req.name = name;
      req.dev = attr.dev;
      req.ino = attr.ino;
      req.host_mapping = readable;
      TRY(mm.Mmap(req));
      // The rest of the last file page belongs to .bss and must read 0.
      if ((file_end & kPageMask) && (prot & PROT_WRITE))
        TRY_STATUS(mm.ZeroOut(file_end, PageUp(file_end) - file_end));
    }
    uint64_t anon_start = p.p_filesz ? PageUp(file_end) : start;
    if (mem_end > anon_start) {
      MmapRequest req;
      req.addr = anon_start;
      req.length = mem_end - anon_start;
      req.prot = prot;
      req.flags = MAP_PRIVATE | MAP_FIXED;
      TRY(mm.Mmap(req));
    }
    if (p.p_offset <= eh.e_phoff &&
        eh.e_phoff + ph_bytes <= p.p_offset + p.p_filesz)
      out.phdr_addr = out.bias + p.p_vaddr + (eh.e_phoff - p.p_offset);
    out.end = std::max(out.end, mem_end);
  }
  for (auto& p : ph)
    if (p.p_type == PT_PHDR) out.phdr_addr = out.bias + p.p_vaddr;
  out.entry = out.bias + eh.e_entry;
  out.phnum = eh.e_phnum;
  return out;
}

// Writes argv, envp and auxv onto the new stack as the System V ABI lays
// them out. Returns the initial stack pointer.
Result<uint64_t> BuildStack(Task& t, MemoryManager& mm,
                            const std::vector<std::string>& argv,
                            const std::vector<std::string>& envp,
                            const std::string& execfn,
                            std::vector<uint64_t> auxv_tail) {
  uint64_t sp = mm.stack_top;
  auto push_bytes = [&](const void* data, size_t n) -> Result<uint64_t> {
    sp -= n;
    TRY_STATUS(mm.CopyOut(sp, data, n));
    return sp;
  };
  auto push_string = [&](const std::string& s) {
    return push_bytes(s.c_str(), s.size() + 1);
  };

  uint64_t execfn_addr = TRY(push_string(execfn));
  std::vector<uint64_t> env_ptrs, arg_ptrs;
  mm.env_end = sp;
  for (auto it = envp.rbegin(); it != envp.rend(); ++it)
    env_ptrs.insert(env_ptrs.begin(), TRY(push_string(*it)));
  mm.env_start = sp;
  mm.arg_end = sp;
  for (auto it = argv.rbegin(); it != argv.rend(); ++it)
    arg_ptrs.insert(arg_ptrs.begin(), TRY(push_string(*it)));
  mm.arg_start = sp;
  uint64_t platform = TRY(push_string("x86_64"));
  uint8_t random[16];
  (void)getrandom(random, sizeof(random), 0);
  uint64_t random_addr = TRY(push_bytes(random, sizeof(random)));

  std::vector<uint64_t> auxv = std::move(auxv_tail);
  auxv.insert(auxv.end(), {AT_RANDOM, random_addr, uint64_t(AT_EXECFN), uint64_t(execfn_addr),
                           AT_PLATFORM, platform, AT_NULL, 0});
  mm.auxv = auxv;

  std::vector<uint64_t> words;
  words.push_back(argv.size());
  words.insert(words.end(), arg_ptrs.begin(), arg_ptrs.end());
  words.push_back(0);
  words.insert(words.end(), env_ptrs.begin(), env_ptrs.end());
  words.push_back(0);
  words.insert(words.end(), auxv.begin(), auxv.end());
  sp &= ~uint64_t(15);
  sp -= words.size() * 8;
  sp &= ~uint64_t(15);
  TRY_STATUS(mm.CopyOut(sp, words.data(), words.size() * 8));
  return sp;
}

}  // namespace

Result<Shebang> ParseShebang(const std::string& head) {
  if (head.size() < 2 || head[0] != '#' || head[1] != '!')
    return Err(ENOEXEC);
  size_t eol = head.find('\n');
  if (eol == std::string::npos) {
    // Linux takes a line cut at its buffer size only if the interpreter
    // name itself is complete.
    eol = head.size();
  }
  std::string line = head.substr(2, eol - 2);
  auto is_space = [](char c) { return c == ' ' || c == '\t'; };
  size_t i = 0;
  while (i < line.size() && is_space(line[i])) i++;
  size_t j = i;
  while (j < line.size() && !is_space(line[j])) j++;
  Shebang s;
  s.interpreter = line.substr(i, j - i);
  if (s.interpreter.empty()) return Err(ENOEXEC);
  while (j < line.size() && is_space(line[j])) j++;
  size_t end = line.size();
  while (end > j && is_space(line[end - 1])) end--;
  s.argument = line.substr(j, end - j);
  return s;
}

Result<ExecImage> LoadExecutable(Task& t, const Path& dir,
                                 const std::string& path,
                                 std::vector<std::string> argv,
                                 const std::vector<std::string>& envp,
                                 const ExecOptions& options) {
  std::string file = path;
  std::string execfn = options.execfn.empty() ? path : options.execfn;
  Path exe;
  FilePtr f = TRY(OpenExecutable(t, dir, file, options.follow_final, &exe));
  for (int depth = 0;; depth++) {
    std::string head = TRY(ReadHead(t, *f, 256));
    auto shebang = ParseShebang(head);
    if (!shebang.ok()) break;
    // The interpreter would be handed a /dev/fd path that the exec closes,
    // so fail now, as Linux fs/binfmt_script.c:load_script does.
    if (options.path_inaccessible) return Err(ENOENT);
    if (depth >= kMaxScriptDepth) return Err(ELOOP);
    // argv becomes: interpreter [argument] script original-argv[1:]
    std::vector<std::string> next{shebang->interpreter};
    if (!shebang->argument.empty()) next.push_back(shebang->argument);
    next.push_back(depth == 0 ? execfn : file);
    for (size_t i = 1; i < argv.size(); i++) next.push_back(argv[i]);
    argv = std::move(next);
    file = shebang->interpreter;
    f = TRY(OpenExecutable(t, t.fs->cwd, file, true, &exe));
  }

  // A process that no other task shares memory with keeps its host
  // process where the platform can.
  std::shared_ptr<AddressSpace> as;
  bool reuses_space = false;
  if (t.mm_.use_count() == 1) {
    auto reused = t.mm().address_space().PrepareReuse();
    if (reused.ok()) {
      as = std::move(reused.value());
      reuses_space = true;
    }
  }
  // A vfork child's new program gets a host fork of its parent's process,
  // which is quicker than a new one and keeps the host files' descriptors.
  if (!as && t.vfork_parent) {
    auto forked = t.mm().address_space().ForkForExec();
    if (forked.ok()) as = std::move(forked.value());
  }
  if (!as) as = TRY(t.kernel().platform().NewAddressSpace());
  auto mm = std::make_shared<MemoryManager>(as);
  mm->stack_top = kUserEnd - kPageSize * 16 - RandomPages(4096);
  mm->mmap_base = mm->stack_top - kStackSize - (1ull << 28) -
                  RandomPages(1 << 16);
  std::string exe_name = PathName(exe, t.fs->root);
  LoadedElf main_elf = TRY(MapElf(t, *mm, *f, exe_name, false));

  LoadedElf interp;
  if (!main_elf.interp.empty()) {
    Path interp_path;
    FilePtr fi = TRY(OpenExecutable(t, t.fs->root, main_elf.interp, true,
                                    &interp_path));
    interp = TRY(MapElf(t, *mm, *fi, PathName(interp_path, t.fs->root),
                        true));
  }

  MmapRequest stack;
  stack.addr = mm->stack_top - kStackSize;
  stack.length = kStackSize;
  stack.prot = PROT_READ | PROT_WRITE;
  stack.flags = MAP_PRIVATE | MAP_FIXED | MAP_GROWSDOWN;
  stack.name = "[stack]";
  TRY(mm->Mmap(stack));
  mm->brk_start = mm->brk = PageUp(main_elf.end) + RandomPages(8192);
  mm->exe_path = exe_name;
  mm->SetExecutable(exe.dentry->inode);
  mm->exe_mount = exe.mount;
  mm->exe_dentry = exe.dentry;

  std::vector<uint64_t> auxv{
      uint64_t(AT_HWCAP), uint64_t(getauxval(AT_HWCAP)),
      uint64_t(AT_PAGESZ), uint64_t(kPageSize),
      uint64_t(AT_CLKTCK), uint64_t(100),
      uint64_t(AT_PHDR), uint64_t(main_elf.phdr_addr),
      uint64_t(AT_PHENT), uint64_t(sizeof(Elf64_Phdr)),
      uint64_t(AT_PHNUM), uint64_t(main_elf.phnum),
      uint64_t(AT_BASE), uint64_t(interp.entry ? interp.bias : 0),
      uint64_t(AT_FLAGS), uint64_t(0),
      uint64_t(AT_ENTRY), uint64_t(main_elf.entry),
      uint64_t(AT_UID), uint64_t(t.creds.ruid),
      uint64_t(AT_EUID), uint64_t(t.creds.euid),
      uint64_t(AT_GID), uint64_t(t.creds.rgid),
      uint64_t(AT_EGID), uint64_t(t.creds.egid),
      uint64_t(AT_SECURE), uint64_t(0),
      uint64_t(AT_HWCAP2), uint64_t(getauxval(AT_HWCAP2)),
      uint64_t(AT_MINSIGSTKSZ), uint64_t(getauxval(AT_MINSIGSTKSZ)),
  };
  uint64_t sp = TRY(BuildStack(t, *mm, argv, envp, execfn, auxv));
  mm->MapAhead();

  ExecImage image;
  image.mm = mm;
  image.reuses_space = reuses_space;
  image.path = exe_name;
  image.exe = exe;
  Registers& r = image.regs;
  r.rip = interp.entry ? interp.entry : main_elf.entry;
  r.rsp = sp;
  r.cs = 0x33;
  r.ss = 0x2b;
  r.eflags = 0x202;
  r.orig_rax = -1;
  return image;
}

}  // namespace moat
