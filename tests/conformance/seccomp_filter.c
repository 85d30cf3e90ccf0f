/* seccomp(SECCOMP_SET_MODE_FILTER): the actions ERRNO, TRAP, KILL_PROCESS,
 * KILL_THREAD, TRACE and LOG, argument checks, the precedence of stacked
 * filters, inheritance over fork, threads and execve, and the Seccomp lines
 * of /proc/self/status.
 *
 * A filter cannot be removed, so every case runs in a forked child. The
 * filters act on getppid, which glibc does not cache and nothing else
 * calls. The program re-executes itself with "exec-child" in argv[1] for
 * the execve case. */
#include "check.h"

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <ucontext.h>

#define NR_OFFSET offsetof(struct seccomp_data, nr)
#define ARG0_OFFSET offsetof(struct seccomp_data, args[0])

/* si_code of a SIGSYS from seccomp (asm-generic/siginfo.h). */
#define SYS_SECCOMP_CODE 1

static char self_path[4096];

static int install(struct sock_filter* insns, unsigned short len,
                   unsigned int flags) {
  struct sock_fprog prog = {len, insns};
  return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
}

/* Installs a filter that returns `action` for getppid and allows the rest. */
static int install_for_getppid(unsigned int action, unsigned int flags) {
  struct sock_filter insns[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, NR_OFFSET),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, action),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  return install(insns, 4, flags);
}

static void set_no_new_privs(void) {
  CHECK_OK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
}

/* Returns the value of a "Name:\tvalue" line of /proc/self/status, or -1. */
static long status_field(const char* name) {
  FILE* f = fopen("/proc/self/status", "r");
  if (f == NULL) return -1;
  char line[256];
  long value = -1;
  size_t length = strlen(name);
  while (fgets(line, sizeof line, f) != NULL) {
    if (strncmp(line, name, length) == 0 && line[length] == ':')
      value = strtol(line + length + 1, NULL, 10);
  }
  fclose(f);
  return value;
}

/* Forks a child that sets no_new_privs and installs install_for_getppid's
 * filter with `action` and `flags`. Returns 0 in the child, like fork. */
static pid_t fork_filtered(unsigned int action, unsigned int flags) {
  pid_t pid = CHECK_OK(fork());
  if (pid == 0) {
    set_no_new_privs();
    CHECK_EQ(install_for_getppid(action, flags), 0);
  }
  return pid;
}

/* Waits for `pid` and returns its wait status. */
static int wait_status(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) == -1 && errno == EINTR) {
  }
  return status;
}

static void check_errno_action(void) {
  CASE("ERRNO fails the call with its data");
  pid_t pid = fork_filtered(SECCOMP_RET_ERRNO | EPERM, 0);
  if (pid == 0) {
    CHECK_ERR(syscall(SYS_getppid), EPERM);
    CHECK_OK(syscall(SYS_getpid));
    check_child_done();
  }
  CHECK_CHILD_EXIT(pid, 0);

  CASE("ERRNO data above 4095 is capped");
  pid = fork_filtered(SECCOMP_RET_ERRNO | 0xffff, 0);
  if (pid == 0) {
    CHECK_EQ(syscall(SYS_getppid), -1);
    CHECK_EQ(errno, 4095);
    check_child_done();
  }
  CHECK_CHILD_EXIT(pid, 0);

  CASE("ERRNO with data 0 skips the call and returns 0");
  pid = fork_filtered(SECCOMP_RET_ERRNO | 0, 0);
  if (pid == 0) {
    CHECK_EQ(syscall(SYS_getppid), 0);
    check_child_done();
  }
  CHECK_CHILD_EXIT(pid, 0);
}

static void check_argument_filter(void) {
  CASE("filter on the first argument");
  pid_t pid = CHECK_OK(fork());
  if (pid == 0) {
    set_no_new_privs();
    /* dup(0) fails with EACCES, dup of anything else runs. */
    struct sock_filter insns[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, NR_OFFSET),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_dup, 0, 3),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG0_OFFSET),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EACCES),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    CHECK_EQ(install(insns, 6, 0), 0);
    CHECK_ERR(dup(0), EACCES);
    int fd = CHECK_OK(dup(1));
    CHECK_OK(close(fd));
    check_child_done();
  }
  CHECK_CHILD_EXIT(pid, 0);
}

