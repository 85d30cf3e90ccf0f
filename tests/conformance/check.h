/* Shared assertion helpers for the conformance programs.
 *
 * Include this header before any system header, because it defines
 * _GNU_SOURCE. Every failed check prints one line to stdout naming the
 * current case, the source line, what was expected and what happened. A
 * program ends with `return check_finish();`, which exits 1 if any check
 * failed.
 *
 * stdout is unbuffered so that a fork() never duplicates pending output and
 * lines from children interleave in the order they were written.
 */
#ifndef MOAT_CONFORMANCE_CHECK_H
#define MOAT_CONFORMANCE_CHECK_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static int check_failure_count;
static const char* check_case_name = "setup";

__attribute__((constructor)) static void check_init(void) {
  setvbuf(stdout, NULL, _IONBF, 0);
}

/* Fault probes: after signal(SIGSEGV, check_on_fault), check_load_faults
 * and check_store_faults return 1 if the access faulted and 0 if it
 * worked. */
static sigjmp_buf check_fault_recovery;

__attribute__((unused)) static void check_on_fault(int signo) {
  siglongjmp(check_fault_recovery, 1);
}

__attribute__((unused)) static int check_load_faults(char* address) {
  if (sigsetjmp(check_fault_recovery, 1) == 0) {
    (void)*(volatile char*)address;
    return 0;
  }
  return 1;
}

__attribute__((unused)) static int check_store_faults(char* address) {
  if (sigsetjmp(check_fault_recovery, 1) == 0) {
    *(volatile char*)address = 's';
    return 0;
  }
  return 1;
}

/* Names the case that the following checks belong to. */
#define CASE(name) (check_case_name = (name))

__attribute__((unused)) static const char* check_errno_name(int error) {
  const char* name = strerrorname_np(error);
  return name != NULL ? name : "unknown errno";
}

__attribute__((format(printf, 3, 4))) static void check_fail(const char* file,
                                                             int line,
                                                             const char* format,
                                                             ...) {
  char message[1024];
  va_list args;
  va_start(args, format);
  vsnprintf(message, sizeof message, format, args);
  va_end(args);
  printf("%s: %s:%d: %s\n", check_case_name, file, line, message);
  check_failure_count++;
}

