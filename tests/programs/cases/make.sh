# make -j2 builds a generated multi-file C project (a library archive and a
# program) in /tmp, then an incremental rebuild after one object is made
# older than its source.
set -eu
T=$(mktemp -d /tmp/moat-case.XXXXXX)
trap 'cd /; rm -rf "$T"' EXIT
cd "$T"
mkdir -p src include

n=8
for i in $(seq 1 $n); do
  echo "int part$i(int x);" >>include/parts.h
  cat >src/part$i.c <<EOF_C
#include "parts.h"
int part$i(int x) { return x * $i + $((i * i)); }
EOF_C
done
{
  echo '#include <stdio.h>'
  echo '#include "parts.h"'
  echo 'int main(void) {'
  echo '  long total = 0;'
  for i in $(seq 1 $n); do echo "  total += part$i($i); printf(\"part$i(%d) = %d\\n\", $i, part$i($i));"; done
  echo '  printf("total = %ld\n", total);'
  echo '  return 0;'
  echo '}'
} >src/main.c

cat >Makefile <<'EOF_MK'
CFLAGS := -O2 -Wall -Iinclude
SRCS := $(sort $(wildcard src/part*.c))
OBJS := $(SRCS:src/%.c=obj/%.o)

all: prog

obj:
	mkdir -p $@

obj/%.o: src/%.c include/parts.h | obj
	$(CC) $(CFLAGS) -c -o $@ $<

libparts.a: $(OBJS)
	$(AR) rcs $@ $^

prog: src/main.c libparts.a
	$(CC) $(CFLAGS) -o $@ $< -L. -lparts

clean:
	rm -rf obj libparts.a prog

.PHONY: all clean
EOF_MK

# -s keeps the output deterministic: with -j2 the order of echoed commands
# would depend on scheduling.
make -j2 -s
./prog
ar t libparts.a | sort
make -j2 --no-print-directory
# An object older than its source is rebuilt, and so is everything after it.
touch -d '2001-01-01 00:00:00' obj/part3.o
make -j2 --no-print-directory
make -q && echo "up to date after rebuild"
make -s clean
ls
