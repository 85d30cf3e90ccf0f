/* Computes without a system call until SIGALRM arrives, one second after
 * it starts, and exits 0; exits 3 if the signal has not come within 60
 * billion iterations (tens of seconds). tests/robustness/run stops the trap
 * platform's stub process for this program on the host while the kernel tries
 * to interrupt it for the signal, and checks that the program still gets the
 * signal once the host lets the stub run again. */
#include <signal.h>
#include <unistd.h>

static volatile sig_atomic_t rang;

static void on_alarm(int sig) {
  (void)sig;
  rang = 1;
}

int main(void) {
  signal(SIGALRM, on_alarm);
  alarm(1);
  for (unsigned long i = 0; !rang; i++) {
    if (i > 60ul * 1000 * 1000 * 1000) return 3;
    __asm__ volatile("" ::: "memory");
  }
  return 0;
}
