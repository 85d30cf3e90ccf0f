# Kubernetes' CRI, sourced by tests/oci/run: containerd with its CRI
# plugin enabled and moat as the runtime handler "moat", as
# docs/KUBERNETES.md installs it on a node, driven as the kubelet drives
# it: through the CRI's gRPC service (runtime.v1), with cri_client.py in
# place of crictl, which Debian does not package. Everything containerd
# keeps (root, state, sockets, CNI config, pod logs) is under $tmp/cri.
#
# Uses from run: $tmp, $tree, $moat, $here, check, pass, fail, skip, and
# cri_containerd_pid, which run's cleanup kills.

# The CNI plugin for the pod-network case, for this test only. It gives the
# pod's network namespace an eth0 with a fixed address (one end of a veth
# pair whose other end stays there too). It also brings up lo for the
# "loopback" network that containerd adds. It touches nothing outside that
# namespace, and its result is in CNI 0.4.0's format.
cri_cni_plugin() {
  cat <<'SH'
#!/bin/sh
in_ns() { nsenter --net="$CNI_NETNS" "$@"; }
case $CNI_COMMAND in
ADD)
  if [ "$CNI_IFNAME" = lo ]; then
    in_ns ip link set lo up || exit 1
    echo '{"cniVersion":"0.4.0","interfaces":[{"name":"lo"}],"ips":[]}'
    exit
  fi
  in_ns ip link add "$CNI_IFNAME" type veth peer name moat-peer &&
    in_ns ip addr add 10.123.0.2/24 dev "$CNI_IFNAME" &&
    in_ns ip link set "$CNI_IFNAME" up || exit 1
  printf '{"cniVersion":"0.4.0","interfaces":[{"name":"%s","sandbox":"%s"}],' \
    "$CNI_IFNAME" "$CNI_NETNS"
  echo '"ips":[{"version":"4","address":"10.123.0.2/24","interface":0}]}'
  ;;
VERSION)
  echo '{"cniVersion":"0.4.0","supportedVersions":["0.3.1","0.4.0"]}' ;;
esac
SH
}

# cri_config DIR: containerd's config, with the fragment of
# docs/KUBERNETES.md (runtimes.moat) beside the default runc handler.
cri_config() {
  local dir=$1
  cat <<CONF
version = 2
root = "$dir/root"
state = "$dir/state"
[grpc]
  address = "$dir/containerd.sock"
[ttrpc]
  address = "$dir/containerd.sock.ttrpc"
[debug]
  address = "$dir/debug.sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "$dir/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "localhost/moat-pause:test"
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$dir/cni/bin"
    conf_dir = "$dir/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.moat]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.moat.options]
        BinaryName = "$moat"
        Root = "$dir/moat"
CONF
}

# cri_start DIR: starts containerd and waits until it responds.
cri_start() {
  local dir=$1
  containerd --config "$dir/config.toml" >"$dir/containerd.log" 2>&1 &
  cri_containerd_pid=$!
  for _ in $(seq 100); do
    ctr --address "$dir/containerd.sock" version >/dev/null 2>&1 && return
    sleep 0.1
  done
  return 1
}

# cri_images DIR: the test's busybox image and a pause image in
# containerd's k8s.io namespace, where the CRI plugin looks for images.
# Like the real pause image, which is one static program, the pause image
# here holds only the static busybox, with no /etc, /proc or /dev for the
# mounts that CRI adds.
cri_images() {
  local dir=$1
  mkdir -p "$dir/pause"
  cp /bin/busybox "$dir/pause/busybox"
  tar -C "$dir/pause" -cf "$dir/pause.tar" busybox &&
    podman import \
      --change 'ENTRYPOINT ["/busybox", "sleep", "2147483647"]' \
      "$dir/pause.tar" localhost/moat-pause:test >/dev/null 2>&1 &&
    podman save -o "$dir/pause-image.tar" localhost/moat-pause:test \
      >/dev/null 2>&1 &&
    podman save -o "$dir/image.tar" "$image" >/dev/null 2>&1 &&
    K image import "$dir/pause-image.tar" >/dev/null 2>&1 &&
    K image import "$dir/image.tar" >/dev/null 2>&1
}

