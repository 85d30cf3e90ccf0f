/* /proc/self: stat, status, cmdline, environ, maps, exe, cwd, root, fd,
 * fdinfo, task, and the state of a zombie child. */
#include "check.h"

#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>

/* Reads a whole file into a static buffer; returns its length or -1. */
static ssize_t read_file(const char* path, char* buffer, size_t size) {
  int fd = open(path, O_RDONLY);
  if (fd < 0) return -1;
  size_t total = 0;
  ssize_t n;
  while (total + 1 < size &&
         (n = read(fd, buffer + total, size - 1 - total)) > 0)
    total += n;
  close(fd);
  buffer[total] = '\0';
  return (ssize_t)total;
}

/* Returns the value after "Key:" in /proc/self/status, trimmed. */
static const char* status_field(const char* key) {
  static char buffer[8192];
  static char value[256];
  value[0] = '\0';
  if (read_file("/proc/self/status", buffer, sizeof buffer) < 0) return value;
  size_t key_length = strlen(key);
  for (char* line = buffer; line != NULL && *line != '\0';) {
    char* next = strchr(line, '\n');
    if (strncmp(line, key, key_length) == 0 && line[key_length] == ':') {
      char* start = line + key_length + 1;
      while (*start == ' ' || *start == '\t') start++;
      size_t length = next != NULL ? (size_t)(next - start) : strlen(start);
      if (length >= sizeof value) length = sizeof value - 1;
      memcpy(value, start, length);
      value[length] = '\0';
      break;
    }
    line = next != NULL ? next + 1 : NULL;
  }
  return value;
}

struct stat_fields {
  int pid;
  char comm[64];
  char state;
  int ppid, pgrp, session;
  long threads;
};

static int parse_stat(const char* path, struct stat_fields* fields) {
  char buffer[4096];
  if (read_file(path, buffer, sizeof buffer) < 0) return -1;
  char* open_paren = strchr(buffer, '(');
  char* close_paren = strrchr(buffer, ')');
  if (open_paren == NULL || close_paren == NULL) return -1;
  fields->pid = atoi(buffer);
  size_t length = close_paren - open_paren - 1;
  if (length >= sizeof fields->comm) length = sizeof fields->comm - 1;
  memcpy(fields->comm, open_paren + 1, length);
  fields->comm[length] = '\0';
  /* Fields after comm: state ppid pgrp session tty_nr tpgid flags minflt
   * cminflt majflt cmajflt utime stime cutime cstime priority nice
   * num_threads. */
  long skipped;
  int matched = sscanf(
      close_paren + 2,
      "%c %d %d %d %ld %ld %ld %ld %ld %ld %ld %ld %ld %ld %ld %ld %ld %ld",
      &fields->state, &fields->ppid, &fields->pgrp, &fields->session, &skipped,
      &skipped, &skipped, &skipped, &skipped, &skipped, &skipped, &skipped,
      &skipped, &skipped, &skipped, &skipped, &skipped, &fields->threads);
  return matched == 18 ? 0 : -1;
}

/* Finds the maps line covering address; copies its permission field. */
static int maps_permissions(const void* address, char permissions[5],
                            char* path, size_t path_size) {
  static char buffer[1 << 16];
  if (read_file("/proc/self/maps", buffer, sizeof buffer) < 0) return -1;
  for (char* line = strtok(buffer, "\n"); line != NULL;
       line = strtok(NULL, "\n")) {
    uintptr_t start, end;
    char perms[5];
    int name_offset = 0;
    if (sscanf(line, "%lx-%lx %4s %*s %*s %*s %n", &start, &end, perms,
               &name_offset) < 3)
      continue;
    if ((uintptr_t)address >= start && (uintptr_t)address < end) {
      memcpy(permissions, perms, 5);
      if (path != NULL)
        snprintf(path, path_size, "%s",
                 name_offset > 0 ? line + name_offset : "");
      return 0;
    }
  }
  return -1;
}

static void* sleep_briefly(void* argument) {
  char byte;
  read(*(int*)argument, &byte, 1);
  return NULL;
}

static int mode_report_environment(void) {
  CASE("/proc/self/environ contains the environment given to execve");
  char buffer[4096];
  ssize_t length = read_file("/proc/self/environ", buffer, sizeof buffer);
  static const char expected[] = "ALPHA=1\0BETA=two words\0";
  CHECK_EQ(length, sizeof expected - 1);
  CHECK(memcmp(buffer, expected, sizeof expected - 1) == 0);

  CASE("/proc/self/cmdline contains argv separated by NUL bytes");
  length = read_file("/proc/self/cmdline", buffer, sizeof buffer);
  static const char expected_cmdline[] = "first\0report-environment\0x y\0";
  CHECK_EQ(length, sizeof expected_cmdline - 1);
  CHECK(memcmp(buffer, expected_cmdline, sizeof expected_cmdline - 1) == 0);
  return check_finish();
}

