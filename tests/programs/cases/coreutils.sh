# coreutils: sort, uniq, wc, cut, tr, head, tail, md5sum, sha256sum, seq,
# date formatting of fixed dates, and file utilities (cp, mv, ln, stat,
# dd, split, join, comm, paste, od, base64, ...).
set -eu
T=$(mktemp -d /tmp/moat-case.XXXXXX)
trap 'cd /; rm -rf "$T"' EXIT
cd "$T"

printf 'banana 3\napple 10\ncherry 7\napple 2\nbanana 3\ndate 1\n' >fruit.txt
seq 1 10000 >numbers.txt

echo "== sort";        sort fruit.txt
echo "== sort -k2n";   sort -k2,2n fruit.txt
echo "== sort -rk2n";  sort -k2,2nr -k1,1 fruit.txt
echo "== sort -u";     sort -u fruit.txt
echo "== sort -t -k";  printf 'b:2\na:10\nc:1\n' | sort -t: -k2,2n
echo "== sort big";    shuf -n 10000 --random-source=numbers.txt numbers.txt | sort -n | md5sum
echo "== sort -c";     sort -c numbers.txt 2>&1 || echo "sort -c status $?"
echo "== uniq -c";     sort fruit.txt | uniq -c
echo "== uniq -d";     cut -d' ' -f1 fruit.txt | sort | uniq -d
echo "== wc";          wc fruit.txt numbers.txt
echo "== wc -l";       wc -l <numbers.txt
echo "== cut";         cut -d' ' -f2 fruit.txt | paste -sd,
echo "== cut -c";      echo abcdefghij | cut -c2-4,8-
echo "== tr";          echo 'Hello, World' | tr 'a-z' 'A-Z'
echo "== tr -d -s";    echo 'aaabbbccc   ddd' | tr -s 'a-c ' | tr -d 'd'
echo "== tr classes";  echo 'Mixed 123 Case!' | tr -cd '[:alpha:]\n'
echo "== head";        head -n 3 numbers.txt; head -c 5 numbers.txt | od -c
echo "== head -n -";   seq 1 10 | head -n -7
echo "== tail";        tail -n 2 numbers.txt; tail -n +9999 numbers.txt
echo "== tail -c";     tail -c 6 numbers.txt
echo "== md5sum";      md5sum fruit.txt numbers.txt
echo "== sha256sum";   sha256sum fruit.txt numbers.txt
echo "== sha1 sha512"; sha1sum numbers.txt; sha512sum numbers.txt | cut -c1-32
md5sum fruit.txt numbers.txt >sums.md5
echo "== md5sum -c";   md5sum -c sums.md5
echo "== seq";         seq 5; seq 0 5 20; seq -w 8 11; seq -s, 1.5 0.5 3; seq -f 'n%03g' 3
echo "== date";        date -u -d @1000000000 '+%Y-%m-%d %H:%M:%S %A %j %U %s'
date -u -d '2024-02-29 13:14:15' '+%F %T | %a %b %e | %I %p | week %V | %Z'
date -u -d '2024-02-29 13:14:15 +3 days' +%F
date -u -d '2001-02-03T04:05:06Z' -R
date -u -d @0 --iso-8601=seconds
TZ=Asia/Tokyo date -d @1000000000 '+%F %T %z %Z'
TZ=America/New_York date -d '2021-03-14 01:59:59 -0500 +1 second' '+%F %T %Z'
echo "== printf";      printf '%s|%5d|%-5s|%.3f|%x|%o|%e\n' str 42 ab 3.14159 255 8 12345.678
echo "== expr";        expr 6 \* 7; expr length abcdef; expr substr abcdef 2 3
echo "== factor";      factor 360 9973 1000000007
echo "== numfmt";      numfmt --to=iec 1048576 1536 999; numfmt --from=si 2K
echo "== join comm";   printf '1 a\n2 b\n3 c\n' >l.txt; printf '2 x\n3 y\n4 z\n' >r.txt
join l.txt r.txt; comm <(cut -d' ' -f1 l.txt) <(cut -d' ' -f1 r.txt)
echo "== paste";       paste -d: <(seq 3) <(seq 4 6)
echo "== nl fold fmt"; printf 'one\n\ntwo\n' | nl -ba; echo 'aaaa bbbb cccc dddd' | fold -w 9; echo 'a b c d e f' | fmt -w 5
echo "== tac rev";     seq 3 | tac; echo 'stressed' | rev
echo "== base64";      echo 'moat sandbox' | base64; echo 'bW9hdCBzYW5kYm94Cg==' | base64 -d
echo "== od";          printf 'AB\001\377' | od -A d -t x1 -t c
echo "== dd";          dd if=numbers.txt of=part.bin bs=100 skip=2 count=3 status=none; wc -c <part.bin; head -c 12 part.bin | od -c | head -n 1
echo "== split";       split -l 3000 -d numbers.txt chunk.; wc -l chunk.* | sort -k2; cat chunk.* | cmp - numbers.txt && echo "split parts rejoin"
echo "== truncate";    truncate -s 100 sparse.bin; stat -c '%s' sparse.bin; truncate -s 10 sparse.bin; od -A n -c sparse.bin
echo "== cp mv ln";    mkdir -p d1/sub; cp fruit.txt d1/sub/; cp -r d1 d2; mv d2/sub/fruit.txt d2/moved.txt
ln -s moved.txt d2/link; ln d2/moved.txt d2/hard; readlink d2/link; cat d2/link | head -n 1
# A directory's size depends on the file system, so only its link count is shown.
stat -c '%n %s %h %F' d2/moved.txt d2/hard d2/link | sort; stat -c '%n %h %F' d2/sub
echo "== chmod stat";  chmod 0751 d2/moved.txt; stat -c '%a %A' d2/moved.txt
echo "== ls";          ls d2; ls -1 d1/sub
echo "== basename";    basename /a/b/c.txt .txt; dirname /a/b/c.txt; realpath -m /a/./b/../c
echo "== test";        [ -f fruit.txt ] && [ -d d1 ] && [ ! -e missing ] && echo "tests ok"
echo "== tee";         echo teed | tee t1.txt t2.txt; cat t1.txt t2.txt
echo "== yes head";    yes abc | head -n 2
echo "== env";         env -i A=1 B=2 env | sort
echo "== id";          id -u; id -g; id -un
echo "== nproc";       test "$(nproc)" -ge 1 && echo "nproc is at least 1"
echo "== true false";  true && ! false && echo "true and false ok"
echo "== timeout";     timeout 0.2 sleep 5 || echo "timeout status $?"
echo "== rm";          rm -r d1 d2; ls -d d1 d2 2>&1 || echo "removed, ls status $?"
