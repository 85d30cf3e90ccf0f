/* Copy-on-write after fork(): private memory diverges, shared memory does not.
 */
#include "check.h"

#include <sched.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#define PAGE 4096

static int global_value = 1;

static void test_globals_and_stack(void) {
  CASE("child writes to globals, stack and heap stay private");
  int stack_value = 10;
  int* heap_value = malloc(sizeof *heap_value);
  *heap_value = 100;
  pid_t pid = fork();
  if (pid == 0) {
    global_value = 2;
    stack_value = 20;
    *heap_value = 200;
    _exit(global_value == 2 && stack_value == 20 && *heap_value == 200 ? 0 : 1);
  }
  CHECK_CHILD_EXIT(pid, 0);
  CHECK_EQ(global_value, 1);
  CHECK_EQ(stack_value, 10);
  CHECK_EQ(*heap_value, 100);
  free(heap_value);
}

static void test_parent_writes_after_fork(void) {
  CASE("parent writes after fork are invisible to the child");
  int to_child[2], from_child[2];
  CHECK_OK(pipe(to_child));
  CHECK_OK(pipe(from_child));
  char* memory = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  memory[0] = 'o';
  pid_t pid = fork();
  if (pid == 0) {
    char byte;
    read(to_child[0], &byte, 1);
    write(from_child[1], &memory[0], 1);
    _exit(0);
  }
  memory[0] = 'n';
  CHECK_EQ(write(to_child[1], "go", 1), 1);
  char seen = 0;
  CHECK_EQ(read(from_child[0], &seen, 1), 1);
  CHECK_EQ(seen, 'o');
  CHECK_CHILD_EXIT(pid, 0);
  munmap(memory, PAGE);
  close(to_child[0]);
  close(to_child[1]);
  close(from_child[0]);
  close(from_child[1]);
}

static void test_large_region(void) {
  CASE("every page of a large region is copied on write");
  size_t pages = 4096;
  unsigned char* memory = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE,
                               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  CHECK(memory != MAP_FAILED);
  for (size_t i = 0; i < pages; i++) memory[i * PAGE] = (unsigned char)i;
  pid_t pid = fork();
  if (pid == 0) {
    int bad = 0;
    for (size_t i = 0; i < pages; i++) {
      if (memory[i * PAGE] != (unsigned char)i) bad = 1;
      memory[i * PAGE] = 0xff;
    }
    _exit(bad);
  }
  CHECK_CHILD_EXIT(pid, 0);
  int changed = 0;
  for (size_t i = 0; i < pages; i++)
    changed += memory[i * PAGE] != (unsigned char)i;
  CHECK_EQ(changed, 0);

  CASE("grandchild sees the parent's copy at its fork time");
  memory[0] = 'p';
  pid = fork();
  if (pid == 0) {
    memory[0] = 'c';
    pid_t inner = fork();
    if (inner == 0) _exit(memory[0] == 'c' ? 0 : 1);
    int status;
    waitpid(inner, &status, 0);
    _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 2);
  }
  CHECK_CHILD_EXIT(pid, 0);
  CHECK_EQ(memory[0], 'p');
  munmap(memory, pages * PAGE);
}

static void test_shared_stays_shared(void) {
  CASE("MAP_SHARED memory is written through in both directions");
  volatile int* shared = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
                              MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  shared[0] = 0;
  shared[1] = 0;
  pid_t pid = fork();
  if (pid == 0) {
    shared[0] = 1;
    for (int i = 0; i < 5000 && shared[1] == 0; i++) usleep(1000);
    _exit(shared[1] == 2 ? 0 : 1);
  }
  for (int i = 0; i < 5000 && shared[0] == 0; i++) usleep(1000);
  CHECK_EQ(shared[0], 1);
  shared[1] = 2;
  CHECK_CHILD_EXIT(pid, 0);
  munmap((void*)shared, PAGE);
}

