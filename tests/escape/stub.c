/* Attacks on the ptrace stub's code page, the one page of host code in
 * every sandboxed address space (src/platform/ptrace/stub.S, mapped at
 * kStubBase = 0x7fffffe00000). `stub jump` calls into its `syscall`
 * instructions with registers of our choosing: kill(decoy, SIGKILL), open
 * of the host secret, mmap of a descriptor we do not have (the stub keeps
 * moat's memory file open), fork through the clone entry, the idle loop
 * and the unmapping prologue. `stub overwrite` tries to replace the page
 * (mmap, mprotect, munmap, mremap, brk, madvise, /proc/self/mem,
 * process_vm_writev) with code that kills the decoy, and then makes moat
 * inject calls, which run the page's code outside PTRACE_SYSEMU: if the
 * page changed, that code would reach the host. On the trap platform
 * `stub jump` also calls the vetted `clone` of a fork and of a thread and a
 * new process's hello, which the kernel's listener must reject unless it
 * sent the request. `stub hostfd fork|vfork|drop|fsuid|xonly|chrootfs`
 * checks that the host files' descriptors which the trap stub's process
 * keeps for the request site's mmap never reach a program that could not
 * read the file, its own program's file included, nor a process whose root
 * moved. Natively there is no stub, so nothing is found. */
/* escape.h defines _GNU_SOURCE, so it comes before every system header. */
// clang-format off
#include "escape.h"

#include <sched.h>
#include <setjmp.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <time.h>
#include <ucontext.h>
#include <elf.h>
// clang-format on

#define STUB ((char*)0x7fffffe00000)
#define PAGE 4096

static sigjmp_buf fault_jump;
static volatile int fault_signal;
static volatile long fault_rax;

static void on_fault(int sig, siginfo_t* info, void* context) {
  ucontext_t* uc = context;
  fault_signal = sig;
  fault_rax = uc->uc_mcontext.gregs[REG_RAX];
  siglongjmp(fault_jump, 1);
}

static void catch_faults(void) {
  struct sigaction sa = {.sa_sigaction = on_fault,
                         .sa_flags = SA_SIGINFO | SA_NODEFER};
  int sigs[] = {SIGSEGV, SIGILL, SIGBUS, SIGTRAP, SIGALRM};
  for (size_t i = 0; i < sizeof(sigs) / sizeof(*sigs); i++)
    sigaction(sigs[i], &sa, NULL);
}

/* Copies the stub page into `out`; returns 0 when it is not readable. */
static int read_stub(char* out) {
  if (sigsetjmp(fault_jump, 1) != 0) return 0;
  memcpy(out, STUB, PAGE);
  return 1;
}

static long find(const char* page, const char* bytes, size_t n) {
  for (size_t i = 0; i + n <= PAGE; i++)
    if (memcmp(page + i, bytes, n) == 0) return (long)i;
  return -1;
}

/* Jumps to `entry` with a system call's registers set. The stub's int3
 * (or a fault) brings us back through on_fault; returns rax then, or
 * -4096 - signal if the stop was something else. */
static long stub_call(uintptr_t entry, long nr, long a, long b, long c,
                      long d, long e, long f) {
  fault_signal = 0;
  if (sigsetjmp(fault_jump, 1) == 0) {
    register long r10 asm("r10") = d;
    register long r8 asm("r8") = e;
    register long r9 asm("r9") = f;
    asm volatile("call *%[entry]"
                 :
                 : [entry] "r"(entry), "a"(nr), "D"(a), "S"(b), "d"(c),
                   "r"(r10), "r"(r8), "r"(r9)
                 : "rcx", "r11", "memory");
    return -9999;
  }
  return fault_signal == SIGTRAP ? fault_rax : -4096 - fault_signal;
}

/* A control page for the trap stub's request code to write to, in our own
 * memory: what a stub call reports lands here instead of in a slot. */
static char fake_slot[2 * PAGE] __attribute__((aligned(PAGE)));

