// The Platform is how application code runs and how it traps back into the
// kernel. An AddressSpace is a host process whose memory mirrors a
// MemoryManager; a Context runs one application thread in it.
#pragma once

#include <signal.h>
#include <sys/user.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "util/result.h"

namespace moat {

// The application's general registers, in the layout of ptrace(2).
using Registers = user_regs_struct;

// Highest application address plus one. The stub's code lives above it,
// at kStubCode, and the trap platform's thread slots lie in between.
inline constexpr uint64_t kUserEnd = 0x7fffc0000000;
inline constexpr uint64_t kStubCode = 0x7fffffe00000;

// The host's legacy vsyscall page, whose calls the host emulates after its
// seccomp filter ran (Linux arch/x86/entry/vsyscall/vsyscall_64.c).
inline constexpr uint64_t kVsyscallPage = 0xffffffffff600000;

inline bool IsVsyscallAddress(const void* address) {
  auto a = reinterpret_cast<uint64_t>(address);
  return a >= kVsyscallPage && a < kVsyscallPage + 4096;
}

class AddressSpace {
 public:
  virtual ~AddressSpace() = default;

  // Maps [addr, addr+length) to the MemoryFile at `frame` with `prot`,
  // replacing whatever was there. Must be called from a thread whose Context
  // currently runs in this address space, or before any thread runs in it.
  virtual Status MapFile(uint64_t addr, uint64_t length, uint64_t frame,
                         int prot) = 0;
  virtual Status Unmap(uint64_t addr, uint64_t length) = 0;
  virtual Status Protect(uint64_t addr, uint64_t length, int prot) = 0;
  // MapFile that may wait until the calling thread next runs application
  // code, where a platform can then map without a round trip of its own.
  // Only for a caller that runs a context here, such as a page fault's.
  // A late mapping that fails shows up as a fault at a page the kernel
  // thinks mapped, which it then maps with MapFile.
  virtual Status MapFileOnResume(uint64_t addr, uint64_t length, uint64_t frame,
                                 int prot) {
    return MapFile(addr, length, frame, prot);
  }
  // MapFileOnResume for a mapping that only saves later faults: returns
  // false, having done nothing, where the platform would map at once.
  virtual bool MapFileIfQueued(uint64_t addr, uint64_t length, uint64_t frame,
                               int prot) {
    return false;
  }
  // Maps a run, before any thread has run here, for the first thread to
  // make before it runs the program: a forked child then finds its
  // parent's pages mapped instead of faulting on each. Returns false where
  // the platform does not, or has no room left; those pages fault as
  // usual. Changes to the range before that first run replace the run.
  virtual bool MapFileAhead(uint64_t addr, uint64_t length, uint64_t frame,
                            int prot) {
    return false;
  }

  // Maps [addr, addr+length) to the host file `fd` at `offset`, private
  // and without PROT_WRITE, straight from the host's page cache, replacing
  // whatever was there. `file` is the kernel's object for the file, which
  // the platform keeps alive while its processes have the descriptor open.
  // ENOTSUP where the platform cannot, and the caller then maps the
  // MemoryFile's copies of the pages as usual.
  virtual Status MapHostFile(uint64_t addr, uint64_t length, int prot,
                             const std::shared_ptr<void>& file, int fd,
                             uint64_t offset) {
    return Err(ENOTSUP);
  }

  // Closes every host file's descriptor that MapHostFile left in this
  // space's host processes, when a task's credentials or root change,
  // because a file that an earlier identity could read must not stay
  // mappable through the stub. A Context that runs here finds them closed
  // on return. Another thread's call leaves the close to the next thread
  // here that runs the program, before it does. Mappings already made
  // stay.
  virtual Status DropHostFiles() { return Ok(); }

  // Whether the calling thread may change the host's mappings here: it
  // runs a context in this address space, or no thread has run in it yet.
  virtual bool ChangeableHere() const { return true; }

  // Where a patched system call site may jump to enter the kernel without
  // a trap (mm/syscall_patch.cc), or 0 when the platform has no such entry.
  virtual uint64_t PatchedSyscallEntry() const { return 0; }

  // The pid of the host process that holds this address space, in the
  // kernel's pid namespace; 0 when there is none.
  virtual int HostPid() const { return 0; }

  // Prepares a thread for a later Context::Switch into this address space,
  // for clone(CLONE_VM). Called by a Context that runs in it.
  virtual Status PrepareThread() = 0;

