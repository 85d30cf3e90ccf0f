/* Robust futex lists: get_robust_list()/set_robust_list(), the kernel
 * marking a dead owner's futex with FUTEX_OWNER_DIED, and robust mutexes
 * reporting EOWNERDEAD across threads and processes. */
#include "check.h"

#include <linux/futex.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>

static pid_t reaped_pid(void) {
  pid_t pid = fork();
  if (pid == 0) _exit(0);
  waitpid(pid, NULL, 0);
  return pid;
}

struct robust_lock {
  struct robust_list entry;
  uint32_t futex;
};

static pthread_mutex_t robust_mutex;

static void* lock_and_exit(void* argument) {
  pthread_mutex_lock(&robust_mutex);
  return NULL;
}

int main(void) {
  CASE("glibc registers a robust list head for the main thread");
  struct robust_list_head* head = NULL;
  size_t length = 0;
  CHECK_EQ(syscall(SYS_get_robust_list, 0, &head, &length), 0);
  CHECK(head != NULL);
  CHECK_EQ(length, sizeof(struct robust_list_head));

  CASE("get_robust_list by tid matches the caller's list");
  struct robust_list_head* by_tid = NULL;
  CHECK_EQ(syscall(SYS_get_robust_list, gettid(), &by_tid, &length), 0);
  CHECK(by_tid == head);

  CASE("set_robust_list with a wrong length fails with EINVAL");
  CHECK_ERR(
      syscall(SYS_set_robust_list, head, sizeof(struct robust_list_head) + 8),
      EINVAL);

  CASE("get_robust_list of a missing thread fails with ESRCH");
  CHECK_ERR(syscall(SYS_get_robust_list, reaped_pid(), &by_tid, &length),
            ESRCH);

  CASE("exit marks a held futex on the robust list with FUTEX_OWNER_DIED");
  struct robust_lock* shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                                    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  pid_t pid = fork();
  if (pid == 0) {
    static struct robust_list_head own_head;
    own_head.list.next = &shared->entry;
    own_head.futex_offset = offsetof(struct robust_lock, futex) -
                            offsetof(struct robust_lock, entry);
    own_head.list_op_pending = NULL;
    shared->entry.next = &own_head.list;
    shared->futex = (uint32_t)getpid();
    if (syscall(SYS_set_robust_list, &own_head, sizeof own_head) != 0) _exit(1);
    _exit(0);
  }
  CHECK_CHILD_EXIT(pid, 0);
  CHECK_EQ(shared->futex, FUTEX_OWNER_DIED);

  CASE("a futex owned by another tid is left alone");
  shared->futex = 12345;
  pid = fork();
  if (pid == 0) {
    static struct robust_list_head own_head;
    own_head.list.next = &shared->entry;
    own_head.futex_offset = offsetof(struct robust_lock, futex) -
                            offsetof(struct robust_lock, entry);
    shared->entry.next = &own_head.list;
    syscall(SYS_set_robust_list, &own_head, sizeof own_head);
    _exit(0);
  }
  CHECK_CHILD_EXIT(pid, 0);
  CHECK_EQ(shared->futex, 12345);
  munmap(shared, 4096);

  CASE("robust mutex held by an exited thread reports EOWNERDEAD");
  pthread_mutexattr_t attributes;
  pthread_mutexattr_init(&attributes);
  pthread_mutexattr_setrobust(&attributes, PTHREAD_MUTEX_ROBUST);
  pthread_mutex_init(&robust_mutex, &attributes);
  pthread_t thread;
  pthread_create(&thread, NULL, lock_and_exit, NULL);
  pthread_join(thread, NULL);
  CHECK_EQ(pthread_mutex_lock(&robust_mutex), EOWNERDEAD);

  CASE("pthread_mutex_consistent makes the mutex usable again");
  CHECK_EQ(pthread_mutex_consistent(&robust_mutex), 0);
  CHECK_EQ(pthread_mutex_unlock(&robust_mutex), 0);
  CHECK_EQ(pthread_mutex_lock(&robust_mutex), 0);
  CHECK_EQ(pthread_mutex_unlock(&robust_mutex), 0);

  CASE(
      "process-shared robust mutex held by an exited process reports "
      "EOWNERDEAD");
  pthread_mutex_t* process_mutex = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                                        MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  pthread_mutexattr_setpshared(&attributes, PTHREAD_PROCESS_SHARED);
  pthread_mutex_init(process_mutex, &attributes);
  pid = fork();
  if (pid == 0) {
    pthread_mutex_lock(process_mutex);
    _exit(0);
  }
  CHECK_CHILD_EXIT(pid, 0);
  CHECK_EQ(pthread_mutex_lock(process_mutex), EOWNERDEAD);
  CHECK_EQ(pthread_mutex_consistent(process_mutex), 0);
  CHECK_EQ(pthread_mutex_unlock(process_mutex), 0);

  CASE("killed owner also leaves EOWNERDEAD");
  int ready[2];
  CHECK_OK(pipe(ready));
  pid = fork();
  if (pid == 0) {
    pthread_mutex_lock(process_mutex);
    write(ready[1], "l", 1);
    for (;;) pause();
  }
  char byte;
  read(ready[0], &byte, 1);
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  CHECK_EQ(pthread_mutex_lock(process_mutex), EOWNERDEAD);
  close(ready[0]);
  close(ready[1]);
  return check_finish();
}