static volatile siginfo_t trap_info;
static volatile long trap_rax;
static volatile long trap_rip;
static volatile unsigned short trap_bytes_before;

static void on_sigsys(int sig, siginfo_t* info, void* context) {
  ucontext_t* uc = context;
  memcpy((void*)&trap_info, info, sizeof *info);
  trap_rax = uc->uc_mcontext.gregs[REG_RAX];
  trap_rip = uc->uc_mcontext.gregs[REG_RIP];
  memcpy((void*)&trap_bytes_before, (char*)info->si_call_addr - 2, 2);
  /* The interrupted call returns what the handler leaves in rax. */
  uc->uc_mcontext.gregs[REG_RAX] = 777;
}

static void check_trap_action(void) {
  CASE("TRAP raises SIGSYS describing the call");
  pid_t pid = CHECK_OK(fork());
  if (pid == 0) {
    struct sigaction sa = {0};
    sa.sa_sigaction = on_sigsys;
    sa.sa_flags = SA_SIGINFO;
    CHECK_OK(sigaction(SIGSYS, &sa, NULL));
    set_no_new_privs();
    CHECK_EQ(install_for_getppid(SECCOMP_RET_TRAP | 0x42, 0), 0);
    CHECK_EQ(syscall(SYS_getppid), 777);
    CHECK_EQ(trap_info.si_signo, SIGSYS);
    CHECK_EQ(trap_info.si_code, SYS_SECCOMP_CODE);
    CHECK_EQ(trap_info.si_errno, 0x42);
    CHECK_EQ(trap_info.si_syscall, SYS_getppid);
    CHECK_EQ(trap_info.si_arch, AUDIT_ARCH_X86_64);
    /* The address is the one after the syscall instruction (0f 05), which
     * is also where the handler's context resumes. */
    CHECK_EQ((long)trap_info.si_call_addr, trap_rip);
    CHECK_EQ(trap_bytes_before, 0x050f);
    /* The handler gets rax rolled back to the call number. */
    CHECK_EQ(trap_rax, SYS_getppid);
    check_child_done();
  }
  CHECK_CHILD_EXIT(pid, 0);

  CASE("TRAP with SIGSYS blocked kills with SIGSYS");
  pid = CHECK_OK(fork());
  if (pid == 0) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGSYS);
    CHECK_OK(sigprocmask(SIG_BLOCK, &set, NULL));
    set_no_new_privs();
    CHECK_EQ(install_for_getppid(SECCOMP_RET_TRAP, 0), 0);
    syscall(SYS_getppid);
    _exit(3);
  }
  int status = wait_status(pid);
  CHECK(WIFSIGNALED(status));
  CHECK_EQ(WTERMSIG(status), SIGSYS);
}

/* Installs `action` for getppid in a child, calls it, and returns the
 * child's wait status; the child exits 3 if the call returned. */
static int status_after_action(unsigned int action) {
  pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    if (install_for_getppid(action, 0) != 0) _exit(2);
    syscall(SYS_getppid);
    _exit(3);
  }
  return wait_status(pid);
}

static void* call_getppid(void* arg) {
  syscall(SYS_getppid);
  return arg;
}

static void check_kill_actions(void) {
  CASE("KILL_PROCESS ends the process with SIGSYS");
  int status = status_after_action(SECCOMP_RET_KILL_PROCESS);
  CHECK(WIFSIGNALED(status));
  CHECK_EQ(WTERMSIG(status), SIGSYS);

  CASE("KILL_THREAD of the only thread ends the process with SIGSYS");
  status = status_after_action(SECCOMP_RET_KILL_THREAD);
  CHECK(WIFSIGNALED(status));
  CHECK_EQ(WTERMSIG(status), SIGSYS);

  CASE("an unknown action kills the process");
  status = status_after_action(0x00010000);
  CHECK(WIFSIGNALED(status));
  CHECK_EQ(WTERMSIG(status), SIGSYS);

  CASE("KILL_THREAD ends only the calling thread");
  pid_t pid = fork_filtered(SECCOMP_RET_KILL_THREAD, 0);
  if (pid == 0) {
    pthread_t thread;
    CHECK_EQ(pthread_create(&thread, NULL, call_getppid, NULL), 0);
    CHECK_EQ(pthread_join(thread, NULL), 0);
    check_child_done();
  }
  CHECK_CHILD_EXIT(pid, 0);
}

