// The trap platform's stub: the only host code in an application's address
// space. The master stub copies it to MOAT_TRAP_BASE, unmaps everything
// else, installs the stub filter and idles; fresh address spaces are
// forked from it and their first threads cloned inside them by the
// platform's factory thread through ptrace. Forks and further threads are
// made by a stub thread itself, on the kernel's request. Every
// application thread enters moat_trap_handler on a signal (a trapped
// system call, a fault or the kernel's interrupt) and hands off with the
// kernel through its slot's control page (trap_layout.h). The code is position independent and uses no stack of
// its own but the signal frame.

#include "platform/trap/trap_layout.h"

// Stores `value` at `place` unless `place` already contains it, so that an
// unchanged cache line stays shared with the kernel's CPU. Changes flags.
.macro storeq_changed value, place
  cmpq \value, \place
  je .Lsame\@
  movq \value, \place
.Lsame\@:
.endm

.macro storel_changed value, place
  cmpl \value, \place
  je .Lsame\@
  movl \value, \place
.Lsame\@:
.endm

  .section .text.moat_trap, "ax"
  .balign 4096
  .globl moat_trap_begin
moat_trap_begin:
  mov $11, %eax                          // munmap(0, BASE)
  xor %edi, %edi
  movabs $MOAT_TRAP_BASE, %rsi
  syscall
  mov $11, %eax                          // munmap(slot 1, rest)
  movabs $(MOAT_TRAP_BASE + MOAT_TRAP_SLOT_SIZE), %rdi
  movabs $(MOAT_TRAP_TASK_SIZE - MOAT_TRAP_BASE - MOAT_TRAP_SLOT_SIZE), %rsi
  syscall
  mov $317, %eax                         // seccomp(SET_MODE_FILTER,
  mov $1, %edi                           //   NEW_LISTENER, prog)
  mov $8, %esi
  movabs $(MOAT_TRAP_BASE + MOAT_TRAP_CODE_SIZE), %rdx
  syscall
  cmp $-4096, %rax
  jae 1f
  mov %rax, %r15                         // the listener, for the factory
  jmp moat_trap_idle
1:
  ud2                                    // never run without the filter

  // The master and each address space's first process idle here, traced
  // by the factory thread, which injects calls at moat_trap_syscall.
  .globl moat_trap_idle
moat_trap_idle:
  mov $34, %eax                          // pause()
  syscall
  .globl moat_trap_idle_end
moat_trap_idle_end:
  jmp moat_trap_idle

  .globl moat_trap_syscall
moat_trap_syscall:
  syscall
  int3

  // fork of the master: the new address space's process idles.
  .globl moat_trap_fork
moat_trap_fork:
  syscall
  test %rax, %rax
  jz moat_trap_idle
  int3

  // clone(CLONE_VM) in an address space; the factory put the new thread's
  // slot in %r12. The thread sets its signal stack and traps once, so that
  // the kernel finds it in the handler like any later thread.
  .globl moat_trap_clone
moat_trap_clone:
  syscall
  test %rax, %rax
  jz moat_trap_new_thread
  int3
moat_trap_new_thread:
  lea MOAT_TC_ALTSTACK(%r12), %rdi       // sigaltstack(&slot.altstack, 0)
  xor %esi, %esi
  mov $131, %eax
  syscall
  .globl moat_trap_first
moat_trap_first:
  int3
  ud2

  // The handler of every signal the stub takes: %rdi is the signal, %rsi
  // the siginfo, %rdx the ucontext, all in the frame on the slot's signal
  // stack. It may clobber every register: rt_sigreturn or the loads of a
  // SIGSYS frame restore them. Every signal but SIGSYS blocks all others
  // until it returns. SIGSYS runs with the program's own host signal mask,
  // which is empty, so that the stub can leave it without rt_sigreturn.
  .globl moat_trap_handler
