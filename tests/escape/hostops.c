/* Operations only the host may do. `hostops OP` tries one; each must fail
 * or change only the sandbox, and the runner checks the host's side after
 * (its mounts, hostname, clock, swaps, keys, ctrl-alt-del setting). A call
 * that succeeds is followed by a probe that tells a sandbox-only success
 * from a host one where there is such a probe.
 *
 * The runner runs natively only the OPs that are harmless to the host as
 * root (see NATIVE_OK in tests/escape/run). */
#include "escape.h"

#include <linux/bpf.h>
#include <linux/perf_event.h>
#include <linux/reboot.h>
#include <sys/io.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <time.h>

static void failed_or(const char* what, long r, const char* if_ok) {
  if (r < 0)
    note("%s: %s", what, strerror(errno));
  else if (if_ok != NULL)
    escaped("%s succeeded: %s", what, if_ok);
  else
    note("%s succeeded (the runner checks the host)", what);
}

/* A fresh directory to mount on, inside the sandbox. */
static char* mount_point(const char* name) {
  char* dir = in_root(name);
  mkdir(dir, 0755);
  return dir;
}

static void op_mount(void) {
  /* The host's root device, made here with the numbers the runner gave. */
  const char* dev = getenv("ESCAPE_DEV");
  unsigned maj = 0, min = 0;
  if (dev != NULL && sscanf(dev, "%u:%u", &maj, &min) == 2) {
    char* node = in_root("/tmp/escape-disk");
    unlink(node);
    failed_or("mknod of the host disk", mknod(node, S_IFBLK | 0600,
                                              makedev(maj, min)), NULL);
    int fd = open(node, O_RDONLY);
    if (fd >= 0) {
      char block[512];
      if (read(fd, block, sizeof(block)) == sizeof(block))
        escaped("read the host disk through a node made inside");
      close(fd);
    }
    char* at = mount_point("/tmp/escape-mnt");
    failed_or("mount -t ext4 of the host disk",
              mount(node, at, "ext4", MS_RDONLY, NULL), NULL);
    char path[4096];
    snprintf(path, sizeof(path), "%s%s", at, secret_path());
    try_secret_at(AT_FDCWD, path, "the host disk mounted inside");
  }
  /* Bind mounts of host paths and fresh kernel filesystems. */
  char* at = mount_point("/tmp/escape-bind");
  failed_or("bind mount of the secret's host path",
            mount(secret_path(), at, NULL, MS_BIND, NULL), NULL);
  try_secret_at(AT_FDCWD, at, "a bind mount of the host path");
  failed_or("mount -t sysfs", mount("sysfs", at, "sysfs", 0, NULL), NULL);
  failed_or("mount -t cgroup2", mount("none", at, "cgroup2", 0, NULL), NULL);
}

static void op_pivot_root(void) {
  char* root = in_root("/tmp/escape-newroot");
  mkdir(root, 0755);
  char old[4096];
  snprintf(old, sizeof(old), "%s/old", root);
  mkdir(old, 0755);
  failed_or("bind mount of the new root", mount(root, root, NULL, MS_BIND,
                                                NULL), NULL);
  long r = syscall(SYS_pivot_root, root, old);
  failed_or("pivot_root", r, NULL);
  if (r == 0) {
    if (chdir("/") != 0) broken("chdir");
    try_secret_from_dir(AT_FDCWD, "pivot_root then climb");
    try_secret_at(AT_FDCWD, "/old/.." , "pivot_root's old root");
  }
}

static void op_reboot(void) {
  /* Ctrl-Alt-Del off: a harmless command whose effect the host shows in
   * /proc/sys/kernel/ctrl-alt-del. */
  failed_or("reboot(CAD_OFF)", reboot(RB_DISABLE_CAD), NULL);
  failed_or("reboot(bad magic)",
            syscall(SYS_reboot, 0, 0, LINUX_REBOOT_CMD_RESTART, NULL),
            "with a bad magic number");
}

static void op_kexec(void) {
  failed_or("kexec_load", syscall(SYS_kexec_load, 0, 0, NULL, 0),
            "kexec_load is the host's");
  int fd = open("/proc/self/exe", O_RDONLY);
  failed_or("kexec_file_load",
            syscall(SYS_kexec_file_load, fd, -1, 1, "", 0),
            "kexec_file_load is the host's");
}

static void op_module(void) {
  static char image[4096] = "\177ELF not a module";
  failed_or("init_module", syscall(SYS_init_module, image, sizeof(image), ""),
            "loaded a module");
  int fd = open("/proc/self/exe", O_RDONLY);
  failed_or("finit_module", syscall(SYS_finit_module, fd, "", 0),
            "loaded a module");
}

static void op_swapon(void) {
  char* file = in_root("/tmp/escape-swap");
  int fd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0600);
  static char page[4096];
  memcpy(page + 4086, "SWAPSPACE2", 10);
  for (int i = 0; i < 16 && fd >= 0; i++)
    if (write(fd, page, sizeof(page)) != sizeof(page)) broken("write");
  close(fd);
  failed_or("swapon", syscall(SYS_swapon, file, 0), NULL);
  failed_or("swapoff", syscall(SYS_swapoff, file), NULL);
}

