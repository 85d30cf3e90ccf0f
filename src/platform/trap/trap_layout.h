// Addresses, offsets and states that the trap platform's stub assembly
// shares with its C++ side. Only preprocessor definitions, so that
// trap_stub.S can include it.
#pragma once

// The stub's code page sits where the ptrace stub's does, at the end of the
// application's address space (kUserEnd). The page after it holds the stub's
// seccomp program while the master stub installs it.
#define MOAT_TRAP_BASE 0x7fffffe00000
#define MOAT_TRAP_CODE_SIZE 0x1000
#define MOAT_TRAP_TASK_SIZE 0x7ffffffff000

// Every stub thread has a slot of its own: the control page the kernel and
// the stub hand off through, then the thread's signal stack. Slot i starts
// at SLOT_BASE + (i - 1) * SLOT_SIZE for i in [1, MAX_SLOT], in the 1 GiB
// below the code that ends at TASK_SIZE (the stub filter pins futex
// addresses to that GiB). Slots are aligned to their size, so that the
// handler finds its control page by rounding its stack pointer down.
#define MOAT_TRAP_SLOT_BASE 0x7fffc0000000
#define MOAT_TRAP_STUB_AREA_MASK (~0x3fffffffull)
#define MOAT_TRAP_SLOT_SIZE 0x4000
#define MOAT_TRAP_CONTROL_SIZE 0x1000
#define MOAT_TRAP_MAX_SLOT \
  ((MOAT_TRAP_BASE - MOAT_TRAP_SLOT_BASE) / MOAT_TRAP_SLOT_SIZE)

