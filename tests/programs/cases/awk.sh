# awk (whichever awk is the default) and gawk extensions: fields and separators,
# associative arrays, printf, functions, getline, pipes to and from commands,
# ENVIRON, string and math built-ins, and multiple input files.
set -eu
T=$(mktemp -d /tmp/moat-case.XXXXXX)
trap 'cd /; rm -rf "$T"' EXIT
cd "$T"

cat >sales.csv <<'EOF_T'
region,product,units,price
north,apple,10,0.50
south,apple,4,0.55
north,pear,7,0.80
east,plum,12,0.30
south,pear,3,0.85
north,apple,5,0.50
EOF_T
printf '1 2 3\n4 5 6\n7 8 9\n' >matrix.txt

echo "== fields"
awk -F, 'NR > 1 { print NR - 1, $1, $NF }' sales.csv
echo "== totals by region"
awk -F, 'NR > 1 { rev[$1] += $3 * $4; n[$1]++ }
  END { for (r in rev) printf "%-6s %2d rows %7.2f\n", r, n[r], rev[r] }' sales.csv | sort
echo "== OFS and rebuild"
awk -F, -v OFS=';' 'NR == 2 { $3 = $3 * 100; print; print NF }' sales.csv
echo "== transpose"
awk '{ for (i = 1; i <= NF; i++) m[i, NR] = $i; if (NF > nf) nf = NF }
  END { for (i = 1; i <= nf; i++) { row = ""; for (j = 1; j <= NR; j++) row = row (j > 1 ? " " : "") m[i, j]; print row } }' matrix.txt
echo "== functions"
awk 'function fact(n) { return n <= 1 ? 1 : n * fact(n - 1) }
  function join(a, n, sep,   s, i) { for (i = 1; i <= n; i++) s = s (i > 1 ? sep : "") a[i]; return s }
  BEGIN { print fact(10); n = split("c:b:a", parts, ":"); print n, join(parts, n, "-") }'
echo "== strings"
awk 'BEGIN { s = "Hello, Moat World"; print length(s), toupper(s), tolower(s);
  print substr(s, 8, 4), index(s, "World"); t = s; print gsub(/o/, "0", t), t;
  if (match(s, /M[a-z]+/)) print RSTART, RLENGTH; printf "%5.2f|%-5s|%05d|%x|%c\n", 3.14159, "ab", 42, 255, 65 }'
echo "== math"
awk 'BEGIN { printf "%.6f %.6f %.6f %d %d\n", sqrt(2), exp(1), atan2(1, 1) * 4, int(-3.7), 17 % 5 }'
echo "== getline from command"
awk 'BEGIN { while (("seq 3" | getline line) > 0) sum += line; close("seq 3"); print "sum", sum }'
echo "== print to command"
awk '{ print $3 | "sort -rn" } END { close("sort -rn"); print "sorted above" }' matrix.txt
echo "== getline from file"
awk 'BEGIN { while ((getline l < "matrix.txt") > 0) n++; print n, "lines" }'
echo "== ENVIRON and -v"
GREETING=hi awk -v who=moat 'BEGIN { print ENVIRON["GREETING"], who }'
echo "== FNR and FILENAME"
awk 'FNR == 1 { print FILENAME, NR, FNR }' matrix.txt sales.csv
echo "== range pattern"
seq 1 20 | awk '/^5$/,/^8$/'
echo "== RS paragraph mode"
printf 'a b\nc\n\nd e\n\n\nf\n' | awk 'BEGIN { RS = "" } { print NR ": " NF " fields" }'
echo "== uniq by key"
awk -F, 'NR > 1 && !seen[$2]++ { print $2 }' sales.csv
echo "== exit status"
awk 'BEGIN { exit 3 }' || echo "awk exit $?"
echo "== gawk"
gawk 'BEGIN { PROCINFO["sorted_in"] = "@ind_str_asc"; a["z"]; a["a"]; a["m"]; for (k in a) printf "%s ", k; print "" }'
gawk 'BEGIN { print gensub(/([a-z]+)-([0-9]+)/, "\\2:\\1", "g", "ab-1 cd-22") }'
gawk 'BEGIN { print strftime("%Y-%m-%d %H:%M:%S", 1000000000, 1) }'
gawk 'BEGIN { n = split("3 1 2", a); asort(a); print a[1], a[2], a[3] }'
