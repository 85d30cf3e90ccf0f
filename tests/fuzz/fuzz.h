// Shared declarations of moat's system call fuzzer (see fuzzer.c).
#pragma once

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>

#define MAX_PROCS 64
#define MAX_THREADS 32
#define RING 64           // calls kept per thread for the post-mortem log
#define MAX_NR 461        // x86-64 numbers 0..460
#define SCRATCH_PAGES 16  // read-write pages of a thread's scratch area
#define PAGE 4096UL
#define PLAYGROUND_SIZE (64UL << 20)
#define MAX_FDS 64
#define NULL_FD 1000  // the supervisor's /dev/null, for the children

// One logged call. `done` is 0 while the call is running.
struct call_record {
  uint64_t seq;
  int32_t nr;
  int32_t done;
  int64_t args[6];
  int64_t ret;
};

struct thread_shared {
  uint64_t calls;
  uint64_t faults;       // real faults caught (SIGSEGV and friends)
  uint64_t corruptions;  // read-only pages whose content changed
  uint64_t remaps;       // scratch mappings found missing and remapped
  // The last real fault: signal, si_code, address, instruction pointer and
  // the call made just before it.
  int32_t fault_sig, fault_code, fault_nr[4];
  uint64_t fault_addr, fault_ip, fault_seq;
  struct call_record ring[RING];
};

// One fuzzing process slot; a process that dies early is replaced by a new
// generation in the same slot.
struct proc_shared {
  int32_t pid;
  int32_t generation;
  int32_t deaths;  // generations that ended before the deadline
  int32_t reported;
  struct thread_shared threads[MAX_THREADS];
};

struct shared {
  int32_t supervisor_pid;
  int32_t nprocs;
  struct proc_shared procs[MAX_PROCS];
};

struct options {
  uint64_t seed;
  int seconds;
  int procs;
  int threads;
  int last;  // calls per thread printed at the end
};

// State of one fuzzing thread.
struct thread {
  uint64_t rng;
  volatile uint64_t seq;  // calls made
  uint64_t slot_off;      // next free byte of this call's structures
  int index;
  int tid;
  uint8_t* scratch;    // SCRATCH_PAGES read-write pages
  uint8_t* guard;      // one PROT_NONE page after them
  uint8_t* ro_anon;    // one read-only anonymous page
  uint8_t* ro_file;    // one read-only private file page
  uint8_t* ro_shared;  // one read-only shared file page
  uint64_t fs_base;    // the thread pointer, which must not change
  struct thread_shared* out;
  sigjmp_buf jump;
  volatile int in_check;  // checking our own mappings
};

// State of one fuzzing process.
struct proc {
  struct options opt;
  int index;
  int generation;
  int pid;
  uint8_t* playground;  // PLAYGROUND_SIZE of memory calls may wreck
  uint64_t initial_brk;
  int fds[MAX_FDS];
  int nfds;
  int tids[MAX_THREADS];
  struct thread threads[MAX_THREADS];
  struct proc_shared* out;
};

extern struct shared* g_shared;
extern struct proc g_proc;

// fuzzer.c
long raw_syscall(long nr, long a, long b, long c, long d, long e, long f);
long raw_clone_syscall(long nr, long a, long b, long c, long d, long e, long f);
void restore_rt(void);
uint64_t rnd(uint64_t* state);
uint64_t seed_for(uint64_t seed, int proc, int generation, int thread);

// child.c
void run_child(const struct options* opt, int index, int generation);
void open_fds(struct proc* p);
void on_signal(int sig, siginfo_t* si, void* uc);

// args.c
// Picks a call and its arguments; returns the number.
int gen_call(struct thread* t, int64_t args[6]);
// Restores what a call may have taken from the fuzzer (signal mask,
// alternate stack).
void after_call(struct thread* t, int nr);
void install_handlers(int flags);
void setup_altstack(void);
extern const char* const kinds[MAX_NR];
