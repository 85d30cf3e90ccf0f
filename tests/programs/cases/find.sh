# find over a generated tree (every listing is sorted because readdir order
# depends on the file system): name, type, size, depth, permission, mtime and
# emptiness tests, -exec and -print0 with xargs -0, -prune, -delete.
set -eu
T=$(mktemp -d /tmp/moat-case.XXXXXX)
trap 'cd /; rm -rf "$T"' EXIT
cd "$T"

mkdir -p tree/src/lib tree/docs tree/build/obj tree/empty 'tree/with space'
for f in main.c util.c util.h lib/a.c lib/b.c lib/b.h; do echo "/* $f */" >"tree/src/$f"; done
seq 1 5000 >tree/docs/big.txt
echo notes >tree/docs/notes.md
: >tree/build/obj/zero.o
echo x >'tree/with space/file name.txt'
ln -s src/main.c tree/main-link
chmod 0700 tree/src/lib/b.c
find tree -exec touch -h -d '2010-01-01 00:00:00' {} +
touch -d '2000-01-01 00:00:00' tree/docs/notes.md
touch -d '2020-01-01 00:00:00' tree/build/obj/zero.o
touch -d '2030-01-01 00:00:00' tree/docs/big.txt

echo "== all";           find tree | sort
echo "== files *.c";     find tree -type f -name '*.c' | sort
echo "== -iname";        find tree -iname 'NOTES.MD' | sort
echo "== symlinks";      find tree -type l | sort
echo "== -L follows";    find -L tree -name 'main*' -type f | sort
echo "== maxdepth 1";    find tree -maxdepth 1 -mindepth 1 | sort
echo "== empty";         find tree -empty | sort
echo "== size +10k";     find tree -type f -size +10k | sort
echo "== perm 700";      find tree -type f -perm 0700 | sort
echo "== older";         find tree -type f ! -newer tree/src/main.c ! -newer tree/docs/notes.md | sort
echo "== newer";         find tree -type f -newer tree/src/main.c | sort
echo "== prune";         find tree -path tree/src -prune -o -type f -print | sort
echo "== regex";         find tree -regextype posix-extended -regex '.*/[ab]\.[ch]' | sort
echo "== exec";          find tree -name '*.h' -exec wc -c {} \; | sort
echo "== exec +";        find tree/src -type f -exec cat {} + | sort
echo "== print0";        find tree/src -type f -print0 | sort -z | xargs -0 -n 2 echo
echo "== printf";        find tree/docs -type f -printf '%f %s %m %TY-%Tm-%Td\n' | sort
echo "== count";         find tree -type f | wc -l
find tree -name '*.o' -delete
echo "== after delete";  find tree/build | sort
find tree/does-not-exist 2>&1 || echo "find on a missing path: status $?"
