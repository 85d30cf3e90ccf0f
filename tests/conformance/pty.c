/* Pseudo-terminals: allocation, default termios, canonical and raw input,
 * echo, output processing, VINTR and SIGWINCH to the foreground process
 * group, window sizes and hang-up. */
#include "check.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <termios.h>

static int master;
static int slave;
static char slave_path[64];

/* Reads whatever arrives on fd within timeout_ms into buffer, terminated. */
static ssize_t read_available(int fd, char* buffer, size_t size,
                              int timeout_ms) {
  size_t total = 0;
  struct pollfd entry = {fd, POLLIN, 0};
  while (total + 1 < size && poll(&entry, 1, timeout_ms) == 1 &&
         (entry.revents & POLLIN)) {
    ssize_t n = read(fd, buffer + total, size - 1 - total);
    if (n <= 0) break;
    total += n;
    timeout_ms = 50;
  }
  buffer[total] = '\0';
  return (ssize_t)total;
}

static void open_pair(void) {
  master = posix_openpt(O_RDWR | O_NOCTTY);
  CHECK(master >= 0);
  CHECK_EQ(grantpt(master), 0);
  CHECK_EQ(unlockpt(master), 0);
  const char* name = ptsname(master);
  CHECK(name != NULL);
  snprintf(slave_path, sizeof slave_path, "%s", name != NULL ? name : "");
  slave = open(slave_path, O_RDWR | O_NOCTTY);
  CHECK(slave >= 0);
}

static void test_allocation(void) {
  CASE("ptsname is /dev/pts/N with N from TIOCGPTN");
  open_pair();
  unsigned number = 9999;
  CHECK_EQ(ioctl(master, TIOCGPTN, &number), 0);
  char expected[64];
  snprintf(expected, sizeof expected, "/dev/pts/%u", number);
  CHECK_STR(slave_path, expected);

  CASE("isatty and ttyname recognise the slave");
  CHECK_EQ(isatty(slave), 1);
  CHECK_STR(ttyname(slave), slave_path);

  CASE("isatty on a pipe fails with ENOTTY");
  int fds[2];
  CHECK_OK(pipe(fds));
  CHECK_EQ(isatty(fds[0]), 0);
  CHECK_EQ(errno, ENOTTY);

  CASE("tcgetattr on a pipe fails with ENOTTY");
  struct termios settings;
  CHECK_ERR(tcgetattr(fds[0], &settings), ENOTTY);
  close(fds[0]);
  close(fds[1]);

  CASE("opening a slave before unlockpt fails with EIO");
  int locked = posix_openpt(O_RDWR | O_NOCTTY);
  char locked_path[64];
  snprintf(locked_path, sizeof locked_path, "%s", ptsname(locked));
  CHECK_ERR(open(locked_path, O_RDWR | O_NOCTTY), EIO);
  close(locked);
}

static void test_default_termios(void) {
  CASE("a new slave has canonical mode, echo, signals and output processing");
  struct termios settings;
  CHECK_EQ(tcgetattr(slave, &settings), 0);
  CHECK_EQ(settings.c_lflag & (ICANON | ECHO | ISIG), ICANON | ECHO | ISIG);
  CHECK_EQ(settings.c_oflag & (OPOST | ONLCR), OPOST | ONLCR);
  CHECK_EQ(settings.c_iflag & ICRNL, ICRNL);
  CHECK_EQ(settings.c_cc[VINTR], 3);
  CHECK_EQ(settings.c_cc[VEOF], 4);
  CHECK_EQ(settings.c_cc[VERASE], 0177);
}

static void test_canonical(void) {
  char buffer[256];

  CASE("canonical input is delivered only after a newline");
  CHECK_EQ(write(master, "ab", 2), 2);
  CHECK_EQ(read_available(slave, buffer, sizeof buffer, 100), 0);
  CHECK_EQ(write(master, "c\n", 2), 2);
  CHECK_EQ(read_available(slave, buffer, sizeof buffer, 1000), 4);
  CHECK_STR(buffer, "abc\n");

  CASE("echo returns typed characters with CR LF for newline");
  read_available(master, buffer, sizeof buffer, 1000);
  CHECK_STR(buffer, "abc\r\n");

  CASE("VERASE removes the previous character");
  CHECK_EQ(write(master, "xy\177z\n", 5), 5);
  CHECK_EQ(read_available(slave, buffer, sizeof buffer, 1000), 3);
  CHECK_STR(buffer, "xz\n");
  read_available(master, buffer, sizeof buffer, 200);

  CASE("carriage return is translated to newline on input");
  CHECK_EQ(write(master, "cr\r", 3), 3);
  CHECK_EQ(read_available(slave, buffer, sizeof buffer, 1000), 3);
  CHECK_STR(buffer, "cr\n");
  read_available(master, buffer, sizeof buffer, 200);

  CASE("VEOF at the start of a line reads as end of file");
  CHECK_EQ(write(master, "\004", 1), 1);
  struct pollfd entry = {slave, POLLIN, 0};
  CHECK_EQ(poll(&entry, 1, 1000), 1);
  CHECK_EQ(read(slave, buffer, sizeof buffer), 0);

  CASE("output newline becomes CR LF");
  CHECK_EQ(write(slave, "out\n", 4), 4);
  CHECK_EQ(read_available(master, buffer, sizeof buffer, 1000), 5);
  CHECK_STR(buffer, "out\r\n");
}