# cri_json FILE KEY=JSON...: writes a JSON object of the given members.
cri_json() {
  local file=$1
  shift
  /usr/bin/python3 - "$file" "$@" <<'PY'
import json, sys
out = {}
for arg in sys.argv[2:]:
    k, v = arg.split("=", 1)
    out[k] = json.loads(v)
json.dump(out, open(sys.argv[1], "w"))
PY
}

# cri_field JSON KEY: one member of a JSON object, as text.
cri_field() {
  /usr/bin/python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' \
    "$1" "$2" 2>/dev/null
}

cri_tests() {
  local dir=$tmp/cri py=/usr/bin/python3
  if ! "$py" -c 'import grpc' 2>/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-grpcio \
      >/dev/null 2>&1
  fi
  if ! "$py" -c 'import grpc' 2>/dev/null; then
    skip cri "python3-grpcio could not be installed for $py"
    return
  fi
  mkdir -p "$dir/cni/bin" "$dir/cni/net.d" "$dir/logs" "$dir/volume"
  cri_config "$dir" >"$dir/config.toml"
  if ! cri_start "$dir"; then
    fail "cri: containerd starts" "$(tail -3 "$dir/containerd.log")"
    return
  fi
  K() { timeout -s KILL 60 ctr --address "$dir/containerd.sock" -n k8s.io "$@"; }
  CRI() { timeout -s KILL 150 "$py" "$here/cri_client.py" "$dir/containerd.sock" "$@"; }

  # containerd's own view: the plugin is up and its config has moat.
  local out
  out=$(K plugins ls 2>&1 | awk '$2 == "cri" { print $4 }')
  check "cri: ctr plugins ls shows the cri plugin ok" ok "$out"
  out=$(containerd --config "$dir/config.toml" config dump 2>/dev/null |
    /usr/bin/python3 -c 'import sys, tomllib
moat = tomllib.load(sys.stdin.buffer)["plugins"]["io.containerd.grpc.v1.cri"][
    "containerd"]["runtimes"]["moat"]
print(moat["runtime_type"], moat["options"]["BinaryName"])' 2>&1)
  check "cri: containerd's config dump names moat" \
    "io.containerd.runc.v2 $moat" "$out"
  cri_images "$dir"
  check "cri: images imported into k8s.io" 0 $?
  out=$(CRI version 2>&1)
  case $out in "containerd 1."*" v1") pass "cri: Version over the CRI socket" ;;
    *) fail "cri: Version over the CRI socket" "$out" ;; esac
  cri_pod_tests "$dir"
  cri_cni_tests "$dir"

  kill "$cri_containerd_pid"
  wait "$cri_containerd_pid" 2>/dev/null
  cri_containerd_pid=
}

# cri_wait_log FILE TEXT: waits up to 10 s for a CRI log line ending in TEXT.
cri_wait_log() {
  for _ in $(seq 100); do
    grep -q " $2\$" "$1" 2>/dev/null && return
    sleep 0.1
  done
  return 1
}

