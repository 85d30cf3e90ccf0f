// The line discipline: input editing, echo, signals and output
// processing, after the behaviour of Linux drivers/tty/n_tty.c.
#include "fs/tty.h"

#include <termios.h>

#include <cctype>
#include <cstring>

#include "kernel/kernel.h"
#include "kernel/signal_delivery.h"

namespace moat {
namespace {

constexpr int kErrRestartSys = 512;
constexpr uint8_t Ctrl(char c) { return c & 0x1f; }

bool IsContinuation(unsigned char c) { return (c & 0xc0) == 0x80; }

}  // namespace

KernelTermios DefaultTermios() {
  KernelTermios t;
  t.c_iflag = ICRNL | IXON | IUTF8;
  t.c_oflag = OPOST | ONLCR;
  t.c_cflag = B38400 | CS8 | CREAD | HUPCL;
  t.c_lflag = ISIG | ICANON | ECHO | ECHOE | ECHOK | ECHOCTL | ECHOKE | IEXTEN;
  t.c_cc[VINTR] = Ctrl('C');
  t.c_cc[VQUIT] = Ctrl('\\');
  t.c_cc[VERASE] = 0177;
  t.c_cc[VKILL] = Ctrl('U');
  t.c_cc[VEOF] = Ctrl('D');
  t.c_cc[VTIME] = 0;
  t.c_cc[VMIN] = 1;
  t.c_cc[VSTART] = Ctrl('Q');
  t.c_cc[VSTOP] = Ctrl('S');
  t.c_cc[VSUSP] = Ctrl('Z');
  t.c_cc[VREPRINT] = Ctrl('R');
  t.c_cc[VDISCARD] = Ctrl('O');
  t.c_cc[VWERASE] = Ctrl('W');
  t.c_cc[VLNEXT] = Ctrl('V');
  return t;
}

Tty::Tty(int index) : index_(index), termios_(DefaultTermios()) {}

size_t Tty::InputQueued() const {
  size_t n = raw_.size() + line_.size();
  for (const std::string& l : lines_) n += l.size();
  return n;
}

size_t Tty::InputAvailable() const {
  if (!L(ICANON)) return raw_.size();
  size_t n = 0;
  for (const std::string& l : lines_) n += l.size();
  return n;
}

bool Tty::InputReady() const {
  if (L(ICANON)) return !lines_.empty();
  // As Linux n_tty_poll: a read with VMIN and no VTIME needs VMIN bytes.
  size_t want = 1;
  if (termios_.c_cc[VTIME] == 0 && termios_.c_cc[VMIN] > 0)
    want = termios_.c_cc[VMIN];
  return raw_.size() >= want;
}

void Tty::NotifyInput() { slave_queue.Notify(kEventIn); }

void Tty::NotifyOutput() {
  if (OutputReady()) master_queue.Notify(kEventIn);
}

void Tty::FlushInput() {
  line_.clear();
  lines_.clear();
  raw_.clear();
  lnext_ = false;
  master_queue.Notify(kEventOut);
}

void Tty::FlushOutput() {
  output_.clear();
  slave_queue.Notify(kEventOut);
}

void Tty::SetStopped(bool stopped) {
  stopped_ = stopped;
  NotifyOutput();
}

void Tty::SetTermios(const KernelTermios& t) {
  bool was_canon = L(ICANON);
  termios_ = t;
  if (was_canon && !L(ICANON)) {
    // Lines being edited become plain input, as Linux does.
    for (const std::string& l : lines_) raw_ += l;
    raw_ += line_;
    lines_.clear();
    line_.clear();
  } else if (!was_canon && L(ICANON)) {
    line_ = raw_ + line_;
    raw_.clear();
  }
  NotifyInput();
  NotifyOutput();
  master_queue.Notify(kEventOut);
}

void Tty::SetWindowSize(Kernel& k, const struct winsize& ws) {
  bool changed = memcmp(&ws, &winsize_, sizeof(ws)) != 0;
  winsize_ = ws;
  if (changed && fg_pgrp > 0)
    k.SignalProcessGroup(fg_pgrp, MakeSigInfo(SIGWINCH, SI_KERNEL));
}

// ---- input ----

size_t Tty::Receive(Kernel& k, const char* buf, size_t len) {
  if (hung_up_) return len;  // no one reads it any more
  size_t i = 0;
  for (; i < len && InputRoom(); i++) ReceiveChar(k, buf[i]);
  NotifyOutput();
  return i;
}

void Tty::ReceiveChar(Kernel& k, unsigned char c) {
  if (I(ISTRIP)) c &= 0x7f;
  if (lnext_) {
    lnext_ = false;
  } else {
    if (I(IXON)) {
      if (Is(c, VSTOP)) return SetStopped(true);
      if (Is(c, VSTART)) return SetStopped(false);
      if (I(IXANY) && stopped_) SetStopped(false);
    }
    if (L(ISIG)) {
      if (Is(c, VINTR)) return Isig(k, SIGINT, c);
      if (Is(c, VQUIT)) return Isig(k, SIGQUIT, c);
      if (Is(c, VSUSP)) return Isig(k, SIGTSTP, c);
    }
    if (c == '\r') {
      if (I(IGNCR)) return;
      if (I(ICRNL)) c = '\n';
    } else if (c == '\n' && I(INLCR)) {
      c = '\r';
    }
    if (L(ICANON) && ReceiveCanonical(c)) return;
  }
  if (L(ICANON)) {
    // A full line takes only its end (Linux keeps one byte for it).
    if (line_.size() >= kTtyInputMax - 1) return;
    if (line_.empty()) line_column_ = column_;
    Echo(c);
    line_ += char(c);
    return;
  }
  Echo(c);
  raw_ += char(c);
  NotifyInput();
}

// Handles the bytes with a meaning in canonical mode; false for others.
bool Tty::ReceiveCanonical(unsigned char c) {
  if (Is(c, VERASE) || Is(c, VKILL) || (L(IEXTEN) && Is(c, VWERASE))) {
    Erase(c);
    return true;
  }
  if (L(IEXTEN) && Is(c, VLNEXT)) {
    lnext_ = true;
    if (L(ECHO) && L(ECHOCTL)) {
      Put('^');
      Put('\b');
    }
    return true;
  }
  if (L(IEXTEN) && Is(c, VREPRINT)) {
    Reprint(c);
    return true;
  }
  if (Is(c, VEOF)) {
    // Ends the line without adding itself: on an empty line a read
    // returns 0, which programs take as end of file.
    CompleteLine();
    return true;
  }
  if (c == '\n' || Is(c, VEOL) || (L(IEXTEN) && Is(c, VEOL2))) {
    if (L(ECHO) || (c == '\n' && L(ECHONL))) {
      if (c == '\n') Put('\n');
      else Echo(c);
    }
    line_ += char(c);
    CompleteLine();
    return true;
  }
  return false;
}

void Tty::CompleteLine() {
  lines_.push_back(std::move(line_));
  line_.clear();
  NotifyInput();
}

void Tty::Isig(Kernel& k, int sig, unsigned char c) {
  if (!L(NOFLSH)) {
    FlushInput();
    FlushOutput();
  }
  if (I(IXON)) SetStopped(false);
  Echo(c);
  if (fg_pgrp > 0) k.SignalProcessGroup(fg_pgrp, MakeSigInfo(sig, SI_KERNEL));
}

void Tty::Reprint(unsigned char c) {
  Echo(c);
  Put('\n');
  line_column_ = column_;
  for (char ch : line_) Echo(ch);
}

// The column the character at `pos` of the edited line starts in.
int Tty::LineColumnBefore(size_t pos) const {
  int col = line_column_;
  for (size_t i = 0; i < pos; i++) {
    unsigned char ch = line_[i];
    if (ch == '\t') col = (col | 7) + 1;
    else if (std::iscntrl(ch) && L(ECHOCTL)) col += 2;
    else if (!std::iscntrl(ch) && !(I(IUTF8) && IsContinuation(ch))) col++;
  }
  return col;
}

// Removes the last character (all bytes of a UTF-8 one) and rubs it out.
void Tty::EraseOne() {
  size_t start = line_.size() - 1;
  if (I(IUTF8))
    while (start > 0 && IsContinuation(line_[start])) start--;
  unsigned char first = line_[start];
  int width = 1;
  if (first == '\t') {
    width = LineColumnBefore(line_.size()) - LineColumnBefore(start);
  } else if (std::iscntrl(first)) {
    width = L(ECHOCTL) ? 2 : 0;
  }
  line_.erase(start);
  if (!L(ECHO)) return;
  if (!L(ECHOE)) {
    Echo(termios_.c_cc[VERASE]);
    return;
  }
  for (int i = 0; i < width; i++) {
    Put('\b');
    if (first != '\t') {
      Put(' ');
      Put('\b');
    }
  }
}

void Tty::Erase(unsigned char c) {
  if (line_.empty()) return;
  if (Is(c, VKILL) && (!L(ECHO) || !L(ECHOK) || !L(ECHOKE) || !L(ECHOE))) {
    line_.clear();
    if (L(ECHO)) {
      Echo(c);
      if (L(ECHOK)) Put('\n');
    }
    return;
  }
  bool word = !Is(c, VERASE) && !Is(c, VKILL);
  bool seen_word = false;
  while (!line_.empty()) {
    if (word) {
      // Like BSD's ALTWERASE: a word is letters, digits and '_'.
      unsigned char last = line_.back();
      bool in_word = std::isalnum(last) || last == '_';
      if (in_word) seen_word = true;
      else if (seen_word) break;
    }
    EraseOne();
    if (Is(c, VERASE)) break;
  }
}

// ---- output ----

void Tty::Echo(unsigned char c) {
  if (!L(ECHO)) return;
  if (L(ECHOCTL) && (c < 0x20 || c == 0x7f) && c != '\t' && c != '\n') {
    Put('^');
    Put(c == 0x7f ? '?' : c ^ 0x40);
    return;
  }
  Put(c);
}

void Tty::Put(unsigned char c) {
  if (!O(OPOST)) {
    output_.push_back(c);
    return;
  }
  switch (c) {
    case '\n':
      if (O(ONLRET)) column_ = 0;
      if (O(ONLCR)) {
        output_.push_back('\r');
        column_ = 0;
      }
      break;
    case '\r':
      if (O(ONOCR) && column_ == 0) return;
      if (O(OCRNL)) {
        c = '\n';
        if (O(ONLRET)) column_ = 0;
        break;
      }
      column_ = 0;
      break;
    case '\t': {
      int spaces = 8 - (column_ & 7);
      column_ += spaces;
      if ((termios_.c_oflag & TABDLY) == XTABS) {
        output_.insert(output_.end(), spaces, ' ');
        return;
      }
      break;
    }
    case '\b':
      if (column_ > 0) column_--;
      break;
    default:
      if (!std::iscntrl(c)) {
        if (O(OLCUC)) c = std::toupper(c);
        if (!(I(IUTF8) && IsContinuation(c))) column_++;
      }
  }
  output_.push_back(c);
}

size_t Tty::Write(const char* buf, size_t len) {
  size_t i = 0;
  for (; i < len && output_.size() < kTtyOutputMax; i++) Put(buf[i]);
  NotifyOutput();
  return i;
}

size_t Tty::ReadOutput(char* buf, size_t len, bool force) {
  if (stopped_ && !force) return 0;
  size_t n = std::min(len, output_.size());
  std::copy_n(output_.begin(), n, buf);
  output_.erase(output_.begin(), output_.begin() + n);
  if (n) slave_queue.Notify(kEventOut);
  return n;
}

// ---- reading input ----

size_t Tty::ReadCanonical(char* buf, size_t len) {
  std::string& line = lines_.front();
  size_t n = std::min(len, line.size());
  std::copy_n(line.begin(), n, buf);
  line.erase(0, n);
  if (line.empty()) lines_.pop_front();
  master_queue.Notify(kEventOut);
  return n;
}

size_t Tty::TakeRaw(char* buf, size_t len) {
  size_t n = std::min(len, raw_.size());
  std::copy_n(raw_.begin(), n, buf);
  raw_.erase(0, n);
  if (n) master_queue.Notify(kEventOut);
  return n;
}

Result<size_t> Tty::ReadInput(Task& t, char* buf, size_t len,
                              bool nonblock) {
  if (L(ICANON)) {
    if (!lines_.empty()) return ReadCanonical(buf, len);
    if (hung_up_) return size_t(0);
    return Err(EAGAIN);  // the caller waits for InputReady
  }
  size_t vmin = termios_.c_cc[VMIN], vtime = termios_.c_cc[VTIME];
  if (nonblock || (vmin == 0 && vtime == 0) || hung_up_) {
    if (raw_.empty() && nonblock && !hung_up_) return Err(EAGAIN);
    return TakeRaw(buf, len);
  }
  // VTIME is a total timeout without VMIN, a gap between bytes with it.
  auto gap = std::chrono::milliseconds(100 * vtime);
  std::optional<Clock::time_point> deadline;
  if (vtime && !vmin) deadline = Clock::now() + gap;
  size_t want = std::min(len, std::max<size_t>(vmin, 1));
  size_t seen = raw_.size();
  Waiter w([&t](uint32_t) { t.Wake(); }, kEventIn | kEventHup);
  WaitQueueEntry entry(&slave_queue, &w);
  while (raw_.size() < want && !hung_up_ && L(ICANON) == false) {
    if (vtime && vmin && raw_.size() > seen) {
      seen = raw_.size();
      deadline = Clock::now() + gap;
    }
    BlockResult r = t.Block(deadline);
    if (r == BlockResult::kTimedOut) break;
    if (r == BlockResult::kInterrupted) {
      if (raw_.empty()) return Err(kErrRestartSys);
      break;
    }
  }
  if (L(ICANON)) return Err(EAGAIN);  // the mode changed meanwhile
  return TakeRaw(buf, len);
}

}  // namespace moat
