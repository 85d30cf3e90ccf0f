# Pipelines, subshells, command substitution and exit statuses in dash (sh)
# and bash, including data larger than a pipe buffer.
set -u
T=$(mktemp -d /tmp/moat-case.XXXXXX)
trap 'cd /; rm -rf "$T"' EXIT
cd "$T"

echo "== sh"
sh -c '
  printf "%s\n" c a b | sort | tr a-z A-Z
  echo "sub: $(echo inner | sed s/inner/outer/)"
  (exit 3); echo "subshell status $?"
  false | true; echo "pipeline status $?"
  x=outer; (x=inner; echo "in subshell x=$x"); echo "after subshell x=$x"
  { echo grouped 1; echo grouped 2; } | wc -l
  seq 1 200000 | cat | cat | tail -n 1
  yes moat | head -n 3
  if echo hi | grep -q hi; then echo "grep in if: matched"; fi
  n=0; for i in 1 2 3 4 5; do n=$((n + i)); done; echo "sum $n"
  parent=$$; child=$(sh -c "echo \$PPID"); [ "$child" = "$parent" ] && echo "child PPID is the shell"
  sh -c "exit 42"; echo "nested sh status $?"
  echo to-stderr >&2
  exec 3>fd3.txt; echo "via fd 3" >&3; exec 3>&-; cat fd3.txt
'
echo "sh exit $?"

echo "== bash"
bash -c '
  set -o pipefail
  true | false | true; echo "pipefail status $?"
  set +o pipefail
  true | (exit 7) | true; echo "PIPESTATUS ${PIPESTATUS[*]}"
  [[ $BASHPID == $$ ]] && echo "top level: BASHPID equals \$\$"
  ( [[ $BASHPID != $$ ]] && echo "subshell: BASHPID differs from \$\$" )
  echo "$(echo a; (echo b; echo c) | tr "\n" " ")"
  diff <(seq 1 5) <(seq 1 5) && echo "process substitution: equal"
  while read -r n; do total=$((${total:-0} + n)); done < <(seq 1 100)
  echo "read loop total $total"
  count=0; seq 1 10 | while read -r _; do count=$((count + 1)); done
  echo "pipeline loop runs in a subshell: count=$count"
  out=$( { echo out; echo err >&2; } 2>&1 ); echo "captured: ${out//$'"'"'\n'"'"'/,}"
  head -c 1000000 /dev/zero | tr "\0" x | wc -c
  coproc UPPER { tr a-z A-Z; }
  echo "coprocess input" >&"${UPPER[1]}"; exec {UPPER[1]}>&-
  read -r line <&"${UPPER[0]}"; wait "$UPPER_PID"; echo "coproc: $line"
  exit 5
'
echo "bash exit $?"
