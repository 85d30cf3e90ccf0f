/* System-wide /proc files: meminfo, cpuinfo, stat, uptime, loadavg,
 * version, filesystems, mounts and a few sysctls. Values are checked for
 * format and consistency, not for this host's contents. */
#include "check.h"

#include <fcntl.h>
#include <sys/utsname.h>
#include <time.h>

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

/* Returns the kB value of a /proc/meminfo key, or -1. */
static long meminfo_kb(const char* buffer, const char* key) {
  const char* line = strstr(buffer, key);
  if (line == NULL) return -1;
  long value = -1;
  char unit[8] = {0};
  if (sscanf(line + strlen(key), ": %ld %7s", &value, unit) != 2) return -1;
  return strcmp(unit, "kB") == 0 ? value : -1;
}

static int count_lines_starting(const char* buffer, const char* prefix) {
  int count = 0;
  size_t length = strlen(prefix);
  for (const char* line = buffer; line != NULL && *line != '\0';) {
    if (strncmp(line, prefix, length) == 0) count++;
    line = strchr(line, '\n');
    if (line != NULL) line++;
  }
  return count;
}

static int has_line(const char* buffer, const char* text) {
  for (const char* line = buffer; line != NULL && *line != '\0';) {
    const char* end = strchr(line, '\n');
    size_t length = end != NULL ? (size_t)(end - line) : strlen(line);
    if (length == strlen(text) && strncmp(line, text, length) == 0) return 1;
    line = end != NULL ? end + 1 : NULL;
  }
  return 0;
}

int main(void) {
  static char buffer[1 << 20];

  CASE("/proc/meminfo reports MemTotal, MemFree and MemAvailable in kB");
  CHECK(read_file("/proc/meminfo", buffer, sizeof buffer) > 0);
  long total = meminfo_kb(buffer, "MemTotal");
  long free_kb = meminfo_kb(buffer, "MemFree");
  long available = meminfo_kb(buffer, "MemAvailable");
  CHECK(total > 0);
  CHECK(free_kb >= 0);
  CHECK(free_kb <= total);
  CHECK(available >= 0);
  CHECK(available <= total);

  CASE("/proc/cpuinfo has one processor entry per CPU line in /proc/stat");
  CHECK(read_file("/proc/cpuinfo", buffer, sizeof buffer) > 0);
  int processors = count_lines_starting(buffer, "processor");
  CHECK(processors >= 1);
  CHECK(strstr(buffer, "vendor_id") != NULL);
  CHECK(strstr(buffer, "flags") != NULL);
  static char stat_buffer[1 << 16];
  CHECK(read_file("/proc/stat", stat_buffer, sizeof stat_buffer) > 0);
  CHECK_EQ(count_lines_starting(stat_buffer, "cpu") - 1, processors);
  CHECK_EQ(count_lines_starting(stat_buffer, "cpu "), 1);

  CASE("/proc/uptime is close to CLOCK_BOOTTIME");
  CHECK(read_file("/proc/uptime", buffer, sizeof buffer) > 0);
  double uptime = -1, idle = -1;
  CHECK_EQ(sscanf(buffer, "%lf %lf", &uptime, &idle), 2);
  struct timespec boot;
  clock_gettime(CLOCK_BOOTTIME, &boot);
  CHECK(uptime > 0);
  CHECK(idle >= 0);
  CHECK(uptime - boot.tv_sec < 2);
  CHECK(boot.tv_sec - uptime < 2);

  CASE("/proc/stat btime plus uptime is the current time");
  const char* btime_line = strstr(stat_buffer, "btime ");
  CHECK(btime_line != NULL);
  long btime = 0;
  if (btime_line != NULL) sscanf(btime_line, "btime %ld", &btime);
  long now = time(NULL);
  CHECK(labs(btime + (long)uptime - now) <= 2);

  CASE("/proc/loadavg has three loads, running/total and a last pid");
  CHECK(read_file("/proc/loadavg", buffer, sizeof buffer) > 0);
  double loads[3];
  int running = -1, tasks = -1, last_pid = -1;
  CHECK_EQ(sscanf(buffer, "%lf %lf %lf %d/%d %d", &loads[0], &loads[1],
                  &loads[2], &running, &tasks, &last_pid),
           6);
  CHECK(loads[0] >= 0);
  CHECK(running >= 1);
  CHECK(tasks >= running);
  CHECK(last_pid > 0);

  CASE("/proc/version starts with Linux version and the release");
  struct utsname names;
  uname(&names);
  CHECK(read_file("/proc/version", buffer, sizeof buffer) > 0);
  char prefix[128];
  snprintf(prefix, sizeof prefix, "Linux version %s ", names.release);
  CHECK(strncmp(buffer, prefix, strlen(prefix)) == 0);

  CASE("/proc/filesystems lists proc and tmpfs as nodev");
  CHECK(read_file("/proc/filesystems", buffer, sizeof buffer) > 0);
  CHECK(has_line(buffer, "nodev\tproc"));
  CHECK(has_line(buffer, "nodev\ttmpfs"));

  CASE("/proc/mounts lists / and /proc with six fields per line");
  CHECK(read_file("/proc/mounts", buffer, sizeof buffer) > 0);
  int root_found = 0, proc_found = 0, malformed = 0;
  static char copy[1 << 20];
  snprintf(copy, sizeof copy, "%s", buffer);
  for (char* line = strtok(copy, "\n"); line != NULL;
       line = strtok(NULL, "\n")) {
    char source[256], target[256], type[64], options[512];
    int dump = -1, pass = -1;
    if (sscanf(line, "%255s %255s %63s %511s %d %d", source, target, type,
               options, &dump, &pass) != 6) {
      malformed++;
      continue;
    }
    if (strcmp(target, "/") == 0) root_found = 1;
    if (strcmp(target, "/proc") == 0 && strcmp(type, "proc") == 0)
      proc_found = 1;
  }
  CHECK_EQ(malformed, 0);
  CHECK_EQ(root_found, 1);
  CHECK_EQ(proc_found, 1);

  CASE("/proc/self/mounts matches /proc/mounts");
  static char self_mounts[1 << 20];
  CHECK(read_file("/proc/self/mounts", self_mounts, sizeof self_mounts) > 0);
  CHECK_STR(self_mounts, buffer);

  CASE("sysctls under /proc/sys have sane values");
  CHECK(read_file("/proc/sys/kernel/pid_max", buffer, sizeof buffer) > 0);
  CHECK(atol(buffer) >= 301);
  CHECK(read_file("/proc/sys/vm/overcommit_memory", buffer, sizeof buffer) > 0);
  int overcommit = atoi(buffer);
  CHECK(overcommit >= 0);
  CHECK(overcommit <= 2);
  CHECK(read_file("/proc/sys/kernel/ngroups_max", buffer, sizeof buffer) > 0);
  CHECK_EQ(atol(buffer), 65536);

  CASE("unprivileged open of a sysctl for writing fails with EACCES");
  pid_t pid = fork();
  if (pid == 0) {
    if (setuid(65534) != 0) _exit(90);
    CHECK_ERR(open("/proc/sys/kernel/pid_max", O_WRONLY), EACCES);
    check_child_done();
  }
  CHECK_CHILD_EXIT(pid, 0);

  CASE("missing /proc entry fails with ENOENT");
  CHECK_ERR(open("/proc/no-such-entry", O_RDONLY), ENOENT);
  return check_finish();
}