/* Jumps to `entry`, code of the trap stub that makes a vetted call and
 * then reports to the control page in %r12 (or %r13), or jumps to %r14.
 * The report then waits for a kernel that never replies, so an alarm
 * ends the wait. `nr` and the six arguments go in their registers, for a
 * site whose `syscall` takes them from us. Returns what the call
 * returned: the result word of the fake control page, or %rax at a fault
 * (from the jump to `trap`, a ud2 in the stub). */
/* How long request_site_call waits for the stub's report, and whether
 * the last call's result reached the control page before that. */
static long request_timeout_us = 1000000;
static int request_reported;

static void arm_alarm(long us) {
  struct itimerval t = {.it_value = {us / 1000000, us % 1000000}};
  setitimer(ITIMER_REAL, &t, NULL);
}

static long request_site_call(uintptr_t entry, long nr, long a, long b, long c,
                              long d, long e, long f, uintptr_t trap) {
  const long unset = 0x5a5a5a5a;
  memset(fake_slot, 0, sizeof fake_slot);
  memcpy(fake_slot + 128, &unset, sizeof unset); /* MOAT_TC_RESULT */
  fault_signal = 0;
  fault_rax = unset;
  arm_alarm(request_timeout_us);
  if (sigsetjmp(fault_jump, 1) == 0) {
    register long r12 asm("r12") = (long)fake_slot;
    register long r13 asm("r13") = (long)fake_slot;
    register long r14 asm("r14") = (long)trap;
    register long r10 asm("r10") = d;
    register long r8 asm("r8") = e;
    register long r9 asm("r9") = f;
    asm volatile("call *%[entry]"
                 : "+r"(r12), "+r"(r13), "+r"(r14), "+a"(nr), "+D"(a), "+S"(b),
                   "+d"(c), "+r"(r10), "+r"(r8), "+r"(r9)
                 : [entry] "r"(entry)
                 : "rbx", "rcx", "r11", "r15", "memory");
  }
  arm_alarm(0);
  long result;
  memcpy(&result, fake_slot + 128, sizeof result);
  request_reported = result != unset;
  return request_reported ? result : fault_rax;
}

/* request_site_call for code that sets its own call number and takes
 * only %rdi from us. */
static long vetted_call(uintptr_t entry, long rdi, uintptr_t trap) {
  return request_site_call(entry, 0, rdi, 0, 0, 0, 0, 0, trap);
}

/* Forks and reaps children for `ms` milliseconds, so that the kernel vets
 * stub calls meanwhile. */
static pid_t fork_for_a_while(int ms) {
  pid_t helper = fork();
  if (helper != 0) return helper;
  struct timespec start, now;
  clock_gettime(CLOCK_MONOTONIC, &start);
  do {
    pid_t child = fork();
    if (child == 0) _exit(0);
    if (child > 0) waitpid(child, NULL, 0);
    clock_gettime(CLOCK_MONOTONIC, &now);
  } while ((now.tv_sec - start.tv_sec) * 1000 +
               (now.tv_nsec - start.tv_nsec) / 1000000 <
           ms);
  _exit(0);
}

/* Returns the trap stub's request site, or 0 where the page has none. The
 * site is the `syscall` in mov 0x78(%r12), %r9; syscall; mov %rax,
 * 0x80(%r12). */
static uintptr_t request_site(const char* page) {
  static const char bytes[] = "\x4d\x8b\x4c\x24\x78\x0f\x05\x49\x89";
  long at = find(page, bytes, sizeof bytes - 1);
  return at < 0 ? 0 : (uintptr_t)STUB + at + 5;
}

