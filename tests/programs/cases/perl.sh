# perl one-liners: -n/-p/-l/-a/-F/-i/-0 switches, regexes, hashes, sort,
# sprintf, pack/unpack, core modules (Digest::MD5, List::Util, POSIX), and
# fork/pipe/exec from perl.
set -eu
T=$(mktemp -d /tmp/moat-case.XXXXXX)
trap 'cd /; rm -rf "$T"' EXIT
cd "$T"

printf 'alice 34 london\nbob 27 paris\ncarol 41 london\ndave 19 berlin\n' >people.txt

echo "== -ne";   perl -ne 'print if /london/' people.txt
echo "== -pe";   perl -pe 's/(\w+)/\u$1/; s/\d+/<$&>/' people.txt
echo "== -lane"; perl -lane 'print "$F[0]:$F[1]" if $F[1] > 30' people.txt
echo "== -F";    printf 'a,b,c\n1,2,3\n' | perl -F, -lane 'print join "|", reverse @F'
echo "== END";   perl -lane '$sum += $F[1]; END { print "total $sum, mean ", $sum / $. }' people.txt
echo "== hash";  perl -lane '$c{$F[2]}++; END { print "$_ $c{$_}" for sort keys %c }' people.txt
echo "== sort";  perl -e 'print join(",", sort { $b <=> $a } 5, 3, 11, 1), "\n"'
echo "== -0";    printf 'l1\nl2\nl3\n' | perl -0777 -ne 'print length, " bytes, ", tr/\n//, " newlines\n"'
echo "== -l 0";  perl -le 'print for map { $_ ** 2 } 1 .. 5'
echo "== -i";    cp people.txt edit.txt; perl -i.orig -pe 's/paris/Paris/' edit.txt; diff edit.txt.orig edit.txt || true
echo "== sprintf"; perl -e 'printf "%05.2f|%-6s|%x|%b|%e\n", 3.14159, "ab", 255, 10, 1234.5'
echo "== regex"; perl -e '$_ = "2024-02-29T13:14:15"; my ($y, $m, $d) = /^(\d+)-(\d+)-(\d+)/; print "$d/$m/$y\n"; print scalar(() = /\d/g), " digits\n"'
echo "== tr";    perl -pe 'tr/a-z/A-Z/' <<<'shout'
echo "== pack";  perl -e 'my $b = pack("NnC", 0xDEADBEEF, 513, 7); print unpack("H*", $b), " ", length $b, "\n"; print join(",", unpack("NnC", $b)), "\n"'
echo "== md5";   perl -MDigest::MD5=md5_hex -le 'print md5_hex("moat")'
echo "== List::Util"; perl -MList::Util=sum,max,min,first -le 'print sum(1 .. 100), " ", max(3, 9, 2), " ", min(3, 9, 2), " ", first { $_ > 3 } 1 .. 10'
echo "== POSIX"; perl -MPOSIX=floor,ceil,strftime -le 'print floor(-2.5), " ", ceil(2.1), " ", strftime("%Y-%m-%d", gmtime(1000000000))'
echo "== gmtime"; perl -le 'my @t = gmtime(86400 * 365); print join ",", @t[5, 4, 3]'
echo "== fork";  perl -e 'pipe(my $r, my $w) or die; my $pid = fork // die; if (!$pid) { close $r; print $w "hi from child\n"; exit 5 } close $w; print scalar <$r>; waitpid($pid, 0); print "child status ", $? >> 8, "\n"'
echo "== system"; perl -e 'my $out = `echo captured`; print "backticks: $out"; system("sh", "-c", "exit 3"); print "system status ", $? >> 8, "\n"'
echo "== open pipe"; perl -e 'open(my $fh, "-|", "seq", "1", "4") or die; my @l = <$fh>; close $fh; print scalar(@l), " lines, last $l[-1]"'
echo "== files"; perl -e 'open(my $o, ">", "out.txt") or die; print $o "x" x 1000; close $o; print -s "out.txt", " bytes\n"; opendir(my $d, ".") or die; print join(" ", sort grep { !/^\./ } readdir $d), "\n"; unlink "out.txt" or die; print -e "out.txt" ? "still there\n" : "unlinked\n"'
echo "== die";   perl -e 'die "fatal error\n"' 2>&1 || echo "perl die status $?"
echo "== exit";  perl -e 'exit 9' || echo "perl exit status $?"
