#include "sandbox/console.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <termios.h>
#include <unistd.h>

#include <cstdlib>

#include "fs/devpts.h"
#include "kernel/kernel.h"
#include "util/log.h"

namespace moat {
namespace {

// The host terminal's settings before moat changed them. Plain globals:
// the fatal-signal handler reads them.
struct termios g_saved_termios;
int g_host_tty_fd = -1;
pid_t g_saved_foreground = -1;  // the group moat took the terminal from

// Makes moat's process group the foreground of the host terminal, as an
// interactive shell does: started under timeout(1) or with &, moat is in
// a background group, which may not read the terminal or set raw mode.
void TakeForeground() {
  pid_t fg = tcgetpgrp(STDIN_FILENO);
  if (fg < 0 || fg == getpgrp()) return;
  sigset_t ttou, old;
  sigemptyset(&ttou);
  sigaddset(&ttou, SIGTTOU);
  pthread_sigmask(SIG_BLOCK, &ttou, &old);
  if (tcsetpgrp(STDIN_FILENO, getpgrp()) == 0) g_saved_foreground = fg;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

// Restores the host terminal, once: afterwards moat may be in the
// background, where SIGTTOU would stop it. Async-signal-safe, because the
// fatal-signal handler calls it too.
void RestoreHostTerminal() {
  int fd = g_host_tty_fd;
  if (fd < 0) return;
  g_host_tty_fd = -1;
  (void)tcsetattr(fd, TCSADRAIN, &g_saved_termios);
  if (g_saved_foreground > 0) {
    // Blocking SIGTTOU here is safe in a handler too.
    sigset_t ttou, old;
    sigemptyset(&ttou);
    sigaddset(&ttou, SIGTTOU);
    pthread_sigmask(SIG_BLOCK, &ttou, &old);
    (void)tcsetpgrp(fd, g_saved_foreground);
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
  }
}

void OnFatalSignal(int sig) {
  RestoreHostTerminal();
  raise(sig);  // SA_RESETHAND made the action the default again
}

// Leaves the host terminal usable however moat ends: a normal return,
// exit(3), or a crash signal (SIGKILL cannot be caught).
void InstallRestoreHandlers() {
  atexit(RestoreHostTerminal);
  struct sigaction sa = {};
  sa.sa_handler = OnFatalSignal;
  sa.sa_flags = SA_RESETHAND | SA_NODEFER;
  for (int sig : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP})
    sigaction(sig, &sa, nullptr);
}

void WriteAll(int fd, const char* buf, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, buf, len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      struct pollfd p = {fd, POLLOUT, 0};
      (void)poll(&p, 1, -1);
      continue;
    }
    if (n <= 0) return;  // the host terminal is gone; drop the output
    buf += n;
    len -= n;
  }
}

}  // namespace

std::unique_ptr<Console> Console::Open(uint32_t owner_uid) {
  if (!isatty(STDIN_FILENO)) return nullptr;
  struct termios raw;
  if (tcgetattr(STDIN_FILENO, &g_saved_termios) != 0) return nullptr;
  auto master = NewPty(owner_uid);
  if (!master.ok()) return nullptr;
  int out_fd = isatty(STDOUT_FILENO)   ? STDOUT_FILENO
               : isatty(STDERR_FILENO) ? STDERR_FILENO
                                       : STDIN_FILENO;
  std::unique_ptr<Console> c(
      new Console(master.value(), STDIN_FILENO, out_fd, true));
  if (pipe2(c->stop_pipe_, O_CLOEXEC) != 0) return nullptr;
  g_host_tty_fd = STDIN_FILENO;
  InstallRestoreHandlers();
  TakeForeground();
  raw = g_saved_termios;
  cfmakeraw(&raw);
  raw.c_cc[VMIN] = 1;
  raw.c_cc[VTIME] = 0;
  (void)tcsetattr(STDIN_FILENO, TCSANOW, &raw);
  return c;
}

