# shellcheck shell=bash
# Functions of tests/escape/run: building the root, the host-side targets
# and checks, and running one case natively, inside moat, or as an
# exhaustion attack. Sourced by run, which sets repo, here, moat, work,
# root, secret and timeout_s.

cflags=(-static -no-pie -O1 -pthread -Wall -Wextra -Wno-unused-parameter)

# Builds each program into $root/bin when its source or escape.h is newer.
build_programs() {
  local source name out
  for source in "$here"/*.c; do
    name=$(basename "$source" .c)
    out=$root/bin/$name
    if [ "$out" -nt "$source" ] && [ "$out" -nt "$here/escape.h" ]; then
      continue
    fi
    if ! gcc "${cflags[@]}" -o "$out" "$source" >"$work/build-$name.log" 2>&1
    then
      echo "build of $name failed:"
      sed 's/^/    /' "$work/build-$name.log"
      return 1
    fi
  done
}

# The links fs_symlink.c walks through: absolute and relative ones that
# point outside on the host, loops, and a chain longer than 40.
make_links() {
  local links=$root/links i
  rm -rf "$links"
  mkdir -p "$links"
  ln -s / "$links/abs_root"
  ln -s "$secret" "$links/abs_secret"
  ln -s "$work" "$links/abs_dir"
  ln -s ../../escape-secret "$links/rel_secret"
  ln -s ../../../../../../../../../../../.. "$links/rel_up"
  ln -s ../.. "$links/dir_link"
  ln -s loop_b "$links/loop_a"
  ln -s loop_a "$links/loop_b"
  ln -s self "$links/self"
  for i in $(seq 0 48); do ln -s "chain$((i + 1))" "$links/chain$i"; done
  ln -s abs_secret "$links/chain49"
}

# A root whose mount points are symlinks out of it (runc's symlinked mount
# targets): moat mounts /proc, /dev and /tmp there at start.
make_evil_root() {
  local evil=$work/evil-root
  rm -rf "$evil"
  mkdir -p "$evil/bin"
  cp "$root/bin/runc" "$evil/bin/"
  ln -s ../../.. "$evil/proc"
  ln -s / "$evil/tmp"
  ln -s "$work" "$evil/dev"
}

start_decoy() {
  sleep 100000 </dev/null >/dev/null 2>&1 &
  decoy=$!
  disown "$decoy"  # no "Killed" notice when an attack gets it
  decoy_start=$(awk '{print $22}' "/proc/$decoy/stat")
}

# Whether the decoy still runs: its /proc entry is there, not a zombie, and
# has the start time it had (so a reused pid does not count).
decoy_alive() {
  local state start
  read -r state start < <(awk '{print $3, $22}' "/proc/$decoy/stat" \
    2>/dev/null) || return 1
  [ "$state" != Z ] && [ "$start" = "$decoy_start" ]
}

ensure_decoy() {
  if ! decoy_alive; then
    kill -KILL "$decoy" 2>/dev/null
    wait "$decoy" 2>/dev/null
    start_decoy
  fi
}

# What the attacks must not change on the host, one item per line.
host_state() {
  echo "hostname $(cat /proc/sys/kernel/hostname /proc/sys/kernel/domainname |
    tr '\n' ' ')"
  echo "ctrl-alt-del $(cat /proc/sys/kernel/ctrl-alt-del)"
  echo "swaps $(tail -n +2 /proc/swaps | md5sum)"
  echo "mounts $(md5sum </proc/1/mountinfo)"
  echo "keys $(grep -c moat-escape /proc/keys 2>/dev/null)"
  echo "clock $(clock_moved)"
  if decoy_alive; then echo "decoy alive"; else echo "decoy killed"; fi
  md5sum "$secret" "$work/stdin-file" "$moat" "$root"/bin/*
}

# The wall clock minus the time since boot, in seconds. Only setting the
# clock changes it by more than a second or two: the two readings are
# whole seconds taken apart, and NTP slews the wall clock slowly.
clock_offset() {
  local up
  read -r up _ </proc/uptime
  echo $(($(date +%s) - ${up%.*}))
}

# Prints "unchanged", or how far the clock was set since prepare() ran.
# The minute's margin keeps out the readings' jitter, and the attacks set
# the clock to 2001.
clock_moved() {
  local moved=$(($(clock_offset) - clock_reference))
  if ((moved > 60 || moved < -60)); then
    echo "set by $moved s"
  else
    echo unchanged
  fi
}

# Prints the lines in which two host states differ, joined by "; ".
host_changes() {
  diff <(echo "$1") <(echo "$2") | sed -n 's/^> //p' | tr '\n' ';' |
    sed 's/;$//; s/;/; /g'
}

prepare() {
  if [ ! -x "$moat" ]; then
    echo "$moat not found; build moat first"
    return 1
  fi
  clock_reference=$(clock_offset)
  mkdir -p "$root/bin" "$root/tmp" "$root/proc" "$root/dev" "$work/native" \
    "$work/logs"
  rm -rf "$root"/tmp/* "$work"/logs/*
  build_programs || return 1
  cp /bin/busybox "$root/bin/busybox" 2>/dev/null &&
    ln -sf busybox "$root/bin/sh" && ln -sf busybox "$root/bin/true"
  printf 'MOAT-ESCAPE-SECRET:%s\n' "$(od -An -tx8 -N8 /dev/urandom | tr -d ' ')" \
    >"$secret"
  # A file in the sandbox's root that only root may read (stub hostfd).
  printf 'MOAT-ROOT-ONLY:%s\n' "$(od -An -tx8 -N8 /dev/urandom | tr -d ' ')" \
    >"$root/root-only"
  chmod 600 "$root/root-only"
  # A copy of the stub program that only root may read (stub hostfd xonly).
  cp -f "$root/bin/stub" "$root/bin/stub-xonly" &&
    chmod 711 "$root/bin/stub-xonly"
  echo original >"$work/stdin-file"
  make_links
  make_evil_root
  host_dev=$(mountpoint -d / 2>/dev/null)
  start_decoy
}

cleanup() {
  kill -KILL "$decoy" 2>/dev/null
  wait "$decoy" 2>/dev/null
}

finish() {
  echo "$passed passed, $failed failed, $skipped skipped"
  [ "$failed" -eq 0 ]
  exit
}

# The environment every run gets, natively or (with --env) inside.
case_env() {
  echo "ESCAPE_SECRET=$secret"
  echo "ESCAPE_DECOY=$decoy"
  echo "ESCAPE_DEV=$host_dev"
  echo "ESCAPE_ROOT=$1"
}

print_output() {
  [ -s "$1" ] && sed 's/^/    /' "$1" | head -40
}

# run_native NAME NATIVE PROGRAM ARGS...: runs a fresh copy of the program
# on the host as root and sets native_note to what it did. Harmful cases
# (NATIVE=no) are not run. (Not run in a subshell: it may restart the
# decoy.)
run_native() {
  local name=$1 native=$2 program=$3
  shift 3
  if [ "$native" != yes ]; then
    native_note="native: not run, it would change this machine"
    return
  fi
  ensure_decoy
  cp -f "$root/bin/$program" "$work/native/$program"
  local log=$work/logs/$name.native before after status changes cwd=$root
  [ "$name" = runc_cwd_fd ] && cwd=$work
  # An attack may overwrite the native copy, as it would the real binary.
  before=$(host_state; echo "native copy $(md5sum <"$work/native/$program")")
  (
    cd "$cwd" || exit 1
    env $(case_env "$root") ESCAPE_NATIVE=1 timeout -k 5 "$timeout_s" \
      "$work/native/$program" "$@" <"$work/stdin-file" 5<"$secret" 7<"$work"
  ) >"$log" 2>&1
  status=$?
  after=$(host_state; echo "native copy $(md5sum <"$work/native/$program")")
  changes=$(host_changes "$before" "$after")
  echo original >"$work/stdin-file"
  ensure_decoy
  if [ "$status" -eq 10 ] || [ -n "$changes" ]; then
    native_note="native: escaped, as expected${changes:+; host changed: $changes}"
  elif [ "$status" -eq 0 ]; then
    native_note="native: contained"
  else
    native_note="native: exit $status"
  fi
}

# moat's command line for a case, up to and including "--".
moat_command() {
  local platform=$1 name=$2
  local log=$work/logs/$name.$platform.moat-log
  local kv env_args=()
  for kv in $(case_env ""); do env_args+=(--env "$kv"); done
  # shellcheck disable=SC2046
  echo $(moat_prefix "$name") "$moat" --log "$log" do --platform="$platform" \
    $(moat_options "$name") "${env_args[@]}" --
}

# The program's path inside the sandbox.
program_path() {
  if [ "$1" = proc_view_hostroot ]; then echo "$root/bin/$2"; else echo "/bin/$2"; fi
}

# Whether moat itself died of a kernel bug in this case.
moat_crashed() {
  grep -qs 'kernel bug' "$work/logs/$1.$2.moat-log"
}

# run_inside PLATFORM NAME KIND NATIVE_NOTE PROGRAM ARGS...
run_inside() {
  local platform=$1 name=$2 kind=$3 native_note=$4 program=$5
  shift 5
  ensure_decoy
  local log=$work/logs/$name.$platform before after status changes
  before=$(host_state)
  {
    timeout -k 5 "$timeout_s" $(moat_command "$platform" "$name") \
      "$(program_path "$name" "$program")" "$@" <"$work/stdin-file" \
      5<"$secret" 7<"$work" >"$log" 2>&1
    status=$?
  } 2>/dev/null
  after=$(host_state)
  changes=$(host_changes "$before" "$after")
  echo original >"$work/stdin-file"
  local ok=0 escaped=0 why
  if [ -n "$changes" ] || [ "$status" -eq 10 ] || grep -q '^ESCAPED' "$log"
  then
    escaped=1
    why="exit $status${changes:+; host changed: $changes}"
  elif moat_crashed "$name" "$platform"; then
    why="moat crashed: $(grep -m1 'kernel bug' \
      "$work/logs/$name.$platform.moat-log")"
  elif [ "$status" -eq 0 ]; then
    ok=1
    why=$native_note
    # moat exits 0 even when it rejects its options and runs nothing.
    local refused
    refused=$(grep -m1 'moat: error' "$work/logs/$name.$platform.moat-log")
    [ -z "$refused" ] || why="moat ran nothing: $refused; $why"
  elif [ "$kind" = raw ] && [ "$status" -gt 128 ] && [ "$status" -ne 137 ]
  then
    ok=1
    why="the program died of signal $((status - 128)); $native_note"
  elif [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
    why="timed out after ${timeout_s} s"
  else
    why="exit $status"
  fi
  verdict "$platform" "$name" "$ok" "$why" "$escaped"
  if [ "$ok" = 0 ] || [ "$kind" = raw ]; then print_output "$log"; fi
}

# Whether pid $1 runs (a zombie does not).
running() {
  local state
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) &&
    [ -n "$state" ] && [ "$state" != Z ]
}

# Every descendant of pid $1, as "pid starttime" lines.
descendants() {
  ps -e -o pid=,ppid= | awk -v top="$1" '
    { parent[$1] = $2 }
    END {
      for (p in parent) {
        for (q = parent[p]; q > 1; q = parent[q]) {
          if (q == top) { print p; break }
          if (!(q in parent)) break
        }
      }
    }' | while read -r p; do
      echo "$p $(awk '{print $22}' "/proc/$p/stat" 2>/dev/null)"
    done
}

# Runs a command and sets timed_ms to the milliseconds it took and
# timed_status to its exit status.
time_ms() {
  local t0 t1
  t0=$(date +%s%N)
  "$@" >/dev/null 2>&1 </dev/null
  timed_status=$?
  t1=$(date +%s%N)
  timed_ms=$(((t1 - t0) / 1000000))
}

# Times the host and a second sandbox while an attack runs; adds what is
# too slow to `problems` and sets host_ms and moat_ms.
measure_neighbours() {
  local name=$1
  time_ms timeout -k 1 10 /bin/sh -c 'ls / >/dev/null'
  host_ms=$timed_ms
  [ "$host_ms" -lt 2000 ] || problems+=("the host took $host_ms ms")
  time_ms timeout -k 1 10 "$moat" --log "$work/logs/$name.second" \
    do -- /bin/true
  moat_ms=$timed_ms
  [ "$timed_status" -eq 0 ] ||
    problems+=("a second moat exited $timed_status")
  [ "$moat_ms" -lt 2000 ] || problems+=("a second moat took $moat_ms ms")
}

# Sends SIGTERM to moat pid $1 and waits up to 5 s; then SIGKILL and up to
# 5 s more. Sets stop_ms and adds to `problems`. Run with stderr sent to
# /dev/null, which hides bash's notice of a killed job.
stop_moat() {
  local mpid=$1 t0 timer
  t0=$(date +%s%N)
  kill -TERM "$mpid"
  while running "$mpid" && [ $(($(date +%s%N) - t0)) -lt 5000000000 ]; do
    sleep 0.05
  done
  stop_ms=$((($(date +%s%N) - t0) / 1000000))
  running "$mpid" || return 0
  problems+=("moat still ran $stop_ms ms after SIGTERM")
  kill -KILL "$mpid"
  sleep 5 &
  timer=$!
  while running "$mpid" && running "$timer"; do sleep 0.05; done
  kill "$timer"
  wait "$timer"
  if running "$mpid"; then problems+=("moat survived SIGKILL"); fi
}

# Adds to `problems` what the attack's own output and moat's exit show, and
# sets `escaped` and `why` when the host changed.
judge_exhaust() {
  local platform=$1 name=$2 log=$3 status=$4 was_running=$5 changes=$6
  if [ -n "$changes" ] || grep -q '^ESCAPED' "$log"; then
    escaped=1
    why="$(grep -m1 '^ESCAPED' "$log")${changes:+ host changed: $changes}"
  elif moat_crashed "$name" "$platform"; then
    problems+=("moat crashed")
  elif grep -q '^UNLIMITED' "$log"; then
    problems+=("$(grep -m1 '^UNLIMITED' "$log")")
  elif [ "$was_running" = 0 ] && [ "$status" -ne 0 ]; then
    problems+=("moat exited $status: $(head -1 "$log")")
  fi
}

# run_exhaust PLATFORM NAME PROGRAM ARGS...
run_exhaust() {
  local platform=$1 name=$2 program=$3
  shift 3
  ensure_decoy
  local log=$work/logs/$name.$platform before after problems=()
  local was_running=0 tree='' rss='' stop_ms='' host_ms moat_ms status
  before=$(host_state)
  $(moat_command "$platform" "$name") "/bin/$program" "$@" </dev/null \
    >"$log" 2>&1 &
  local mpid=$!
  sleep 2

  if running "$mpid"; then
    was_running=1
    tree=$(descendants "$mpid")
    rss=$(awk '/^RssAnon/ {print int($2 / 1024)}' "/proc/$mpid/status")
    [ "${rss:-0}" -lt 512 ] ||
      problems+=("moat's own memory grew to $rss MiB")
  fi
  if [ "$was_running" = 1 ] && [ -n "$(moat_prefix "$name")" ]; then
    local outside
    outside=$(threads_off_cpu0 "$mpid" "$tree")
    [ -z "$outside" ] ||
      problems+=("threads that may run off CPU 0: $outside")
  fi
  measure_neighbours "$name"
  if [ "$was_running" = 1 ]; then stop_moat "$mpid" 2>/dev/null; fi
  wait "$mpid" 2>/dev/null
  status=$?
  kill_leftovers "$tree"
  after=$(host_state)

  local escaped=0 why=''
  judge_exhaust "$platform" "$name" "$log" "$status" "$was_running" \
    "$(host_changes "$before" "$after")"
  if [ "$escaped" = 1 ]; then
    verdict "$platform" "$name" 0 "$why" 1
    print_output "$log"
  elif [ "${#problems[@]}" -gt 0 ]; then
    verdict "$platform" "$name" 0 "$(IFS=';'; echo "${problems[*]}")" 0
    print_output "$log"
  else
    why="host $host_ms ms, second moat $moat_ms ms"
    [ -z "$rss" ] || why+=", moat RssAnon $rss MiB"
    [ -z "$stop_ms" ] || why+=", stopped $stop_ms ms after SIGTERM"
    [ "$was_running" = 1 ] || why+=", ended by itself"
    verdict "$platform" "$name" 1 "$why" 0
  fi
}

# Prints the threads of moat ($1) and of the processes in $2 ("pid start"
# lines) whose CPU mask is not CPU 0 alone, sampled ten times over a
# second, as "pid/tid:mask" words.
threads_off_cpu0() {
  local top=$1 tree=$2 round pid task mask found=''
  for round in $(seq 10); do
    for pid in $top $(echo "$tree" | awk '{print $1}'); do
      for task in /proc/"$pid"/task/*; do
        mask=$(awk '/^Cpus_allowed_list/ {print $2}' "$task/status" 2>/dev/null)
        [ -z "$mask" ] || [ "$mask" = 0 ] ||
          found+=" $pid/${task##*/}:$mask"
      done
    done
    [ -z "$found" ] || break
    sleep 0.1
  done
  echo "${found# }"
}

# Kills (by pid) the processes of an attacked sandbox still alive 2 s after
# its moat ended (the host kills stubs when their tracer dies, but not at
# once), and reports them as a problem of the case.
kill_leftovers() {
  local pid start now left=0 tries
  while read -r pid start; do
    [ -n "$pid" ] || continue
    for tries in $(seq 20); do
      now=$(awk '{print $22}' "/proc/$pid/stat" 2>/dev/null)
      { [ "$now" = "$start" ] && running "$pid"; } || break
      sleep 0.1
    done
    if [ "$now" = "$start" ] && running "$pid"; then
      echo "    left behind: $(ps -o pid=,stat=,wchan=,cmd= -p "$pid")"
      kill -KILL "$pid" 2>/dev/null
      left=$((left + 1))
    fi
  done <<<"$1"
  [ "$left" -eq 0 ] || problems+=("$left processes outlived moat")
}
