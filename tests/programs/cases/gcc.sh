# gcc compiles a C program (with a header, pthreads and libm) in /tmp, which
# then runs and does file I/O, qsort, threads and floating point.
set -eu
T=$(mktemp -d /tmp/moat-case.XXXXXX)
trap 'cd /; rm -rf "$T"' EXIT
cd "$T"

cat >util.h <<'EOF_C'
#define SQUARE(x) ((x) * (x))
static inline unsigned long mix(unsigned long h, unsigned long v) {
  return (h ^ v) * 1099511628211UL;
}
EOF_C
cat >prog.c <<'EOF_C'
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "util.h"

static int cmp(const void *a, const void *b) {
  int x = *(const int *)a, y = *(const int *)b;
  return (x > y) - (x < y);
}

static void *worker(void *arg) {
  unsigned long *slot = arg, h = 14695981039346656037UL;
  for (unsigned long i = 0; i < 100000; i++) h = mix(h, i + *slot);
  *slot = h;
  return NULL;
}

int main(int argc, char **argv) {
  int values[1000];
  unsigned seed = 12345;
  for (int i = 0; i < 1000; i++) {
    seed = seed * 1103515245 + 12345;
    values[i] = (int)(seed >> 16) % 10000;
  }
  qsort(values, 1000, sizeof values[0], cmp);
  printf("sorted: min %d median %d max %d\n", values[0], values[500], values[999]);

  pthread_t threads[4];
  unsigned long slots[4] = {1, 2, 3, 4};
  for (int i = 0; i < 4; i++) pthread_create(&threads[i], NULL, worker, &slots[i]);
  for (int i = 0; i < 4; i++) pthread_join(threads[i], NULL);
  for (int i = 0; i < 4; i++) printf("thread %d hash %016lx\n", i, slots[i]);

  printf("math: sqrt(2)=%.12f sin(1)=%.12f square=%d\n", sqrt(2.0), sin(1.0), SQUARE(12));

  FILE *f = fopen("data.txt", "w");
  if (!f) { perror("fopen"); return 1; }
  for (int i = 0; i < 100; i++) fprintf(f, "line %d\n", i);
  fclose(f);
  f = fopen("data.txt", "r");
  char line[64];
  long bytes = 0;
  int lines = 0;
  while (fgets(line, sizeof line, f)) { lines++; bytes += (long)strlen(line); }
  fclose(f);
  printf("file: %d lines %ld bytes\n", lines, bytes);
  printf("argv: %d %s\n", argc, argc > 1 ? argv[1] : "-");
  return 3;
}
EOF_C
gcc -O2 -Wall -Wextra -o prog prog.c -lm -pthread
echo "compiled: $(test -x prog && echo executable)"
set +e
./prog first-arg
echo "prog exit $?"
set -e
gcc -E -P -DVALUE=42 -x c - <<<'int v = VALUE;'
gcc -fsyntax-only -x c - <<<'int main(void) { return undeclared; }' 2>&1 | grep -o "'undeclared' undeclared" | head -n 1
gcc -c -o util.o -x c - <<<'int twice(int x) { return 2 * x; }'
nm util.o | awk '{print $2, $3}'
