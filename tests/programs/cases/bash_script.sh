# A bash script: functions, recursion, indexed and associative arrays,
# here-documents, traps (EXIT, ERR, RETURN, signals) and background jobs with
# job control off (the default for scripts).
set -u
T=$(mktemp -d /tmp/moat-case.XXXXXX)
cleanup() { cd /; rm -rf "$T"; echo "EXIT trap ran"; }
trap cleanup EXIT
cd "$T"

fib() { local n=$1; if ((n < 2)); then echo "$n"; else echo $(( $(fib $((n - 1))) + $(fib $((n - 2))) )); fi; }
echo "fib 10 = $(fib 10)"
fact() { local n=$1 acc=${2:-1}; ((n <= 1)) && { echo "$acc"; return; }; fact $((n - 1)) $((acc * n)); }
echo "fact 20 = $(fact 20)"

fruits=(apple "blood orange" cherry)
fruits+=(date)
echo "count ${#fruits[@]}, second '${fruits[1]}', slice ${fruits[*]:1:2}"
for i in "${!fruits[@]}"; do printf '%d=%s;' "$i" "${fruits[i]}"; done; echo
unset 'fruits[0]'; echo "after unset: ${!fruits[*]}"
declare -A color=([apple]=red [banana]=yellow [cherry]=red)
color[lime]=green
for k in $(printf '%s\n' "${!color[@]}" | sort); do echo "$k -> ${color[$k]}"; done
declare -i total=0; for v in 10 20 30; do total+=v; done; echo "total $total"
mapfile -t lines < <(printf 'l1\nl2\nl3\n'); echo "mapfile ${#lines[@]}: ${lines[2]}"

name=world
cat <<EOT
unquoted here-doc: hello $name, $((6 * 7)), $(echo substituted)
EOT
cat <<'EOT'
quoted here-doc: $name stays literal, so does $(this)
EOT
	cat <<-EOT
	tab-stripped here-doc for $name
	EOT
tr a-z A-Z <<<"here-string"
while IFS=: read -r user _ uid _; do echo "entry $user uid $uid"; done <<EOT
alice:x:1000:x
bob:x:1001:x
EOT

s="The quick brown fox"
echo "${s^^} | ${s,,} | ${s// /_} | ${s#* } | ${s%% *} | ${#s}"
path=/usr/local/lib/libfoo.so.1; echo "${path##*/} ${path%/*}"
[[ "abc123" =~ ^([a-z]+)([0-9]+)$ ]] && echo "regex: ${BASH_REMATCH[1]} ${BASH_REMATCH[2]}"
case "file.tar.gz" in *.tar.gz) echo "case: tarball";; *) echo "case: other";; esac
printf '%05.1f|%-6s|%x|%o|%q\n' 3.14159 ab 255 8 "a b"

trap 'echo "ERR trap: status $?"' ERR
false
trap - ERR
trap 'echo "caught USR1"' USR1
kill -USR1 $$
(trap 'echo "subshell got TERM"; exit 4' TERM; kill -TERM $BASHPID; echo "not reached")
echo "subshell status $?"
trap - USR1
f() { trap 'echo "RETURN trap for f"' RETURN; echo "in f"; }
f
trap - RETURN

[[ $- == *m* ]] && echo "job control on" || echo "job control off"
sleep 0.2 & p1=$!
(sleep 0.1; exit 3) & p2=$!
wait "$p2"; echo "job 2 status $?"
wait "$p1"; echo "job 1 status $?"
pids=()
for i in 1 2 3; do (sleep "0.$i"; exit "$i") & pids+=($!); done
st=0; for p in "${pids[@]}"; do wait "$p"; st=$((st + $?)); done; echo "status sum $st"
(sleep 0.1; exit 4) &
wait -n; echo "wait -n status $?"
(exit 5) & (exit 6) &
wait; echo "wait for all status $?"
# The job reports through a FIFO before it is killed: a job killed while bash
# is still setting it up can run the inherited EXIT trap.
mkfifo ready.fifo
{ echo ready >ready.fifo; exec sleep 30; } & victim=$!
read -r _ <ready.fifo
kill "$victim"; wait "$victim"; echo "killed job status $?"

exec 4>log.txt; echo "fd 4 line" >&4; exec 4>&-; cat log.txt
bash -ec 'false; echo "not printed"'; echo "bash -e status $?"
echo done
