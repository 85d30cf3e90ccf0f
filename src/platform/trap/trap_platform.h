// The trap platform: application threads run in stub threads whose seccomp
// filter turns every system call into a SIGSYS. The stub's handler, on a
// signal stack in the thread's slot, hands the trap to the kernel through
// the slot's control page and resumes with what the kernel wrote into the
// signal frame. Faults and the kernel's interrupt signal take the same way
// in. Only making fresh address spaces uses ptrace, from one factory
// thread. Forks and threads are made by the stubs themselves on the
// kernel's request, with calls that the kernel vets through the stub
// filter's listener.
#pragma once

#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <sys/types.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "platform/platform.h"
#include "platform/trap/trap_layout.h"
#include "util/host_info.h"

namespace moat {

inline constexpr uint64_t kTrapBase = MOAT_TRAP_BASE;
static_assert(kTrapBase == kStubCode);
static_assert(MOAT_TRAP_SLOT_BASE == kUserEnd);
inline constexpr uint64_t kTrapSlotSize = MOAT_TRAP_SLOT_SIZE;
// PIDFD_GET_INFO and PIDFD_INFO_EXIT (linux/pidfd.h, Linux 6.15), for the
// signal that killed a stub thread.
inline constexpr unsigned long kPidfdGetInfo = 0xc040ff0b;
inline constexpr uint64_t kPidfdInfoExit = 1u << 3;
// The host signal that makes a thread running application code trap.
inline constexpr int kTrapInterruptSignal = SIGURG;
// The descriptor numbers of host files in a stub process (MapHostFile):
// kTrapHostFdCount of them from kTrapHostFdBase, which the stub filter
// tests with one mask.
inline constexpr int kTrapHostFdBase = 256;
inline constexpr int kTrapHostFdCount = 256;

class TrapPlatform;
class TrapContext;

// One stub thread: a host process sharing the address space's memory,
// with the slot it traps through.
struct TrapThread {
  pid_t tid = 0;
  int pidfd = -1;
  int slot = 0;
  uint64_t slot_addr = 0;  // where the stub sees the slot
  uint8_t* area = nullptr;  // the kernel's view of the same frames
  // The thread has run: it waits in its handler at its last trap, whose
  // frame the next context reads.
  bool started = false;
  // The next context starts it with the FPU in its initial state: it ran
  // the program that an exec replaced.
  bool clean_fp = false;
};

// The queued operation that maps `length` bytes of the memory file at
// `frame`: MOAT_TRAP_OP_MMAP_POPULATE for a run of frames that all have
// host pages (freed ones that the kernel zeroed, a file's cached pages),
// whose page table the host then fills in the one call. Otherwise
// MOAT_TRAP_OP_MMAP, because populating a hole would give it a page the
// program may never touch.
int TrapMapOp(uint64_t frame, uint64_t length);

// The FPU state components that XSAVE keeps for the stubs, and the size
// of the standard-format area they fill. XCR0 can enable more than a
// process may use: since Linux 5.16, AMX tile data needs permission
// (ARCH_REQ_XCOMP_PERM), and until a process has it the host leaves the
// component out of its signal frames, which are then 8 KiB smaller.
struct XsaveLayout {
  uint64_t features = 0;
  uint32_t size = 0;
};
Result<XsaveLayout> HostXsaveLayout();

class TrapAddressSpace : public AddressSpace {
 public:
  TrapAddressSpace(TrapPlatform& platform, pid_t process);
  // The maximum number of runs MapFileAhead accepts. Making each costs the
  // child's stub an mmap(2) of a few microseconds, and a fault on a page
  // left out costs several times that.
  static constexpr size_t kMaxAheadMaps = 512;
  // The maximum number of threads kept waiting beyond those promised
  // (ParkThread). One serves a shell's next vfork child or a program's
  // next thread, and more would only hold host processes.
  static constexpr size_t kMaxParked = 2;
  ~TrapAddressSpace() override;

