/* Scheduler calls: sched_yield, CPU affinity, policies and priorities,
 * nice values and errors. Changes happen in children. */
#include "check.h"

#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>

static pid_t reaped_pid(void) {
  pid_t pid = fork();
  if (pid == 0) _exit(0);
  waitpid(pid, NULL, 0);
  return pid;
}

int main(void) {
  CASE("sched_yield returns 0");
  CHECK_EQ(sched_yield(), 0);

  CASE("affinity mask has at least one and at most the configured CPUs");
  cpu_set_t set;
  CPU_ZERO(&set);
  CHECK_EQ(sched_getaffinity(0, sizeof set, &set), 0);
  CHECK(CPU_COUNT(&set) >= 1);
  CHECK(CPU_COUNT(&set) <= get_nprocs_conf());

  CASE("raw sched_getaffinity returns the kernel mask size in bytes");
  long bytes = syscall(SYS_sched_getaffinity, 0, sizeof set, &set);
  CHECK(bytes >= 8);
  CHECK_EQ(bytes % 8, 0);

  CASE("raw sched_getaffinity with a huge length writes only the mask");
  static char big[1 << 20];
  CHECK_EQ(syscall(SYS_sched_getaffinity, 0, sizeof big, big), bytes);

  CASE("sched_getaffinity takes its length as an unsigned int");
  CHECK_ERR(syscall(SYS_sched_getaffinity, 0, 1L << 37, big), EINVAL);
  CHECK_EQ(syscall(SYS_sched_getaffinity, 0, (1L << 32) + sizeof big, big),
           bytes);

  CASE(
      "mask smaller than the kernel's or not a multiple of 8 fails with "
      "EINVAL");
  CHECK_ERR(syscall(SYS_sched_getaffinity, 0, 4, &set), EINVAL);

  CASE("pinning to one CPU is reported back and by sched_getcpu");
  int first = -1;
  for (int cpu = 0; cpu < CPU_SETSIZE && first < 0; cpu++)
    if (CPU_ISSET(cpu, &set)) first = cpu;
  pid_t pid = fork();
  if (pid == 0) {
    cpu_set_t single_cpu;
    CPU_ZERO(&single_cpu);
    CPU_SET(first, &single_cpu);
    CHECK_EQ(sched_setaffinity(0, sizeof single_cpu, &single_cpu), 0);
    cpu_set_t back;
    CHECK_EQ(sched_getaffinity(0, sizeof back, &back), 0);
    CHECK_EQ(CPU_COUNT(&back), 1);
    CHECK(CPU_ISSET(first, &back));
    CHECK_EQ(sched_getcpu(), first);
    check_child_done();
  }
  CHECK_CHILD_EXIT(pid, 0);

  CASE("empty affinity mask fails with EINVAL");
  cpu_set_t empty;
  CPU_ZERO(&empty);
  CHECK_ERR(sched_setaffinity(0, sizeof empty, &empty), EINVAL);

  CASE("affinity of a missing process fails with ESRCH");
  pid_t unused_pid = reaped_pid();
  CHECK_ERR(sched_getaffinity(unused_pid, sizeof set, &set), ESRCH);

  CASE("default policy is SCHED_OTHER with priority 0");
  CHECK_EQ(sched_getscheduler(0), SCHED_OTHER);
  struct sched_param param = {.sched_priority = -1};
  CHECK_EQ(sched_getparam(0, &param), 0);
  CHECK_EQ(param.sched_priority, 0);

  CASE("priority ranges match Linux");
  CHECK_EQ(sched_get_priority_min(SCHED_FIFO), 1);
  CHECK_EQ(sched_get_priority_max(SCHED_FIFO), 99);
  CHECK_EQ(sched_get_priority_min(SCHED_RR), 1);
  CHECK_EQ(sched_get_priority_max(SCHED_RR), 99);
  CHECK_EQ(sched_get_priority_min(SCHED_OTHER), 0);
  CHECK_EQ(sched_get_priority_max(SCHED_OTHER), 0);

  CASE("unknown policy fails with EINVAL");
  CHECK_ERR(sched_get_priority_max(12345), EINVAL);
  param.sched_priority = 0;
  CHECK_ERR(sched_setscheduler(0, 12345, &param), EINVAL);

  CASE("SCHED_OTHER with a non-zero priority fails with EINVAL");
  param.sched_priority = 5;
  CHECK_ERR(sched_setscheduler(0, SCHED_OTHER, &param), EINVAL);

  CASE("SCHED_BATCH and SCHED_IDLE can be set and read back");
  pid = fork();
  if (pid == 0) {
    struct sched_param zero = {.sched_priority = 0};
    CHECK_EQ(sched_setscheduler(0, SCHED_BATCH, &zero), 0);
    CHECK_EQ(sched_getscheduler(0), SCHED_BATCH);
    CHECK_EQ(sched_setscheduler(0, SCHED_IDLE, &zero), 0);
    CHECK_EQ(sched_getscheduler(0), SCHED_IDLE);
    check_child_done();
  }
  CHECK_CHILD_EXIT(pid, 0);

  CASE("setpriority changes the nice value read by getpriority");
  pid = fork();
  if (pid == 0) {
    CHECK_EQ(setpriority(PRIO_PROCESS, 0, 5), 0);
    errno = 0;
    CHECK_EQ(getpriority(PRIO_PROCESS, 0), 5);
    CHECK_EQ(errno, 0);
    CHECK_EQ(nice(2), 7);

    CASE("nice values are clamped to 19");
    CHECK_EQ(setpriority(PRIO_PROCESS, 0, 100), 0);
    CHECK_EQ(getpriority(PRIO_PROCESS, 0), 19);

    CASE("lowering the nice value without privilege fails with EACCES");
    if (setuid(65534) != 0) _exit(90);
    CHECK_ERR(setpriority(PRIO_PROCESS, 0, 0), EACCES);
    check_child_done();
  }
  CHECK_CHILD_EXIT(pid, 0);

  CASE("setpriority with an invalid which fails with EINVAL");
  CHECK_ERR(setpriority(12345, 0, 0), EINVAL);

  CASE("getpriority of a missing process fails with ESRCH");
  CHECK_ERR(getpriority(PRIO_PROCESS, unused_pid), ESRCH);

  CASE("sched_rr_get_interval succeeds");
  struct timespec interval = {-1, -1};
  CHECK_EQ(sched_rr_get_interval(0, &interval), 0);
  CHECK(interval.tv_sec >= 0);
  return check_finish();
}