  // A new address space whose host mappings are a copy of this one's, made
  // by the host's fork(2), for fork(2) here: the child then needs no
  // mapping of its own for what it shares with its parent. Called by a
  // Context that runs in it. ENOTSUP where the platform cannot. Until a
  // thread runs in the copy, MapFile, Unmap and Protect there wait in
  // order for that first run.
  virtual Result<std::shared_ptr<AddressSpace>> ForkHost() {
    return Err(ENOTSUP);
  }
  // Returns a new address space for an exec by a vfork child, which runs
  // on its parent's thread here. Its host process is the host's fork of
  // this one's (ForkHost) and keeps the host files' descriptors
  // (MapHostFile). Its first run unmaps everything below kUserEnd. ENOTSUP
  // where the platform cannot.
  virtual Result<std::shared_ptr<AddressSpace>> ForkForExec() {
    return Err(ENOTSUP);
  }
  // For an exec by the only task of this address space, in which only one
  // thread ever ran: a new, empty address space for the new image. At the
  // exec's point of no return it takes over this one's host process
  // (TakeOver), so the exec needs no new process. Until then, changes
  // there wait in order for its first run. ENOTSUP where the platform
  // cannot.
  virtual Result<std::shared_ptr<AddressSpace>> PrepareReuse() {
    return Err(ENOTSUP);
  }
  // Takes over the host process and threads of `old`, for which
  // PrepareReuse made this space, once the exec's context has let go of
  // its thread (Context::Release). `old` keeps nothing to end.
  virtual void TakeOver(AddressSpace& old) {}
};

// The reason Switch returned.
enum class SwitchReason {
  kSyscall,      // regs.orig_rax contains the number
  kVsyscall,     // a call through the vsyscall page: regs.orig_rax contains
                 // the number, regs the host's emulated return to the
                 // caller, info.si_call_addr the vsyscall entry
  kFault,        // info contains the signal the application raised
  kInterrupted,  // Context::Interrupt, or a host signal to the stub
  kDied,         // the host process died; info.si_signo is the signal
                 // that killed it when the platform knows it, else 0
};

// The FPU and vector state as the XSAVE instruction stores it.
using FpState = std::vector<uint8_t>;

// The trap information that the CPU reports for a fault, which Linux keeps
// in its thread_struct for the trapno, err and cr2 fields of signal frames.
struct TrapInfo {
  uint64_t trap_number = 0;  // the exception vector, 14 for a page fault
  uint64_t error_code = 0;   // for a page fault, X86_PF_* bits
  uint64_t address = 0;      // the faulting address of a page fault
};

class Context {
 public:
  virtual ~Context() = default;

  // Runs the application in `as` with `regs` until it traps.
  virtual SwitchReason Switch(AddressSpace& as, Registers& regs,
                              siginfo_t& info) = 0;

  // Makes a running Switch return kInterrupted soon. Callable from any
  // thread.
  virtual void Interrupt() = 0;

  // The FPU state of the thread last switched to; valid between Switches.
  virtual Result<FpState> GetFpState() = 0;
  virtual Status SetFpState(const FpState& state) = 0;

  // Reads the trap information of the fault that the last Switch returned
  // kFault for. Possible only until the context next runs or changes its
  // address space: EAGAIN after that.
  virtual Result<TrapInfo> ReadTrap() = 0;

  // Whether a system call that Switch reported may have come through
  // `int $0x80`, which the kernel then finds out from the instruction's
  // bytes. False where the platform never reports such a call.
  virtual bool SyscallMayBeInt80() const { return true; }

  // FPU state to load into the thread that the next Switch starts, for
  // fork(2), whose child inherits its parent's state.
  virtual void SetInitialFpState(FpState state) = 0;

  // Releases the host thread that runs this context.
  virtual void Release() = 0;
  // Lends the host thread to the address space's other contexts while the
  // task waits in the kernel, as a vfork(2) caller waits for its child,
  // which then runs on it. The context keeps its FPU state and takes a
  // thread again when it next switches. Platforms that cannot lend keep
  // the thread.
  virtual void Park() {}
  // Tells the platform that the task is about to wait in the kernel, so
  // that nothing spins for the task's result meanwhile.
  virtual void Blocking() {}
};

class Platform {
 public:
  virtual ~Platform() = default;
  virtual std::string Name() const = 0;
  virtual Result<std::shared_ptr<AddressSpace>> NewAddressSpace() = 0;
  virtual std::unique_ptr<Context> NewContext() = 0;
};

// Creates the named platform; must run before the kernel starts threads.
// `patching` lets the trap platform patch system call sites.
Result<std::unique_ptr<Platform>> NewPlatform(const std::string& name,
                                              bool patching = true);

}  // namespace moat
