/* inotify: watches, the events of file operations, their order and
 * coalescing, IN_ONESHOT and the other watch flags, queue overflow, FIONREAD,
 * readiness and read errors. */
#include "check.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>

struct event {
  int wd;
  unsigned mask;
  unsigned cookie;
  char name[64];
};

static struct event events[64];
static int event_count;

/* Reads every queued event of the non-blocking `fd` into `events`. */
static void drain(int fd) {
  char buffer[8192] __attribute__((aligned(8)));
  event_count = 0;
  ssize_t n = read(fd, buffer, sizeof buffer);
  if (n == -1 && errno == EAGAIN) return;
  CHECK(n > 0);
  for (char* p = buffer; n > 0 && p < buffer + n;) {
    struct inotify_event* e = (struct inotify_event*)p;
    if (event_count < 64) {
      struct event* out = &events[event_count++];
      out->wd = e->wd;
      out->mask = e->mask;
      out->cookie = e->cookie;
      snprintf(out->name, sizeof out->name, "%s", e->len ? e->name : "");
    }
    p += sizeof *e + e->len;
  }
}

#define CHECK_EVENT(i, want_wd, want_mask, want_name) \
  do {                                                \
    CHECK((i) < event_count);                         \
    CHECK_EQ(events[i].wd, want_wd);                  \
    CHECK_EQ(events[i].mask, want_mask);              \
    CHECK_STR(events[i].name, want_name);             \
  } while (0)

/* Joins a directory and a name; the string is never freed. */
static const char* at(const char* dir, const char* name) {
  char* path = malloc(strlen(dir) + strlen(name) + 2);
  sprintf(path, "%s/%s", dir, name);
  return path;
}

static void create_file(const char* path) {
  int fd = CHECK_OK(open(path, O_CREAT | O_WRONLY, 0644));
  close(fd);
}