moat_trap_handler:
  // The kernel's interrupt lands in the stub's code only while a SIGSYS
  // handler or a patched call hands off: the thread is entering the
  // kernel or leaving it, so it goes on. If the kernel sent the interrupt
  // after it last looked for signals, it sends it again until the thread
  // traps (TrapContext::WaitWhile). A program that jumps here itself gets
  // no further than that.
  cmp $23, %edi                          // SIGURG, kTrapInterruptSignal
  jne 1f
  mov MOAT_UC_REG(16)(%rdx), %rax        // the interrupted %rip
  lea moat_trap_handler(%rip), %rcx
  cmp %rcx, %rax
  jb 1f
  lea moat_trap_patched_end(%rip), %rcx
  cmp %rcx, %rax
  jae 1f
  ret
1:
  mov %rsp, %r12
  and $-MOAT_TRAP_SLOT_SIZE, %r12        // the slot's control page
  storel_changed $0, MOAT_TC_PATCHED(%r12)
  mov %rdx, MOAT_TC_UCONTEXT(%r12)
  mov %rsi, MOAT_TC_SIGINFO(%r12)
  storeq_changed %rdi, MOAT_TC_SIGNO(%r12)
  rdfsbase %rax
  mov %rax, MOAT_TC_FS_BASE(%r12)
  rdgsbase %rax
  mov %rax, MOAT_TC_GS_BASE(%r12)
  cmp $31, %edi                          // SIGSYS
  jne 2f
  lea moat_trap_sigsys_resume(%rip), %rax
  push %rax                              // where moat_trap_report returns
2:
  mov $MOAT_TRAP_TRAPPED, %ebx

  // Publishes state %ebx, wakes the kernel if it sleeps, and waits until
  // the kernel changes the state.
moat_trap_report:
  mov %ebx, %eax
  xchg %eax, MOAT_TC_STATE(%r12)         // a full barrier before the load
  mov MOAT_TC_KERNEL_SLEEPING(%r12), %r14d
  test %r14d, %r14d
  je 2f
  mov $MOAT_TRAP_CPUNODE_SELECTOR, %eax  // this CPU, for the kernel to
  lsl %eax, %eax                         // sleep on next time
  and $0xfff, %eax
  inc %eax
  cmp %eax, MOAT_TC_CPU(%r12)
  je 1f
  mov %eax, MOAT_TC_CPU(%r12)
1:
  lea MOAT_TC_STATE(%r12), %rdi          // futex(&state, FUTEX_WAKE, 1)
  mov $1, %esi
  mov $1, %edx
  mov $202, %eax
  syscall
  .globl moat_trap_wake_return
moat_trap_wake_return:
2:
  mov MOAT_TC_SPIN(%r12), %r13d
  cmp $MOAT_TRAP_SLEEPING_HERE, %r14d
  jne 3f
  mov $MOAT_TRAP_MAX_YIELDS, %r13d      // the kernel wakes on this CPU:
3:                                       // yield to it, never spin
  mov MOAT_TC_STATE(%r12), %eax
  cmp %ebx, %eax
  jne 5f
  test %r13d, %r13d
  jz 4f
  cmpl $0, MOAT_TC_KERNEL_BLOCKED(%r12)
  jne 4f
  dec %r13d
  cmp $MOAT_TRAP_SLEEPING_HERE, %r14d
  je 15f
  pause
  test $1023, %r13d                      // about every 30 us, let a thread
  jnz 3b                                 // waiting for this CPU go first
15:
  mov $24, %eax                          // sched_yield()
  syscall
  .globl moat_trap_yield_return
moat_trap_yield_return:
  jmp 3b
4:
  // The FPU state of a patched call is still in the registers. Saving it
  // now spares the kernel a request that would wake this thread first (a
  // signal frame, a vfork child's first run). The value 2 marks it saved.
  cmpl $1, MOAT_TC_PATCHED(%r12)
  jne 14f
  lea MOAT_TRAP_PATCH_FP(%r12), %rdi
  call moat_trap_xsave
  mfence
  movl $2, MOAT_TC_PATCHED(%r12)
14:
  movl $1, MOAT_TC_STUB_SLEEPING(%r12)
  mfence
  mov MOAT_TC_STATE(%r12), %eax
  cmp %ebx, %eax
  jne 6f
  lea MOAT_TC_STATE(%r12), %rdi          // futex(&state, FUTEX_WAIT, %ebx)
  xor %esi, %esi
  mov %ebx, %edx
  xor %r10d, %r10d
  mov $202, %eax
  syscall
  .globl moat_trap_wait_return