std::unique_ptr<Console> Console::OpenOn(int fd, uint32_t owner_uid) {
  struct termios saved;
  if (tcgetattr(fd, &saved) != 0) return nullptr;
  auto master = NewPty(owner_uid);
  if (!master.ok()) return nullptr;
  std::unique_ptr<Console> c(new Console(master.value(), fd, fd, false));
  c->saved_ = saved;
  if (pipe2(c->stop_pipe_, O_CLOEXEC) != 0) return nullptr;
  struct termios raw = saved;
  cfmakeraw(&raw);
  raw.c_cc[VMIN] = 1;
  raw.c_cc[VTIME] = 0;
  (void)tcsetattr(fd, TCSANOW, &raw);
  return c;
}

Console::Console(std::shared_ptr<PtyMasterFile> master, int in_fd, int out_fd,
                 bool host)
    : master_(std::move(master)),
      tty_(master_->tty()),
      in_fd_(in_fd),
      out_fd_(out_fd),
      host_(host) {
  tty_->locked = false;
  if (host_) SetConsoleTty(tty_);
}

Console::~Console() {
  if (host_) RestoreHostTerminal();
  if (!host_) {
    (void)tcsetattr(in_fd_, TCSADRAIN, &saved_);
    close(in_fd_);
  }
  for (int fd : stop_pipe_)
    if (fd >= 0) close(fd);
  // Closing the master hangs the terminal up, which is kernel state.
  if (Kernel* k = Kernel::current) {
    std::lock_guard lock(k->mu);
    master_.reset();
  }
}

FilePtr Console::OpenSlave() {
  auto f = OpenPtySlave(nullptr, tty_, O_RDWR);
  return f.ok() ? f.value() : nullptr;
}

void Console::Attach(Task& init) {
  struct winsize ws;
  if (ioctl(in_fd_, TIOCGWINSZ, &ws) == 0)
    tty_->SetWindowSize(init.kernel(), ws);
  tty_->AttachSession(init);
}

void Console::UpdateWindowSize(Kernel& k) {
  struct winsize ws;
  if (ioctl(in_fd_, TIOCGWINSZ, &ws) == 0) tty_->SetWindowSize(k, ws);
}

void Console::Start(Kernel& k) {
  input_ = std::thread([this, &k] { InputLoop(k); });
  output_ = std::thread([this, &k] { OutputLoop(k); });
}

// Host keyboard -> the input side of the line discipline.
void Console::InputLoop(Kernel& k) {
  char buf[4096];
  for (;;) {
    struct pollfd p[2] = {{in_fd_, POLLIN, 0}, {stop_pipe_[0], POLLIN, 0}};
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (p[1].revents) return;
    ssize_t n = read(in_fd_, buf, sizeof(buf));
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    std::unique_lock lock(k.mu);
    if (n <= 0) {
      // The host terminal went away: so does the sandbox's.
      tty_->Hangup(k);
      return;
    }
    Waiter w([this](uint32_t) { cv_.notify_all(); }, kEventOut);
    WaitQueueEntry entry(&tty_->master_queue, &w);
    size_t done = 0;
    while (done < size_t(n) && !stopping_) {
      done += tty_->Receive(k, buf + done, n - done);
      if (done < size_t(n)) cv_.wait(lock);
    }
  }
}

// The terminal's output -> the host terminal.
void Console::OutputLoop(Kernel& k) {
  std::unique_lock lock(k.mu);
  Waiter w([this](uint32_t) { cv_.notify_all(); }, kEventIn);
  WaitQueueEntry entry(&tty_->master_queue, &w);
  char buf[4096];
  for (;;) {
    size_t n = tty_->ReadOutput(buf, sizeof(buf), stopping_);
    if (n == 0) {
      if (stopping_) return;
      cv_.wait(lock);
      continue;
    }
    lock.unlock();
    WriteAll(out_fd_, buf, n);
    lock.lock();
  }
}

void Console::Finish(Kernel& k) {
  {
    std::lock_guard lock(k.mu);
    stopping_ = true;
  }
  cv_.notify_all();
  (void)write(stop_pipe_[1], "", 1);
  if (output_.joinable()) output_.join();
  if (input_.joinable()) input_.join();
  if (host_) RestoreHostTerminal();
}

}  // namespace moat