# A pod as the kubelet makes one for a Deployment with two containers and an
# emptyDir: a host-network pod (no CNI), a server on the pod's loopback and
# a client of it, both with the volume at /vol.
cri_pod_tests() {
  local dir=$1 out pod server client pid
  cri_json "$dir/pod.json" name='"web"' uid='"uid-web"' \
    namespace='"default"' hostname='"web"' \
    log_directory="\"$dir/logs\"" network='"NODE"'
  local vol="[{\"container_path\": \"/vol\", \"host_path\": \"$dir/volume\"}]"
  cri_json "$dir/server.json" name='"server"' image="\"$image\"" \
    command='["sh", "-c", "cut -d\" \" -f3 /proc/version >/vol/kernel; while :; do nc -l -p 8080 </vol/kernel; done"]' \
    mounts="$vol" log_path='"server.log"' seccomp='"RuntimeDefault"'
  cri_json "$dir/client.json" name='"client"' image="\"$image\"" \
    command='["sh", "-c", "until nc 127.0.0.1 8080 </dev/null; do sleep 0.2; done; exec sleep 1000"]' \
    mounts="$vol" log_path='"client.log"'

  pod=$(CRI runp "$dir/pod.json" moat 2>&1)
  case $pod in [0-9a-f]*[0-9a-f]) pass "cri: RunPodSandbox with handler moat" ;;
    *) fail "cri: RunPodSandbox with handler moat" "$pod"; return ;; esac
  out=$(CRI inspectp "$pod" 2>&1)
  check "cri: the sandbox is ready, with handler moat" SANDBOX_READY/moat \
    "$(cri_field "$out" state)/$(cri_field "$out" runtime_handler)"
  # The runc shim keeps moat's state under options.Root/NAMESPACE.
  out=$("$moat" --root "$dir/moat/k8s.io" state "$pod" 2>&1)
  check "cri: moat runs the sandbox container" running \
    "$(cri_field "$out" status)"

  server=$(CRI create "$pod" "$dir/server.json" "$dir/pod.json" 2>&1) &&
    CRI start "$server"
  check "cri: CreateContainer and StartContainer of the server" 0 $?
  client=$(CRI create "$pod" "$dir/client.json" "$dir/pod.json" 2>&1) &&
    CRI start "$client"
  check "cri: CreateContainer and StartContainer of the client" 0 $?

  out=$(CRI exec "$server" 10 cat /proc/version 2>&1)
  case $out in "Linux version 6.1.0-moat "*) pass "cri: ExecSync sees moat's kernel" ;;
    *) fail "cri: ExecSync sees moat's kernel" "$out" ;; esac
  out=$(CRI exec "$server" 10 busybox grep ^Seccomp: /proc/self/status 2>&1)
  check "cri: RuntimeDefault seccomp applies" "Seccomp: 2" \
    "$(echo "$out" | tr -s '\t' ' ')"
  out=$(CRI exec "$server" 10 sh -c 'echo to-stdout; echo to-stderr >&2; exit 4' 2>&1)
  local status=$?
  check "cri: ExecSync's output and exit status" "to-stdout;to-stderr;4" \
    "$(echo "$out" | tr '\n' ';')$status"
  cri_wait_log "$dir/logs/client.log" 6.1.0-moat
  check "cri: the client reached the server on the pod's loopback" 0 $?
  out=$(cat "$dir/volume/kernel" 2>&1)/$(CRI exec "$client" 10 cat /vol/kernel 2>&1)
  check "cri: the volume is the host directory, shared" 6.1.0-moat/6.1.0-moat "$out"
  out=$(CRI ps "$pod" 2>&1 | awk '{ print $2 ":" $3 }' | sort | tr '\n' ' ')
  check "cri: ListContainers" \
    "client:CONTAINER_RUNNING server:CONTAINER_RUNNING " "$out"
  # The pid containerd reports for a container is the host process moat
  # left for it (its monitor), not a process of the program's own.
  pid=$(cri_field "$(CRI inspect "$client" 2>&1)" pid)
  out=$(readlink "/proc/${pid:-0}/exe" 2>&1)
  check "cri: the container's host process is moat" "$moat" "$out"

  # A container whose program ends on its own, as a Job's does: the
  # kubelet reads its exit code from ContainerStatus. The kubelet also
  # binds a file of its own onto /dev/termination-log. Its root is
  # read-only (readOnlyRootFilesystem), and lacks the files CRI binds.
  touch "$dir/termination-log"
  cri_json "$dir/job.json" name='"job"' image="\"$image\"" \
    command='["sh", "-c", "touch /x 2>/dev/null || echo root-read-only; exit 3"]' \
    log_path='"job.log"' \
    readonly_rootfs=true \
    mounts="[{\"container_path\": \"/dev/termination-log\", \"host_path\": \"$dir/termination-log\"}]"
  local job
  job=$(CRI create "$pod" "$dir/job.json" "$dir/pod.json" 2>&1) &&
    CRI start "$job"
  for _ in $(seq 100); do
    out=$(CRI inspect "$job" 2>&1)
    [ "$(cri_field "$out" state)" = CONTAINER_EXITED ] && break
    sleep 0.1
  done
  check "cri: a read-only container exits with its code" \
    CONTAINER_EXITED/3/root-read-only \
    "$(cri_field "$out" state)/$(cri_field "$out" exit_code)/$(awk '{ print $4 }' "$dir/logs/job.log" 2>&1)"
  CRI rm "$job"

  CRI stop "$client" 2 && out=$(CRI inspect "$client" 2>&1)
  check "cri: StopContainer" CONTAINER_EXITED "$(cri_field "$out" state)"
  CRI rm "$client" && CRI stop "$server" 2 && CRI rm "$server"
  check "cri: RemoveContainer" 0 $?
  CRI stopp "$pod" && CRI rmp "$pod"
  check "cri: StopPodSandbox and RemovePodSandbox" 0 $?
  out=$(CRI ps 2>&1)/$("$moat" --root "$dir/moat/k8s.io" list --quiet 2>&1)
  check "cri: no containers left, in containerd or moat" / "$out"
}

