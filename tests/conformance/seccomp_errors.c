/* seccomp(2) errors: programs the load-time check rejects (EINVAL), bad
 * pointers (EFAULT), the privilege check (EACCES without no_new_privs or
 * CAP_SYS_ADMIN), the instruction limit of a chain (ENOMEM), unknown
 * operations and flags, SECCOMP_GET_ACTION_AVAIL and
 * SECCOMP_GET_NOTIF_SIZES.
 *
 * Each case that could attach a filter runs in a forked child. The EACCES
 * case drops CAP_SYS_ADMIN from the effective set first, so it applies both
 * to root and to other users. */
#include "check.h"

#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#define ALLOW BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)

static long load(struct sock_filter* insns, unsigned short len) {
  struct sock_fprog prog = {len, insns};
  return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
}

/* Loads `insns` in a child with no_new_privs and returns the errno of the
 * load, or 0 when it succeeded. */
static int load_error(struct sock_filter* insns, unsigned short len) {
  int result[2];
  if (pipe(result) != 0) return -1;
  pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    int error = load(insns, len) == 0 ? 0 : errno;
    (void)!write(result[1], &error, sizeof error);
    _exit(0);
  }
  close(result[1]);
  int error = -1;
  if (read(result[0], &error, sizeof error) != sizeof error) error = -1;
  close(result[0]);
  waitpid(pid, NULL, 0);
  return error;
}

static void check_rejected_programs(void) {
  CASE("a valid program loads");
  struct sock_filter valid[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
      BPF_STMT(BPF_ST, 0),
      BPF_STMT(BPF_LDX | BPF_MEM, 0),
      BPF_STMT(BPF_LD | BPF_W | BPF_LEN, 0),
      BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 64, 0, 1),
      ALLOW,
      ALLOW,
  };
  CHECK_EQ(load_error(valid, 7), 0);

  CASE("an empty program fails with EINVAL");
  CHECK_EQ(load_error(valid, 0), EINVAL);

  CASE("a program of 4097 instructions fails with EINVAL");
  static struct sock_filter huge[4097];
  for (int i = 0; i < 4097; i++) huge[i] = (struct sock_filter)ALLOW;
  CHECK_EQ(load_error(huge, 4097), EINVAL);
  CHECK_EQ(load_error(huge, 4096), 0);

  CASE("a program that does not end in RET fails with EINVAL");
  struct sock_filter no_ret[] = {ALLOW, BPF_STMT(BPF_LD | BPF_IMM, 1)};
  CHECK_EQ(load_error(no_ret, 2), EINVAL);

  CASE("opcodes seccomp does not allow fail with EINVAL");
  struct sock_filter byte_load[] = {BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 0),
                                    ALLOW};
  CHECK_EQ(load_error(byte_load, 2), EINVAL);
  struct sock_filter indirect[] = {BPF_STMT(BPF_LD | BPF_W | BPF_IND, 0),
                                   ALLOW};
  CHECK_EQ(load_error(indirect, 2), EINVAL);
  struct sock_filter mod[] = {BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, 3), ALLOW};
  CHECK_EQ(load_error(mod, 2), EINVAL);
  struct sock_filter garbage[] = {BPF_STMT(0xffff, 0), ALLOW};
  CHECK_EQ(load_error(garbage, 2), EINVAL);

  CASE("loads outside seccomp_data or unaligned fail with EINVAL");
  struct sock_filter past_end[] = {BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 64),
                                   ALLOW};
  CHECK_EQ(load_error(past_end, 2), EINVAL);
  struct sock_filter unaligned[] = {BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 2),
                                    ALLOW};
  CHECK_EQ(load_error(unaligned, 2), EINVAL);
  struct sock_filter last_word[] = {BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 60),
                                    ALLOW};
  CHECK_EQ(load_error(last_word, 2), 0);

  CASE("jumps past the end fail with EINVAL");
  struct sock_filter far_true[] = {
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 0), ALLOW};
  CHECK_EQ(load_error(far_true, 2), EINVAL);
  struct sock_filter far_always[] = {BPF_STMT(BPF_JMP | BPF_JA, 1), ALLOW};
  CHECK_EQ(load_error(far_always, 2), EINVAL);

  CASE("scratch memory read before it is written fails with EINVAL");
  struct sock_filter unwritten[] = {BPF_STMT(BPF_LD | BPF_MEM, 3), ALLOW};
  CHECK_EQ(load_error(unwritten, 2), EINVAL);
  /* Written on one path only. */
  struct sock_filter one_path[] = {
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 1),
      BPF_STMT(BPF_ST, 2),
      BPF_STMT(BPF_LD | BPF_MEM, 2),
      ALLOW,
  };
  CHECK_EQ(load_error(one_path, 4), EINVAL);
  struct sock_filter bad_slot[] = {BPF_STMT(BPF_ST, 16), ALLOW};
  CHECK_EQ(load_error(bad_slot, 2), EINVAL);

  CASE("constant division by zero and wide shifts fail with EINVAL");
  struct sock_filter div_zero[] = {BPF_STMT(BPF_ALU | BPF_DIV | BPF_K, 0),
                                   ALLOW};
  CHECK_EQ(load_error(div_zero, 2), EINVAL);
  struct sock_filter wide_shift[] = {BPF_STMT(BPF_ALU | BPF_LSH | BPF_K, 32),
                                     ALLOW};
  CHECK_EQ(load_error(wide_shift, 2), EINVAL);
}

