/* wait4() and getrusage(): CPU time, maximum RSS and page faults of
 * children and of the caller, and errors. */
#include "check.h"

#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>

static long long timeval_us(struct timeval value) {
  return (long long)value.tv_sec * 1000000 + value.tv_usec;
}

static void burn_cpu_ms(long milliseconds) {
  struct timespec start, now;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &start);
  do {
    for (volatile int i = 0; i < 10000; i++) {
    }
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
  } while ((now.tv_sec - start.tv_sec) * 1000 +
               (now.tv_nsec - start.tv_nsec) / 1000000 <
           milliseconds);
}

int main(void) {
  CASE("wait4 reports the child's CPU time");
  pid_t pid = fork();
  if (pid == 0) {
    burn_cpu_ms(100);
    _exit(0);
  }
  struct rusage usage;
  memset(&usage, 0, sizeof usage);
  int status = 0;
  CHECK_EQ(wait4(pid, &status, 0, &usage), pid);
  CHECK(WIFEXITED(status));
  long long cpu = timeval_us(usage.ru_utime) + timeval_us(usage.ru_stime);
  CHECK(cpu >= 90000);
  CHECK(cpu < 5000000);

  CASE("wait4 reports the child's maximum RSS in kilobytes");
  pid = fork();
  if (pid == 0) {
    size_t size = 32 << 20;
    char* memory = mmap(NULL, size, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    for (size_t i = 0; i < size; i += 4096) memory[i] = 1;
    _exit(0);
  }
  memset(&usage, 0, sizeof usage);
  CHECK_EQ(wait4(pid, &status, 0, &usage), pid);
  CHECK(usage.ru_maxrss >= 32 * 1024);
  CHECK(usage.ru_maxrss < 1024 * 1024);

  CASE("wait4 reports the child's minor faults");
  CHECK(usage.ru_minflt >= 1000);

  CASE("RUSAGE_CHILDREN includes reaped children only");
  struct rusage before;
  CHECK_EQ(getrusage(RUSAGE_CHILDREN, &before), 0);
  int release[2];
  CHECK_OK(pipe(release));
  pid = fork();
  if (pid == 0) {
    burn_cpu_ms(50);
    char byte;
    read(release[0], &byte, 1);
    _exit(0);
  }
  usleep(150000);
  struct rusage during;
  CHECK_EQ(getrusage(RUSAGE_CHILDREN, &during), 0);
  CHECK_EQ(timeval_us(during.ru_utime) + timeval_us(during.ru_stime),
           timeval_us(before.ru_utime) + timeval_us(before.ru_stime));
  write(release[1], "x", 1);
  CHECK_CHILD_EXIT(pid, 0);
  struct rusage after;
  CHECK_EQ(getrusage(RUSAGE_CHILDREN, &after), 0);
  CHECK(timeval_us(after.ru_utime) + timeval_us(after.ru_stime) >=
        timeval_us(before.ru_utime) + timeval_us(before.ru_stime) + 40000);

  CASE("RUSAGE_SELF and RUSAGE_THREAD include the caller's CPU time");
  burn_cpu_ms(30);
  struct rusage self, thread;
  CHECK_EQ(getrusage(RUSAGE_SELF, &self), 0);
  CHECK_EQ(getrusage(RUSAGE_THREAD, &thread), 0);
  CHECK(timeval_us(self.ru_utime) + timeval_us(self.ru_stime) >= 25000);
  CHECK(timeval_us(thread.ru_utime) + timeval_us(thread.ru_stime) >= 25000);

  CASE("touching new pages adds minor faults to RUSAGE_SELF");
  size_t pages = 2000;
  char* memory = mmap(NULL, pages * 4096, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  madvise(memory, pages * 4096, MADV_NOHUGEPAGE);
  getrusage(RUSAGE_SELF, &before);
  for (size_t i = 0; i < pages; i++) memory[i * 4096] = 1;
  getrusage(RUSAGE_SELF, &after);
  CHECK(after.ru_minflt - before.ru_minflt >= (long)pages);
  munmap(memory, pages * 4096);

  CASE("invalid who fails with EINVAL");
  CHECK_ERR(getrusage(12345, &usage), EINVAL);

  CASE("wait4 with no children fails with ECHILD");
  CHECK_ERR(wait4(-1, &status, 0, &usage), ECHILD);
  close(release[0]);
  close(release[1]);
  return check_finish();
}