moat_trap_wait_return:
  jmp 4b
6:
  movl $0, MOAT_TC_STUB_SLEEPING(%r12)
5:
  cmp $MOAT_TRAP_RESUME, %eax
  je 7f
  cmp $MOAT_TRAP_REQUEST, %eax
  jne moat_trap_report                   // not the kernel's: publish again
  mov MOAT_TC_REQUEST(%r12), %rax        // a host call for the kernel
  cmp $MOAT_TRAP_SAVE_FP_REQUEST, %rax
  je moat_trap_save_fp
  cmp $MOAT_TRAP_FORK_REQUEST, %rax
  je moat_trap_fork_request
  cmp $MOAT_TRAP_THREAD_REQUEST, %rax
  je moat_trap_thread_request
  mov MOAT_TC_REQUEST+8(%r12), %rdi
  mov MOAT_TC_REQUEST+16(%r12), %rsi
  mov MOAT_TC_REQUEST+24(%r12), %rdx
  mov MOAT_TC_REQUEST+32(%r12), %r10
  mov MOAT_TC_REQUEST+40(%r12), %r8
  mov MOAT_TC_REQUEST+48(%r12), %r9
  syscall
  .globl moat_trap_request_return
moat_trap_request_return:
  mov %rax, MOAT_TC_RESULT(%r12)
  mov $MOAT_TRAP_DONE, %ebx
  jmp moat_trap_report
7:
  lea 8f(%rip), %r15
  // The mapping changes the kernel queued for this resume (MOAT_TC_MAPS),
  // or for a fork, then on at %r15. The filter allows this mmap only of
  // the memory file, shared and fixed (and maybe populated), and each call
  // only below the stub's area, as at moat_trap_request_return.
moat_trap_run_maps:
  mov MOAT_TC_MAP_COUNT(%r12), %r13d
  test %r13d, %r13d
  jz 13f
  movl $0, MOAT_TC_MAP_COUNT(%r12)
  cmp $MOAT_TRAP_MAX_MAPS, %r13d
  jbe 9f
  mov $MOAT_TRAP_MAX_MAPS, %r13d
9:
  lea MOAT_TC_MAPS(%r12), %r14
10:
  mov (%r14), %rdi                       // mmap(addr, length, prot,
  mov 8(%r14), %rsi                      //      MAP_SHARED | MAP_FIXED,
  mov 16(%r14), %rdx                     //      memory fd, offset),
  mov $0x11, %r10d                       // munmap(addr, length) or
  mov MOAT_TC_MEMORY_FD(%r12), %r8d      // mprotect(addr, length, prot)
  mov 24(%r14), %r9
  mov %rdx, %rcx
  shr $MOAT_TRAP_OP_SHIFT, %rcx
  mov %edx, %edx                         // the protection alone
  mov $9, %eax
  cmp $MOAT_TRAP_OP_MUNMAP, %ecx
  jne 11f
  mov $11, %eax
11:
  cmp $MOAT_TRAP_OP_MPROTECT, %ecx
  jne 16f
  mov $10, %eax
16:
  cmp $MOAT_TRAP_OP_MMAP_POPULATE, %ecx
  jne 12f
  or $0x8000, %r10d                      // MAP_POPULATE
12:
  syscall
  .globl moat_trap_map_return
moat_trap_map_return:
  add $MOAT_TRAP_MAP_ENTRY_SIZE, %r14
  dec %r13d
  jnz 10b
13:
  jmp *%r15
8:
  mov MOAT_TC_NEW_FS_BASE(%r12), %rax
  wrfsbase %rax
  mov MOAT_TC_NEW_GS_BASE(%r12), %rax
  wrgsbase %rax
  ret                                    // into the frame's restorer

  // A SIGSYS handler's way out. Without rt_sigreturn's checks the stub
  // loads the frame's FPU state and registers itself, as a patched call
  // does: the host signal mask is already the program's, and the signal
  // stack is left by leaving its range. The kernel asks for rt_sigreturn
  // when that is not enough (TrapContext::WriteFrame).