static void check_trace_and_log(void) {
  CASE("TRACE without a tracer fails with ENOSYS");
  pid_t pid = fork_filtered(SECCOMP_RET_TRACE, 0);
  if (pid == 0) {
    CHECK_ERR(syscall(SYS_getppid), ENOSYS);
    check_child_done();
  }
  CHECK_CHILD_EXIT(pid, 0);

  CASE("LOG runs the call");
  pid = fork_filtered(SECCOMP_RET_LOG, SECCOMP_FILTER_FLAG_LOG);
  if (pid == 0) {
    CHECK_EQ(syscall(SYS_getppid), getppid());
    check_child_done();
  }
  CHECK_CHILD_EXIT(pid, 0);
}

static void check_stacking(void) {
  CASE("the stricter of two filters wins, either order");
  pid_t pid = fork_filtered(SECCOMP_RET_ERRNO | EPERM, 0);
  if (pid == 0) {
    CHECK_EQ(install_for_getppid(SECCOMP_RET_ALLOW, 0), 0);
    CHECK_ERR(syscall(SYS_getppid), EPERM);
    CHECK_EQ(install_for_getppid(SECCOMP_RET_LOG, 0), 0);
    CHECK_EQ(install_for_getppid(SECCOMP_RET_TRACE, 0), 0);
    CHECK_ERR(syscall(SYS_getppid), EPERM);
    check_child_done();
  }
  CHECK_CHILD_EXIT(pid, 0);

  CASE("between two ERRNO filters the newer one's data wins");
  pid = fork_filtered(SECCOMP_RET_ERRNO | EPERM, 0);
  if (pid == 0) {
    CHECK_EQ(install_for_getppid(SECCOMP_RET_ERRNO | EACCES, 0), 0);
    CHECK_ERR(syscall(SYS_getppid), EACCES);
    check_child_done();
  }
  CHECK_CHILD_EXIT(pid, 0);

  CASE("TRAP beats ERRNO");
  pid = CHECK_OK(fork());
  if (pid == 0) {
    struct sigaction sa = {0};
    sa.sa_sigaction = on_sigsys;
    sa.sa_flags = SA_SIGINFO;
    CHECK_OK(sigaction(SIGSYS, &sa, NULL));
    set_no_new_privs();
    CHECK_EQ(install_for_getppid(SECCOMP_RET_TRAP | 7, 0), 0);
    CHECK_EQ(install_for_getppid(SECCOMP_RET_ERRNO | EPERM, 0), 0);
    CHECK_EQ(syscall(SYS_getppid), 777);
    CHECK_EQ(trap_info.si_errno, 7);
    check_child_done();
  }
  CHECK_CHILD_EXIT(pid, 0);

  CASE("KILL_PROCESS beats KILL_THREAD and everything else");
  pid = CHECK_OK(fork());
  if (pid == 0) {
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    if (install_for_getppid(SECCOMP_RET_KILL_PROCESS, 0) != 0) _exit(2);
    if (install_for_getppid(SECCOMP_RET_ERRNO | EPERM, 0) != 0) _exit(2);
    if (install_for_getppid(SECCOMP_RET_ALLOW, 0) != 0) _exit(2);
    /* A thread killed alone would leave the main thread to exit 3. */
    pthread_t thread;
    if (pthread_create(&thread, NULL, call_getppid, NULL) != 0) _exit(2);
    pthread_join(thread, NULL);
    _exit(3);
  }
  int status = wait_status(pid);
  CHECK(WIFSIGNALED(status));
  CHECK_EQ(WTERMSIG(status), SIGSYS);
}

