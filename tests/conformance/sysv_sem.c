/* System V semaphores: semget, semctl commands, semop atomicity and
 * blocking, IPC_NOWAIT, semtimedop timeouts, EINTR, EIDRM, GETNCNT and
 * GETZCNT, and SEM_UNDO applied when a process exits. */
#include "check.h"

#include <sys/ipc.h>
#include <sys/sem.h>
#include <time.h>

union semun {
  int val;
  struct semid_ds* buf;
  unsigned short* array;
  struct seminfo* info;
};

static int make_set(int nsems) {
  return CHECK_OK(semget(IPC_PRIVATE, nsems, 0600));
}

static int op(int id, unsigned short num, short value, short flags) {
  struct sembuf b = {num, value, flags};
  return semop(id, &b, 1);
}

static void on_alarm(int sig) { (void)sig; }

static void test_get_and_values(void) {
  CASE("semget keys and flags");
  key_t key = (key_t)(0x73650000 + getpid());
  CHECK_ERR(semget(key, 1, 0600), ENOENT);
  int id = CHECK_OK(semget(key, 3, IPC_CREAT | IPC_EXCL | 0600));
  CHECK_EQ(semget(key, 0, 0), id);
  CHECK_EQ(semget(key, 2, 0), id);
  CHECK_ERR(semget(key, 4, 0), EINVAL);
  CHECK_ERR(semget(key, 3, IPC_CREAT | IPC_EXCL), EEXIST);
  CHECK_ERR(semget(IPC_PRIVATE, 0, 0600), EINVAL);
  CHECK_ERR(semget(IPC_PRIVATE, -1, 0600), EINVAL);

  CASE("new semaphores are zero; SETVAL, GETVAL, GETPID");
  CHECK_EQ(semctl(id, 0, GETVAL), 0);
  CHECK_EQ(semctl(id, 0, GETPID), 0);
  CHECK_OK(semctl(id, 1, SETVAL, (union semun){.val = 7}));
  CHECK_EQ(semctl(id, 1, GETVAL), 7);
  CHECK_EQ(semctl(id, 1, GETPID), getpid());
  CHECK_ERR(semctl(id, 3, GETVAL), EINVAL);
  CHECK_ERR(semctl(id, 0, SETVAL, (union semun){.val = 40000}), ERANGE);
  CHECK_ERR(semctl(id, 0, SETVAL, (union semun){.val = -1}), ERANGE);

  CASE("SETALL and GETALL");
  unsigned short values[3] = {1, 2, 3};
  CHECK_OK(semctl(id, 0, SETALL, (union semun){.array = values}));
  unsigned short got[3] = {0, 0, 0};
  CHECK_OK(semctl(id, 0, GETALL, (union semun){.array = got}));
  CHECK_EQ(got[0], 1);
  CHECK_EQ(got[1], 2);
  CHECK_EQ(got[2], 3);

  CASE("IPC_STAT and IPC_SET");
  struct semid_ds ds;
  CHECK_OK(semctl(id, 0, IPC_STAT, (union semun){.buf = &ds}));
  CHECK_EQ(ds.sem_nsems, 3);
  CHECK_EQ(ds.sem_perm.mode & 0777, 0600);
  CHECK_EQ(ds.sem_perm.__key, key);
  CHECK_EQ(ds.sem_otime, 0);
  ds.sem_perm.mode = 0660;
  CHECK_OK(semctl(id, 0, IPC_SET, (union semun){.buf = &ds}));
  CHECK_OK(semctl(id, 0, IPC_STAT, (union semun){.buf = &ds}));
  CHECK_EQ(ds.sem_perm.mode & 0777, 0660);

  CASE("IPC_INFO and SEM_INFO");
  struct seminfo info;
  CHECK(semctl(0, 0, IPC_INFO, (union semun){.info = &info}) >= 0);
  CHECK_EQ(info.semvmx, 32767);
  CHECK(info.semopm > 0);
  CHECK(semctl(0, 0, SEM_INFO, (union semun){.info = &info}) >= 0);
  CHECK(info.semusz >= 1);
  CHECK(info.semaem >= 3);

  CASE("IPC_RMID");
  CHECK_OK(semctl(id, 0, IPC_RMID));
  CHECK_ERR(semctl(id, 0, GETVAL), EINVAL);
  CHECK_ERR(semctl(id, 0, 12345), EINVAL);
}

