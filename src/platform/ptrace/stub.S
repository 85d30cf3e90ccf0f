// The stub: the only host code in an application's address space. It is
// copied to kStubBase (platform.h) in a fresh process, removes every other
// mapping, and then idles. The kernel injects system calls by pointing the
// instruction pointer at stub_syscall or stub_clone; both end in int3, which
// stops the thread for its tracer. The code is position independent.

#define STUB_BASE 0x7fffffe00000
#define STUB_CODE_END 0x7fffffe01000
#define TASK_SIZE 0x7ffffffff000

  .section .text.moat_stub, "ax"
  .balign 4096
  .globl moat_stub_begin
moat_stub_begin:
  mov $11, %eax                          // munmap(0, STUB_BASE)
  xor %edi, %edi
  movabs $STUB_BASE, %rsi
  syscall
  mov $11, %eax                          // munmap(stub end, rest)
  movabs $STUB_CODE_END, %rdi
  movabs $(TASK_SIZE - STUB_CODE_END), %rsi
  syscall

  .globl moat_stub_wait
moat_stub_wait:
  mov $34, %eax                          // pause() until the tracer stops us
  syscall
  jmp moat_stub_wait

  .globl moat_stub_syscall
moat_stub_syscall:
  syscall
  int3

  .globl moat_stub_clone
moat_stub_clone:
  syscall
  test %rax, %rax
  jz moat_stub_wait                      // the new thread idles until seized
  int3

  .globl moat_stub_end
moat_stub_end:
  .section .note.GNU-stack, "", @progbits
