/* uname() and host names: fields are set, terminated and consistent with
 * /proc/sys/kernel, and invalid or unprivileged updates are rejected. */
#include "check.h"

#include <ctype.h>
#include <sys/syscall.h>
#include <sys/utsname.h>

/* Reads the first line of a file without its newline; returns "" on error. */
static const char* read_line(const char* path) {
  static char lines[4][256];
  static int next;
  char* line = lines[next++ % 4];
  line[0] = '\0';
  FILE* file = fopen(path, "r");
  if (file == NULL) return line;
  if (fgets(line, sizeof lines[0], file) == NULL) line[0] = '\0';
  fclose(file);
  line[strcspn(line, "\n")] = '\0';
  return line;
}

static int terminated(const char* field, size_t size) {
  return memchr(field, '\0', size) != NULL;
}

int main(void) {
  struct utsname names;
  memset(&names, 0x7f, sizeof names);

  CASE("uname succeeds and terminates every field");
  CHECK_EQ(uname(&names), 0);
  CHECK(terminated(names.sysname, sizeof names.sysname));
  CHECK(terminated(names.nodename, sizeof names.nodename));
  CHECK(terminated(names.release, sizeof names.release));
  CHECK(terminated(names.version, sizeof names.version));
  CHECK(terminated(names.machine, sizeof names.machine));
  CHECK(terminated(names.domainname, sizeof names.domainname));

  CASE("sysname is Linux and machine is x86_64");
  CHECK_STR(names.sysname, "Linux");
  CHECK_STR(names.machine, "x86_64");

  CASE("release is non-empty, starts with major.minor and matches osrelease");
  CHECK(strlen(names.release) > 0);
  CHECK(isdigit((unsigned char)names.release[0]));
  CHECK(strchr(names.release, '.') != NULL);
  CHECK_STR(names.release, read_line("/proc/sys/kernel/osrelease"));

  CASE("version is non-empty and matches /proc/sys/kernel/version");
  CHECK(strlen(names.version) > 0);
  CHECK_STR(names.version, read_line("/proc/sys/kernel/version"));

  CASE("nodename matches gethostname and /proc/sys/kernel/hostname");
  char hostname[128] = {0};
  CHECK_EQ(gethostname(hostname, sizeof hostname), 0);
  CHECK_STR(names.nodename, hostname);
  CHECK_STR(names.nodename, read_line("/proc/sys/kernel/hostname"));

  CASE("domainname matches /proc/sys/kernel/domainname");
  CHECK_STR(names.domainname, read_line("/proc/sys/kernel/domainname"));

  CASE("sysname matches /proc/sys/kernel/ostype");
  CHECK_STR(names.sysname, read_line("/proc/sys/kernel/ostype"));

  CASE("bad buffer fails with EFAULT");
  CHECK_ERR(syscall(SYS_uname, (void*)8), EFAULT);

  CASE("gethostname with a short buffer fails with ENAMETOOLONG");
  if (strlen(hostname) > 0) {
    char short_buffer[1];
    CHECK_ERR(gethostname(short_buffer, sizeof short_buffer), ENAMETOOLONG);
  }

  CASE("sethostname longer than 64 bytes fails with EINVAL");
  char too_long[80];
  memset(too_long, 'h', sizeof too_long);
  CHECK_ERR(sethostname(too_long, sizeof too_long), EINVAL);

  CASE("unprivileged sethostname fails with EPERM");
  pid_t pid = fork();
  if (pid == 0) {
    if (setuid(65534) != 0) _exit(90);
    CHECK_ERR(sethostname("x", 1), EPERM);
    CHECK_ERR(setdomainname("x", 1), EPERM);
    check_child_done();
  }
  CHECK_CHILD_EXIT(pid, 0);

  CASE("names are unchanged by the rejected calls");
  struct utsname again;
  CHECK_EQ(uname(&again), 0);
  CHECK_STR(again.nodename, names.nodename);
  CHECK_STR(again.domainname, names.domainname);
  return check_finish();
}
