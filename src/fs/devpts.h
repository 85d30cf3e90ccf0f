// devpts: the pseudo-terminal filesystem mounted at /dev/pts, and the
// terminal devices of /dev: /dev/ptmx, /dev/tty and /dev/console.
#pragma once

#include "fs/tty.h"

namespace moat {

// The root of devpts.
InodePtr NewDevpts();

// Registers the openers of /dev/tty (5:0), /dev/console (5:1) and
// /dev/ptmx (5:2).
void RegisterTtyDevices();

// A new pty pair, as opening /dev/ptmx makes it; returns the master.
Result<std::shared_ptr<PtyMasterFile>> NewPty(uint32_t owner_uid);

// Opens the slave side of `tty` for `t` (null: no caller), which gets it
// as its controlling terminal when it is a session leader without one
// and `flags` lack O_NOCTTY.
Result<FilePtr> OpenPtySlave(Task* t, std::shared_ptr<Tty> tty, int flags);

// The terminal /dev/console opens.
void SetConsoleTty(std::shared_ptr<Tty> tty);

// Called when a pty's master closes: its number can be used again.
void ForgetPty(int index);

}  // namespace moat
