# grep -r and friends over a generated tree: line numbers, counts, file lists,
# case folding, words, extended and fixed patterns, inversion, -o, context,
# include and exclude globs, binary files and exit statuses. Output is sorted
# wherever grep -r walks directories, because readdir order depends on the
# file system.
set -eu
T=$(mktemp -d /tmp/moat-case.XXXXXX)
trap 'cd /; rm -rf "$T"' EXIT
cd "$T"

mkdir -p proj/src proj/doc proj/.hidden proj/vendor
cat >proj/src/main.c <<'EOF_T'
#include <stdio.h>
/* TODO: handle errors */
int main(void) {
  printf("Hello, moat\n");
  return 0; // todo remove
}
EOF_T
cat >proj/src/util.py <<'EOF_T'
def helper(x):
    # TODO make faster
    return x * 2  # hello
EOF_T
printf 'Moat is a sandbox.\nIt intercepts system calls.\nmoat moat MOAT\n' >proj/doc/README.md
echo 'TODO hidden' >proj/.hidden/notes
echo 'TODO vendored' >proj/vendor/lib.c
printf 'text\0with NUL TODO\n' >proj/doc/blob.bin
seq 1 1000 >proj/doc/numbers.txt

echo "== -rn";          grep -rn TODO proj | sort
echo "== -ri";          grep -ri todo proj --exclude-dir=vendor | sort
echo "== -rl";          grep -rl -i hello proj | sort
echo "== -rL";          grep -rL TODO proj | sort
echo "== -rc";          grep -rc moat proj/doc | sort
echo "== -w";           grep -rw -i moat proj/doc/README.md
echo "== -o";           grep -o -i 'moat' proj/doc/README.md | sort | uniq -c
echo "== -E";           grep -rE '^(def|int) [a-z]+\(' proj/src | sort
echo "== -F";           grep -F 'x * 2' proj/src/util.py
echo "== -v count";     grep -vc '5' proj/doc/numbers.txt
echo "== -x";           grep -x '99.' proj/doc/numbers.txt
echo "== context";      grep -n -C 1 '^500$' proj/doc/numbers.txt
echo "== -A -B";        grep -A 2 -B 1 'int main' proj/src/main.c
echo "== --include";    grep -r --include='*.c' -l TODO proj | sort
echo "== binary";       grep -r TODO proj/doc || true
echo "== -a";           grep -a TODO proj/doc/blob.bin | tr '\0' '@'
echo "== -m";           grep -m 3 '7' proj/doc/numbers.txt
echo "== -e -e";        grep -e '^10$' -e '^1000$' proj/doc/numbers.txt
echo "== -P";           grep -oP '(?<=printf\(")[^\\]+' proj/src/main.c
echo "== -z";           printf 'a\0b TODO\0c\0' | grep -z TODO | tr '\0' '\n'
echo "== stdin";        seq 1 30 | grep -c 3
grep -q nothing-matches proj/doc/README.md || echo "no match: status $?"
grep -r TODO proj/missing 2>&1 || echo "missing path: status $?"
grep '[' proj/doc/README.md 2>&1 || echo "bad pattern: status $?"