static void jump_vetted(const char* page) {
  /* mov $56, %eax; mov $SIGCHLD, %edi (a fork), or the thread flags */
  static const char fork_site[] = "\xb8\x38\x00\x00\x00\xbf\x11\x00\x00\x00";
  static const char thread_site[] = "\xb8\x38\x00\x00\x00\xbf\x11\x0f\x04\x00";
  static const char hello_site[] = "\xb8\x27\x00\x00\x00\x0f\x05";
  long fork_at = find(page, fork_site, sizeof fork_site - 1);
  long thread_at = find(page, thread_site, sizeof thread_site - 1);
  long hello_at = find(page, hello_site, sizeof hello_site - 1);
  long ud2_at = find(page, "\x0f\x0b", 2);
  if (ud2_at < 0 || (fork_at < 0 && thread_at < 0 && hello_at < 0)) return;
  note("vetted calls: fork at +%#lx, thread at +%#lx, hello at +%#lx", fork_at,
       thread_at, hello_at);
  uintptr_t trap = (uintptr_t)STUB + ud2_at;
  pid_t helper = fork_for_a_while(5000);
  if (fork_at >= 0) {
    long r = vetted_call((uintptr_t)STUB + fork_at, 0, trap);
    note("fork through the stub's vetted clone: %ld", r);
    if (r > 0) escaped("the stub's vetted clone forked for us: pid %ld", r);
  }
  if (thread_at >= 0) {
    long r = vetted_call((uintptr_t)STUB + thread_at, 0, trap);
    note("thread through the stub's vetted clone: %ld", r);
    if (r > 0) escaped("the stub's vetted clone made a thread: pid %ld", r);
  }
  if (hello_at >= 0) {
    long r = vetted_call((uintptr_t)STUB + hello_at, 12345, trap);
    note("hello with a made-up nonce: %ld", r);
    if (r >= 0) escaped("the kernel accepted a forged hello: %ld", r);
  }
  uintptr_t site = request_site(page);
  if (site != 0) {
    long r = request_site_call(site, SYS_dup, 12345, 0, 0, 0, 0, 0, trap);
    note("host descriptor request with a made-up nonce: %ld", r);
    if (r >= 0)
      escaped("the kernel gave a forged request a descriptor: %ld", r);
    /* The kernel's host files in this process sit from 256 on; the site
     * maps them only private and never writable. */
    static char target[PAGE] __attribute__((aligned(PAGE)));
    for (long fd = 256; fd < 260; fd++) {
      for (int shared = 0; shared < 2; shared++) {
        r = request_site_call(
            site, SYS_mmap, (long)target, PAGE, PROT_READ | PROT_WRITE,
            (shared ? MAP_SHARED : MAP_PRIVATE) | MAP_FIXED, fd, 0, trap);
        if (r == (long)target)
          escaped("writable %s mmap of host descriptor %ld via the stub",
                  shared ? "shared" : "private", fd);
      }
    }
    note(
        "writable mmaps of host descriptors 256-259 through the request "
        "site: refused");
  }
  kill(helper, SIGKILL);
  waitpid(helper, NULL, 0);
}

static void show_maps(void) {
  FILE* maps = fopen("/proc/self/maps", "r");
  char line[512];
  int shown = 0;
  while (maps != NULL && fgets(line, sizeof(line), maps) != NULL) {
    if (strncmp(line, "7fffffe", 7) == 0 || strstr(line, "[vsyscall]")) {
      note("maps: %s", strtok(line, "\n"));
      shown = 1;
    }
  }
  if (maps != NULL) fclose(maps);
  if (!shown) note("/proc/self/maps does not show the stub page");
}