static void op_clock(void) {
  struct timeval tv = {.tv_sec = 1000000000};  /* 2001 */
  failed_or("settimeofday", settimeofday(&tv, NULL), NULL);
  struct timespec ts = {.tv_sec = 1000000000};
  failed_or("clock_settime", clock_settime(CLOCK_REALTIME, &ts), NULL);
  struct timex tx = {.modes = ADJ_OFFSET | ADJ_STATUS, .offset = 500000};
  failed_or("adjtimex", syscall(SYS_adjtimex, &tx), NULL);
  failed_or("clock_adjtime", syscall(SYS_clock_adjtime, CLOCK_REALTIME, &tx),
            NULL);
}

static void op_hostname(void) {
  failed_or("sethostname", sethostname("escaped", 7), NULL);
  failed_or("setdomainname", setdomainname("escaped", 7), NULL);
  char name[65] = "";
  gethostname(name, sizeof(name));
  note("hostname inside is now \"%s\"", name);
}

static void fault_handler(int sig) {
  note("port access raised signal %d", sig);
  _exit(escape_finish());
}

static void op_ioperm(void) {
  long a = iopl(3), b = ioperm(0x80, 1, 1);
  failed_or("iopl(3)", a, NULL);
  failed_or("ioperm(0x80)", b, NULL);
  if ((a == 0 || b == 0) && getenv("ESCAPE_NATIVE") == NULL) {
    /* Only inside: whether the port is really open. */
    signal(SIGSEGV, fault_handler);
    signal(SIGILL, fault_handler);
    inb(0x80);
    escaped("inb(0x80) ran after iopl/ioperm");
  } else if (a == 0 || b == 0) {
    escaped("iopl/ioperm granted host port access");
  }
}

static void op_perf(void) {
  struct perf_event_attr attr = {.type = PERF_TYPE_SOFTWARE,
                                 .size = sizeof(attr),
                                 .config = PERF_COUNT_SW_CPU_CLOCK,
                                 .disabled = 1};
  long fd = syscall(SYS_perf_event_open, &attr, decoy_pid(), -1, -1, 0);
  failed_or("perf_event_open on the host decoy", fd, "it watches a host pid");
  fd = syscall(SYS_perf_event_open, &attr, -1, 0, -1, 0);
  failed_or("perf_event_open on all of CPU 0", fd, "it watches the host CPU");
}

static void op_bpf(void) {
  union bpf_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.map_type = BPF_MAP_TYPE_ARRAY;
  attr.key_size = 4;
  attr.value_size = 4;
  attr.max_entries = 1;
  failed_or("bpf(BPF_MAP_CREATE)", syscall(SYS_bpf, BPF_MAP_CREATE, &attr,
                                           sizeof(attr)), "host bpf map");
  memset(&attr, 0, sizeof(attr));
  attr.start_id = 0;
  failed_or("bpf(BPF_PROG_GET_NEXT_ID)", syscall(SYS_bpf,
                                                 BPF_PROG_GET_NEXT_ID, &attr,
                                                 sizeof(attr)),
            "it lists the host's bpf programs");
}

static void op_userfaultfd(void) {
  /* A userfaultfd of the sandbox's own memory is harmless; only report. */
  failed_or("userfaultfd", syscall(SYS_userfaultfd, O_CLOEXEC), NULL);
  int fd = open("/dev/userfaultfd", O_RDWR);
  failed_or("open /dev/userfaultfd", fd, NULL);
}

static void op_keyctl(void) {
  /* The user keyring of uid 0 is shared by every root process on the host;
   * the runner looks for this description in the host's /proc/keys. */
  long key = syscall(SYS_add_key, "user", "moat-escape-key", "x", 1,
                     -4 /* KEY_SPEC_USER_KEYRING */);
  failed_or("add_key to the user keyring", key, NULL);
  long id = syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -4, 0);
  failed_or("keyctl(GET_KEYRING_ID, user)", id, NULL);
  long found = syscall(SYS_request_key, "user", "moat-escape-host-key", NULL,
                       0);
  failed_or("request_key of a host key", found, "found a host key");
}

int main(int argc, char** argv) {
  struct {
    const char* name;
    void (*fn)(void);
  } ops[] = {
      {"mount", op_mount},         {"pivot_root", op_pivot_root},
      {"reboot", op_reboot},       {"kexec", op_kexec},
      {"module", op_module},       {"swapon", op_swapon},
      {"clock", op_clock},         {"hostname", op_hostname},
      {"ioperm", op_ioperm},       {"perf", op_perf},
      {"bpf", op_bpf},             {"userfaultfd", op_userfaultfd},
      {"keyctl", op_keyctl},
  };
  for (size_t i = 0; argc > 1 && i < sizeof(ops) / sizeof(*ops); i++) {
    if (strcmp(argv[1], ops[i].name) == 0) {
      ops[i].fn();
      return escape_finish();
    }
  }
  broken("usage: hostops OP");
  return escape_finish();
}
