// moat's console: when moat's standard input is a host terminal, the
// sandbox gets a terminal of moat's own kernel instead. The host terminal
// is put in raw mode and pump threads relay bytes between it and the
// master side of a kernel pty, so that line editing, echo and Ctrl-C are
// all the sandbox kernel's doing.
#pragma once

#include <termios.h>

#include <condition_variable>
#include <memory>
#include <thread>

#include "fs/tty.h"

namespace moat {

class Console {
 public:
  // Takes the host terminal on standard input (becoming its foreground
  // group) and sets it to raw mode. Null when standard input is no
  // terminal: then the sandbox uses the host descriptors as they are.
  static std::unique_ptr<Console> Open(uint32_t owner_uid);
  // A console on `fd`, a host terminal given to a process that `moat exec`
  // starts: it gets a kernel pty as init does. `fd` is in raw mode until
  // the console is gone; the host terminal of moat itself is left alone. Null
  // when `fd` is no terminal; else the console owns `fd`. Kernel lock held.
  static std::unique_ptr<Console> OpenOn(int fd, uint32_t owner_uid);
  // Restores the host terminal, also when the sandbox never started.
  ~Console();

  // The slave side, for one of init's standard descriptors.
  FilePtr OpenSlave();
  // Makes the pty the controlling terminal of init's session.
  void Attach(Task& init);
  // Starts the pumps.
  void Start(Kernel& k);
  // Copies the host window size in, on a host SIGWINCH. Lock held.
  void UpdateWindowSize(Kernel& k);
  int foreground_pgrp() const { return tty_->fg_pgrp; }
  // Relays the last output, stops the pumps and restores the host
  // terminal.
  void Finish(Kernel& k);

 private:
  Console(std::shared_ptr<PtyMasterFile> master, int in_fd, int out_fd,
          bool host);
  void InputLoop(Kernel& k);
  void OutputLoop(Kernel& k);

  std::shared_ptr<PtyMasterFile> master_;
  std::shared_ptr<Tty> tty_;
  int in_fd_;
  int out_fd_;
  bool host_;  // on moat's own terminal, which is restored at the end
  struct termios saved_ = {};  // in_fd_'s settings, restored when !host_
  int stop_pipe_[2] = {-1, -1};
  bool stopping_ = false;  // guarded by the kernel lock
  std::condition_variable cv_;
  std::thread input_, output_;
};

}  // namespace moat
