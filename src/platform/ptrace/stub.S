// The stub: the only host code in an application's address space. It is
// copied to MOAT_STUB_BASE (stub_layout.h) in a fresh process, removes every
// other mapping but its scratch area, and then idles. The kernel injects
// system calls by pointing the instruction pointer at stub_syscall or
// stub_clone; both end in int3, which stops the thread for its tracer. The
// code is position independent. A label after each `syscall` names the
// address the stub's seccomp filter allows that call from.

#include "platform/ptrace/stub_layout.h"

  .section .text.moat_stub, "ax"
  .balign 4096
  .globl moat_stub_begin
moat_stub_begin:
  mov $11, %eax                          // munmap(0, STUB_BASE)
  xor %edi, %edi
  movabs $MOAT_STUB_BASE, %rsi
  syscall
  .globl moat_stub_unmap_low_return
moat_stub_unmap_low_return:
  mov $11, %eax                          // munmap(stub end, rest)
  movabs $MOAT_STUB_END, %rdi
  movabs $(MOAT_TASK_SIZE - MOAT_STUB_END), %rsi
  syscall
  .globl moat_stub_unmap_high_return
moat_stub_unmap_high_return:

  .globl moat_stub_wait
moat_stub_wait:
  mov $34, %eax                          // pause() until the tracer stops us
  syscall
  .globl moat_stub_wait_return
moat_stub_wait_return:
  jmp moat_stub_wait

  .globl moat_stub_syscall
moat_stub_syscall:
  syscall
  .globl moat_stub_syscall_return
moat_stub_syscall_return:
  int3

  .globl moat_stub_clone
moat_stub_clone:
  syscall
  .globl moat_stub_clone_return
moat_stub_clone_return:
  test %rax, %rax
  jz moat_stub_wait                      // the new thread idles until seized
  int3

  // The host's handler for fault signals, which the tracer lets through
  // only to learn what the CPU reported: it copies the error code, trap
  // number and fault address from the signal frame (%rdx points to the
  // ucontext) into registers and stops. The tracer never resumes it.
  .globl moat_stub_fault
moat_stub_fault:
  mov MOAT_UC_ERR(%rdx), %rax
  mov MOAT_UC_TRAPNO(%rdx), %rbx
  mov MOAT_UC_CR2(%rdx), %rcx
  .globl moat_stub_fault_stop
moat_stub_fault_stop:
  int3
  jmp moat_stub_fault_stop

  .globl moat_stub_end
moat_stub_end:
  .section .note.GNU-stack, "", @progbits