static void test_semop(void) {
  CASE("semop applies all operations or none");
  int id = make_set(2);
  struct sembuf both[2] = {{0, 1, 0}, {1, -1, IPC_NOWAIT}};
  CHECK_ERR(semop(id, both, 2), EAGAIN);
  CHECK_EQ(semctl(id, 0, GETVAL), 0);
  CHECK_OK(op(id, 1, 2, 0));
  CHECK_OK(semop(id, both, 2));
  CHECK_EQ(semctl(id, 0, GETVAL), 1);
  CHECK_EQ(semctl(id, 1, GETVAL), 1);
  struct semid_ds ds;
  CHECK_OK(semctl(id, 0, IPC_STAT, (union semun){.buf = &ds}));
  CHECK(ds.sem_otime != 0);

  CASE("semop errors");
  CHECK_ERR(op(id, 2, 1, 0), EFBIG);
  CHECK_ERR(op(id, 0, 0, IPC_NOWAIT), EAGAIN);
  CHECK_ERR(semop(id, both, 0), EINVAL);
  CHECK_ERR(op(id + 32768 * 100, 0, 1, 0), EINVAL);
  CHECK_OK(semctl(id, 0, SETVAL, (union semun){.val = 32767}));
  CHECK_ERR(op(id, 0, 1, 0), ERANGE);

  CASE("a waiter blocks until the value allows it; GETNCNT counts it");
  CHECK_OK(semctl(id, 0, SETVAL, (union semun){.val = 0}));
  pid_t child = fork();
  if (child == 0) {
    CHECK_OK(op(id, 0, -2, 0));
    check_child_done();
  }
  while (semctl(id, 0, GETNCNT) != 1) usleep(1000);
  CHECK_EQ(semctl(id, 0, GETZCNT), 0);
  CHECK_OK(op(id, 0, 1, 0));
  usleep(20000);
  CHECK_EQ(semctl(id, 0, GETNCNT), 1);
  CHECK_OK(op(id, 0, 1, 0));
  CHECK_CHILD_EXIT(child, 0);
  CHECK_EQ(semctl(id, 0, GETVAL), 0);
  CHECK_EQ(semctl(id, 0, GETPID), child);

  CASE("waiting for zero; GETZCNT counts it");
  CHECK_OK(semctl(id, 1, SETVAL, (union semun){.val = 1}));
  child = fork();
  if (child == 0) {
    CHECK_OK(op(id, 1, 0, 0));
    check_child_done();
  }
  while (semctl(id, 1, GETZCNT) != 1) usleep(1000);
  CHECK_OK(op(id, 1, -1, 0));
  CHECK_CHILD_EXIT(child, 0);

  CASE("semtimedop times out with EAGAIN");
  struct timespec timeout = {0, 50 * 1000 * 1000};
  struct sembuf down = {0, -1, 0};
  struct timespec start, end;
  clock_gettime(CLOCK_MONOTONIC, &start);
  CHECK_ERR(semtimedop(id, &down, 1, &timeout), EAGAIN);
  clock_gettime(CLOCK_MONOTONIC, &end);
  long elapsed_ms = (end.tv_sec - start.tv_sec) * 1000 +
                    (end.tv_nsec - start.tv_nsec) / 1000000;
  CHECK(elapsed_ms >= 45);
  struct timespec bad = {0, 2000000000};
  CHECK_ERR(semtimedop(id, &down, 1, &bad), EINVAL);

  CASE("a signal interrupts semop with EINTR even with SA_RESTART");
  struct sigaction sa = {0};
  sa.sa_handler = on_alarm;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGALRM, &sa, NULL);
  ualarm(30000, 0);
  CHECK_ERR(op(id, 0, -1, 0), EINTR);

  CASE("removing the set wakes waiters with EIDRM");
  child = fork();
  if (child == 0) {
    CHECK_ERR(op(id, 0, -1, 0), EIDRM);
    check_child_done();
  }
  while (semctl(id, 0, GETNCNT) != 1) usleep(1000);
  CHECK_OK(semctl(id, 0, IPC_RMID));
  CHECK_CHILD_EXIT(child, 0);
}

static void test_undo(void) {
  CASE("SEM_UNDO is reverted when the process exits");
  int id = make_set(1);
  CHECK_OK(semctl(id, 0, SETVAL, (union semun){.val = 5}));
  pid_t child = fork();
  if (child == 0) {
    CHECK_OK(op(id, 0, -3, SEM_UNDO));
    CHECK_OK(op(id, 0, 1, 0));
    CHECK_EQ(semctl(id, 0, GETVAL), 3);
    check_child_done();
  }
  CHECK_CHILD_EXIT(child, 0);
  CHECK_EQ(semctl(id, 0, GETVAL), 6);
  CHECK_EQ(semctl(id, 0, GETPID), child);

  CASE("undo survives exec and wakes waiters at exit");
  child = fork();
  if (child == 0) {
    CHECK_OK(op(id, 0, -6, SEM_UNDO));
    execl("/bin/sleep", "sleep", "0.1", (char*)NULL);
    _exit(99);
  }
  while (semctl(id, 0, GETVAL) != 0) usleep(1000);
  CHECK_OK(op(id, 0, -6, 0));
  CHECK_CHILD_EXIT(child, 0);
  CHECK_EQ(semctl(id, 0, GETVAL), 0);

  CASE("SETVAL clears pending undo adjustments");
  int ready[2];
  CHECK_OK(pipe(ready));
  child = fork();
  if (child == 0) {
    CHECK_OK(op(id, 0, 4, SEM_UNDO));
    char c = 'r';
    write(ready[1], &c, 1);
    usleep(100000);
    check_child_done();
  }
  char c;
  CHECK_EQ(read(ready[0], &c, 1), 1);
  CHECK_OK(semctl(id, 0, SETVAL, (union semun){.val = 2}));
  CHECK_CHILD_EXIT(child, 0);
  CHECK_EQ(semctl(id, 0, GETVAL), 2);
  CHECK_OK(semctl(id, 0, IPC_RMID));
}

static void test_permissions(void) {
  CASE("permissions follow the caller's credentials");
  int id = CHECK_OK(semget(IPC_PRIVATE, 1, 0644));
  pid_t child = fork();
  if (child == 0) {
    CHECK_OK(setresuid(1000, 1000, 1000));
    CHECK_EQ(semctl(id, 0, GETVAL), 0);
    CHECK_ERR(op(id, 0, 1, 0), EACCES);
    CHECK_ERR(semctl(id, 0, SETVAL, (union semun){.val = 1}), EACCES);
    CHECK_ERR(semctl(id, 0, IPC_RMID), EPERM);
    check_child_done();
  }
  CHECK_CHILD_EXIT(child, 0);
  CHECK_OK(semctl(id, 0, IPC_RMID));
}

int main(void) {
  test_get_and_values();
  test_semop();
  test_undo();
  test_permissions();
  return check_finish();
}