# A pod on a CNI network, the kubelet's default: containerd makes a network
# namespace, CNI gives it eth0 and the pod its IP, and the spec names that
# namespace. moat's kernel keeps a network of its own with loopback only,
# so the pod's IP is not reachable from inside (docs/KUBERNETES.md).
cri_cni_tests() {
  local dir=$1 out pod app
  cri_cni_plugin >"$dir/cni/bin/moat-test-net"
  chmod +x "$dir/cni/bin/moat-test-net"
  ln -s moat-test-net "$dir/cni/bin/loopback"
  echo '{"cniVersion": "0.4.0", "name": "moat-test", "type": "moat-test-net"}' \
    >"$dir/cni/net.d/10-moat-test.conf"

  # containerd notices the new CNI config on its own.
  for _ in $(seq 50); do
    CRI status 2>/dev/null | grep -q '^NetworkReady True' && break
    sleep 0.1
  done
  cri_json "$dir/pod-net.json" name='"net"' uid='"uid-net"' \
    namespace='"default"' hostname='"net"' \
    log_directory="\"$dir/logs\"" network='"POD"'
  cri_json "$dir/app.json" name='"app"' image="\"$image\"" \
    command='["sleep", "1000"]' log_path='"app.log"'

  pod=$(CRI runp "$dir/pod-net.json" moat 2>&1)
  case $pod in [0-9a-f]*[0-9a-f]) pass "cri: RunPodSandbox on a CNI network" ;;
    *) fail "cri: RunPodSandbox on a CNI network" "$pod"; return ;; esac
  out=$(CRI inspectp "$pod" 2>&1)
  check "cri: CNI gave the pod an IP" 10.123.0.2 "$(cri_field "$out" ip)"
  app=$(CRI create "$pod" "$dir/app.json" "$dir/pod-net.json" 2>&1) &&
    CRI start "$app"
  check "cri: a container of the CNI pod starts" 0 $?

  out=$(CRI exec "$app" 10 sh -c 'nc 10.123.0.2 80 </dev/null 2>&1; echo $?' 2>&1)
  check "cri: the pod's IP is not in moat's network" \
    "nc: can't connect to remote host (10.123.0.2): Network is unreachable;1;" \
    "$(echo "$out" | tr '\n' ';')"
  CRI stopp "$pod" && CRI rmp "$pod"
  check "cri: the CNI pod is removed" 0 $?
}

# Called by run's cleanup: whatever a failed case left. The runc shims
# outlive containerd, so they are found by the socket address they were
# given, which is this test's own, and ended by pid.
cri_cleanup() {
  local dir=$tmp/cri pid id
  [ -d "$dir" ] || return 0
  [ -n "$cri_containerd_pid" ] && kill "$cri_containerd_pid" 2>/dev/null
  for id in $("$moat" --root "$dir/moat/k8s.io" list --quiet 2>/dev/null); do
    "$moat" --root "$dir/moat/k8s.io" delete --force "$id"
  done
  for pid in $(pgrep -f -- "-address $dir/containerd.sock" 2>/dev/null); do
    kill "$pid" 2>/dev/null
  done
}
