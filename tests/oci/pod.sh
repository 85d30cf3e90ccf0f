# Pods, sourced by tests/oci/run: a sandbox container and a second
# container that joins it through the annotations containerd's CRI sets,
# created with runc's commands as the CRI plugin would. The two share the
# sandbox's kernel, so its loopback network, and an emptyDir-like volume at
# /tmp, while each has its own root filesystem.
#
# Uses from run: $tmp, $tree, M, check, pass, fail.

# pod_bundle DIR NAME TYPE ARGS...: a bundle whose root contains NAME in
# /etc/which, with the pod's volume at /tmp and CRI's annotations.
pod_bundle() {
  local dir=$1 name=$2 type=$3
  shift 3
  mkdir -p "$dir"
  cp -a "$tree" "$dir/rootfs"
  echo "$name" >"$dir/rootfs/etc/which"
  ln -sf busybox "$dir/rootfs/bin/mkfifo"
  ln -sf busybox "$dir/rootfs/bin/nc"
  (cd "$dir" && M spec)
  python3 - "$dir/config.json" "$tmp/pod-volume" "$type" "$@" <<'PY'
import json, sys
path, volume, kind, args = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
c = json.load(open(path))
c["process"]["terminal"] = False
c["process"]["args"] = args
c["root"]["readonly"] = False
c["mounts"].append({"destination": "/tmp", "type": "bind", "source": volume,
                    "options": ["rbind", "rw"]})
c["annotations"] = {"io.kubernetes.cri.container-type": kind,
                    "io.kubernetes.cri.sandbox-id": "pod1"}
json.dump(c, open(path, "w"))
PY
}

pod_tests() {
  mkdir -p "$tmp/pod-volume"
  pod_bundle "$tmp/pod-sandbox" sandbox sandbox sleep 120
  # The app container serves one line on the pod's loopback and reports
  # what it got, after writing into the shared volume.
  pod_bundle "$tmp/pod-app" app container sh -c \
    'echo app-wrote >/tmp/from-app; nc -l -p 7000 >/tmp/got; cat /tmp/got'

  M create --bundle "$tmp/pod-sandbox" pod1 </dev/null >/dev/null 2>&1 &&
    M start pod1
  check "pod: the sandbox container starts" 0 $?
  M create --bundle "$tmp/pod-app" --pid-file "$tmp/app.pid" app1 \
    </dev/null >"$tmp/app.out" 2>&1
  check "pod: a container joins the sandbox" 0 $?
  local status
  status=$(M state app1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')
  check "pod: the joined container is created" created "$status"
  local monitor
  monitor=$(cat "$tmp/app.pid" 2>/dev/null)
  [ -n "$monitor" ] && kill -0 "$monitor" 2>/dev/null &&
    pass "pod: the pid file names a live host process" ||
    fail "pod: the pid file names a live host process" "pid [$monitor]"
  M start app1
  check "pod: the joined container starts" 0 $?

  # Each container has its own root.
  local out
  out=$(M exec pod1 cat /etc/which)/$(M exec app1 cat /etc/which)
  check "pod: each container has its own root" sandbox/app "$out"
  # The volume is one filesystem in the sandbox's kernel: a FIFO made in
  # one container carries data to the other.
  for _ in $(seq 50); do [ -e "$tmp/pod-volume/from-app" ] && break; sleep 0.1; done
  out=$(M exec pod1 cat /tmp/from-app)
  check "pod: the sandbox container reads what the app wrote" app-wrote "$out"
  M exec pod1 mkfifo /tmp/fifo
  M exec pod1 sh -c 'echo through-fifo >/tmp/fifo' &
  local writer=$!
  out=$(M exec app1 cat /tmp/fifo)
  wait "$writer"
  check "pod: a FIFO in the shared volume joins the two containers" \
    through-fifo "$out"
  # Loopback is the pod's: the sandbox container reaches the app's server.
  # The message comes from a file: busybox nc quits when the server's
  # shutdown reaches it, which with a pipe may come before the line does.
  M exec pod1 sh -c 'echo hello-over-loopback >/tmp/message'
  for _ in $(seq 100); do
    M exec pod1 sh -c 'nc 127.0.0.1 7000 </tmp/message' 2>/dev/null && break
    sleep 0.2
  done
  for _ in $(seq 200); do kill -0 "$monitor" 2>/dev/null || break; sleep 0.1; done
  out=$(cat "$tmp/app.out")
  check "pod: the containers share loopback" hello-over-loopback "$out"
  status=$(M state app1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')
  check "pod: the app container stops when its program exits" stopped "$status"
  status=$(M state pod1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')
  check "pod: the sandbox outlives the app container" running "$status"

  # A second app, killed through the runtime: its monitor exits.
  pod_bundle "$tmp/pod-app2" app2 container sleep 100
  M create --bundle "$tmp/pod-app2" --pid-file "$tmp/app2.pid" app2 \
    </dev/null >/dev/null 2>&1 && M start app2
  # ps and pause act on the one container's processes.
  out=$(M ps app2 | grep -c 'sleep 100')/$(M ps pod1 | grep -c 'sleep 100')
  check "pod: ps lists the named container's processes" 1/0 "$out"
  M pause app2
  status=$(M state app2 | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')
  out=$(M exec pod1 echo not-paused)
  check "pod: pause freezes only the named container" paused/not-paused \
    "$status/$out"
  M resume app2
  M kill app2 KILL
  check "pod: kill of a joined container" 0 $?
  monitor=$(cat "$tmp/app2.pid" 2>/dev/null)
  for _ in $(seq 50); do kill -0 "$monitor" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$monitor" 2>/dev/null && fail "pod: a killed container's monitor exits" "pid $monitor lives" ||
    pass "pod: a killed container's monitor exits"
  out=$(M exec pod1 echo still-here)
  check "pod: the sandbox survives a joined container's kill" still-here "$out"

  local err
  sed -i 's/"io.kubernetes.cri.sandbox-id": "pod1"/"io.kubernetes.cri.sandbox-id": "nopod"/' \
    "$tmp/pod-app2/config.json"
  err=$(M create --bundle "$tmp/pod-app2" app4 2>&1 </dev/null)
  case $err in *nopod*) pass "pod: a missing sandbox is named" ;;
    *) fail "pod: a missing sandbox is named" "$err" ;; esac
  M delete app1 && M delete --force app2 && M delete --force pod1
  check "pod: delete of the pod's containers" 0 $?
}
