/* System V shared memory: shmget keys and flags, shmat and shmdt, sharing
 * across fork, IPC_STAT, IPC_SET and IPC_RMID with attachments left,
 * IPC_INFO and SHM_INFO. */
#include "check.h"

#include <stdint.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>

/* Asserts that shmat fails with `expected_errno`. */
#define CHECK_SHMAT_ERR(id, addr, flags, expected_errno) \
  do {                                                    \
    errno = 0;                                            \
    CHECK(shmat((id), (addr), (flags)) == (void*)-1);     \
    CHECK_EQ(errno, (expected_errno));                    \
  } while (0)

static key_t test_key(int n) { return (key_t)(0x6d6f0000 + (getpid() << 4) + n); }

static void test_get(void) {
  CASE("IPC_PRIVATE always makes a new segment");
  int a = CHECK_OK(shmget(IPC_PRIVATE, 4096, 0600));
  int b = CHECK_OK(shmget(IPC_PRIVATE, 4096, 0600));
  CHECK(a != b);

  CASE("keys find the same segment; IPC_EXCL refuses an existing one");
  key_t key = test_key(1);
  CHECK_ERR(shmget(key, 4096, 0600), ENOENT);
  int k = CHECK_OK(shmget(key, 10000, IPC_CREAT | 0640));
  CHECK_EQ(shmget(key, 0, 0), k);
  CHECK_EQ(shmget(key, 10000, IPC_CREAT), k);
  CHECK_ERR(shmget(key, 4096, IPC_CREAT | IPC_EXCL | 0600), EEXIST);
  CHECK_ERR(shmget(key, 20000, 0), EINVAL);

  CASE("sizes out of range fail with EINVAL");
  CHECK_ERR(shmget(IPC_PRIVATE, 0, 0600), EINVAL);

  CASE("IPC_STAT reports size, mode and creator");
  struct shmid_ds ds;
  CHECK_OK(shmctl(k, IPC_STAT, &ds));
  CHECK_EQ(ds.shm_segsz, 10000);
  CHECK_EQ(ds.shm_perm.mode & 0777, 0640);
  CHECK_EQ(ds.shm_perm.__key, key);
  CHECK_EQ(ds.shm_perm.uid, geteuid());
  CHECK_EQ(ds.shm_perm.cuid, geteuid());
  CHECK_EQ(ds.shm_cpid, getpid());
  CHECK_EQ(ds.shm_nattch, 0);
  CHECK_EQ(ds.shm_atime, 0);

  CASE("IPC_SET changes the mode");
  ds.shm_perm.mode = 0604;
  CHECK_OK(shmctl(k, IPC_SET, &ds));
  CHECK_OK(shmctl(k, IPC_STAT, &ds));
  CHECK_EQ(ds.shm_perm.mode & 0777, 0604);

  CASE("unknown ids and commands fail with EINVAL");
  CHECK_ERR(shmctl(k + 12345, IPC_STAT, &ds), EINVAL);
  CHECK_ERR(shmctl(-1, IPC_STAT, &ds), EINVAL);
  CHECK_ERR(shmctl(k, 999, &ds), EINVAL);
  CHECK_ERR(shmat(-1, NULL, 0), EINVAL);

  CHECK_OK(shmctl(a, IPC_RMID, NULL));
  CHECK_OK(shmctl(b, IPC_RMID, NULL));
  CHECK_OK(shmctl(k, IPC_RMID, NULL));
  CHECK_ERR(shmctl(k, IPC_STAT, &ds), EINVAL);
  CHECK_ERR(shmget(key, 0, 0), ENOENT);
}