// The control page. The kernel writes RESUME or REQUEST into STATE; the
// stub answers with TRAPPED or DONE. Each side sets its SLEEPING word
// before it sleeps on STATE with a futex, so the other wakes it only then.
// Apart from STATE's line, each side stores a word of the hand-off only
// when its value changes. A cache line the other side last read then stays
// in both caches, so a hand-off moves only the lines that changed. On the
// test VMs, a line moving between CPUs took about 200 ns.
#define MOAT_TC_STATE 0
#define MOAT_TC_KERNEL_SLEEPING 4  // 1, or 2 on the stub's CPU (see below)
#define MOAT_TC_STUB_SLEEPING 8
#define MOAT_TC_SPIN 12     // pause iterations the stub spins before sleeping
#define MOAT_TC_UCONTEXT 16  // the handler's arguments
#define MOAT_TC_SIGINFO 24
#define MOAT_TC_PATCH_RSP 32  // the application's %rsp at a patched call
#define MOAT_TC_FS_BASE 40  // read with rdfsbase at the trap
#define MOAT_TC_GS_BASE 48
// The %rax the thread resumes with. The stub loads it from here, in the
// line that brings the state, unless it leaves through rt_sigreturn. So a
// call's result leaves the frame's lines unchanged in the stub's cache.
#define MOAT_TC_NEW_RAX 56
#define MOAT_TC_NEW_GS_BASE 64
#define MOAT_TC_REQUEST 72  // number and six arguments of a host call
#define MOAT_TC_RESULT 128
#define MOAT_TC_ALTSTACK 136  // the stack_t a new thread passes to sigaltstack
#define MOAT_TC_PATCH_RIP 168  // where a patched call returns to
#define MOAT_TC_XFEATURES 176  // the FPU state components the stubs keep
// 1: the trap came through a patched call, whose FPU state is still in the
// registers; 2: and the stub has saved it at MOAT_TRAP_PATCH_FP since.
#define MOAT_TC_PATCHED 184
#define MOAT_TC_FP_RESTORE 188  // 1: load the frame's FPU state on resuming
// 1: the stub leaves a SIGSYS frame through rt_sigreturn, because its own
// loads cannot restore what the kernel wrote into it.
#define MOAT_TC_SIGRETURN 192
// Changes to the host's mappings that the stub makes when it resumes,
// before it returns to the program: MAP_COUNT entries of MAP_ENTRY_SIZE
// bytes at MAPS, each the address, length, protection and memory file
// offset of one call. The call is the protection word's high half
// (MOAT_TRAP_OP_*): an mmap of the memory file, whose descriptor is
// MEMORY_FD, a munmap or an mprotect. The kernel queues them while it
// serves a fault, mmap, munmap or mprotect, and saves the stub a round
// trip per call.
// 1: the kernel waits for an event on the task's behalf, so the stub
// sleeps at once instead of spinning for the result.
#define MOAT_TC_KERNEL_BLOCKED 204
#define MOAT_TC_MAP_COUNT 196
#define MOAT_TC_MEMORY_FD 200
#define MOAT_TC_SIGNO 208
#define MOAT_TC_NEW_FS_BASE 216  // loaded with wrfsbase before resuming
// One more than the CPU the stub ran on when it last woke the kernel (0:
// not yet), so that a kernel that sleeps can wait on that CPU.
#define MOAT_TC_CPU 224
#define MOAT_TC_MAPS 256
#define MOAT_TRAP_MAP_ENTRY_SIZE 32
#define MOAT_TRAP_MAX_MAPS 120  // up to the control page's end
// KERNEL_SLEEPING's value when the kernel thread sleeps where the stub
// thread last ran: the stub, once it has woken the kernel, yields its CPU
// to it instead of spinning. See TrapContext::SleepOnStubCpu.
#define MOAT_TRAP_SLEEPING_HERE 2
// The maximum number of sched_yield calls the stub makes for a kernel
// sleeping on its CPU before it sleeps itself.
#define MOAT_TRAP_MAX_YIELDS 256
// The selector of the GDT entry whose limit is the CPU and node number
// (Linux's GDT_ENTRY_CPUNODE), which `lsl` reads, as the vDSO's getcpu.
#define MOAT_TRAP_CPUNODE_SELECTOR 0x7b
#define MOAT_TRAP_OP_SHIFT 32
#define MOAT_TRAP_OP_MMAP 0
#define MOAT_TRAP_OP_MUNMAP 1
#define MOAT_TRAP_OP_MPROTECT 2
// An mmap of the memory file with MAP_POPULATE, for frames that all have
// host pages already: the host fills the page table in the call instead
// of taking a fault at each page's first touch.
#define MOAT_TRAP_OP_MMAP_POPULATE 3
// The request number that makes the stub save its FPU state into the
// frame of a patched call, which leaves it in the registers until then.
#define MOAT_TRAP_SAVE_FP_REQUEST (-1)
// Requests that make host processes, each made by a call the kernel vets
// through the stub filter's listener (SECCOMP_RET_USER_NOTIF). FORK forks
// the stub's process: the child maps a copy of the slot, whose frame is
// the first argument, over the slot it shares with the parent, sends a hello
// with the second argument, a nonce, and reports DONE from there. THREAD
// maps a slot at the first argument to the frame at the second, clones a
// thread into it, which sends a hello with the third and traps at
// moat_trap_first, and reports the thread's id.
#define MOAT_TRAP_FORK_REQUEST (-2)
#define MOAT_TRAP_THREAD_REQUEST (-3)
// The flags of a stub thread's clone(2): CLONE_VM, CLONE_FS, CLONE_FILES,
// CLONE_SIGHAND and CLONE_SYSVSEM without CLONE_THREAD, and SIGCHLD, which
// stubs ignore. Each thread is a process of its own in the same memory.
#define MOAT_TRAP_THREAD_CLONE_FLAGS 0x40f11

// A patched call (see syscall_patch.cc) builds its own frame in the slot, at
// fixed offsets from the slot's start, shaped like the host's signal frame:
// the ucontext, the siginfo, then the FPU state, which XSAVE needs aligned
// to 64 bytes. Its stack, and the frame of an interrupt that lands while
// it runs, grow down from the ucontext.
#define MOAT_TRAP_PATCH_UC 0x2400
#define MOAT_TRAP_PATCH_INFO 0x2780
#define MOAT_TRAP_PATCH_FP 0x2800

#define MOAT_TRAP_RUNNING 0
#define MOAT_TRAP_TRAPPED 1
#define MOAT_TRAP_RESUME 2
#define MOAT_TRAP_REQUEST 3
#define MOAT_TRAP_DONE 4

// Offsets in the ucontext of the frame: the general registers in
// REG_* order, then the pointer to the FPU state.
#define MOAT_UC_GREGS 40
#define MOAT_UC_REG(i) (MOAT_UC_GREGS + 8 * (i))
#define MOAT_UC_FPREGS 224