moat_trap_sigsys_resume:
  cmpl $0, MOAT_TC_SIGRETURN(%r12)
  je 1f
  ret                                    // into the frame's restorer
1:
  mov MOAT_TC_UCONTEXT(%r12), %rsp
  mov MOAT_UC_FPREGS(%rsp), %rbx
  mov MOAT_TC_XFEATURES(%r12), %eax
  mov MOAT_TC_XFEATURES+4(%r12), %edx
  xrstor64 (%rbx)
  jmp moat_trap_load_frame

  .globl moat_trap_restorer
moat_trap_restorer:
  mov $15, %eax                          // rt_sigreturn()
  syscall
  .globl moat_trap_sigreturn_return
moat_trap_sigreturn_return:
  ud2

  // A patched call site jumps here through its trampoline with the call's
  // number in %eax and its return address in %rcx, as if it had executed
  // `syscall`, and with the slot's address as its GS base. The entry saves
  // the registers and the FPU state in a frame of the slot's shape (see
  // trap_layout.h), reports a SIGSYS trap the way the handler does, and
  // loads back what the kernel wrote, without a signal or rt_sigreturn.
  .globl moat_trap_patched
moat_trap_patched:
  mov %rsp, %gs:MOAT_TC_PATCH_RSP
  rdgsbase %rsp
  lea MOAT_TRAP_PATCH_UC(%rsp), %rsp     // the frame's ucontext
  pushfq                                 // flags first: nothing above
  pop %r11                               // changed them; `syscall` puts
  storeq_changed %r8, MOAT_UC_REG(0)(%rsp)  // them in %r11
  storeq_changed %r9, MOAT_UC_REG(1)(%rsp)
  storeq_changed %r10, MOAT_UC_REG(2)(%rsp)
  storeq_changed %r11, MOAT_UC_REG(3)(%rsp)
  storeq_changed %r12, MOAT_UC_REG(4)(%rsp)
  storeq_changed %r13, MOAT_UC_REG(5)(%rsp)
  storeq_changed %r14, MOAT_UC_REG(6)(%rsp)
  storeq_changed %r15, MOAT_UC_REG(7)(%rsp)
  storeq_changed %rdi, MOAT_UC_REG(8)(%rsp)
  storeq_changed %rsi, MOAT_UC_REG(9)(%rsp)
  storeq_changed %rbp, MOAT_UC_REG(10)(%rsp)
  storeq_changed %rbx, MOAT_UC_REG(11)(%rsp)
  storeq_changed %rdx, MOAT_UC_REG(12)(%rsp)
  storeq_changed %rax, MOAT_UC_REG(13)(%rsp)
  storeq_changed %rcx, MOAT_UC_REG(14)(%rsp)
  mov %gs:MOAT_TC_PATCH_RSP, %rbx
  storeq_changed %rbx, MOAT_UC_REG(15)(%rsp)
  storeq_changed %rcx, MOAT_UC_REG(16)(%rsp)  // %rip
  storeq_changed %r11, MOAT_UC_REG(17)(%rsp)  // eflags
  movabs $0x002b000000000033, %rbx       // user %cs and %ss
  storeq_changed %rbx, MOAT_UC_REG(18)(%rsp)
  storeq_changed $0, MOAT_UC_REG(19)(%rsp)  // err, trapno, oldmask, cr2
  storeq_changed $0, MOAT_UC_REG(20)(%rsp)
  storeq_changed $0, MOAT_UC_REG(21)(%rsp)
  storeq_changed $0, MOAT_UC_REG(22)(%rsp)
  rdgsbase %r12                          // the slot's control page
  lea MOAT_TRAP_PATCH_FP(%r12), %rbx
  storeq_changed %rbx, MOAT_UC_FPREGS(%rsp)
  storel_changed $1, MOAT_TC_PATCHED(%r12)  // the FPU state is still live
  lea MOAT_TRAP_PATCH_INFO(%r12), %rbx   // siginfo of a seccomp trap
  storel_changed $31, (%rbx)             // SIGSYS
  storel_changed $0, 4(%rbx)
  storel_changed $1, 8(%rbx)             // SYS_SECCOMP
  storeq_changed %rcx, 16(%rbx)          // si_call_addr
  storel_changed %eax, 24(%rbx)          // si_syscall
  storel_changed $0xc000003e, 28(%rbx)   // AUDIT_ARCH_X86_64
  mov %rsp, MOAT_TC_UCONTEXT(%r12)
  mov %rbx, MOAT_TC_SIGINFO(%r12)
  storeq_changed $31, MOAT_TC_SIGNO(%r12)
  rdfsbase %rax
  mov %rax, MOAT_TC_FS_BASE(%r12)
  mov %r12, MOAT_TC_GS_BASE(%r12)        // the slot: no GS base of its own
  lea moat_trap_patched_resume(%rip), %rax
  push %rax                              // where moat_trap_report returns
  mov $MOAT_TRAP_TRAPPED, %ebx
  jmp moat_trap_report

  // The kernel wrote the registers to resume with into the frame, and the
  // report code loaded the FS and GS bases; %rsp is the ucontext again.