  Status MapFile(uint64_t addr, uint64_t length, uint64_t frame,
                 int prot) override;
  Status MapFileOnResume(uint64_t addr, uint64_t length, uint64_t frame,
                         int prot) override;
  bool MapFileIfQueued(uint64_t addr, uint64_t length, uint64_t frame,
                       int prot) override;
  bool MapFileAhead(uint64_t addr, uint64_t length, uint64_t frame,
                    int prot) override;
  Status Unmap(uint64_t addr, uint64_t length) override;
  Status Protect(uint64_t addr, uint64_t length, int prot) override;
  Status MapHostFile(uint64_t addr, uint64_t length, int prot,
                     const std::shared_ptr<void>& file, int fd,
                     uint64_t offset) override;
  Status DropHostFiles() override;
  // Closes the host files' descriptors if DropHostFiles left that to this
  // thread, which runs a context here and is about to resume it.
  Status ClosePendingHostFiles(TrapContext& ctx);
  Status PrepareThread() override;
  bool ChangeableHere() const override;
  uint64_t PatchedSyscallEntry() const override;
  int HostPid() const override { return process_; }

  Result<std::shared_ptr<AddressSpace>> ForkHost() override;
  Result<std::shared_ptr<AddressSpace>> ForkForExec() override;
  Result<std::shared_ptr<AddressSpace>> PrepareReuse() override;
  void TakeOver(AddressSpace& old) override;

  // PrepareThread for the first thread, on the factory thread, in slot 1
  // with `frame`, which the kernel allocated. Takes the frame in any case.
  Status PrepareFirstThread(uint64_t frame);
  // Takes a thread that PrepareThread made or a context parked, which no
  // context runs. The first taker also gets the mappings made ahead
  // (MapFileAhead) in *ahead, as address, length, protection and frame.
  std::optional<TrapThread> TakeSpareThread(
      std::vector<std::array<uint64_t, 4>>* ahead);
  // Keeps a thread that a context let go of, waiting in its handler, for
  // the next context here. False when enough threads wait already, and the
  // caller then ends it.
  bool ParkThread(TrapThread t);
  // Gives back the slot of a thread that has died.
  void ReturnSlot(int slot);
  uint64_t id() const { return id_; }
  pid_t process() const { return process_; }

 private:
  Status Request(int64_t nr, std::initializer_list<uint64_t> args);
  // Queues a mapping change (TrapContext::Queue) for the calling
  // context's resume; false where it must be made at once.
  bool QueueChange(int op, uint64_t addr, uint64_t length, int prot,
                   uint64_t frame);
  // Removes [addr, addr+length) from the mappings made ahead. Called with
  // mu_ held.
  void TrimAhead(uint64_t addr, uint64_t length);
  Status StartThread(int slot, uint64_t frame, bool map, bool on_factory);
  // Returns whether this space never had a stub thread but the first. A
  // copy of its host process (ForkHost, PrepareReuse) would otherwise keep
  // the other threads' slots mapped, to frames that their owner frees when
  // it likes.
  bool OnlyOneThreadEverMade() const;