static void test_raw(void) {
  char buffer[256];
  struct termios settings;
  CHECK_EQ(tcgetattr(slave, &settings), 0);
  cfmakeraw(&settings);
  CHECK_EQ(tcsetattr(slave, TCSANOW, &settings), 0);

  CASE("raw mode delivers bytes at once without echo");
  CHECK_EQ(write(master, "r\003\n", 3), 3);
  CHECK_EQ(read_available(slave, buffer, sizeof buffer, 1000), 3);
  CHECK(memcmp(buffer, "r\003\n", 3) == 0);
  CHECK_EQ(read_available(master, buffer, sizeof buffer, 100), 0);

  CASE("raw mode output is not translated");
  CHECK_EQ(write(slave, "a\nb", 3), 3);
  CHECK_EQ(read_available(master, buffer, sizeof buffer, 1000), 3);
  CHECK(memcmp(buffer, "a\nb", 3) == 0);

  CASE("FIONREAD on the slave counts pending input");
  CHECK_EQ(write(master, "12345", 5), 5);
  int pending = -1;
  for (int i = 0; i < 100 && pending != 5; i++) {
    CHECK_EQ(ioctl(slave, FIONREAD, &pending), 0);
    if (pending != 5) usleep(1000);
  }
  CHECK_EQ(pending, 5);

  CASE("tcflush discards pending input");
  CHECK_EQ(tcflush(slave, TCIFLUSH), 0);
  CHECK_EQ(ioctl(slave, FIONREAD, &pending), 0);
  CHECK_EQ(pending, 0);

  CASE("tcsetattr round-trips the settings");
  struct termios back;
  CHECK_EQ(tcgetattr(slave, &back), 0);
  CHECK_EQ(back.c_lflag & (ICANON | ECHO | ISIG), 0);
  CHECK_EQ(back.c_oflag & OPOST, 0);

  CASE("tcsetattr on a closed descriptor fails with EBADF");
  CHECK_ERR(tcsetattr(12345, TCSANOW, &back), EBADF);
}

static void test_window_size(void) {
  CASE("TIOCSWINSZ on the master is seen by TIOCGWINSZ on the slave");
  struct winsize size = {.ws_row = 33, .ws_col = 101};
  CHECK_EQ(ioctl(master, TIOCSWINSZ, &size), 0);
  struct winsize seen = {0};
  CHECK_EQ(ioctl(slave, TIOCGWINSZ, &seen), 0);
  CHECK_EQ(seen.ws_row, 33);
  CHECK_EQ(seen.ws_col, 101);
}

static volatile sig_atomic_t got_signal;

static void on_signal(int signo) { got_signal = signo; }

static void test_job_control(void) {
  CASE("slave opened by a session leader becomes its controlling terminal");
  int ready[2], go[2];
  CHECK_OK(pipe(ready));
  CHECK_OK(pipe(go));
  pid_t pid = fork();
  if (pid == 0) {
    CHECK_EQ(setsid(), getpid());
    int terminal = open(slave_path, O_RDWR);
    CHECK(terminal >= 0);
    CHECK_EQ(tcgetpgrp(terminal), getpid());
    CHECK_EQ(tcgetsid(terminal), getpid());
    struct termios settings;
    tcgetattr(terminal, &settings);
    settings.c_lflag |= ISIG | ICANON;
    tcsetattr(terminal, TCSANOW, &settings);
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGWINCH);
    sigprocmask(SIG_BLOCK, &block, &old);
    signal(SIGINT, on_signal);
    signal(SIGWINCH, on_signal);
    write(ready[1], "r", 1);

    CASE("VINTR sends SIGINT to the foreground process group");
    while (got_signal == 0) sigsuspend(&old);
    CHECK_EQ(got_signal, SIGINT);
    got_signal = 0;
    write(ready[1], "i", 1);

    CASE("changing the window size sends SIGWINCH");
    while (got_signal == 0) sigsuspend(&old);
    CHECK_EQ(got_signal, SIGWINCH);

    CASE("/dev/tty opens the controlling terminal");
    int tty = open("/dev/tty", O_RDWR);
    CHECK(tty >= 0);
    CHECK_EQ(isatty(tty), 1);
    check_child_done();
  }
  char byte;
  CHECK_EQ(read(ready[0], &byte, 1), 1);
  CHECK_EQ(write(master, "\003", 1), 1);
  CHECK_EQ(read(ready[0], &byte, 1), 1);
  struct winsize size = {.ws_row = 40, .ws_col = 120};
  CHECK_EQ(ioctl(master, TIOCSWINSZ, &size), 0);
  CHECK_CHILD_EXIT(pid, 0);
  close(ready[0]);
  close(ready[1]);
  close(go[0]);
  close(go[1]);
}

static void test_hangup(void) {
  CASE("master read fails with EIO once every slave descriptor is closed");
  close(slave);
  char buffer[64];
  read_available(master, buffer, sizeof buffer, 100);
  CHECK_ERR(read(master, buffer, sizeof buffer), EIO);

  CASE("poll on the master reports POLLHUP");
  struct pollfd entry = {master, POLLIN, 0};
  CHECK_EQ(poll(&entry, 1, 0), 1);
  CHECK((entry.revents & POLLHUP) != 0);
  close(master);
}

int main(void) {
  test_allocation();
  test_default_termios();
  test_canonical();
  test_raw();
  test_window_size();
  test_job_control();
  test_hangup();
  return check_finish();
}