static void test_fork_advice(void) {
  CASE("MADV_DONTFORK memory is absent in the child");
  char* memory = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  memory[0] = 'x';
  CHECK_EQ(madvise(memory, PAGE, MADV_DONTFORK), 0);
  pid_t pid = fork();
  if (pid == 0) {
    unsigned char vector;
    _exit(mincore(memory, PAGE, &vector) == -1 && errno == ENOMEM ? 0 : 1);
  }
  CHECK_CHILD_EXIT(pid, 0);
  CHECK_EQ(memory[0], 'x');

  CASE("MADV_WIPEONFORK memory is zero in the child");
  CHECK_EQ(madvise(memory, PAGE, MADV_DOFORK), 0);
  CHECK_EQ(madvise(memory, PAGE, MADV_WIPEONFORK), 0);
  pid = fork();
  if (pid == 0) _exit(memory[0] == 0 ? 0 : 1);
  CHECK_CHILD_EXIT(pid, 0);
  CHECK_EQ(memory[0], 'x');

  CASE("MADV_WIPEONFORK on shared memory fails with EINVAL");
  char* shared = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
                      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  CHECK_ERR(madvise(shared, PAGE, MADV_WIPEONFORK), EINVAL);
  munmap(shared, PAGE);
  munmap(memory, PAGE);
}

static void test_read_only_after_fork(void) {
  CASE("read-only private page stays readable in both after fork");
  char* memory = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  memory[0] = 'r';
  CHECK_OK(mprotect(memory, PAGE, PROT_READ));
  pid_t pid = fork();
  if (pid == 0) {
    if (memory[0] != 'r') _exit(1);
    if (mprotect(memory, PAGE, PROT_READ | PROT_WRITE) != 0) _exit(2);
    memory[0] = 'w';
    _exit(0);
  }
  CHECK_CHILD_EXIT(pid, 0);
  CHECK_EQ(memory[0], 'r');
  munmap(memory, PAGE);
}

static pid_t child_tid_slot;
static int child_saw_slot = -1;

static void test_child_settid(void) {
  CASE("CLONE_CHILD_SETTID writes into the child's copy before it runs");
  /* The parent has written the page, so a copy-on-write copy of it
   * receives the tid while the child has not run yet. */
  child_tid_slot = 0;
  child_saw_slot = -1;
  long pid = syscall(SYS_clone, CLONE_CHILD_SETTID | SIGCHLD, NULL, NULL,
                     &child_tid_slot, 0);
  if (pid == 0) {
    pid_t self = (pid_t)syscall(SYS_gettid);
    child_saw_slot = child_tid_slot;
    _exit(child_saw_slot == self ? 0 : 1);
  }
  CHECK(pid > 0);
  CHECK_CHILD_EXIT((pid_t)pid, 0);
  CHECK_EQ(child_tid_slot, 0);
  CHECK_EQ(child_saw_slot, -1);
}

static void test_child_write_to_read_only(void) {
  CASE("child's write to a page the parent mapped read-only raises SIGSEGV");
  char* memory = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  for (int i = 0; i < 4; i++) memory[i * PAGE] = 'a' + i;
  CHECK_OK(mprotect(memory + PAGE, 2 * PAGE, PROT_READ));
  pid_t pid = fork();
  if (pid == 0) {
    if (memory[PAGE] != 'b' || memory[2 * PAGE] != 'c') _exit(1);
    memory[0] = 'x';
    memory[3 * PAGE] = 'y';
    memory[2 * PAGE] = 'z'; /* faults */
    _exit(2);
  }
  int status = 0;
  CHECK_EQ(waitpid(pid, &status, 0), pid);
  CHECK(WIFSIGNALED(status));
  CHECK_EQ(WTERMSIG(status), SIGSEGV);
  CHECK_EQ(memory[0], 'a');
  CHECK_EQ(memory[2 * PAGE], 'c');
  CHECK_EQ(memory[3 * PAGE], 'd');
  munmap(memory, 4 * PAGE);
}

int main(void) {
  test_globals_and_stack();
  test_parent_writes_after_fork();
  test_large_region();
  test_shared_stays_shared();
  test_fork_advice();
  test_read_only_after_fork();
  test_child_settid();
  test_child_write_to_read_only();
  return check_finish();
}