static void check_bad_pointers(void) {
  CASE("a bad sock_fprog pointer fails with EFAULT");
  pid_t pid = CHECK_OK(fork());
  if (pid == 0) {
    CHECK_OK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
    CHECK_ERR(syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, NULL), EFAULT);
    CHECK_ERR(syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, (void*)8),
              EFAULT);

    CASE("a bad instruction pointer fails with EFAULT");
    struct sock_fprog prog = {1, (struct sock_filter*)8};
    CHECK_ERR(syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog),
              EFAULT);
    CHECK_EQ(prctl(PR_GET_SECCOMP, 0, 0, 0, 0), SECCOMP_MODE_DISABLED);
    check_child_done();
  }
  CHECK_CHILD_EXIT(pid, 0);
}

static void drop_sys_admin(void) {
  struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  CHECK_OK(syscall(SYS_capget, &header, data));
  data[CAP_SYS_ADMIN / 32].effective &= ~(1u << (CAP_SYS_ADMIN % 32));
  CHECK_OK(syscall(SYS_capset, &header, data));
}

static void check_privilege(void) {
  CASE("without no_new_privs or CAP_SYS_ADMIN a filter fails with EACCES");
  pid_t pid = CHECK_OK(fork());
  if (pid == 0) {
    drop_sys_admin();
    struct sock_filter allow[] = {ALLOW};
    CHECK_ERR(load(allow, 1), EACCES);
    CHECK_EQ(prctl(PR_GET_SECCOMP, 0, 0, 0, 0), SECCOMP_MODE_DISABLED);

    CASE("the length is checked before the privilege");
    CHECK_ERR(load(allow, 0), EINVAL);

    CASE("no_new_privs is enough");
    CHECK_OK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
    CHECK_EQ(load(allow, 1), 0);
    check_child_done();
  }
  CHECK_CHILD_EXIT(pid, 0);
}

static void check_chain_limit(void) {
  CASE("a chain past 32768 instructions fails with ENOMEM");
  pid_t pid = CHECK_OK(fork());
  if (pid == 0) {
    static struct sock_filter big[4096];
    for (int i = 0; i < 4096; i++) big[i] = (struct sock_filter)ALLOW;
    CHECK_OK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
    /* Each attached filter counts its length plus 4, so the eighth of
     * 4096 instructions is past the limit. Linux counts the instructions
     * of the eBPF it translates a filter to, more than the classic ones,
     * so it stops sooner. */
    int loaded = 0;
    while (loaded < 8 && load(big, 4096) == 0) loaded++;
    CHECK_EQ(errno, ENOMEM);
    CHECK(loaded >= 1);
    CHECK(loaded <= 7);
    check_child_done();
  }
  CHECK_CHILD_EXIT(pid, 0);
}

static void check_operations(void) {
  CASE("an unknown operation fails with EINVAL");
  CHECK_ERR(syscall(SYS_seccomp, 99, 0, NULL), EINVAL);

  CASE("unknown filter flags fail with EINVAL");
  struct sock_filter allow[] = {ALLOW};
  struct sock_fprog prog = {1, allow};
  CHECK_ERR(syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 1u << 30, &prog),
            EINVAL);
  CHECK_ERR(syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
                    SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV, &prog),
            EINVAL);
  CHECK_EQ(prctl(PR_GET_SECCOMP, 0, 0, 0, 0), SECCOMP_MODE_DISABLED);

  CASE("SECCOMP_GET_ACTION_AVAIL");
  unsigned int actions[] = {SECCOMP_RET_KILL_PROCESS, SECCOMP_RET_KILL_THREAD,
                            SECCOMP_RET_TRAP,         SECCOMP_RET_ERRNO,
                            SECCOMP_RET_TRACE,        SECCOMP_RET_LOG,
                            SECCOMP_RET_ALLOW};
  for (size_t i = 0; i < sizeof actions / sizeof actions[0]; i++)
    CHECK_EQ(syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &actions[i]),
             0);
  unsigned int unknown = 0x00010000;
  CHECK_ERR(syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &unknown),
            EOPNOTSUPP);
  CHECK_ERR(syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 1, &actions[0]),
            EINVAL);
  CHECK_ERR(syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, NULL), EFAULT);

  CASE("SECCOMP_GET_NOTIF_SIZES");
  struct seccomp_notif_sizes sizes = {0};
  CHECK_EQ(syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes), 0);
  CHECK_EQ(sizes.seccomp_data, sizeof(struct seccomp_data));
  CHECK_EQ(sizes.seccomp_notif, sizeof(struct seccomp_notif));
  CHECK_EQ(sizes.seccomp_notif_resp, sizeof(struct seccomp_notif_resp));
  CHECK_ERR(syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 1, &sizes), EINVAL);
  CHECK_ERR(syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, NULL), EFAULT);
}

int main(void) {
  check_rejected_programs();
  check_bad_pointers();
  check_privilege();
  check_chain_limit();
  check_operations();
  return check_finish();
}