static void op_jump(void) {
  char page[PAGE];
  show_maps();
  if (!read_stub(page)) {
    note("no readable page at %p (signal %d)", STUB, fault_signal);
    return;
  }
  long sys = find(page, "\x0f\x05\xcc", 3);
  long clone = find(page, "\x0f\x05\x48\x85\xc0\x74", 6);
  long wait = find(page, "\xb8\x22\x00\x00\x00\x0f\x05", 7);
  note("stub page found: syscall;int3 at +%#lx, clone at +%#lx, idle at "
       "+%#lx", sys, clone, wait);
  if (sys < 0) return;
  uintptr_t entry = (uintptr_t)STUB + sys;
  pid_t decoy = decoy_pid();
  long r = stub_call(entry, SYS_getpid, 0, 0, 0, 0, 0, 0);
  note("getpid through the stub: %ld (getpid() %d)", r, getpid());
  r = stub_call(entry, SYS_kill, decoy, SIGKILL, 0, 0, 0, 0);
  note("kill(decoy %d, SIGKILL) through the stub: %ld", decoy, r);
  r = stub_call(entry, SYS_open, (long)secret_path(), O_RDONLY, 0, 0, 0, 0);
  note("open(secret) through the stub: %ld", r);
  if (r >= 0 && fd_is_secret((int)r)) escaped("opened the secret via the stub");
  for (int fd = 3; fd < 16; fd++) {
    if (fcntl(fd, F_GETFD) >= 0) continue;  /* ours */
    for (long off = 0; off < (1l << 30); off += (64l << 20)) {
      r = stub_call(entry, SYS_mmap, 0, PAGE, PROT_READ, MAP_SHARED, fd, off);
      if (r >= 0 || r < -4095) {
        escaped("mmap of fd %d (not ours) at offset %#lx via the stub: %#lx",
                fd, off, r);
        break;
      }
    }
  }
  if (clone >= 0) {
    r = stub_call((uintptr_t)STUB + clone, SYS_clone, SIGCHLD, 0, 0, 0, 0, 0);
    note("fork through the stub's clone entry: %ld", r);
    if (r > 0) {
      kill((pid_t)r, SIGKILL);
      waitpid((pid_t)r, NULL, 0);
    }
  }
  jump_vetted(page);
  if (wait >= 0) {
    alarm(1);
    r = stub_call((uintptr_t)STUB + wait, 0, 0, 0, 0, 0, 0, 0);
    note("the stub's idle loop ended with %ld", r);
  }
  /* The prologue unmaps everything below and above the stub and then
   * idles in pause(); the alarm ends the child. */
  pid_t child = fork();
  if (child == 0) {
    signal(SIGALRM, SIG_DFL);
    alarm(1);
    stub_call((uintptr_t)STUB, 0, 0, 0, 0, 0, 0, 0);
    _exit(3);
  }
  int status;
  waitpid(child, &status, 0);
  note("the stub's prologue in a child: status %#x", status);
}

/* The file only root may read, which the runner puts in the sandbox's
 * root, and the mark its content starts with. */
#define ROOT_ONLY_MARK "MOAT-ROOT-ONLY:"
#define NOBODY 65534

static const char* root_only_path(void) {
  static char path[4096];
  const char* root = getenv("ESCAPE_ROOT");
  snprintf(path, sizeof path, "%s/root-only", root ? root : "");
  return path;
}

/* Maps each host descriptor of the trap stub's process, 256 to 511,
 * through the request site. Returns the first that maps the root-only
 * file, -1 when none does, or -2 when there is no trap stub here
 * (natively, or on the ptrace platform). */
static long probe_host_files(void) {
  static char page[PAGE];
  static char target[PAGE] __attribute__((aligned(PAGE)));
  if (!read_stub(page)) return -2;
  uintptr_t site = request_site(page);
  long ud2_at = find(page, "\x0f\x0b", 2);
  if (site == 0 || ud2_at < 0) return -2;
  uintptr_t trap = (uintptr_t)STUB + ud2_at;
  /* Each call ends only when the alarm interrupts the stub's wait for a
   * kernel that never replies. The alarm starts short and grows whenever
   * it came before the result did. */
  long found = -1;
  for (long fd = 256; fd < 512 && found < 0; fd++) {
    for (request_timeout_us = 10000; request_timeout_us <= 1000000;
         request_timeout_us *= 4) {
      long r = request_site_call(site, SYS_mmap, (long)target, PAGE, PROT_READ,
                                 MAP_PRIVATE | MAP_FIXED, fd, 0, trap);
      if (!request_reported) continue;
      if (r == (long)target &&
          memcmp(target, ROOT_ONLY_MARK, strlen(ROOT_ONLY_MARK)) == 0)
        found = fd;
      break;
    }
  }
  request_timeout_us = 1000000;
  return found;
}

static void drop_to_nobody(void) {
  if (syscall(SYS_setgroups, 0, NULL) != 0 ||
      syscall(SYS_setresgid, NOBODY, NOBODY, NOBODY) != 0 ||
      syscall(SYS_setresuid, NOBODY, NOBODY, NOBODY) != 0)
    _exit(1);
}

/* Checks, in a program that runs as uid 65534, that the root-only file
 * is out of its reach, by open and through the stub alike. */