  TrapPlatform& platform_;
  // Idles, traced by the factory, and never runs the program; in a
  // space that ForkHost made, the first thread's process, and none idles.
  pid_t process_;
  bool forked_ = false;  // process_ is a thread's: made by ForkHost
  // The host already has mappings here before the first run (ForkHost,
  // PrepareReuse), so every change until then counts, in order
  // (pending_changes_).
  bool ordered_changes_ = false;
  uint64_t id_;
  bool ran_ = false;  // a thread has run: faults may have mapped memory
  // Mappings for the first thread to make (MapFileAhead), none
  // overlapping: address -> length, frame, protection. Guarded by mu_.
  std::map<uint64_t, std::array<uint64_t, 3>> ahead_;
  // With ordered_changes_, the changes to the host's mappings, in order,
  // for the first run: address, length, protection with the MOAT_TRAP_OP_*
  // in its high half, frame. Guarded by mu_.
  std::vector<std::array<uint64_t, 4>> pending_changes_;
  // The host files whose descriptors process_ has open (MapHostFile): the
  // kernel's object -> the descriptor's number there, and the object,
  // kept alive while the number stands for it. Guarded by mu_.
  std::map<const void*, std::pair<int, std::shared_ptr<void>>> host_fds_;
  // Set when DropHostFiles came from a thread that runs no context here,
  // such as another process's chroot of the root it shares through
  // CLONE_FS. The next thread to resume here then closes the descriptors
  // before it runs the program (ClosePendingHostFiles).
  std::atomic<bool> drop_pending_{false};
  Status CloseHostFiles(TrapContext& ctx);
  mutable std::mutex mu_;
  std::vector<TrapThread> spare_;  // guarded by mu_
  // Spare threads that PrepareThread promised to tasks which have not
  // taken one yet. Guarded by mu_.
  size_t promised_ = 0;
  // Frames behind each slot, by slot number (0: none yet); a slot keeps
  // its frames and its mapping in the stub for the next thread. Guarded by
  // mu_.
  std::vector<uint64_t> slot_frames_ = std::vector<uint64_t>(1, 0);
  std::vector<int> free_slots_;  // mapped and unused, guarded by mu_
  int next_slot_ = 1;            // guarded by mu_
  // Whether only one stub thread was ever made here. Then no other thread
  // can run the program while the kernel's queued mappings wait for the
  // resume (TrapContext::QueueMap), so none can see a mapping the kernel
  // has already replaced or freed.
  std::atomic<bool> one_thread_{true};
};

// A spin budget that halves each time spinning did not pay and comes back
// whole as soon as it did. A busy host, or a program that blocks or
// computes long between calls, soon stops paying for spins. At zero the
// budget probes with its whole size every 16th time. Growing back by steps was
// worse: a budget below the kernel's time for a call never pays, so it
// stayed too small for good, and every call then paid a futex wake-up of
// tens of microseconds.
class SpinBudget {
 public:
  explicit SpinBudget(uint32_t max) : max_(max), value_(max) {}
  uint32_t Get() {
    if (value_ == 0 && ++idle_ % 16 == 0) return max_;
    return value_;
  }
  void Paid() { value_ = max_; }
  void Wasted() { value_ = value_ / 2 < max_ / 64 ? 0 : value_ / 2; }

 private:
  uint32_t max_, value_, idle_ = 0;
};

class TrapContext : public Context {
 public:
  explicit TrapContext(TrapPlatform& platform);
  // The kernel's longest spin for the stub.
  static constexpr uint32_t kKernelSpinNs = 50'000;
  ~TrapContext() override;
  SwitchReason Switch(AddressSpace& as, Registers& regs,
                      siginfo_t& info) override;
  void Interrupt() override;
  Result<FpState> GetFpState() override;
  Status SetFpState(const FpState& state) override;
  Result<TrapInfo> ReadTrap() override;
  // The stub filter kills a thread that enters through `int $0x80`, whose
  // calls come with the i386 architecture, and patched calls are `syscall`
  // sites. So no reported call came through `int $0x80`.
  bool SyscallMayBeInt80() const override { return false; }
  void SetInitialFpState(FpState state) override {
    initial_fp_ = std::move(state);
  }
  void Release() override;
  void Park() override;
  void Blocking() override;