static void check_inheritance(void) {
  CASE("a forked child keeps the filters");
  pid_t pid = fork_filtered(SECCOMP_RET_ERRNO | EPERM, 0);
  if (pid == 0) {
    pid_t grandchild = CHECK_OK(fork());
    if (grandchild == 0) {
      CHECK_ERR(syscall(SYS_getppid), EPERM);
      CHECK_EQ(status_field("Seccomp"), SECCOMP_MODE_FILTER);
      CHECK_EQ(status_field("Seccomp_filters"), 1);
      check_child_done();
    }
    CHECK_CHILD_EXIT(grandchild, 0);
    check_child_done();
  }
  CHECK_CHILD_EXIT(pid, 0);

  CASE("execve keeps the filters");
  pid = fork_filtered(SECCOMP_RET_ERRNO | EPERM, 0);
  if (pid == 0) {
    CHECK_EQ(install_for_getppid(SECCOMP_RET_ALLOW, 0), 0);
    char* argv[] = {self_path, "exec-child", NULL};
    char* envp[] = {NULL};
    execve(self_path, argv, envp);
    FAIL("execve failed");
    check_child_done();
  }
  CHECK_CHILD_EXIT(pid, 0);

  CASE("a new thread keeps the filters");
  pid = fork_filtered(SECCOMP_RET_KILL_THREAD, 0);
  if (pid == 0) {
    pthread_t thread;
    void* result = NULL;
    CHECK_EQ(pthread_create(&thread, NULL, call_getppid, (void*)1), 0);
    CHECK_EQ(pthread_join(thread, &result), 0);
    /* Killed before it returned, so the thread has no result. */
    CHECK(result != (void*)1);
    check_child_done();
  }
  CHECK_CHILD_EXIT(pid, 0);
}

static int exec_child(void) {
  CASE("image after execve under filters");
  CHECK_ERR(syscall(SYS_getppid), EPERM);
  CHECK_EQ(status_field("Seccomp"), SECCOMP_MODE_FILTER);
  CHECK_EQ(status_field("Seccomp_filters"), 2);
  CHECK_EQ(status_field("NoNewPrivs"), 1);
  return check_finish();
}

static pthread_mutex_t gate = PTHREAD_MUTEX_INITIALIZER;

/* Waits until the main thread opens the gate, then calls getppid. */
static void* wait_then_getppid(void* arg) {
  pthread_mutex_lock(&gate);
  pthread_mutex_unlock(&gate);
  long ret = syscall(SYS_getppid);
  *(int*)arg = ret == -1 ? errno : 0;
  return NULL;
}

static int ready_pipe[2];

/* Installs a filter on this thread only, reports its tid through
 * ready_pipe, and calls getppid once the main thread opens the gate. */
static void* filter_own_thread(void* arg) {
  int tid = install_for_getppid(SECCOMP_RET_ERRNO | EACCES, 0) == 0
                ? (int)syscall(SYS_gettid)
                : -1;
  (void)!write(ready_pipe[1], &tid, sizeof tid);
  return wait_then_getppid(arg);
}

