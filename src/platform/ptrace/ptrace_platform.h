// The ptrace platform: each application thread runs in a stub thread traced
// by its task's host thread under PTRACE_SYSEMU, so every system call stops
// before the host kernel runs it. Memory changes are made by injecting mmap,
// munmap and mprotect calls into a stopped stub thread.
#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>

#include "platform/platform.h"
#include "platform/ptrace/stub_layout.h"

namespace moat {

inline constexpr uint64_t kStubBase = MOAT_STUB_BASE;
static_assert(kStubBase == kStubCode);

class PtraceAddressSpace;

// One stub thread traced by the calling host thread.
class StubThread {
 public:
  // Seizes `tid`, which must be idling in the stub, and stops it.
  static Result<std::unique_ptr<StubThread>> Seize(pid_t tid);
  ~StubThread();

  pid_t tid() const { return tid_; }

  // Runs one system call at `entry` in the stub and returns its result.
  Result<int64_t> Inject(uint64_t entry, int64_t nr,
                         std::initializer_list<uint64_t> args);
  // Lets the host deliver the fault signal `sig` that the thread is stopped
  // for to the stub's handler, with `regs` but a stack in the stub, and
  // returns the trap information of the host's signal frame. Clobbers the
  // FPU state.
  Result<TrapInfo> DeliverFaultToStub(int sig, Registers regs);
  // Waits for the next stop; ESRCH once the thread is gone.
  Result<int> WaitStop();
  bool interrupted() const { return interrupted_; }
  void clear_interrupted() { interrupted_ = false; }
  void Kill();

 private:
  explicit StubThread(pid_t tid) : tid_(tid) {}

  pid_t tid_;
  int pidfd_ = -1;
  bool alive_ = true;
  bool interrupted_ = false;
  Registers template_regs_{};
};

class PtraceAddressSpace : public AddressSpace {
 public:
  explicit PtraceAddressSpace(pid_t first_thread);
  ~PtraceAddressSpace() override;

  Status MapFile(uint64_t addr, uint64_t length, uint64_t frame,
                 int prot) override;
  Status Unmap(uint64_t addr, uint64_t length) override;
  Status Protect(uint64_t addr, uint64_t length, int prot) override;
  Status PrepareThread() override;
  bool ChangeableHere() const override;
  int HostPid() const override { return first_thread_; }

  // Takes a host thread of this address space that no context runs yet.
  pid_t TakeSpareThread();
  // Unique for the life of the process, unlike the object's address.
  uint64_t id() const { return id_; }

 private:
  Result<int64_t> InjectHere(uint64_t entry, int64_t nr,
                             std::initializer_list<uint64_t> args);

  mutable std::mutex mu_;
  std::vector<pid_t> spare_threads_;  // guarded by mu_
  pid_t first_thread_;
  uint64_t id_;
};

class PtraceContext : public Context {
 public:
  ~PtraceContext() override;
  SwitchReason Switch(AddressSpace& as, Registers& regs,
                      siginfo_t& info) override;
  void Interrupt() override;
  Result<FpState> GetFpState() override;
  Status SetFpState(const FpState& state) override;
  Result<TrapInfo> ReadTrap() override;
  void SetInitialFpState(FpState state) override {
    initial_fp_ = std::move(state);
  }
  void Release() override;

 private:
  friend class PtraceAddressSpace;
  std::mutex mu_;  // guards thread_ against Interrupt from other threads
  std::unique_ptr<StubThread> thread_;
  PtraceAddressSpace* as_ = nullptr;
  uint64_t as_id_ = 0;  // as_->id(), checked before as_ is trusted
  int interrupt_pidfd_ = -1;  // guarded by mu_
  std::optional<FpState> initial_fp_;
  // Set while the stub thread still waits in the signal-delivery stop of
  // the fault that the last Switch returned, with the signal and registers.
  bool at_fault_stop_ = false;
  int fault_signal_ = 0;
  Registers fault_regs_{};
};

class PtracePlatform : public Platform {
 public:
  static Result<std::unique_ptr<PtracePlatform>> Create();
  ~PtracePlatform() override;
  std::string Name() const override { return "ptrace"; }
  Result<std::shared_ptr<AddressSpace>> NewAddressSpace() override;
  std::unique_ptr<Context> NewContext() override;

 private:
  PtracePlatform() = default;
  void FactoryLoop();

  pid_t master_ = -1;
  std::thread factory_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void(StubThread&)>> requests_;  // guarded by mu_
  bool stopping_ = false;
};

// Stub code addresses, for the entry points of injected calls.
uint64_t StubAddress(const void* symbol);
extern "C" char moat_stub_begin[], moat_stub_end[], moat_stub_wait[],
    moat_stub_syscall[], moat_stub_clone[], moat_stub_fault[],
    moat_stub_fault_stop[], moat_stub_unmap_low_return[],
    moat_stub_unmap_high_return[], moat_stub_wait_return[],
    moat_stub_syscall_return[], moat_stub_clone_return[];

// The per-thread pointer to the context that the calling host thread is
// running, so that an AddressSpace can inject through it.
PtraceContext*& CurrentPtraceContext();

}  // namespace moat