static void op_hostfd_probe(const char* where) {
  long fsuid = syscall(SYS_setfsuid, -1); /* -1 only reads it */
  if (fsuid != NOBODY) {
    broken("the probe runs with fsuid %ld, not 65534", fsuid);
    return;
  }
  int fd = open(root_only_path(), O_RDONLY);
  if (fd >= 0) {
    broken("nobody can open %s: the test proves nothing", root_only_path());
    return;
  }
  long found = probe_host_files();
  if (found >= 0)
    escaped("%s, host descriptor %ld still maps %s", where, found,
            root_only_path());
  else
    note("%s: no host descriptor maps the root-only file", where);
}

/* Checks, in a copy of this program that uid 65534 may run but not read
 * (mode 0711), that no host descriptor of the stub's process maps the
 * program's section headers, which exec did not map. */
static void op_hostfd_xonly_probe(const char* self) {
  if (getuid() != NOBODY) {
    broken("the probe runs as uid %d, not nobody", getuid());
    return;
  }
  int fd = open(self, O_RDONLY);
  if (fd >= 0) {
    broken("uid 65534 can read %s: the test proves nothing", self);
    return;
  }

  /* A static program without PIE has its ELF header at 0x400000. */
  const Elf64_Ehdr* eh = (const Elf64_Ehdr*)0x400000;
  const Elf64_Phdr* ph = (const Elf64_Phdr*)((const char*)eh + eh->e_phoff);
  if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0) {
    broken("no ELF header at %p", (const void*)eh);
    return;
  }

  unsigned long loaded = 0;
  for (int i = 0; i < eh->e_phnum; i++) {
    if (ph[i].p_type == PT_LOAD && ph[i].p_offset + ph[i].p_filesz > loaded)
      loaded = ph[i].p_offset + ph[i].p_filesz;
  }
  unsigned long page = eh->e_shoff & ~(unsigned long)(PAGE - 1);
  if (page < ((loaded + PAGE - 1) & ~(unsigned long)(PAGE - 1))) {
    broken("the section headers (at %#lx) share a page with a segment",
           (unsigned long)eh->e_shoff);
    return;
  }

  static char buf[PAGE];
  static char target[PAGE] __attribute__((aligned(PAGE)));
  if (!read_stub(buf)) {
    note("no stub here: nothing to probe");
    return;
  }
  uintptr_t site = request_site(buf);
  long ud2_at = find(buf, "\x0f\x0b", 2);
  if (site == 0 || ud2_at < 0) {
    note("no trap stub here: nothing to probe");
    return;
  }

  int found = 0;
  for (long hostfd = 256; hostfd < 512; hostfd++) {
    for (request_timeout_us = 10000; request_timeout_us <= 1000000;
         request_timeout_us *= 4) {
      long r = request_site_call(site, SYS_mmap, (long)target, PAGE, PROT_READ,
                                 MAP_PRIVATE | MAP_FIXED, hostfd, (long)page,
                                 (uintptr_t)STUB + ud2_at);
      if (!request_reported) continue;
      if (r == (long)target) {
        escaped("host descriptor %ld maps %s at %#lx, past its segments",
                hostfd, self, page);
        found = 1;
      }
      break;
    }
  }
  request_timeout_us = 1000000;
  if (!found) note("no host descriptor maps the program's section headers");
}

/* `stub hostfd fork|vfork|drop|fsuid|xonly|chrootfs`: the trap stub's
 * process keeps a descriptor of each host file its programs mapped. Root
 * maps a file only root may read and unmaps it. Then a forked child drops
 * to uid 65534 and execs, a vfork child does the same, or the program drops
 * to 65534 itself (all its ids, or with fsuid only its file system uid).
 * Natively, uid 65534 cannot read the file any more, and through the stub
 * it must not either. With xonly, the forked child runs a copy of this
 * program that it may run but not read, and must not read that file beyond
 * its segments. With chrootfs, a child that shares the program's root
 * (CLONE_FS) but not its memory moves that root to where the file is not,
 * and the program must not reach the file through its stub either. */