#define CHECK(cond)                                                         \
  do {                                                                      \
    if (!(cond)) check_fail(__FILE_NAME__, __LINE__, "expected %s", #cond); \
  } while (0)

/* Reports a failure that needs no comparison, such as reaching a line that
 * should be unreachable. */
#define FAIL(message) check_fail(__FILE_NAME__, __LINE__, "%s", message)

/* Compares two integers (or pointers) after widening both to long long. */
#define CHECK_EQ(got, expected)                                         \
  do {                                                                  \
    long long check_got_ = (long long)(got);                            \
    long long check_expected_ = (long long)(expected);                  \
    if (check_got_ != check_expected_)                                  \
      check_fail(__FILE_NAME__, __LINE__,                               \
                 "expected %s == %s (%lld), got %lld", #got, #expected, \
                 check_expected_, check_got_);                          \
  } while (0)

#define CHECK_NE(got, unexpected)                                              \
  do {                                                                         \
    long long check_got_ = (long long)(got);                                   \
    long long check_unexpected_ = (long long)(unexpected);                     \
    if (check_got_ == check_unexpected_)                                       \
      check_fail(__FILE_NAME__, __LINE__, "expected %s != %s, got %lld", #got, \
                 #unexpected, check_got_);                                     \
  } while (0)

#define CHECK_STR(got, expected)                                               \
  do {                                                                         \
    const char* check_got_ = (got);                                            \
    const char* check_expected_ = (expected);                                  \
    if (check_got_ == NULL || strcmp(check_got_, check_expected_) != 0)        \
      check_fail(__FILE_NAME__, __LINE__, "expected %s == \"%s\", got \"%s\"", \
                 #got, check_expected_,                                        \
                 check_got_ != NULL ? check_got_ : "(null)");                  \
  } while (0)

/* Evaluates a call that must succeed (return a value other than -1) and
 * yields its result, reporting errno when it fails. */
#define CHECK_OK(expr)                                                \
  ({                                                                  \
    errno = 0;                                                        \
    long long check_result_ = (long long)(expr);                      \
    if (check_result_ == -1)                                          \
      check_fail(__FILE_NAME__, __LINE__, "%s failed with %s", #expr, \
                 check_errno_name(errno));                            \
    check_result_;                                                    \
  })

/* Asserts that a call returns -1 and sets errno to the expected value. */
#define CHECK_ERR(expr, expected_errno)                                     \
  do {                                                                      \
    errno = 0;                                                              \
    long long check_result_ = (long long)(expr);                            \
    int check_errno_ = errno;                                               \
    if (check_result_ != -1 || check_errno_ != (expected_errno))            \
      check_fail(__FILE_NAME__, __LINE__,                                   \
                 "expected %s to fail with %s, got %lld (errno %s)", #expr, \
                 check_errno_name(expected_errno), check_result_,           \
                 check_errno_ != 0 ? check_errno_name(check_errno_) : "0"); \
  } while (0)

__attribute__((unused)) static void check_describe_status(int status,
                                                          char* buffer,
                                                          size_t size) {
  if (WIFEXITED(status))
    snprintf(buffer, size, "exit %d", WEXITSTATUS(status));
  else if (WIFSIGNALED(status))
    snprintf(buffer, size, "killed by signal %d", WTERMSIG(status));
  else if (WIFSTOPPED(status))
    snprintf(buffer, size, "stopped by signal %d", WSTOPSIG(status));
  else
    snprintf(buffer, size, "raw status 0x%x", status);
}

/* Waits for one child and asserts that it exited with the given code. */
__attribute__((unused)) static void check_wait_exit(pid_t pid,
                                                    int expected_code,
                                                    const char* file,
                                                    int line) {
  int status = 0;
  pid_t waited;
  do {
    waited = waitpid(pid, &status, 0);
  } while (waited == -1 && errno == EINTR);
  if (waited != pid) {
    check_fail(file, line, "waitpid(%d) returned %d (errno %s)", (int)pid,
               (int)waited, check_errno_name(errno));
    return;
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != expected_code) {
    char description[64];
    check_describe_status(status, description, sizeof description);
    check_fail(file, line, "expected child %d to exit %d, got %s", (int)pid,
               expected_code, description);
  }
}

#define CHECK_CHILD_EXIT(pid, code) \
  check_wait_exit((pid), (code), __FILE_NAME__, __LINE__)

/* Ends a forked child that ran checks with status 1 if any failed, so the
 * parent's CHECK_CHILD_EXIT(pid, 0) reports the failure. */
__attribute__((unused)) static void check_child_done(void) {
  _exit(check_failure_count != 0 ? 1 : 0);
}

__attribute__((unused)) static int check_finish(void) {
  return check_failure_count != 0 ? 1 : 0;
}

/* Creates a fresh directory under /tmp, exiting if that is impossible
 * because no case can run without it. */
__attribute__((unused)) static char* check_make_temp_dir(void) {
  static char path[64];
  strcpy(path, "/tmp/moat-conformance-XXXXXX");
  if (mkdtemp(path) == NULL) {
    printf("setup: mkdtemp(%s) failed with %s\n", path,
           check_errno_name(errno));
    exit(2);
  }
  return path;
}

__attribute__((unused)) static int check_remove_entry(const char* path,
                                                      const struct stat* info,
                                                      int type,
                                                      struct FTW* walk) {
  (void)info;
  (void)type;
  (void)walk;
  remove(path);
  return 0;
}

/* Removes a directory tree without following symbolic links. */
__attribute__((unused)) static void check_remove_tree(const char* path) {
  nftw(path, check_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Returns the file offset of `addr` from /proc/self/maps and stores the
 * mapped file's path in `path`, or returns -1. */
__attribute__((unused)) static long check_file_offset_of(const void* addr,
                                                         char* path,
                                                         size_t path_size) {
  FILE* f = fopen("/proc/self/maps", "r");
  if (f == NULL) return -1;
  char line[512];
  long result = -1;
  while (fgets(line, sizeof line, f)) {
    unsigned long start, end, offset;
    char perms[8];
    int name_at = 0;
    if (sscanf(line, "%lx-%lx %7s %lx %*s %*s %n", &start, &end, perms,
               &offset, &name_at) < 4)
      continue;
    unsigned long a = (unsigned long)addr;
    if (a >= start && a < end && name_at > 0) {
      snprintf(path, path_size, "%s", line + name_at);
      path[strcspn(path, "\n")] = 0;
      result = (long)(offset + (a - start));
      break;
    }
  }
  fclose(f);
  return result;
}

/* Checks that a read of the program's file shows the `n` bytes `want` at
 * the place `addr` is mapped from, whatever the running code shows. */
__attribute__((unused)) static void check_file_bytes(const void* addr,
                                                     const void* want,
                                                     size_t n) {
  char path[256];
  long offset = check_file_offset_of(addr, path, sizeof path);
  CHECK(offset > 0);
  if (offset <= 0) return;
  int fd = open(path, O_RDONLY);
  CHECK(fd >= 0);
  if (fd < 0) return;
  unsigned char bytes[64] = {0};
  CHECK(n <= sizeof bytes);
  CHECK_EQ(pread(fd, bytes, n, offset), (ssize_t)n);
  CHECK(memcmp(bytes, want, n) == 0);
  close(fd);
}

#endif