  // Runs one host call in the stub thread, which waits in its handler.
  // Makes the queued mapping changes first, so that calls keep their order.
  Result<int64_t> Request(int64_t nr, std::initializer_list<uint64_t> args);
  // Queues a change of the host's mappings for the stub to make when it
  // next resumes: `op` is MOAT_TRAP_OP_MMAP (of the memory file at
  // `frame`), MOAT_TRAP_OP_MUNMAP or MOAT_TRAP_OP_MPROTECT. False when the
  // queue is full.
  bool Queue(int op, uint64_t addr, uint64_t length, int prot, uint64_t frame);
  // Makes the queued changes now, one request each.
  Status MapQueued();
  // Runs MOAT_TRAP_FORK_REQUEST or MOAT_TRAP_THREAD_REQUEST, whose clone
  // returns to `call_return`, vetted by the platform (VetSpawn), and
  // returns the new process's id. `args` are the request's arguments but
  // the nonce, which this adds. `before` runs after the arguments are in
  // the control page and before the stub is woken for the request.
  // Sets *spawned to whether the host's clone succeeded: a process may
  // exist even when the call fails.
  Result<pid_t> RequestSpawn(int64_t nr, std::initializer_list<uint64_t> args,
                             uint64_t call_return,
                             const std::function<void()>& before = nullptr,
                             bool* spawned = nullptr);
  // Puts a copy of the kernel's descriptor `host_fd` at `target` in the
  // stub thread's process, through the listener (VetInstallFd).
  Status InstallFd(int host_fd, int target);
  const TrapThread& thread() const { return *thread_; }
  uint64_t as_id() const { return as_id_; }
  bool started() const { return started_; }

 private:
  enum class Wait { kChanged, kDied };
  Wait WaitWhile(uint32_t published, bool may_spin);
  // Decides, before the kernel thread sleeps until the stub traps, whether
  // it sleeps on the stub's CPU, and binds it to that CPU if so.
  bool SleepOnStubCpu();
  void KillIfInterruptIgnored();
  void Publish(uint32_t state);
  bool ReadFrame();
  FpState CleanFpState() const;
  // Writes the queued mapping changes into the control page, for the
  // stub's next resume or fork.
  void WriteQueued();
  Status SaveFpState();
  void WriteFrame(const Registers& regs);
  bool NeedsSigreturn(const Registers& regs) const;
  bool Bind(AddressSpace& as);
  // Lets go of the thread: parks it in the address space if `park` and it
  // waits in its handler, or ends it.
  void ReleaseThread(bool park);
  SwitchReason Classify(Registers& regs, siginfo_t& info);

  TrapPlatform& platform_;
  std::mutex mu_;  // guards thread_.pidfd against Interrupt
  std::optional<TrapThread> thread_;
  // When Interrupt signalled the thread that has not trapped since, in
  // steady_clock nanoseconds; 0 if none. Switch restarts the clock when
  // it resumes the thread, whose interrupt signal is then unblocked.
  std::atomic<int64_t> interrupt_sent_ns_{0};
  TrapAddressSpace* as_ = nullptr;
  uint64_t as_id_ = 0;
  // Whether the thread has taken its first trap. Written under mu_.
  bool started_ = false;
  // Whether Interrupt came before the first trap, when it may not signal
  // the thread yet. Set under mu_ and cleared by Switch.
  std::atomic<bool> interrupted_before_start_{false};
  // The interrupt that KillIfInterruptIgnored last found overdue, by its
  // interrupt_sent_ns_, and the thread's CPU time then. Used only by the
  // thread that runs the context.
  int64_t ignored_sent_ns_ = 0;
  int64_t ignored_cpu_ns_ = -1;
  std::optional<FpState> initial_fp_;
  // The last trap, copied out of the frame: offsets of the ucontext and the
  // FPU state in the slot, the registers, the siginfo.
  uint64_t uc_offset_ = 0;
  uint64_t fp_offset_ = 0;
  ucontext_t uc_{};
  siginfo_t info_{};
  uint64_t fs_base_ = 0, gs_base_ = 0;
  bool have_trap_ = false;
  // Whether the frame contains the FPU state of the last trap. After a
  // signal it always does. After a patched call it does only once
  // SaveFpState has requested it from the stub.
  bool fp_saved_ = true;
  // Whether SetFpState wrote the state, which the stub must then load.
  bool fp_changed_ = false;
  bool fault_ = false;  // the last Switch returned kFault
  // Whether the thread's MAP_COUNT is known to be zero.
  bool map_count_clear_ = false;
  // Mapping changes for the next resume: address, length, protection with
  // the call in its high half, frame.
  std::vector<std::array<uint64_t, 4>> queued_maps_;
  // Mappings made ahead for the address space's first run (Bind).
  std::vector<std::array<uint64_t, 4>> ahead_maps_;
  SpinBudget kernel_spin_;  // nanoseconds
  SpinBudget stub_spin_;    // pause iterations
  // Traps in a row, each sooner than kLongGapNs after the resume before
  // it, that the kernel thread slept on the stub's CPU for.
  int short_gaps_ = 0;
  // Traps in a row each later than kLongGapNs after the resume.
  int long_gaps_ = 0;
  // Whether the last Publish had to wake the stub.
  bool woke_stub_ = false;
};

class TrapPlatform : public Platform {
 public:
  static Result<std::unique_ptr<TrapPlatform>> Create(bool patching);
  ~TrapPlatform() override;
  std::string Name() const override { return "trap"; }
  Result<std::shared_ptr<AddressSpace>> NewAddressSpace() override;
  std::unique_ptr<Context> NewContext() override;