static void test_init_flags(void) {
  CASE("inotify_init1 flags set O_NONBLOCK and FD_CLOEXEC");
  int fd = CHECK_OK(inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  CHECK(fcntl(fd, F_GETFL) & O_NONBLOCK);
  CHECK_EQ(fcntl(fd, F_GETFD), FD_CLOEXEC);
  char buffer[64];
  CHECK_ERR(read(fd, buffer, sizeof buffer), EAGAIN);
  close(fd);
  fd = CHECK_OK(inotify_init());
  CHECK(!(fcntl(fd, F_GETFL) & O_NONBLOCK));
  CHECK_EQ(fcntl(fd, F_GETFD), 0);
  close(fd);

  CASE("inotify_init1 rejects unknown flags");
  CHECK_ERR(inotify_init1(1), EINVAL);
}

static void test_add_watch_errors(const char* dir) {
  CASE("inotify_add_watch errors");
  int fd = CHECK_OK(inotify_init1(IN_NONBLOCK));
  const char* file = at(dir, "plain");
  create_file(file);
  CHECK_ERR(inotify_add_watch(fd, file, 0), EINVAL);
  CHECK_ERR(inotify_add_watch(fd, file, IN_MODIFY | 0x00100000), EINVAL);
  CHECK_ERR(inotify_add_watch(999, file, IN_MASK_ADD | IN_MASK_CREATE),
            EBADF);
  CHECK_ERR(inotify_add_watch(fd, file, IN_MODIFY | IN_MASK_ADD |
                                            IN_MASK_CREATE),
            EINVAL);
  CHECK_ERR(inotify_add_watch(0, file, IN_MODIFY), EINVAL);
  CHECK_ERR(inotify_add_watch(999, file, IN_MODIFY), EBADF);
  CHECK_ERR(inotify_add_watch(fd, at(dir, "missing"), IN_MODIFY), ENOENT);
  CHECK_ERR(inotify_add_watch(fd, file, IN_MODIFY | IN_ONLYDIR), ENOTDIR);
  CHECK_ERR(inotify_rm_watch(fd, 12345), EINVAL);

  CASE("a mask of flags only makes a watch without events");
  int quiet = CHECK_OK(inotify_add_watch(fd, dir, IN_ONLYDIR));
  CHECK(quiet > 0);
  create_file(at(dir, "unseen"));
  drain(fd);
  CHECK_EQ(event_count, 0);
  CHECK_OK(inotify_rm_watch(fd, quiet));
  drain(fd);
  CHECK_EQ(event_count, 1);
  CHECK_EVENT(0, quiet, IN_IGNORED, "");

  CASE("a second watch on one inode returns the same descriptor");
  int wd = CHECK_OK(inotify_add_watch(fd, file, IN_MODIFY));
  CHECK(wd > 0);
  CHECK_EQ(inotify_add_watch(fd, file, IN_ATTRIB), wd);
  CHECK_ERR(inotify_add_watch(fd, file, IN_ATTRIB | IN_MASK_CREATE), EEXIST);
  CHECK_OK(chmod(file, 0600));
  drain(fd);
  CHECK_EQ(event_count, 1);
  CHECK_EVENT(0, wd, IN_ATTRIB, "");

  CASE("IN_MASK_ADD keeps the events watched before");
  CHECK_EQ(inotify_add_watch(fd, file, IN_MODIFY | IN_MASK_ADD), wd);
  int w = CHECK_OK(open(file, O_WRONLY));
  CHECK_EQ(write(w, "x", 1), 1);
  close(w);
  CHECK_OK(chmod(file, 0644));
  drain(fd);
  CHECK_EQ(event_count, 2);
  CHECK_EVENT(0, wd, IN_MODIFY, "");
  CHECK_EVENT(1, wd, IN_ATTRIB, "");

  CASE("IN_DONT_FOLLOW watches the symbolic link itself");
  CHECK_OK(symlink("nowhere", at(dir, "dangling")));
  CHECK_ERR(inotify_add_watch(fd, at(dir, "dangling"), IN_ATTRIB), ENOENT);
  CHECK(inotify_add_watch(fd, at(dir, "dangling"),
                          IN_ATTRIB | IN_DONT_FOLLOW) > 0);

  CASE("inotify_rm_watch queues IN_IGNORED");
  CHECK_OK(inotify_rm_watch(fd, wd));
  drain(fd);
  CHECK_EQ(event_count, 1);
  CHECK_EVENT(0, wd, IN_IGNORED, "");
  CHECK_ERR(inotify_rm_watch(fd, wd), EINVAL);
  close(fd);
}

static void test_file_events(const char* dir) {
  CASE("creating, writing and closing a file");
  int fd = CHECK_OK(inotify_init1(IN_NONBLOCK));
  int dwd = CHECK_OK(inotify_add_watch(fd, dir, IN_ALL_EVENTS));
  const char* file = at(dir, "a");
  int f = CHECK_OK(open(file, O_CREAT | O_WRONLY, 0644));
  drain(fd);
  CHECK_EQ(event_count, 2);
  CHECK_EVENT(0, dwd, IN_CREATE, "a");
  CHECK_EVENT(1, dwd, IN_OPEN, "a");
  int fwd = CHECK_OK(inotify_add_watch(fd, file, IN_ALL_EVENTS));
  CHECK_EQ(write(f, "xy", 2), 2);
  close(f);
  drain(fd);
  CHECK_EQ(event_count, 4);
  CHECK_EVENT(0, dwd, IN_MODIFY, "a");
  CHECK_EVENT(1, fwd, IN_MODIFY, "");
  CHECK_EVENT(2, dwd, IN_CLOSE_WRITE, "a");
  CHECK_EVENT(3, fwd, IN_CLOSE_WRITE, "");

  CASE("reading reports IN_ACCESS and IN_CLOSE_NOWRITE");
  f = CHECK_OK(open(file, O_RDONLY));
  char c;
  CHECK_EQ(read(f, &c, 1), 1);
  close(f);
  drain(fd);
  CHECK_EQ(event_count, 6);
  CHECK_EVENT(0, dwd, IN_OPEN, "a");
  CHECK_EVENT(1, fwd, IN_OPEN, "");
  CHECK_EVENT(2, dwd, IN_ACCESS, "a");
  CHECK_EVENT(3, fwd, IN_ACCESS, "");
  CHECK_EVENT(4, dwd, IN_CLOSE_NOWRITE, "a");
  CHECK_EVENT(5, fwd, IN_CLOSE_NOWRITE, "");

  CASE("O_TRUNC reports IN_MODIFY after IN_OPEN");
  CHECK_OK(inotify_rm_watch(fd, fwd));
  drain(fd);
  f = CHECK_OK(open(file, O_WRONLY | O_TRUNC));
  close(f);
  drain(fd);
  CHECK_EQ(event_count, 3);
  CHECK_EVENT(0, dwd, IN_OPEN, "a");
  CHECK_EVENT(1, dwd, IN_MODIFY, "a");
  CHECK_EVENT(2, dwd, IN_CLOSE_WRITE, "a");

  CASE("chmod, utimes and truncate");
  CHECK_OK(chmod(file, 0600));
  CHECK_OK(utimensat(AT_FDCWD, file, NULL, 0));
  CHECK_OK(truncate(file, 10));
  drain(fd);
  CHECK_EQ(event_count, 2);
  CHECK_EVENT(0, dwd, IN_ATTRIB, "a");
  CHECK_EVENT(1, dwd, IN_MODIFY, "a");

  CASE("identical consecutive events are merged");
  f = CHECK_OK(open(file, O_WRONLY));
  drain(fd);
  for (int i = 0; i < 5; i++) CHECK_EQ(write(f, "x", 1), 1);
  drain(fd);
  CHECK_EQ(event_count, 1);
  CHECK_EVENT(0, dwd, IN_MODIFY, "a");
  close(f);
  drain(fd);
  close(fd);
}

static void test_directory_events(const char* dir) {
  CASE("mkdir, opendir, getdents and rmdir carry IN_ISDIR");
  int fd = CHECK_OK(inotify_init1(IN_NONBLOCK));
  int dwd = CHECK_OK(inotify_add_watch(fd, dir, IN_ALL_EVENTS));
  const char* sub = at(dir, "sub");
  CHECK_OK(mkdir(sub, 0755));
  int swd = CHECK_OK(inotify_add_watch(fd, sub, IN_ALL_EVENTS | IN_ONLYDIR));
  drain(fd);
  CHECK_EQ(event_count, 1);
  CHECK_EVENT(0, dwd, IN_CREATE | IN_ISDIR, "sub");
  int d = CHECK_OK(open(sub, O_RDONLY | O_DIRECTORY));
  char buffer[512];
  CHECK(syscall(SYS_getdents64, d, buffer, sizeof buffer) > 0);
  close(d);
  drain(fd);
  CHECK_EQ(event_count, 6);
  CHECK_EVENT(0, dwd, IN_OPEN | IN_ISDIR, "sub");
  CHECK_EVENT(1, swd, IN_OPEN | IN_ISDIR, "");
  CHECK_EVENT(2, dwd, IN_ACCESS | IN_ISDIR, "sub");
  CHECK_EVENT(3, swd, IN_ACCESS | IN_ISDIR, "");
  CHECK_EVENT(4, dwd, IN_CLOSE_NOWRITE | IN_ISDIR, "sub");
  CHECK_EVENT(5, swd, IN_CLOSE_NOWRITE | IN_ISDIR, "");
  CHECK_OK(rmdir(sub));
  drain(fd);
  CHECK_EQ(event_count, 3);
  CHECK_EVENT(0, swd, IN_DELETE_SELF, "");
  CHECK_EVENT(1, swd, IN_IGNORED, "");
  CHECK_EVENT(2, dwd, IN_DELETE | IN_ISDIR, "sub");

  CASE("symlink, mknod and link report IN_CREATE");
  create_file(at(dir, "target"));
  int twd = CHECK_OK(
      inotify_add_watch(fd, at(dir, "target"), IN_ATTRIB | IN_DELETE_SELF));
  drain(fd);
  CHECK_OK(symlink("target", at(dir, "sym")));
  CHECK_OK(mknod(at(dir, "fifo"), S_IFIFO | 0644, 0));
  CHECK_OK(link(at(dir, "target"), at(dir, "hard")));
  drain(fd);
  CHECK_EQ(event_count, 4);
  CHECK_EVENT(0, dwd, IN_CREATE, "sym");
  CHECK_EVENT(1, dwd, IN_CREATE, "fifo");
  CHECK_EVENT(2, twd, IN_ATTRIB, "");
  CHECK_EVENT(3, dwd, IN_CREATE, "hard");

  CASE("unlinking one of two links reports IN_ATTRIB, not IN_DELETE_SELF");
  CHECK_OK(unlink(at(dir, "hard")));
  drain(fd);
  CHECK_EQ(event_count, 2);
  CHECK_EVENT(0, twd, IN_ATTRIB, "");
  CHECK_EVENT(1, dwd, IN_DELETE, "hard");

  CASE("unlinking the last link reports IN_DELETE_SELF and IN_IGNORED");
  CHECK_OK(unlink(at(dir, "target")));
  drain(fd);
  CHECK_EQ(event_count, 4);
  CHECK_EVENT(0, twd, IN_ATTRIB, "");
  CHECK_EVENT(1, twd, IN_DELETE_SELF, "");
  CHECK_EVENT(2, twd, IN_IGNORED, "");
  CHECK_EVENT(3, dwd, IN_DELETE, "target");
  close(fd);
}

static void test_unlink_open_file(const char* dir) {
  CASE("a file removed while open is deleted at its last close");
  int fd = CHECK_OK(inotify_init1(IN_NONBLOCK));
  int dwd = CHECK_OK(inotify_add_watch(fd, dir, IN_ALL_EVENTS));
  const char* file = at(dir, "open-unlinked");
  int f = CHECK_OK(open(file, O_CREAT | O_RDWR, 0644));
  int fwd = CHECK_OK(inotify_add_watch(fd, file, IN_ALL_EVENTS));
  drain(fd);
  CHECK_OK(unlink(file));
  drain(fd);
  CHECK_EQ(event_count, 2);
  CHECK_EVENT(0, fwd, IN_ATTRIB, "");
  CHECK_EVENT(1, dwd, IN_DELETE, "open-unlinked");
  CHECK_EQ(write(f, "z", 1), 1);
  close(f);
  drain(fd);
  CHECK_EQ(event_count, 6);
  CHECK_EVENT(0, dwd, IN_MODIFY, "open-unlinked");
  CHECK_EVENT(1, fwd, IN_MODIFY, "");
  CHECK_EVENT(2, dwd, IN_CLOSE_WRITE, "open-unlinked");
  CHECK_EVENT(3, fwd, IN_CLOSE_WRITE, "");
  CHECK_EVENT(4, fwd, IN_DELETE_SELF, "");
  CHECK_EVENT(5, fwd, IN_IGNORED, "");
  CHECK_OK(inotify_rm_watch(fd, dwd));
  drain(fd);

  CASE("IN_EXCL_UNLINK drops events of unlinked children");
  dwd = CHECK_OK(inotify_add_watch(fd, dir, IN_ALL_EVENTS | IN_EXCL_UNLINK));
  f = CHECK_OK(open(file, O_CREAT | O_RDWR, 0644));
  CHECK_OK(unlink(file));
  drain(fd);
  CHECK_EQ(event_count, 3);
  CHECK_EVENT(0, dwd, IN_CREATE, "open-unlinked");
  CHECK_EVENT(1, dwd, IN_OPEN, "open-unlinked");
  CHECK_EVENT(2, dwd, IN_DELETE, "open-unlinked");
  CHECK_EQ(write(f, "z", 1), 1);
  close(f);
  drain(fd);
  CHECK_EQ(event_count, 0);
  close(fd);
}

static void test_rename(const char* dir) {
  CASE("rename reports IN_MOVED_FROM and IN_MOVED_TO with one cookie");
  int fd = CHECK_OK(inotify_init1(IN_NONBLOCK));
  const char* sub = at(dir, "dest");
  CHECK_OK(mkdir(sub, 0755));
  create_file(at(dir, "m"));
  int dwd = CHECK_OK(inotify_add_watch(fd, dir, IN_MOVE | IN_DELETE));
  int swd = CHECK_OK(inotify_add_watch(fd, sub, IN_MOVE));
  int mwd = CHECK_OK(inotify_add_watch(fd, at(dir, "m"), IN_ALL_EVENTS));
  CHECK_OK(rename(at(dir, "m"), at(sub, "n")));
  drain(fd);
  CHECK_EQ(event_count, 3);
  CHECK_EVENT(0, dwd, IN_MOVED_FROM, "m");
  CHECK_EVENT(1, swd, IN_MOVED_TO, "n");
  CHECK_EVENT(2, mwd, IN_MOVE_SELF, "");
  CHECK(events[0].cookie != 0);
  CHECK_EQ(events[0].cookie, events[1].cookie);
  unsigned first_cookie = events[0].cookie;

  CASE("renaming over a watched file deletes it");
  const char* dest = at(sub, "n");
  create_file(at(sub, "victim"));
  int vwd = CHECK_OK(inotify_add_watch(fd, at(sub, "victim"), IN_ALL_EVENTS));
  CHECK_OK(rename(dest, at(sub, "victim")));
  drain(fd);
  CHECK_EQ(event_count, 6);
  CHECK_EVENT(0, swd, IN_MOVED_FROM, "n");
  CHECK_EVENT(1, swd, IN_MOVED_TO, "victim");
  CHECK_EVENT(2, vwd, IN_ATTRIB, "");
  CHECK_EVENT(3, mwd, IN_MOVE_SELF, "");
  CHECK_EVENT(4, vwd, IN_DELETE_SELF, "");
  CHECK_EVENT(5, vwd, IN_IGNORED, "");
  CHECK(events[0].cookie != first_cookie);

  CASE("moving a directory sets IN_ISDIR on the entry events only");
  int subwd = CHECK_OK(inotify_add_watch(fd, sub, IN_MOVE_SELF | IN_MASK_ADD));
  CHECK_EQ(subwd, swd);
  CHECK_OK(rename(sub, at(dir, "dest2")));
  drain(fd);
  CHECK_EQ(event_count, 3);
  CHECK_EVENT(0, dwd, IN_MOVED_FROM | IN_ISDIR, "dest");
  CHECK_EVENT(1, dwd, IN_MOVED_TO | IN_ISDIR, "dest2");
  CHECK_EVENT(2, swd, IN_MOVE_SELF, "");
  close(fd);
}

static void test_oneshot(const char* dir) {
  CASE("IN_ONESHOT removes the watch after one event");
  int fd = CHECK_OK(inotify_init1(IN_NONBLOCK));
  const char* file = at(dir, "once");
  create_file(file);
  int wd = CHECK_OK(inotify_add_watch(fd, file, IN_ATTRIB | IN_ONESHOT));
  CHECK_OK(chmod(file, 0600));
  CHECK_OK(chmod(file, 0644));
  drain(fd);
  CHECK_EQ(event_count, 2);
  CHECK_EVENT(0, wd, IN_ATTRIB, "");
  CHECK_EVENT(1, wd, IN_IGNORED, "");
  CHECK_ERR(inotify_rm_watch(fd, wd), EINVAL);
  CASE("a new watch gets a new descriptor");
  int again = CHECK_OK(inotify_add_watch(fd, file, IN_ATTRIB));
  CHECK(again > wd);
  close(fd);
}

static void test_reading(const char* dir) {
  CASE("FIONREAD counts queued bytes");
  int fd = CHECK_OK(inotify_init1(IN_NONBLOCK));
  int wd = CHECK_OK(inotify_add_watch(fd, dir, IN_CREATE));
  int available = -1;
  CHECK_OK(ioctl(fd, FIONREAD, &available));
  CHECK_EQ(available, 0);
  create_file(at(dir, "r1"));
  create_file(at(dir, "a-much-longer-file-name"));
  CHECK_OK(ioctl(fd, FIONREAD, &available));
  CHECK_EQ(available, 2 * sizeof(struct inotify_event) + 16 + 32);

  CASE("poll and epoll report readiness");
  struct pollfd entry = {fd, POLLIN, 0};
  CHECK_EQ(poll(&entry, 1, 0), 1);
  CHECK_EQ(entry.revents, POLLIN);
  int ep = CHECK_OK(epoll_create1(0));
  struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 7};
  CHECK_OK(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev));
  struct epoll_event got;
  CHECK_EQ(epoll_wait(ep, &got, 1, 0), 1);
  CHECK_EQ(got.data.u32, 7);

  CASE("a buffer too small for the first event fails with EINVAL");
  char small[sizeof(struct inotify_event) + 8];
  CHECK_ERR(read(fd, small, sizeof small), EINVAL);

  CASE("a read returns only whole events");
  char one[sizeof(struct inotify_event) + 16 + 8] __attribute__((aligned(8)));
  CHECK_EQ(read(fd, one, sizeof one), sizeof(struct inotify_event) + 16);
  struct inotify_event* e = (struct inotify_event*)one;
  CHECK_EQ(e->wd, wd);
  CHECK_EQ(e->len, 16);
  CHECK_STR(e->name, "r1");
  CHECK_OK(ioctl(fd, FIONREAD, &available));
  CHECK_EQ(available, sizeof(struct inotify_event) + 32);
  drain(fd);
  CHECK_EQ(event_count, 1);
  CHECK_EQ(poll(&entry, 1, 0), 0);
  CHECK_EQ(epoll_wait(ep, &got, 1, 0), 0);

  CASE("a blocking read waits for an event");
  int blocking = CHECK_OK(inotify_init());
  CHECK_OK(inotify_add_watch(blocking, dir, IN_CREATE));
  pid_t child = fork();
  if (child == 0) {
    usleep(50000);
    create_file(at(dir, "late"));
    _exit(0);
  }
  char buffer[256] __attribute__((aligned(8)));
  ssize_t n = read(blocking, buffer, sizeof buffer);
  CHECK(n > 0);
  CHECK_STR(((struct inotify_event*)buffer)->name, "late");
  CHECK_CHILD_EXIT(child, 0);
  close(blocking);
  close(ep);
  close(fd);
}