moat_trap_patched_resume:
  cmpl $0, MOAT_TC_FP_RESTORE(%r12)
  je 1f
  lea MOAT_TRAP_PATCH_FP(%r12), %rbx     // the kernel changed the state
  mov MOAT_TC_XFEATURES(%r12), %eax
  mov MOAT_TC_XFEATURES+4(%r12), %edx
  xrstor64 (%rbx)
1:
  // Loads the registers of the ucontext at %rsp and jumps to its %rip.
  // The jump goes through the GS base, which must be the slot's.
moat_trap_load_frame:
  mov MOAT_UC_REG(16)(%rsp), %rax
  storeq_changed %rax, MOAT_TC_PATCH_RIP(%r12)
  pushq MOAT_UC_REG(17)(%rsp)
  popfq                                  // nothing below changes flags
  mov MOAT_UC_REG(0)(%rsp), %r8
  mov MOAT_UC_REG(1)(%rsp), %r9
  mov MOAT_UC_REG(2)(%rsp), %r10
  mov MOAT_UC_REG(3)(%rsp), %r11
  mov MOAT_UC_REG(4)(%rsp), %r12
  mov MOAT_UC_REG(5)(%rsp), %r13
  mov MOAT_UC_REG(6)(%rsp), %r14
  mov MOAT_UC_REG(7)(%rsp), %r15
  mov MOAT_UC_REG(8)(%rsp), %rdi
  mov MOAT_UC_REG(9)(%rsp), %rsi
  mov MOAT_UC_REG(10)(%rsp), %rbp
  mov MOAT_UC_REG(11)(%rsp), %rbx
  mov MOAT_UC_REG(12)(%rsp), %rdx
  mov %gs:MOAT_TC_NEW_RAX, %rax
  mov MOAT_UC_REG(14)(%rsp), %rcx
  mov MOAT_UC_REG(15)(%rsp), %rsp
  jmp *%gs:MOAT_TC_PATCH_RIP
  // The kernel's request to save the FPU state of a patched call, which
  // only it needs (for a signal frame, a fork or a state it replaces).
  // XSAVE leaves the header's reserved bytes alone, which an earlier
  // signal frame may have filled, and XRSTOR rejects them unless zero.
moat_trap_save_fp:
  lea MOAT_TRAP_PATCH_FP(%r12), %rdi
  call moat_trap_xsave
  movl $2, MOAT_TC_PATCHED(%r12)
  xor %eax, %eax
  jmp moat_trap_request_return

  // Saves the FPU state into the XSAVE area at %rdi, with the features
  // the kernel may restore. Changes %rax and %rdx.
moat_trap_xsave:
  xor %eax, %eax
  mov %rax, 520(%rdi)
  mov %rax, 528(%rdi)
  mov %rax, 536(%rdi)
  mov %rax, 544(%rdi)
  mov %rax, 552(%rdi)
  mov %rax, 560(%rdi)
  mov %rax, 568(%rdi)
  mov MOAT_TC_XFEATURES(%r12), %eax      // the components the frame holds
  mov MOAT_TC_XFEATURES+4(%r12), %edx
  xsave64 (%rdi)
  mov MOAT_TC_XFEATURES(%r12), %rax      // what the kernel may restore
  mov %rax, 472(%rdi)
  ret
  .globl moat_trap_patched_end
