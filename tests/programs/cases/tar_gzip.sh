# tar + gzip round trip in /tmp: a reproducible archive (fixed mtimes, owners
# and order, gzip -n), its listing and checksum, extraction into another
# directory, and a comparison of every file's sha256 checksum.
set -eu
T=$(mktemp -d /tmp/moat-case.XXXXXX)
trap 'cd /; rm -rf "$T"' EXIT
cd "$T"

mkdir -p tree/a/b tree/c tree/empty
for i in $(seq 1 50); do seq 1 "$i" >"tree/a/file$i.txt"; done
head -c 200000 /dev/zero | tr '\0' 'z' >tree/a/b/big.bin
printf 'binary\0bytes\377\n' >tree/c/bin.dat
ln -s ../a/file1.txt tree/c/link
: >tree/c/empty-file
chmod 0640 tree/c/bin.dat
chmod 0755 tree/a/file7.txt

(cd tree && find . -type f -exec sha256sum {} + | sort -k 2) >before.sum
tar --sort=name --mtime=@1000000000 --owner=0 --group=0 --numeric-owner \
  -cf tree.tar tree
gzip -n -9 -k tree.tar
echo "tar sha256:    $(sha256sum <tree.tar | cut -d' ' -f1)"
echo "tar.gz sha256: $(sha256sum <tree.tar.gz | cut -d' ' -f1)"
gzip -t tree.tar.gz && echo "gzip -t ok"
cmp <(gzip -dc tree.tar.gz) tree.tar && echo "gzip -dc matches the tar"
tar -tvzf tree.tar.gz
mkdir out
tar -xzf tree.tar.gz -C out
(cd out/tree && sha256sum -c --quiet ../../before.sum) && echo "all checksums match"
(cd out/tree && find . -type f -exec sha256sum {} + | sort -k 2) | diff before.sum - && echo "no extra files"
echo "symlink -> $(readlink out/tree/c/link)"
stat -c '%n %a %s' out/tree/c/bin.dat out/tree/a/file7.txt out/tree/c/empty-file
test -d out/tree/empty && echo "empty directory restored"
tar -cf - -C tree a/b | tar -tf -
gzip -c <tree/a/b/big.bin | gzip -dc | cmp - tree/a/b/big.bin && echo "stream round trip ok"