static void test_attach(void) {
  CASE("two attachments see the same memory");
  int id = CHECK_OK(shmget(IPC_PRIVATE, 8192, 0600));
  char* p = shmat(id, NULL, 0);
  char* q = shmat(id, NULL, 0);
  CHECK(p != (char*)-1);
  CHECK(q != (char*)-1);
  CHECK(p != q);
  CHECK_EQ(((uintptr_t)p) % 4096, 0);
  CHECK_EQ(p[0], 0);
  strcpy(p + 4096, "hello");
  CHECK_STR(q + 4096, "hello");
  struct shmid_ds ds;
  CHECK_OK(shmctl(id, IPC_STAT, &ds));
  CHECK_EQ(ds.shm_nattch, 2);
  CHECK_EQ(ds.shm_lpid, getpid());
  CHECK(ds.shm_atime != 0);

  CASE("a forked child inherits the attachments and shares the memory");
  pid_t child = fork();
  if (child == 0) {
    struct shmid_ds in_child;
    CHECK_OK(shmctl(id, IPC_STAT, &in_child));
    CHECK_EQ(in_child.shm_nattch, 4);
    strcpy(p, "from child");
    check_child_done();
  }
  CHECK_CHILD_EXIT(child, 0);
  CHECK_STR(q, "from child");
  CHECK_OK(shmctl(id, IPC_STAT, &ds));
  CHECK_EQ(ds.shm_nattch, 2);

  CASE("shmdt detaches one attachment");
  CHECK_OK(shmdt(q));
  CHECK_ERR(shmdt(q), EINVAL);
  CHECK_ERR(shmdt(p + 1), EINVAL);
  CHECK_OK(shmctl(id, IPC_STAT, &ds));
  CHECK_EQ(ds.shm_nattch, 1);
  CHECK(ds.shm_dtime != 0);

  CASE("SHM_RDONLY maps read-only");
  char* r = shmat(id, NULL, SHM_RDONLY);
  CHECK(r != (char*)-1);
  CHECK_STR(r, "from child");
  CHECK_ERR(mprotect(r, 4096, PROT_READ | PROT_WRITE), EACCES);
  CHECK_OK(shmdt(r));

  CASE("a fixed address needs alignment or SHM_RND");
  char* area = mmap(NULL, 4 * 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
                    -1, 0);
  CHECK_OK(munmap(area, 4 * 4096));
  CHECK_SHMAT_ERR(id, area + 1, 0, EINVAL);
  char* fixed = shmat(id, area + 1, SHM_RND);
  CHECK(fixed == area);
  CHECK_STR(fixed, "from child");
  CASE("attaching over a mapping needs SHM_REMAP");
  CHECK_SHMAT_ERR(id, area, 0, EINVAL);
  CHECK_SHMAT_ERR(id, NULL, SHM_REMAP, EINVAL);
  CHECK(shmat(id, area, SHM_REMAP) == area);
  CHECK_OK(shmdt(area));
  CHECK_OK(shmdt(p));
  CHECK_OK(shmctl(id, IPC_RMID, NULL));
}

static void test_deferred_remove(void) {
  CASE("IPC_RMID with attachments left keeps the segment until the last detach");
  key_t key = test_key(2);
  int id = CHECK_OK(shmget(key, 4096, IPC_CREAT | IPC_EXCL | 0600));
  char* p = shmat(id, NULL, 0);
  CHECK(p != (char*)-1);
  strcpy(p, "still here");
  CHECK_OK(shmctl(id, IPC_RMID, NULL));
  struct shmid_ds ds;
  CHECK_OK(shmctl(id, IPC_STAT, &ds));
  CHECK(ds.shm_perm.mode & SHM_DEST);
  CHECK_EQ(ds.shm_perm.__key, IPC_PRIVATE);
  CHECK_EQ(ds.shm_nattch, 1);
  CHECK_STR(p, "still here");
  CHECK_ERR(shmget(key, 0, 0), ENOENT);
  int fresh = CHECK_OK(shmget(key, 4096, IPC_CREAT | IPC_EXCL | 0600));
  CHECK(fresh != id);
  CHECK_OK(shmctl(fresh, IPC_RMID, NULL));

  CASE("a removed segment goes with its last detach");
  pid_t child = fork();
  if (child == 0) {
    CHECK_OK(shmdt(p));
    struct shmid_ds in_child;
    CHECK_OK(shmctl(id, IPC_STAT, &in_child));
    CHECK_EQ(in_child.shm_nattch, 1);
    check_child_done();
  }
  CHECK_CHILD_EXIT(child, 0);
  CHECK_OK(shmctl(id, IPC_STAT, &ds));
  CHECK_EQ(ds.shm_nattch, 1);
  child = fork();
  if (child == 0) _exit(0);
  CHECK_CHILD_EXIT(child, 0);
  CHECK_OK(shmdt(p));
  CHECK_ERR(shmctl(id, IPC_STAT, &ds), EINVAL);
}

static void test_exec_detaches(char* self) {
  CASE("exec detaches every segment");
  int id = CHECK_OK(shmget(IPC_PRIVATE, 4096, 0600));
  CHECK(shmat(id, NULL, 0) != (void*)-1);
  pid_t child = fork();
  if (child == 0) {
    char arg[32];
    snprintf(arg, sizeof arg, "%d", id);
    execl(self, self, "count", arg, (char*)NULL);
    _exit(99);
  }
  CHECK_CHILD_EXIT(child, 0);
  CHECK_OK(shmctl(id, IPC_RMID, NULL));
}

