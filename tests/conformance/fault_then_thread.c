/*
 * Page faults of a single-threaded process, followed at once by a new
 * thread or a fork. The trap platform maps a single-threaded process's
 * faulting pages only when the thread resumes. These check that a thread
 * made right after the faults reads every page they filled, and that
 * after a fork each side keeps its own copy of each page.
 */
#include "check.h"

#include <pthread.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

enum { kPages = 48, kRounds = 40 };

static unsigned char* region;

static int Matches(unsigned char base) {
  for (int i = 0; i < kPages; i++)
    if (region[i * 4096] != (unsigned char)(base + i) ||
        region[i * 4096 + 4095] != (unsigned char)(base - i))
      return 0;
  return 1;
}

static void Fill(unsigned char base) {
  for (int i = 0; i < kPages; i++) {
    region[i * 4096] = (unsigned char)(base + i);
    region[i * 4096 + 4095] = (unsigned char)(base - i);
  }
}

static void* Reader(void* arg) {
  (void)arg;
  return (void*)(long)Matches(7);
}

int main(void) {
  for (int round = 0; round < kRounds; round++) {
    CASE("new thread reads faulted pages");
    region = mmap(NULL, kPages * 4096, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(region != MAP_FAILED);
    Fill(7);
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, Reader, NULL), 0);
    void* seen = NULL;
    CHECK_EQ(pthread_join(t, &seen), 0);
    CHECK_EQ((long)seen, 1);

    CASE("fork keeps separate page copies");
    CHECK_OK(munmap(region, kPages * 4096));
    region = mmap(NULL, kPages * 4096, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(region != MAP_FAILED);
    Fill(11);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
      if (!Matches(11)) _exit(2);
      Fill(99);
      _exit(Matches(99) ? 0 : 3);
    }
    Fill(23);
    CHECK_CHILD_EXIT(pid, 0);
    CHECK(Matches(23));
    CHECK_OK(munmap(region, kPages * 4096));
  }
  return check_finish();
}
