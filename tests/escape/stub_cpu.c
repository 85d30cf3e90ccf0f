/* An attack on the trap platform's hint of where a stub thread runs. The
 * stub writes its CPU into its control page when it wakes a sleeping
 * kernel thread (MOAT_TC_CPU in src/platform/trap/trap_layout.h), and a
 * kernel thread whose program computes long between calls moves to that
 * CPU before it sleeps. The control page lies in the program's address
 * space, at the GS base of a thread that set none of its own. A second
 * thread of the program writes CPU numbers past the host's, zero, and
 * every CPU in turn there without pause. It also sets the sleeping word to
 * the value for a kernel on the stub's CPU. Meanwhile the main thread
 * alternates computing with calls whose results it checks. The runner
 * starts moat on CPU 0 alone and checks that no thread of the sandbox may
 * run on another CPU, that the host and a second sandbox stay responsive,
 * and that the sandbox stops on SIGTERM. Natively, and on the ptrace
 * platform, there is no control page: the second thread waits, and the
 * main thread computes and calls. The ptrace platform binds each task
 * thread and its stub thread to one CPU, which must be one of moat's. */
#define _GNU_SOURCE  // before any header, as escape.h requires
#include <pthread.h>

#include "escape.h"

#define SLOT_BASE 0x7fffc0000000ul
#define STUB_BASE 0x7fffffe00000ul
#define KERNEL_SLEEPING 4 /* MOAT_TC_KERNEL_SLEEPING */
#define CPU_WORD 224      /* MOAT_TC_CPU */

static volatile unsigned long long sink;

static void compute(long rounds) {
  unsigned long long x = 1;
  for (long i = 0; i < rounds; i++)
    x = x * 6364136223846793005ull + 1442695040888963407ull;
  sink = x;
}

static volatile unsigned int* page;

static void* scribble(void* unused) {
  // Without a control page the thread only waits, so that the ptrace
  // platform's two task threads are checked too.
  while (!page) pause();
  const unsigned int junk[] = {0xffffffffu, 0x80000000u, 4097, 1025, 0};
  const unsigned long njunk = sizeof junk / sizeof junk[0];
  long cpus = sysconf(_SC_NPROCESSORS_CONF);
  for (unsigned long round = 0;; round++) {
    unsigned long k = round % (njunk + cpus);
    page[CPU_WORD / 4] = k < njunk ? junk[k] : (unsigned int)(k - njunk + 1);
    page[KERNEL_SLEEPING / 4] = 2;
  }
  return unused;
}

int main(void) {
  unsigned long long gs = 0;
  __asm__ volatile("rdgsbase %0" : "=r"(gs));
  if (gs >= SLOT_BASE && gs < STUB_BASE && gs % 4096 == 0)
    page = (volatile unsigned int*)gs;
  else
    note("no trap control page at the GS base (%#llx)", gs);
  pthread_t writer;
  if (pthread_create(&writer, NULL, scribble, NULL) != 0)
    broken("pthread_create failed");
  int fd = open("/dev/zero", O_RDONLY);
  if (fd < 0) broken("open /dev/zero: %s", strerror(errno));
  pid_t parent = getppid();
  for (unsigned long round = 0;; round++) {
    compute(40000);
    char buf[64];
    memset(buf, 1, sizeof buf);
    if (read(fd, buf, sizeof buf) != sizeof buf || buf[0] != 0 || buf[63] != 0)
      broken("read of /dev/zero went wrong in round %lu", round);
    if (getppid() != parent) broken("getppid changed in round %lu", round);
  }
}