static void test_info(void) {
  CASE("IPC_INFO and SHM_INFO");
  struct shminfo info;
  int max_index = CHECK_OK(shmctl(0, IPC_INFO, (struct shmid_ds*)&info));
  CHECK(max_index >= 0);
  CHECK(info.shmmax > 0);
  CHECK_EQ(info.shmmin, 1);
  CHECK(info.shmmni > 0);
  int before_ids;
  struct shm_info usage;
  CHECK_OK(shmctl(0, SHM_INFO, (struct shmid_ds*)&usage));
  before_ids = usage.used_ids;
  unsigned long before_pages = usage.shm_tot;
  int id = CHECK_OK(shmget(IPC_PRIVATE, 3 * 4096, 0600));
  CHECK_OK(shmctl(0, SHM_INFO, (struct shmid_ds*)&usage));
  CHECK_EQ(usage.used_ids, before_ids + 1);
  CHECK_EQ(usage.shm_tot, before_pages + 3);
  CASE("SHM_INFO counts touched pages as resident");
  unsigned long before_rss = usage.shm_rss;
  char* p = shmat(id, NULL, 0);
  CHECK(p != (char*)-1);
  p[0] = 1;
  p[2 * 4096] = 1;
  CHECK_OK(shmctl(0, SHM_INFO, (struct shmid_ds*)&usage));
  CHECK_EQ(usage.shm_rss, before_rss + 2);

  CASE("/proc/sysvipc/shm lists the segment");
  FILE* proc = fopen("/proc/sysvipc/shm", "r");
  CHECK(proc != NULL);
  char line[512];
  int found = 0;
  while (proc && fgets(line, sizeof line, proc)) {
    int key, shmid, nattch;
    unsigned perms;
    unsigned long size;
    if (sscanf(line, "%d %d %o %lu %*d %*d %d", &key, &shmid, &perms, &size,
               &nattch) != 5 || shmid != id)
      continue;
    found = 1;
    CHECK_EQ(perms, 0600);
    CHECK_EQ(size, 3 * 4096);
    CHECK_EQ(nattch, 1);
  }
  if (proc) fclose(proc);
  CHECK(found);
  CHECK_OK(shmdt(p));

  CASE("/proc/sys/kernel/shmmax matches IPC_INFO");
  FILE* limit = fopen("/proc/sys/kernel/shmmax", "r");
  CHECK(limit != NULL);
  unsigned long shmmax = 0;
  if (limit) {
    CHECK_EQ(fscanf(limit, "%lu", &shmmax), 1);
    fclose(limit);
  }
  CHECK_EQ(shmmax, info.shmmax);

  CASE("SHM_STAT takes an index and returns the id");
  int index = id % 32768;
  struct shmid_ds ds;
  CHECK_EQ(shmctl(index, SHM_STAT, &ds), id);
  CHECK_EQ(ds.shm_segsz, 3 * 4096);
  CHECK_OK(shmctl(id, IPC_RMID, NULL));
}

static void test_permissions(void) {
  CASE("permissions follow the caller's credentials");
  int id = CHECK_OK(shmget(IPC_PRIVATE, 4096, 0600));
  pid_t child = fork();
  if (child == 0) {
    CHECK_OK(setresuid(1000, 1000, 1000));
    CHECK_SHMAT_ERR(id, NULL, 0, EACCES);
    struct shmid_ds ds;
    CHECK_ERR(shmctl(id, IPC_STAT, &ds), EACCES);
    CHECK_ERR(shmctl(id, IPC_RMID, NULL), EPERM);
    check_child_done();
  }
  CHECK_CHILD_EXIT(child, 0);
  CHECK_OK(shmctl(id, IPC_RMID, NULL));
}

int main(int argc, char** argv) {
  if (argc == 3 && strcmp(argv[1], "count") == 0) {
    struct shmid_ds ds;
    if (shmctl(atoi(argv[2]), IPC_STAT, &ds) != 0) return 2;
    return ds.shm_nattch == 1 ? 0 : 3;
  }
  test_get();
  test_attach();
  test_deferred_remove();
  test_exec_detaches(argv[0]);
  test_info();
  test_permissions();
  return check_finish();
}