int main(int argc, char** argv) {
  if (argc >= 2 && strcmp(argv[1], "report-environment") == 0)
    return mode_report_environment();

  CASE("/proc/self/stat fields match the process");
  struct stat_fields fields;
  memset(&fields, 0, sizeof fields);
  CHECK_EQ(parse_stat("/proc/self/stat", &fields), 0);
  CHECK_EQ(fields.pid, getpid());
  CHECK_EQ(fields.ppid, getppid());
  CHECK_EQ(fields.pgrp, getpgrp());
  CHECK_EQ(fields.session, getsid(0));
  CHECK_EQ(fields.state, 'R');
  CHECK_EQ(fields.threads, 1);
  char expected_comm[16];
  const char* base = strrchr(argv[0], '/');
  snprintf(expected_comm, sizeof expected_comm, "%s",
           base != NULL ? base + 1 : argv[0]);
  CHECK_STR(fields.comm, expected_comm);

  CASE("/proc/self/status fields match the process");
  char number[32];
  snprintf(number, sizeof number, "%d", getpid());
  CHECK_STR(status_field("Pid"), number);
  CHECK_STR(status_field("Tgid"), number);
  snprintf(number, sizeof number, "%d", getppid());
  CHECK_STR(status_field("PPid"), number);
  CHECK_STR(status_field("Name"), expected_comm);
  CHECK_STR(status_field("Threads"), "1");
  CHECK(strncmp(status_field("State"), "R", 1) == 0);
  char uid_line[64];
  snprintf(uid_line, sizeof uid_line, "%d\t%d\t%d\t%d", getuid(), geteuid(),
           getuid(), getuid());
  CHECK_STR(status_field("Uid"), uid_line);

  CASE("thread count rises while a thread runs");
  int fds[2];
  CHECK_OK(pipe(fds));
  pthread_t thread;
  pthread_create(&thread, NULL, sleep_briefly, &fds[0]);
  CHECK_EQ(parse_stat("/proc/self/stat", &fields), 0);
  CHECK_EQ(fields.threads, 2);
  CHECK_STR(status_field("Threads"), "2");

  CASE("/proc/self/task lists every thread");
  char task_path[64];
  snprintf(task_path, sizeof task_path, "/proc/self/task/%d/stat", getpid());
  struct stat info;
  CHECK_EQ(stat(task_path, &info), 0);
  write(fds[1], "x", 1);
  pthread_join(thread, NULL);

  CASE("/proc/self/cmdline starts with argv[0]");
  char buffer[8192];
  ssize_t length = read_file("/proc/self/cmdline", buffer, sizeof buffer);
  CHECK_EQ(length, (ssize_t)strlen(argv[0]) + 1);
  CHECK_STR(buffer, argv[0]);

  CASE("cmdline and environ reflect execve arguments");
  pid_t pid = fork();
  if (pid == 0) {
    char* child_argv[] = {"first", "report-environment", "x y", NULL};
    char* child_envp[] = {"ALPHA=1", "BETA=two words", NULL};
    execve(argv[0], child_argv, child_envp);
    _exit(99);
  }
  CHECK_CHILD_EXIT(pid, 0);

  CASE("/proc/self/exe points at this program");
  char self_path[PATH_MAX], exe[PATH_MAX] = {0};
  CHECK(realpath(argv[0], self_path) != NULL);
  CHECK(readlink("/proc/self/exe", exe, sizeof exe - 1) > 0);
  CHECK_STR(exe, self_path);

  CASE("/proc/self/cwd and /proc/self/root point at cwd and /");
  char cwd[PATH_MAX], link[PATH_MAX] = {0};
  CHECK(getcwd(cwd, sizeof cwd) != NULL);
  CHECK(readlink("/proc/self/cwd", link, sizeof link - 1) > 0);
  CHECK_STR(link, cwd);
  memset(link, 0, sizeof link);
  CHECK_EQ(readlink("/proc/self/root", link, sizeof link - 1), 1);
  CHECK_STR(link, "/");

  CASE("/proc/self is a link to the pid and /proc/thread-self to the task");
  memset(link, 0, sizeof link);
  CHECK(readlink("/proc/self", link, sizeof link - 1) > 0);
  snprintf(number, sizeof number, "%d", getpid());
  CHECK_STR(link, number);
  memset(link, 0, sizeof link);
  CHECK(readlink("/proc/thread-self", link, sizeof link - 1) > 0);
  char expected_link[64];
  snprintf(expected_link, sizeof expected_link, "%d/task/%d", getpid(),
           gettid());
  CHECK_STR(link, expected_link);

  CASE(
      "/proc/self/maps shows code, stack and new mappings with their "
      "permissions");
  char permissions[5] = {0};
  char path[PATH_MAX] = {0};
  CHECK_EQ(maps_permissions((void*)main, permissions, path, sizeof path), 0);
  CHECK_STR(permissions, "r-xp");
  CHECK_STR(path, self_path);
  int local = 0;
  CHECK_EQ(maps_permissions(&local, permissions, path, sizeof path), 0);
  CHECK_STR(permissions, "rw-p");
  CHECK_STR(path, "[stack]");
  char* memory = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  CHECK_EQ(maps_permissions(memory, permissions, NULL, 0), 0);
  CHECK_STR(permissions, "rw-p");
  mprotect(memory + 4096, 4096, PROT_READ);
  CHECK_EQ(maps_permissions(memory + 4096, permissions, NULL, 0), 0);
  CHECK_STR(permissions, "r--p");
  char* shared = mmap(NULL, 4096, PROT_READ, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  CHECK_EQ(maps_permissions(shared, permissions, NULL, 0), 0);
  CHECK_STR(permissions, "r--s");
  munmap(memory, 3 * 4096);
  CHECK_EQ(maps_permissions(memory, permissions, NULL, 0), -1);
  munmap(shared, 4096);

  CASE("/proc/self/fd lists descriptors as links to their files");
  char* directory = check_make_temp_dir();
  char file_path[PATH_MAX];
  snprintf(file_path, sizeof file_path, "%s/file", directory);
  int fd = open(file_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  char fd_link[64];
  snprintf(fd_link, sizeof fd_link, "/proc/self/fd/%d", fd);
  memset(link, 0, sizeof link);
  CHECK(readlink(fd_link, link, sizeof link - 1) > 0);
  CHECK_STR(link, file_path);

  CASE("pipe descriptors link to pipe:[inode]");
  snprintf(fd_link, sizeof fd_link, "/proc/self/fd/%d", fds[0]);
  memset(link, 0, sizeof link);
  CHECK(readlink(fd_link, link, sizeof link - 1) > 0);
  CHECK_OK(fstat(fds[0], &info));
  snprintf(expected_link, sizeof expected_link, "pipe:[%lu]",
           (unsigned long)info.st_ino);
  CHECK_STR(link, expected_link);

  CASE("/proc/self/fdinfo reports position and flags");
  CHECK_EQ(write(fd, "12345", 5), 5);
  char fdinfo_path[64];
  snprintf(fdinfo_path, sizeof fdinfo_path, "/proc/self/fdinfo/%d", fd);
  CHECK(read_file(fdinfo_path, buffer, sizeof buffer) > 0);
  long position = -1;
  unsigned flags = 0;
  char* pos_line = strstr(buffer, "pos:");
  char* flags_line = strstr(buffer, "flags:");
  CHECK(pos_line != NULL);
  CHECK(flags_line != NULL);
  if (pos_line != NULL) sscanf(pos_line, "pos: %ld", &position);
  if (flags_line != NULL) sscanf(flags_line, "flags: %o", &flags);
  CHECK_EQ(position, 5);
  CHECK_EQ(flags & O_ACCMODE, O_RDWR);
  CHECK_EQ(flags & O_CLOEXEC, O_CLOEXEC);

  CASE("closed descriptors disappear from /proc/self/fd");
  close(fd);
  snprintf(fd_link, sizeof fd_link, "/proc/self/fd/%d", fd);
  CHECK_ERR(readlink(fd_link, link, sizeof link), ENOENT);
  check_remove_tree(directory);

  CASE("an exited child that was not waited for is a zombie");
  pid = fork();
  if (pid == 0) _exit(0);
  siginfo_t wait_info;
  CHECK_EQ(waitid(P_PID, pid, &wait_info, WEXITED | WNOWAIT), 0);
  char child_stat[64];
  snprintf(child_stat, sizeof child_stat, "/proc/%d/stat", pid);
  CHECK_EQ(parse_stat(child_stat, &fields), 0);
  CHECK_EQ(fields.state, 'Z');
  CHECK_EQ(fields.ppid, getpid());
  CHECK_CHILD_EXIT(pid, 0);

  CASE("a reaped child's directory is gone");
  CHECK_ERR(stat(child_stat, &info), ENOENT);
  close(fds[0]);
  close(fds[1]);
  return check_finish();
}