  // Runs `request` on the factory thread, which traces every idle process,
  // and waits for it.
  void RunOnFactory(std::function<void()> request);
  // Queues `request` for the factory thread and returns at once.
  void PostToFactory(std::function<void()> request);
  // Makes a stub thread in `process` for `slot`, mapping the slot's frames
  // first if `map`. Runs on the factory thread.
  Result<pid_t> CloneThread(pid_t process, uint64_t slot_addr, uint64_t frame,
                            bool map);
  // Ends an address space's process. Runs on the factory thread.
  void KillProcess(pid_t process);
  // Lets the stub thread `caller` (`caller_pidfd`) make the clone(2) it
  // stops in at `call_return`, then takes the new process's hello
  // (moat_trap_hello) with `nonce` and returns its id, which only the host
  // can tell. Any other vetted call meanwhile fails with ENOSYS. `failed`
  // returns whether the caller has reported the clone failed, after which no
  // hello comes. ESRCH when the caller dies, ETIMEDOUT when no hello
  // comes.
  Result<pid_t> VetSpawn(pid_t caller, int caller_pidfd, uint64_t call_return,
                         uint64_t nonce, const std::function<bool()>& failed);
  // Completes the dup(2) that the stub thread `caller` makes at
  // moat_trap_request_return with `nonce` by putting a copy of `host_fd`
  // at `target` in its process (SECCOMP_IOCTL_NOTIF_ADDFD). Any other
  // vetted call meanwhile fails with ENOSYS.
  Status VetInstallFd(pid_t caller, int caller_pidfd, uint64_t nonce,
                      int host_fd, int target);
  // Returns the next call the stub filter handed to the listener, calling
  // `idle` every 10 ms while none comes and stopping at its error. Called
  // with vet_mu_ held.
  Result<seccomp_notif> NextVettedCall(const std::function<Status()>& idle);
  // Lets the vetted call `id` go on (with
  // SECCOMP_USER_NOTIF_FLAG_CONTINUE in `flags`), or fails it with
  // `error`, or completes it with 0.
  void ReplyToVettedCall(uint64_t id, int error, uint32_t flags = 0);