moat_trap_patched_end:

  // Forks this stub's process (MOAT_TRAP_FORK_REQUEST). The child's slot
  // is the parent's frame until it maps its own over it, so it writes no
  // memory before: no stack, no control page. The kernel copied the slot
  // into the new frame, so the child then finds its stack and control
  // page as they were and reports the request done from there.
moat_trap_fork_request:
  lea 1f(%rip), %r15                     // the changes queued before it
  jmp moat_trap_run_maps
1:
  mov $56, %eax                          // clone(SIGCHLD, 0, 0, 0, 0)
  mov $17, %edi
  xor %esi, %esi
  xor %edx, %edx
  xor %r10d, %r10d
  xor %r8d, %r8d
  syscall
  .globl moat_trap_fork_return
moat_trap_fork_return:
  test %rax, %rax
  jnz moat_trap_request_return           // the parent, or the error
  mov %r12, %rdi
  mov MOAT_TC_REQUEST+8(%r12), %r9
  lea 1f(%rip), %r14
  jmp moat_trap_map_slot
1:
  cmp $-4096, %rax
  jae 2f
  mov MOAT_TC_REQUEST+16(%r12), %rdi     // the request's nonce
  lea 3f(%rip), %r14
  jmp moat_trap_hello
2:
  mov $60, %eax                          // exit(): a child without a slot
  syscall                                // of its own writes nothing
  .globl moat_trap_exit_return
moat_trap_exit_return:
  ud2
3:
  xor %eax, %eax
  jmp moat_trap_request_return

  // Makes a thread in a slot of its own (MOAT_TRAP_THREAD_REQUEST).
moat_trap_thread_request:
  mov MOAT_TC_REQUEST+8(%r12), %rdi
  mov MOAT_TC_REQUEST+16(%r12), %r9
  lea 1f(%rip), %r14
  jmp moat_trap_map_slot
1:
  cmp $-4096, %rax
  jae moat_trap_request_return
  mov %r12, %r13
  mov MOAT_TC_REQUEST+8(%r12), %r12      // the new thread's slot
  mov $56, %eax                          // clone(THREAD_CLONE_FLAGS, 0, ...)
  mov $MOAT_TRAP_THREAD_CLONE_FLAGS, %edi
  xor %esi, %esi
  xor %edx, %edx
  xor %r10d, %r10d
  xor %r8d, %r8d
  syscall
  .globl moat_trap_thread_return
moat_trap_thread_return:
  test %rax, %rax
  jz 2f
  mov %r13, %r12
  jmp moat_trap_request_return
2:
  mov MOAT_TC_REQUEST+24(%r13), %rdi     // the new thread: hello with the
  lea moat_trap_new_thread(%rip), %r14   // request's nonce, then on as a
  jmp moat_trap_hello                    // thread the factory made

  // mmap(%rdi, SLOT_SIZE, RW, MAP_SHARED | MAP_FIXED, memory fd, %r9),
  // then on at %r14: no stack, which a fork's child cannot write yet.
moat_trap_map_slot:
  mov $MOAT_TRAP_SLOT_SIZE, %esi
  mov $3, %edx
  mov $0x11, %r10d
  mov MOAT_TC_MEMORY_FD(%r12), %r8d
  mov $9, %eax
  syscall
  .globl moat_trap_slot_return
moat_trap_slot_return:
  jmp *%r14

  // getpid(2) with the request's nonce in %rdi, which the filter hands to
  // the kernel's listener. So the host, not a control page the program
  // can write, reports this process's id. Then on at %r14.
moat_trap_hello:
  mov $39, %eax
  syscall
  .globl moat_trap_hello_return
moat_trap_hello_return:
  jmp *%r14

  .globl moat_trap_end
moat_trap_end:
  .section .note.GNU-stack, "", @progbits