static void test_overflow(const char* dir) {
  CASE("a full queue ends with one IN_Q_OVERFLOW");
  FILE* limit = fopen("/proc/sys/fs/inotify/max_queued_events", "r");
  CHECK(limit != NULL);
  int max = 0;
  if (limit) {
    CHECK_EQ(fscanf(limit, "%d", &max), 1);
    fclose(limit);
  }
  CHECK(max > 0);
  CHECK(max <= 1 << 20);

  int fd = CHECK_OK(inotify_init1(IN_NONBLOCK));
  const char* file = at(dir, "busy");
  create_file(file);
  CHECK_OK(inotify_add_watch(fd, file, IN_ATTRIB | IN_MODIFY));
  int f = CHECK_OK(open(file, O_WRONLY));
  for (int i = 0; i < max + 10; i++) {
    if (i % 2) CHECK_EQ(write(f, "x", 1), 1);
    else CHECK_OK(fchmod(f, 0644));
  }
  close(f);

  int available = 0;
  CHECK_OK(ioctl(fd, FIONREAD, &available));
  CHECK_EQ(available, (max + 1) * (int)sizeof(struct inotify_event));
  char* buffer = malloc(available);
  int total = 0;
  while (total < available) {
    ssize_t n = read(fd, buffer + total, available - total);
    CHECK(n > 0);
    if (n <= 0) break;
    total += n;
  }
  CHECK_EQ(total, available);
  struct inotify_event* last =
      (struct inotify_event*)(buffer + available - sizeof *last);
  CHECK_EQ(last->wd, -1);
  CHECK_EQ(last->mask, IN_Q_OVERFLOW);
  free(buffer);
  close(fd);
}

static void test_limits_files(void) {
  CASE("/proc/sys/fs/inotify holds the limits");
  const char* names[] = {"max_queued_events", "max_user_instances",
                         "max_user_watches"};
  for (int i = 0; i < 3; i++) {
    char path[128];
    snprintf(path, sizeof path, "/proc/sys/fs/inotify/%s", names[i]);
    FILE* f = fopen(path, "r");
    CHECK(f != NULL);
    if (!f) continue;
    long value = 0;
    CHECK_EQ(fscanf(f, "%ld", &value), 1);
    CHECK(value > 0);
    fclose(f);
  }
}

int main(void) {
  char* dir = check_make_temp_dir();
  test_init_flags();
  test_add_watch_errors(dir);
  test_file_events(dir);
  test_directory_events(dir);
  test_unlink_open_file(dir);
  test_rename(dir);
  test_oneshot(dir);
  test_reading(dir);
  test_overflow(dir);
  test_limits_files();
  check_remove_tree(dir);
  return check_finish();
}