static void check_thread_sync(void) {
  CASE("a filter without TSYNC leaves other threads alone");
  pid_t pid = CHECK_OK(fork());
  if (pid == 0) {
    set_no_new_privs();
    int error = -1;
    pthread_t thread;
    pthread_mutex_lock(&gate);
    CHECK_EQ(pthread_create(&thread, NULL, wait_then_getppid, &error), 0);
    CHECK_EQ(install_for_getppid(SECCOMP_RET_ERRNO | EPERM, 0), 0);
    pthread_mutex_unlock(&gate);
    CHECK_EQ(pthread_join(thread, NULL), 0);
    CHECK_EQ(error, 0);
    check_child_done();
  }
  CHECK_CHILD_EXIT(pid, 0);

  CASE("TSYNC puts the filter on every thread");
  pid = CHECK_OK(fork());
  if (pid == 0) {
    set_no_new_privs();
    int error = -1;
    pthread_t thread;
    pthread_mutex_lock(&gate);
    CHECK_EQ(pthread_create(&thread, NULL, wait_then_getppid, &error), 0);
    CHECK_EQ(install_for_getppid(SECCOMP_RET_ERRNO | EPERM,
                                 SECCOMP_FILTER_FLAG_TSYNC),
             0);
    pthread_mutex_unlock(&gate);
    CHECK_EQ(pthread_join(thread, NULL), 0);
    CHECK_EQ(error, EPERM);
    check_child_done();
  }
  CHECK_CHILD_EXIT(pid, 0);

  CASE("TSYNC fails on a thread with filters of its own");
  pid = CHECK_OK(fork());
  if (pid == 0) {
    set_no_new_privs();
    CHECK_OK(pipe(ready_pipe));
    int error = -1, tid = 0;
    pthread_t thread;
    pthread_mutex_lock(&gate);
    CHECK_EQ(pthread_create(&thread, NULL, filter_own_thread, &error), 0);
    CHECK_EQ(read(ready_pipe[0], &tid, sizeof tid), sizeof tid);
    CHECK(tid > 0);
    CHECK_EQ(install_for_getppid(SECCOMP_RET_ERRNO | EPERM,
                                 SECCOMP_FILTER_FLAG_TSYNC |
                                     SECCOMP_FILTER_FLAG_TSYNC_ESRCH),
             -1);
    CHECK_EQ(errno, ESRCH);
    /* Without TSYNC_ESRCH the call returns the thread's id. */
    CHECK_EQ(install_for_getppid(SECCOMP_RET_ERRNO | EPERM,
                                 SECCOMP_FILTER_FLAG_TSYNC),
             tid);
    CHECK_EQ(prctl(PR_GET_SECCOMP, 0, 0, 0, 0), SECCOMP_MODE_DISABLED);
    pthread_mutex_unlock(&gate);
    CHECK_EQ(pthread_join(thread, NULL), 0);
    CHECK_EQ(error, EACCES);
    check_child_done();
  }
  CHECK_CHILD_EXIT(pid, 0);
}

static void check_status_lines(void) {
  CASE("/proc/self/status counts the filters");
  pid_t pid = CHECK_OK(fork());
  if (pid == 0) {
    CHECK_EQ(status_field("Seccomp"), SECCOMP_MODE_DISABLED);
    CHECK_EQ(status_field("Seccomp_filters"), 0);
    CHECK_EQ(prctl(PR_GET_SECCOMP, 0, 0, 0, 0), 0);
    set_no_new_privs();
    CHECK_EQ(status_field("NoNewPrivs"), 1);
    CHECK_EQ(install_for_getppid(SECCOMP_RET_ALLOW, 0), 0);
    CHECK_EQ(install_for_getppid(SECCOMP_RET_ALLOW, 0), 0);
    CHECK_EQ(status_field("Seccomp"), SECCOMP_MODE_FILTER);
    CHECK_EQ(status_field("Seccomp_filters"), 2);
    CHECK_EQ(prctl(PR_GET_SECCOMP, 0, 0, 0, 0), SECCOMP_MODE_FILTER);
    check_child_done();
  }
  CHECK_CHILD_EXIT(pid, 0);

  CASE("prctl(PR_SET_SECCOMP) installs a filter");
  pid = CHECK_OK(fork());
  if (pid == 0) {
    set_no_new_privs();
    struct sock_filter insns[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, NR_OFFSET),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getpid, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOTTY),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {4, insns};
    CHECK_OK(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0));
    CHECK_ERR(syscall(SYS_getpid), ENOTTY);
    check_child_done();
  }
  CHECK_CHILD_EXIT(pid, 0);
}

int main(int argc, char** argv) {
  if (argc == 2 && strcmp(argv[1], "exec-child") == 0) return exec_child();
  ssize_t n = readlink("/proc/self/exe", self_path, sizeof self_path - 1);
  if (n <= 0) {
    printf("setup: readlink(/proc/self/exe) failed\n");
    return 2;
  }
  self_path[n] = '\0';
  check_errno_action();
  check_argument_filter();
  check_trap_action();
  check_kill_actions();
  check_trace_and_log();
  check_stacking();
  check_inheritance();
  check_thread_sync();
  check_status_lines();
  return check_finish();
}
