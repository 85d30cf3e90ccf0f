// Terminals: the line discipline of a pseudo-terminal pair and the files
// that open its two sides. The master side is what a terminal emulator (or
// moat's console pump) reads and writes; the slave side is the terminal
// that programs see.
//
// Locking: everything here is guarded by the kernel lock.
#pragma once

#include <sys/ioctl.h>

#include <deque>
#include <string>

#include "kernel/task.h"
#include "vfs/inode.h"

namespace moat {

class Kernel;

// struct termios as the TCGETS family passes it (the kernel's layout, not
// glibc's larger one).
struct KernelTermios {
  uint32_t c_iflag = 0;
  uint32_t c_oflag = 0;
  uint32_t c_cflag = 0;
  uint32_t c_lflag = 0;
  uint8_t c_line = 0;
  uint8_t c_cc[19] = {};
};
static_assert(sizeof(KernelTermios) == 36);

// The settings of a new terminal: "stty sane" at 38400 baud.
KernelTermios DefaultTermios();

// Input bytes queued before a writer to the master waits.
inline constexpr size_t kTtyInputMax = 4096;
// Bytes of output queued for the master before a slave writer waits.
inline constexpr size_t kTtyOutputMax = 16384;

class Tty : public std::enable_shared_from_this<Tty> {
 public:
  explicit Tty(int index);
  int index() const { return index_; }

  // ---- the line discipline ----
  // Input typed at the terminal (written to the master): returns how many
  // bytes were taken; fewer than `len` when the input queue is full.
  size_t Receive(Kernel& k, const char* buf, size_t len);
  // Output from programs (written to the slave), with c_oflag processing.
  size_t Write(const char* buf, size_t len);
  // Output for the master to read; ignores ^S when `force`.
  size_t ReadOutput(char* buf, size_t len, bool force = false);
  // Reads input as the slave does, blocking as VMIN and VTIME specify.
  Result<size_t> ReadInput(Task& t, char* buf, size_t len, bool nonblock);

  size_t InputAvailable() const;  // FIONREAD on the slave
  bool InputReady() const;        // poll readiness of the slave
  bool InputRoom() const { return InputQueued() < kTtyInputMax; }
  size_t OutputQueued() const { return output_.size(); }
  bool OutputReady() const { return !output_.empty() && !stopped_; }
  void FlushInput();
  void FlushOutput();
  void SetStopped(bool stopped);

  const KernelTermios& termios() const { return termios_; }
  void SetTermios(const KernelTermios& t);
  const struct winsize& window_size() const { return winsize_; }
  // Sets the size; SIGWINCH goes to the foreground group when it changed.
  void SetWindowSize(Kernel& k, const struct winsize& ws);

  // The master went away: readers of the slave see end of file, writers
  // EIO, and the session gets SIGHUP.
  void Hangup(Kernel& k);
  bool hung_up() const { return hung_up_; }

  // Job control: whether `t` may read (SIGTTIN) or write and change
  // settings (SIGTTOU) now. Sends the signal and returns ERESTARTSYS for a
  // background group, EIO when the group is orphaned or ignores it.
  Status CheckJobControl(Task& t, int sig);
  // Makes this the controlling terminal of `t`'s session.
  void AttachSession(Task& t);
  // Ends the association with the session.
  void DetachSession();

  // ---- pty state ----
  std::weak_ptr<Session> session;
  int fg_pgrp = 0;
  bool locked = true;      // TIOCSPTLCK: the slave cannot be opened yet
  int slave_opens = 0;     // open slave files, less the sessions' handles
  bool slave_opened = false;
  uint32_t uid = 0;        // owner of /dev/pts/N
  WaitQueue master_queue;  // in: output to read; out: room for input
  WaitQueue slave_queue;   // in: input to read; out: room for output

