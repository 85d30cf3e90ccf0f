/* Repeated forks whose parent and child both write the same stack and
 * global variables right after the fork: each process keeps its own
 * values, and each child starts with the values of its own fork, not of
 * an earlier one. moat copies such pages at the fork instead of sharing
 * them copy-on-write, from the second fork on for the globals.
 */
#include "check.h"

#define FORKS 6

static volatile long global_value;
static volatile long global_array[1024];

static void test_forks(void) {
  for (long i = 0; i < FORKS; i++) {
    CASE("parent and child write the same pages after each fork");
    volatile long stack_value = i;
    global_value = i;
    global_array[i] = i;
    int go[2];
    CHECK_OK(pipe(go));
    pid_t pid = fork();
    if (pid == 0) {
      char byte;
      close(go[1]);
      if (read(go[0], &byte, 1) != 1) _exit(2);
      int ok = global_value == i && stack_value == i && global_array[i] == i;
      global_value = -1;
      stack_value = -1;
      global_array[i] = -1;
      _exit(ok ? 0 : 1);
    }
    close(go[0]);
    /* The child reads only after these writes. */
    global_value = 1000 + i;
    stack_value = 1000 + i;
    global_array[i] = 1000 + i;
    CHECK_EQ(write(go[1], "g", 1), 1);
    close(go[1]);
    CHECK_CHILD_EXIT(pid, 0);
    CHECK_EQ(global_value, 1000 + i);
    CHECK_EQ(stack_value, 1000 + i);
    CHECK_EQ(global_array[i], 1000 + i);
  }
}

int main(void) {
  test_forks();
  return check_finish();
}
