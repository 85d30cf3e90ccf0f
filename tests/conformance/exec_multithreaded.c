/* execve() from a multithreaded process: the other threads are destroyed,
 * the new image has one thread whose tid is the original pid, and the parent
 * relationship is kept, whether the main thread or another thread execs. */
#include "check.h"

#include <dirent.h>
#include <pthread.h>
#include <stdint.h>

static char self_path[4096];

static int count_tasks(void) {
  DIR* tasks = opendir("/proc/self/task");
  if (tasks == NULL) return -1;
  int count = 0;
  struct dirent* entry;
  while ((entry = readdir(tasks)) != NULL)
    if (entry->d_name[0] != '.') count++;
  closedir(tasks);
  return count;
}

static void* report_pid(void* argument) { return (void*)(intptr_t)getpid(); }

/* Checks the image started by exec and exits 11 when every check passed, so
 * the parent can tell it from an exec failure. */
static int mode_check(char** argv) {
  CASE("the new image has one thread and keeps the pid");
  CHECK_EQ(count_tasks(), 1);
  CHECK_EQ(getpid(), atoi(argv[2]));
  CHECK_EQ(gettid(), getpid());
  CHECK_EQ(getppid(), atoi(argv[3]));

  CASE("threads work in the new image");
  pthread_t thread;
  CHECK_EQ(pthread_create(&thread, NULL, report_pid, NULL), 0);
  void* thread_pid = NULL;
  CHECK_EQ(pthread_join(thread, &thread_pid), 0);
  CHECK_EQ((intptr_t)thread_pid, getpid());
  return check_finish() == 0 ? 11 : 1;
}

static void* block_forever(void* argument) {
  for (;;) pause();
  return NULL;
}

static char pid_text[16], parent_text[16];

static void exec_self(void) {
  char* argv[] = {self_path, "check", pid_text, parent_text, NULL};
  char* envp[] = {NULL};
  execve(self_path, argv, envp);
  _exit(99);
}

static void* exec_from_thread(void* argument) {
  usleep(20000);
  exec_self();
  return NULL;
}

static void prepare_ids(void) {
  snprintf(pid_text, sizeof pid_text, "%d", getpid());
  snprintf(parent_text, sizeof parent_text, "%d", getppid());
}

int main(int argc, char** argv) {
  if (argc >= 4 && strcmp(argv[1], "check") == 0) return mode_check(argv);
  if (realpath(argv[0], self_path) == NULL) {
    printf("setup: realpath(%s) failed with %s\n", argv[0],
           check_errno_name(errno));
    return 2;
  }

  CASE("main thread execs while other threads block");
  pid_t pid = fork();
  if (pid == 0) {
    prepare_ids();
    for (int i = 0; i < 3; i++) {
      pthread_t thread;
      pthread_create(&thread, NULL, block_forever, NULL);
    }
    usleep(20000);
    if (count_tasks() != 4) _exit(98);
    exec_self();
  }
  CHECK_CHILD_EXIT(pid, 11);

  CASE("a non-main thread execs and takes over the pid");
  pid = fork();
  if (pid == 0) {
    prepare_ids();
    for (int i = 0; i < 2; i++) {
      pthread_t thread;
      pthread_create(&thread, NULL, block_forever, NULL);
    }
    pthread_t thread;
    pthread_create(&thread, NULL, exec_from_thread, NULL);
    for (;;) pause();
  }
  CHECK_CHILD_EXIT(pid, 11);

  CASE("a non-main thread execs after the main thread exited");
  pid = fork();
  if (pid == 0) {
    prepare_ids();
    pthread_t thread;
    pthread_create(&thread, NULL, exec_from_thread, NULL);
    pthread_exit(NULL);
  }
  CHECK_CHILD_EXIT(pid, 11);
  return check_finish();
}