 private:
  size_t InputQueued() const;
  void ReceiveChar(Kernel& k, unsigned char c);
  bool ReceiveCanonical(unsigned char c);
  void Isig(Kernel& k, int sig, unsigned char c);
  void Erase(unsigned char c);
  void EraseOne();
  void Reprint(unsigned char c);
  void CompleteLine();
  void Echo(unsigned char c);
  void Put(unsigned char c);
  int LineColumnBefore(size_t pos) const;
  size_t ReadCanonical(char* buf, size_t len);
  size_t TakeRaw(char* buf, size_t len);
  void NotifyInput();
  void NotifyOutput();
  bool L(uint32_t flag) const { return termios_.c_lflag & flag; }
  bool I(uint32_t flag) const { return termios_.c_iflag & flag; }
  bool O(uint32_t flag) const { return termios_.c_oflag & flag; }
  bool Is(unsigned char c, int cc) const {
    return termios_.c_cc[cc] != 0 && c == termios_.c_cc[cc];
  }

  int index_;
  KernelTermios termios_;
  struct winsize winsize_ = {};
  std::string line_;                // canonical line being edited
  std::deque<std::string> lines_;   // finished lines; "" is an end of file
  std::string raw_;                 // non-canonical input
  std::deque<char> output_;
  int column_ = 0;                  // output column, for tabs and erase
  int line_column_ = 0;             // column where line_ began
  bool lnext_ = false;              // the next byte is taken literally
  bool stopped_ = false;            // ^S
  bool hung_up_ = false;
};

// The slave side: /dev/pts/N, /dev/tty, /dev/console.
class TtyFile : public FileDescription {
 public:
  // `counted` is false for the handle a session keeps of its controlling
  // terminal, which does not keep the terminal open.
  TtyFile(std::shared_ptr<Tty> tty, bool counted);
  ~TtyFile() override;
  Result<size_t> Read(Task& t, void* buf, size_t len) override;
  Result<size_t> Write(Task& t, const void* buf, size_t len) override;
  Result<size_t> PRead(Task&, void*, size_t, uint64_t) override {
    return Err(ESPIPE);
  }
  Result<size_t> PWrite(Task&, const void*, size_t, uint64_t) override {
    return Err(ESPIPE);
  }
  Result<uint64_t> Seek(int64_t, int) override { return Err(ESPIPE); }
  Result<int64_t> Ioctl(Task& t, uint64_t cmd, uint64_t arg) override;
  uint32_t Readiness(uint32_t mask) override;
  WaitQueue* Queue() override { return &tty_->slave_queue; }
  std::string Name() override;
  const std::shared_ptr<Tty>& tty() const { return tty_; }

 private:
  std::shared_ptr<Tty> tty_;
  bool counted_;
};

// The master side, from /dev/ptmx.
class PtyMasterFile : public FileDescription {
 public:
  explicit PtyMasterFile(std::shared_ptr<Tty> tty) : tty_(std::move(tty)) {}
  ~PtyMasterFile() override;
  Result<size_t> Read(Task& t, void* buf, size_t len) override;
  Result<size_t> Write(Task& t, const void* buf, size_t len) override;
  Result<size_t> PRead(Task&, void*, size_t, uint64_t) override {
    return Err(ESPIPE);
  }
  Result<size_t> PWrite(Task&, const void*, size_t, uint64_t) override {
    return Err(ESPIPE);
  }
  Result<uint64_t> Seek(int64_t, int) override { return Err(ESPIPE); }
  Result<int64_t> Ioctl(Task& t, uint64_t cmd, uint64_t arg) override;
  uint32_t Readiness(uint32_t mask) override;
  WaitQueue* Queue() override { return &tty_->master_queue; }
  std::string Name() override { return "/dev/ptmx"; }
  const std::shared_ptr<Tty>& tty() const { return tty_; }

 private:
  std::shared_ptr<Tty> tty_;
};

// The terminal `t`'s session controls, or null.
std::shared_ptr<Tty> ControllingTty(Task& t);

// The ioctls both sides share.
Result<int64_t> TtyIoctl(Task& t, Tty& tty, bool master, uint64_t cmd,
                         uint64_t arg);

}  // namespace moat