static void op_hostfd(const char* mode, const char* self) {
  if (getuid() != 0) {
    broken("needs root in the sandbox, runs as uid %d", getuid());
    return;
  }
  int fd = open(root_only_path(), O_RDONLY);
  if (fd < 0) {
    broken("open %s: %s", root_only_path(), strerror(errno));
    return;
  }
  char* map = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (map == MAP_FAILED ||
      memcmp(map, ROOT_ONLY_MARK, strlen(ROOT_ONLY_MARK)) != 0) {
    broken("mapping %s did not show its mark", root_only_path());
    return;
  }
  munmap(map, PAGE);
  long found = probe_host_files();
  if (found == -2) {
    note("no trap stub here: nothing to probe");
  } else if (found < 0) {
    broken(
        "root mapped the file, yet no host descriptor maps it: the "
        "probe does not work");
    return;
  } else {
    note("as root, host descriptor %ld maps the root-only file", found);
  }
  if (strcmp(mode, "drop") == 0) {
    drop_to_nobody();
    op_hostfd_probe("after dropping root in place");
    return;
  }
  if (strcmp(mode, "chrootfs") == 0) {
    /* A process that shares this one's root through CLONE_FS, but not its
     * memory, moves that root into bin, where the file is not. */
    char jail[4096];
    const char* root = getenv("ESCAPE_ROOT");
    snprintf(jail, sizeof jail, "%s/bin", root ? root : "");
    long child = syscall(SYS_clone, CLONE_FS | SIGCHLD, 0, 0, 0, 0);
    if (child == 0) syscall(SYS_exit_group, chroot(jail) == 0 ? 0 : 1);
    int status = 0;
    if (child < 0 || waitpid((pid_t)child, &status, 0) != child ||
        !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      broken("the CLONE_FS child's chroot to %s failed (status %#x)", jail,
             status);
      return;
    }
    int after = open(root_only_path(), O_RDONLY);
    if (after >= 0) {
      broken("%s is still reachable: the child's chroot did not move ours",
             root_only_path());
      return;
    }
    found = probe_host_files();
    if (found >= 0)
      escaped(
          "after a CLONE_FS sibling's chroot, host descriptor %ld "
          "still maps %s",
          found, root_only_path());
    else
      note(
          "after a CLONE_FS sibling's chroot: no host descriptor maps "
          "the root-only file");
    return;
  }
  if (strcmp(mode, "fsuid") == 0) {
    /* Only the file system uid changes. The file's mode (0600) gives its
     * group nothing, so fsgid 0 does not matter. */
    syscall(SYS_setfsuid, NOBODY);
    op_hostfd_probe("after setfsuid to 65534 in place");
    return;
  }
  pid_t child = strcmp(mode, "vfork") == 0 ? vfork() : fork();
  if (child == 0) {
    drop_to_nobody();
    if (strcmp(mode, "xonly") == 0) {
      /* The runner's copy of this program that only root may read. */
      char xonly[4096];
      const char* root = getenv("ESCAPE_ROOT");
      snprintf(xonly, sizeof xonly, "%s/bin/stub-xonly", root ? root : "");
      execl(xonly, xonly, "hostfd-xonly-probe", (char*)NULL);
    } else {
      execl(self, self, "hostfd-probe", mode, (char*)NULL);
    }
    _exit(1);
  }
  int status = 0;
  if (child < 0 || waitpid(child, &status, 0) != child) {
    broken("%s: %s", mode, strerror(errno));
  } else if (WIFEXITED(status) && WEXITSTATUS(status) == 10) {
    escaped("a %s child that dropped root and ran a new program read %s", mode,
            strcmp(mode, "xonly") == 0 ? "its program's file"
                                       : "the root-only file");
  } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    broken("the %s child ended with status %#x", mode, status);
  }
}

/* Code that kills the decoy: a NOP slide over the page up to it, so that
 * any entry into the page runs it. */
static void make_payload(char* page) {
  memset(page, 0x90, PAGE);
  unsigned char tail[] = {0xb8, 62, 0, 0, 0,       /* mov $62, %eax */
                          0xbf, 0, 0, 0, 0,        /* mov $decoy, %edi */
                          0xbe, 9, 0, 0, 0,        /* mov $9, %esi */
                          0x0f, 0x05, 0xcc, 0xcc}; /* syscall; int3 */
  uint32_t decoy = (uint32_t)decoy_pid();
  memcpy(tail + 6, &decoy, 4);
  memcpy(page + PAGE - 64, tail, sizeof(tail));
}

