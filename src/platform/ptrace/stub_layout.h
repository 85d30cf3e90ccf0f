// Addresses and offsets that the stub's assembly shares with the ptrace
// platform. Only preprocessor definitions, so that stub.S can include it.
#pragma once

#define MOAT_STUB_BASE 0x7fffffe00000
#define MOAT_STUB_CODE_SIZE 0x1000
// Room above the code for the host's signal frame when the platform reads a
// fault's trap information. The frame is mostly the XSAVE area, about
// 3 KiB with AVX-512 and 11 KiB with AMX (estimates), so 64 KiB is ample.
#define MOAT_STUB_SCRATCH_SIZE 0x10000
#define MOAT_STUB_END \
  (MOAT_STUB_BASE + MOAT_STUB_CODE_SIZE + MOAT_STUB_SCRATCH_SIZE)
#define MOAT_TASK_SIZE 0x7ffffffff000

// Offsets of err, trapno and cr2 in the x86-64 ucontext that the host's
// signal delivery writes (uc_mcontext.gregs[REG_ERR], [REG_TRAPNO] and
// [REG_CR2] in glibc's terms).
#define MOAT_UC_ERR 192
#define MOAT_UC_TRAPNO 200
#define MOAT_UC_CR2 216
