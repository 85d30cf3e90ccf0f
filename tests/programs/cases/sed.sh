# sed: substitution with flags and back-references, addresses and ranges,
# hold space, multi-line commands, in-place editing with a backup, y///,
# and a script file.
set -eu
T=$(mktemp -d /tmp/moat-case.XXXXXX)
trap 'cd /; rm -rf "$T"' EXIT
cd "$T"

cat >input.txt <<'EOF_T'
alpha beta gamma
# a comment
Delta epsilon
zeta   eta theta

iota kappa lambda
mu nu xi
EOF_T

echo "== s///g";       sed 's/a/A/g' input.txt
echo "== s///2";       sed -n 's/a/[&]/2p' input.txt
echo "== groups";      sed -E 's/^([a-z]+) ([a-z]+)/\2 \1/' input.txt
echo "== icase";       sed 's/delta/DELTA/I' input.txt | sed -n 3p
echo "== ranges";      sed -n '2,4p' input.txt
echo "== regex range"; sed -n '/Delta/,/^$/p' input.txt
echo "== step";        sed -n '1~3p' input.txt
echo "== delete";      sed -e '/^#/d' -e '/^$/d' input.txt
echo "== last line";   sed -n '$p' input.txt
echo "== a i c";       sed -e '1i\first' -e '$a\last' -e '/mu/c\replaced' input.txt
echo "== y";           sed 'y/abc/xyz/' input.txt | head -n 1
echo "== squeeze";     sed -E 's/ +/ /g' input.txt | sed -n 4p
echo "== tac via hold"; sed -n '1!G;h;$p' input.txt
echo "== join lines";  sed -e ':a' -e 'N' -e '$!ba' -e 's/\n/|/g' input.txt
echo "== N P D";       printf 'a\nb\nb\nc\nc\nc\nd\n' | sed '$!N;/^\(.*\)\n\1$/!P;D'
echo "== = and l";     printf 'tab\there\n' | sed -n '=;l'
echo "== w file";      sed -n '/a/w with-a.txt' input.txt; wc -l <with-a.txt
echo "== q";           seq 1 100 | sed 5q
echo "== Q exit";      seq 1 100 | sed '3Q7' || echo "status $?"
cat >script.sed <<'EOF_T'
/^#/ {
  s/#/;;/
  s/$/ (was a comment)/
}
/^$/ s/^/<blank>/
s/\<\([a-z]\)\([a-z]*\)/\u\1\2/g
EOF_T
echo "== -f";          sed -f script.sed input.txt
cp input.txt edit.txt
sed -i.bak -e 's/theta/THETA/' -e '/^$/d' edit.txt
echo "== -i";          cat edit.txt
echo "== backup";      cmp input.txt edit.txt.bak && echo "backup equals the original"
echo "== -s";          sed -s -n '$p' input.txt edit.txt
echo "== -z";          printf 'x\0y\0' | sed -z 's/^/item:/' | tr '\0' '\n'
sed 's/unterminated' input.txt 2>&1 || echo "bad script: status $?"