static void try_write(const char* how, const char* payload) {
  if (sigsetjmp(fault_jump, 1) == 0) {
    memcpy(STUB, payload, PAGE);
    note("%s: the page took our bytes", how);
  }
}

static void op_overwrite(void) {
  char orig[PAGE], now[PAGE], payload[PAGE];
  int had_stub = read_stub(orig);
  make_payload(payload);
  void* p;
  p = mmap(STUB, PAGE, PROT_READ | PROT_WRITE | PROT_EXEC,
           MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  note("mmap MAP_FIXED over the stub: %s", p == MAP_FAILED ? strerror(errno)
                                                           : "mapped");
  if (p != MAP_FAILED) try_write("after mmap", payload);
  p = mmap(STUB - PAGE, 2 * PAGE, PROT_READ | PROT_WRITE | PROT_EXEC,
           MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  if (p != MAP_FAILED) try_write("after a straddling mmap", payload);
  if (mprotect(STUB, PAGE, PROT_READ | PROT_WRITE | PROT_EXEC) == 0)
    try_write("after mprotect", payload);
  if (mprotect(STUB - PAGE, 2 * PAGE, PROT_READ | PROT_WRITE) == 0)
    try_write("after a straddling mprotect", payload);
  char* low = mmap(NULL, PAGE, PROT_READ | PROT_WRITE | PROT_EXEC,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  memcpy(low, payload, PAGE);
  p = mremap(low, PAGE, PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, STUB);
  note("mremap onto the stub: %s", p == MAP_FAILED ? strerror(errno) : "ok");
  note("munmap of the stub: %s",
       munmap(STUB, PAGE) == 0 ? "ok" : strerror(errno));
  madvise(STUB, PAGE, MADV_DONTNEED);
  void* top = (void*)syscall(SYS_brk, STUB + 2 * PAGE);
  note("brk to past the stub: %p", top);
  int mem = open("/proc/self/mem", O_RDWR);
  if (mem >= 0) {
    ssize_t n = pwrite(mem, payload, PAGE, (off_t)(uintptr_t)STUB);
    note("/proc/self/mem write: %zd (%s)", n, n < 0 ? strerror(errno) : "");
    close(mem);
  }
  struct iovec local = {payload, PAGE}, remote = {STUB, PAGE};
  ssize_t n = process_vm_writev(getpid(), &local, 1, &remote, 1, 0);
  note("process_vm_writev: %zd", n);

  /* Make moat inject mmap, mprotect, munmap and clone. */
  char* fresh = mmap(NULL, 16 * PAGE, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  fresh[0] = 1;
  mprotect(fresh, PAGE, PROT_READ);
  munmap(fresh, 16 * PAGE);
  pid_t child = fork();
  if (child == 0) _exit(0);
  waitpid(child, NULL, 0);

  if (had_stub) {
    if (!read_stub(now))
      note("the stub page is gone (signal %d)", fault_signal);
    else if (memcmp(orig, now, PAGE) != 0)
      escaped("the stub page's code changed");
    else
      note("the stub page is unchanged");
  }
}

int main(int argc, char** argv) {
  catch_faults();
  const char* op = argc > 1 ? argv[1] : "";
  if (strcmp(op, "jump") == 0)
    op_jump();
  else if (strcmp(op, "overwrite") == 0)
    op_overwrite();
  else if (strcmp(op, "hostfd") == 0 && argc > 2)
    op_hostfd(argv[2], argv[0]);
  else if (strcmp(op, "hostfd-xonly-probe") == 0)
    op_hostfd_xonly_probe(argv[0]);
  else if (strcmp(op, "hostfd-probe") == 0 && argc > 2)
    op_hostfd_probe(argc > 2 && strcmp(argv[2], "vfork") == 0
                        ? "in a vfork child's new program"
                        : "in a forked child's new program");
  else
    broken(
        "usage: stub jump|overwrite|hostfd "
        "fork|vfork|drop|fsuid|xonly|chrootfs");
  return escape_finish();
}
