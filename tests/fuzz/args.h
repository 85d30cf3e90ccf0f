// Helpers shared by the argument generator (args.c) and the shaping of
// calls that could end the fuzzer (shape.c).
#pragma once

#include "fuzz.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static inline uint64_t R(struct thread* t) { return rnd(&t->rng); }
static inline int64_t below(struct thread* t, uint64_t n) {
  return (int64_t)(R(t) % n);
}
static inline int one_in(struct thread* t, int n) { return below(t, n) == 0; }
#define PICK(t, a) ((a)[below((t), N(a))])

static const int kSafeSignals[] = {0,       SIGUSR1,  SIGUSR2, SIGCHLD,
                                   SIGURG,  SIGWINCH, SIGCONT, SIGALRM,
                                   SIGPIPE, SIGIO,    SIGPROF, 40};

static const uint64_t kBadPointers[] = {
    0,
    1,
    0xfff,
    0x7ffffffff000,      // top user page
    0x7fffffe00000,      // moat's stub page
    0x800000000000,      // first non-canonical address
    0xffff800000000000,  // kernel half
    0xffffffffff600000,  // vsyscall page
    0xfffffffffffff000,
    0xffffffffffffffff,
    0x8000000000000000,
};

int64_t any_int(struct thread* t);
int64_t length(struct thread* t);
int64_t flags(struct thread* t);
int64_t fd(struct thread* t);
uint64_t mm_addr(struct thread* t);
uint64_t pointer(struct thread* t);
void* slot(struct thread* t, size_t size);
// Makes the arguments of call `nr` safe for the fuzzer itself.
void shape(struct thread* t, int nr, int64_t a[6]);