  uint32_t xstate_size() const { return xstate_size_; }
  // The FPU state components the stubs save and restore: the host's XCR0
  // less those the process has no permission for (AMX tile data).
  uint64_t xfeatures() const { return xfeatures_; }
  // Whether call sites may be patched to enter through moat_trap_patched.
  bool patching() const { return patching_; }
  // The stub's longest spin for the kernel's reply, longer than the
  // kernel's because calls that wait on the gofer or fill pages take tens
  // of microseconds. A stub that sleeps instead costs a futex wake-up of
  // about as much again on the test VMs: python3 -c pass took 99 ms with
  // a 20 us spin and 53-63 ms with 200 us. A stub whose task blocks in
  // the kernel does not spin at all (MOAT_TC_KERNEL_BLOCKED).
  static constexpr uint64_t kStubSpinNs = 200'000;
  // Pause iterations in the stub's longest spin.
  uint32_t spin_iterations() const { return spin_iterations_; }
  // Whether spinning may pay: not when more threads want to run than
  // there are CPUs, which a spinner would starve.
  bool StubMaySpin() const;
  bool KernelMaySpin() const;
  // The CPUs moat's threads may run on, which a kernel thread that
  // followed its stub returns to.
  const cpu_set_t& cpus() const { return MoatCpuSet(); }
  std::atomic<int> running{0};  // contexts inside Switch

 private:
  TrapPlatform() = default;
  void FactoryLoop();
  // Makes an address space and its first thread. Runs on the factory
  // thread; takes `frame`, the first slot's frames, in any case.
  Result<std::shared_ptr<TrapAddressSpace>> MakeAddressSpace(uint64_t frame);
  // Allocates the slot frames of the refills that bring the pool back to
  // kPoolSize, and wakes the factory to make them. Under the kernel lock.
  void RequestRefills();
  Result<int64_t> Inject(pid_t pid, uint64_t entry, int64_t nr,
                         std::initializer_list<uint64_t> args,
                         uint64_t r12 = 0);
  Status Seize(pid_t pid);
  // Takes the master's listener for the stub filter's vetted calls and
  // closes the master's copy, which no stub may hold. On the factory
  // thread, before the first address space is made.
  Status TakeListener();

  pid_t master_ = -1;
  int listener_ = -1;
  std::mutex vet_mu_;  // one vetted spawn at a time
  uint32_t xstate_size_ = 0;
  uint64_t xfeatures_ = 0;
  bool patching_ = false;
  uint32_t spin_iterations_ = 0;
  long cpus_ = 1;
  std::thread factory_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> requests_;  // guarded by mu_
  bool stopping_ = false;
  // Address spaces made ahead, each with its first thread, so that fork
  // and exec need not wait about half a millisecond for the factory's
  // ptrace stops. The factory refills the pool when it has no requests,
  // from the second address space of a sandbox on: a sandbox that never
  // forks makes none. Guarded by mu_.
  static constexpr size_t kPoolSize = 2;
  std::vector<std::shared_ptr<TrapAddressSpace>> pool_;
  std::deque<uint64_t> refill_frames_;  // one per refill not yet made
  // Notified when a refill is done or refills have failed.
  std::condition_variable pool_cv_;
  uint64_t address_spaces_made_ = 0;
  bool refills_failed_ = false;
  // Registers of an idle process, the base of every injection.
  Registers template_regs_{};
};

uint64_t TrapStubAddress(const void* symbol);
// Waits until the stub thread behind `pidfd` publishes `state` in its
// control page `area`. False if it died first.
bool WaitForStubState(uint8_t* area, uint32_t state, int pidfd);
// Returns whether the process or thread behind `pidfd` has exited.
bool Exited(int pidfd);
// The context whose Switch the calling host thread runs, through which an
// address space makes its memory calls.
TrapContext*& CurrentTrapContext();
extern "C" char moat_trap_begin[], moat_trap_end[], moat_trap_idle[],
    moat_trap_idle_end[], moat_trap_syscall[], moat_trap_fork[],
    moat_trap_clone[], moat_trap_first[], moat_trap_handler[],
    moat_trap_restorer[], moat_trap_wake_return[], moat_trap_yield_return[],
    moat_trap_wait_return[], moat_trap_request_return[], moat_trap_map_return[],
    moat_trap_sigreturn_return[], moat_trap_patched[], moat_trap_fork_return[],
    moat_trap_thread_return[], moat_trap_slot_return[],
    moat_trap_hello_return[], moat_trap_exit_return[];

}  // namespace moat
