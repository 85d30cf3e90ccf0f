/* Process exit with several threads: exit from any thread ends them all,
 * a main thread that exits alone leaves the others running, and a fatal
 * signal in one thread kills the whole process. Each case runs in a child
 * and is judged by its wait status. */
#include "check.h"

#include <pthread.h>
#include <sys/syscall.h>
#include <time.h>

static long elapsed_ms(const struct timespec* start) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (now.tv_sec - start->tv_sec) * 1000 +
         (now.tv_nsec - start->tv_nsec) / 1000000;
}

static void* block_forever(void* argument) {
  for (;;) pause();
  return NULL;
}

static void* exit_from_thread(void* argument) {
  usleep(20000);
  exit(7);
  return NULL;
}

static void* finish_later(void* argument) {
  usleep(50000);
  syscall(SYS_exit_group, 3);
  return NULL;
}

static void* return_normally(void* argument) {
  usleep(50000);
  return NULL;
}

static void* fault(void* argument) {
  usleep(20000);
  *(volatile int*)8 = 1;
  return NULL;
}

static int wait_status(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return status;
}

static void start_blocked_threads(int count) {
  for (int i = 0; i < count; i++) {
    pthread_t thread;
    pthread_create(&thread, NULL, block_forever, NULL);
  }
}

int main(void) {
  struct timespec start;

  CASE("exit from a non-main thread ends every thread with its status");
  clock_gettime(CLOCK_MONOTONIC, &start);
  pid_t pid = fork();
  if (pid == 0) {
    start_blocked_threads(4);
    pthread_t thread;
    pthread_create(&thread, NULL, exit_from_thread, NULL);
    for (;;) pause();
  }
  int status = wait_status(pid);
  CHECK(WIFEXITED(status));
  CHECK_EQ(WEXITSTATUS(status), 7);
  CHECK(elapsed_ms(&start) < 2000);

  CASE("exit from the main thread ends blocked threads");
  pid = fork();
  if (pid == 0) {
    start_blocked_threads(4);
    usleep(20000);
    exit(9);
  }
  status = wait_status(pid);
  CHECK(WIFEXITED(status));
  CHECK_EQ(WEXITSTATUS(status), 9);

  CASE("main thread calling SYS_exit leaves the others running");
  pid = fork();
  if (pid == 0) {
    pthread_t thread;
    pthread_create(&thread, NULL, finish_later, NULL);
    syscall(SYS_exit, 0);
  }
  status = wait_status(pid);
  CHECK(WIFEXITED(status));
  CHECK_EQ(WEXITSTATUS(status), 3);

  CASE("the process exits 0 when every thread ends with pthread_exit");
  pid = fork();
  if (pid == 0) {
    pthread_t thread;
    pthread_create(&thread, NULL, return_normally, NULL);
    pthread_exit(NULL);
  }
  status = wait_status(pid);
  CHECK(WIFEXITED(status));
  CHECK_EQ(WEXITSTATUS(status), 0);

  CASE("a fault in one thread kills the whole process");
  pid = fork();
  if (pid == 0) {
    start_blocked_threads(2);
    pthread_t thread;
    pthread_create(&thread, NULL, fault, NULL);
    for (;;) pause();
  }
  status = wait_status(pid);
  CHECK(WIFSIGNALED(status));
  CHECK_EQ(WTERMSIG(status), SIGSEGV);

  CASE("SIGKILL kills every thread");
  int ready[2];
  CHECK_OK(pipe(ready));
  pid = fork();
  if (pid == 0) {
    start_blocked_threads(3);
    write(ready[1], "r", 1);
    for (;;) pause();
  }
  char byte;
  read(ready[0], &byte, 1);
  kill(pid, SIGKILL);
  status = wait_status(pid);
  CHECK(WIFSIGNALED(status));
  CHECK_EQ(WTERMSIG(status), SIGKILL);

  CASE("a default-fatal signal sent to the process kills every thread");
  pid = fork();
  if (pid == 0) {
    start_blocked_threads(3);
    write(ready[1], "r", 1);
    for (;;) pause();
  }
  read(ready[0], &byte, 1);
  kill(pid, SIGTERM);
  status = wait_status(pid);
  CHECK(WIFSIGNALED(status));
  CHECK_EQ(WTERMSIG(status), SIGTERM);

  CASE("the zombie main thread shows state Z while others run");
  pid = fork();
  if (pid == 0) {
    pthread_t thread;
    pthread_create(&thread, NULL, finish_later, NULL);
    write(ready[1], "r", 1);
    syscall(SYS_exit, 0);
  }
  read(ready[0], &byte, 1);
  char path[64], contents[512] = {0};
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  char state = '?';
  for (int i = 0; i < 40 && state != 'Z'; i++) {
    FILE* file = fopen(path, "r");
    if (file == NULL) break;
    if (fgets(contents, sizeof contents, file) != NULL) {
      char* close_paren = strrchr(contents, ')');
      if (close_paren != NULL) state = close_paren[2];
    }
    fclose(file);
    if (state != 'Z') usleep(1000);
  }
  CHECK_EQ(state, 'Z');
  status = wait_status(pid);
  CHECK(WIFEXITED(status));
  CHECK_EQ(WEXITSTATUS(status), 3);
  close(ready[0]);
  close(ready[1]);
  return check_finish();
}
