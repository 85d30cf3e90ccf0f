#!/usr/bin/python3
"""A small CRI client for tests/oci/cri.sh, in place of crictl.

It speaks gRPC to a CRI server (containerd's socket) with grpcio's
generic calls, and encodes and decodes the few runtime.v1 messages it
needs with the protobuf wire format written out below: each field is a
key (field number << 3 | wire type) followed by a varint (type 0) or a
length and bytes (type 2, for strings, bytes, nested messages and map
entries). Field numbers follow the CRI's api.proto (package runtime.v1).

Usage: cri_client.py SOCKET COMMAND ARGS...
  version                       runtime name, version and API version
  status                        the runtime's conditions, one a line
  runp POD.json HANDLER         runs a pod sandbox, prints its id
  inspectp POD_ID               the sandbox's state and IP as JSON
  create POD_ID CTR.json POD.json   creates a container, prints its id
  start ID | stop ID SECONDS | rm ID | stopp POD_ID | rmp POD_ID
  inspect ID                    the container's status (and info) as JSON
  ps [POD_ID]                   "ID NAME STATE" for each container
  exec ID TIMEOUT CMD...        runs CMD, prints its output, exits with its
                                status

POD.json: {"name", "uid", "namespace", "hostname", "log_directory",
"network": "POD"|"NODE", "labels": {}, "annotations": {}}. CTR.json:
{"name", "image", "command": [], "args": [], "working_dir", "envs": {},
"mounts": [{"container_path", "host_path", "readonly"}], "log_path",
"labels": {}, "annotations": {}, "seccomp": "RuntimeDefault",
"readonly_rootfs": true}.
"""

import json
import sys

import grpc

SERVICE = "/runtime.v1.RuntimeService/"
NAMESPACE_MODES = {"POD": 0, "CONTAINER": 1, "NODE": 2}
CONTAINER_STATES = ["CONTAINER_CREATED", "CONTAINER_RUNNING",
                    "CONTAINER_EXITED", "CONTAINER_UNKNOWN"]
SANDBOX_STATES = ["SANDBOX_READY", "SANDBOX_NOTREADY"]


# --- the wire format ---

def varint(n):
    """Base-128 varint, low group first; negatives as 64-bit two's
    complement, as protobuf does for int32 and int64."""
    if n < 0:
        n += 1 << 64
    out = bytearray()
    while True:
        low = n & 0x7F
        n >>= 7
        if n:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def key(number, wire_type):
    return varint(number << 3 | wire_type)


def int_field(number, value):
    """A varint field (int32, int64, uint32, bool, enum); proto3 leaves
    out zero values."""
    value = int(value)
    return key(number, 0) + varint(value) if value else b""


def bytes_field(number, data):
    """A length-delimited field: string, bytes or a nested message."""
    if isinstance(data, str):
        data = data.encode()
    return key(number, 2) + varint(len(data)) + data


def str_field(number, text):
    return bytes_field(number, text) if text else b""


def strs_field(number, texts):
    return b"".join(bytes_field(number, t) for t in texts)


def map_field(number, mapping):
    """A map<string, string>: one entry message (key 1, value 2) each."""
    return b"".join(
        bytes_field(number, str_field(1, k) + str_field(2, v))
        for k, v in sorted(mapping.items()))


def read_varint(data, pos):
    shift = value = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated varint")
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return value, pos


def decode(data):
    """{field number: [values]}: ints for varints, bytes for
    length-delimited fields. Fixed 32- and 64-bit fields are skipped: no
    message read here has them."""
    fields = {}
    pos = 0
    while pos < len(data):
        k, pos = read_varint(data, pos)
        number, wire_type = k >> 3, k & 7
        if wire_type == 0:
            value, pos = read_varint(data, pos)
        elif wire_type == 2:
            length, pos = read_varint(data, pos)
            value = data[pos:pos + length]
            pos += length
        elif wire_type == 1:
            pos += 8
            continue
        elif wire_type == 5:
            pos += 4
            continue
        else:
            raise ValueError(f"wire type {wire_type} of field {number}")
        fields.setdefault(number, []).append(value)
    return fields


def first(fields, number, default=None):
    values = fields.get(number)
    return values[0] if values else default


def text(fields, number):
    return first(fields, number, b"").decode()


def signed(value):
    return value - (1 << 64) if value >= 1 << 63 else value


def decode_map(entries):
    out = {}
    for entry in entries:
        fields = decode(entry)
        out[text(fields, 1)] = text(fields, 2)
    return out


# --- runtime.v1 messages ---

def namespace_options(network):
    # NamespaceOption: network 1, pid 2, ipc 3. The kubelet requests a pid
    # namespace per container (CONTAINER) for v1 pods.
    return (int_field(1, NAMESPACE_MODES[network]) +
            int_field(2, NAMESPACE_MODES["CONTAINER"]))


def pod_config(pod):
    # PodSandboxMetadata: name 1, uid 2, namespace 3, attempt 4.
    metadata = (str_field(1, pod["name"]) + str_field(2, pod["uid"]) +
                str_field(3, pod.get("namespace", "default")))
    # LinuxPodSandboxConfig: cgroup_parent 1, security_context 2, in which
    # namespace_options is field 1.
    linux = bytes_field(2, bytes_field(1, namespace_options(
        pod.get("network", "POD"))))
    # PodSandboxConfig: metadata 1, hostname 2, log_directory 3, labels 6,
    # annotations 7, linux 8.
    return (bytes_field(1, metadata) + str_field(2, pod.get("hostname", "")) +
            str_field(3, pod.get("log_directory", "")) +
            map_field(6, pod.get("labels", {})) +
            map_field(7, pod.get("annotations", {})) + bytes_field(8, linux))


def container_config(ctr, pod):
    mounts = b"".join(
        # Mount: container_path 1, host_path 2, readonly 3.
        bytes_field(7, str_field(1, m["container_path"]) +
                    str_field(2, m["host_path"]) +
                    int_field(3, m.get("readonly", False)))
        for m in ctr.get("mounts", []))
    envs = b"".join(
        # KeyValue: key 1, value 2.
        bytes_field(6, str_field(1, k) + str_field(2, v))
        for k, v in sorted(ctr.get("envs", {}).items()))

    # LinuxContainerConfig: security_context 2, in which namespace_options
    # is field 3, readonly_rootfs field 7 and seccomp field 15
    # (SecurityProfile: profile_type 1, whose RuntimeDefault is 0, so an
    # empty message requests containerd's default profile).
    security = bytes_field(3, namespace_options(pod.get("network", "POD")))
    security += int_field(7, ctr.get("readonly_rootfs", False))
    if ctr.get("seccomp") == "RuntimeDefault":
        security += bytes_field(15, b"")
    linux = bytes_field(2, security)

    # ContainerConfig: metadata 1 (name 1), image 2 (ImageSpec: image 1),
    # command 3, args 4, working_dir 5, envs 6, mounts 7, labels 9,
    # annotations 10, log_path 11, linux 15.
    return (bytes_field(1, str_field(1, ctr["name"])) +
            bytes_field(2, str_field(1, ctr["image"])) +
            strs_field(3, ctr.get("command", [])) +
            strs_field(4, ctr.get("args", [])) +
            str_field(5, ctr.get("working_dir", "")) + envs + mounts +
            map_field(9, ctr.get("labels", {})) +
            map_field(10, ctr.get("annotations", {})) +
            str_field(11, ctr.get("log_path", "")) + bytes_field(15, linux))


def container_status(fields):
    # ContainerStatus: id 1, metadata 2, state 3, created_at 4, started_at
    # 5, finished_at 6, exit_code 7, image 8, image_ref 9, reason 10,
    # message 11, log_path 15.
    return {
        "id": text(fields, 1),
        "name": text(decode(first(fields, 2, b"")), 1),
        "state": CONTAINER_STATES[first(fields, 3, 0)],
        "started": first(fields, 5, 0) != 0,
        "finished": first(fields, 6, 0) != 0,
        "exit_code": signed(first(fields, 7, 0)),
        "image": text(decode(first(fields, 8, b"")), 1),
        "reason": text(fields, 10),
        "message": text(fields, 11),
        "log_path": text(fields, 15),
    }


class Client:
    def __init__(self, socket_path):
        self.channel = grpc.insecure_channel("unix:" + socket_path)

    def call(self, method, request, timeout=60):
        # With no serializers, grpcio sends and returns raw bytes.
        rpc = self.channel.unary_unary(SERVICE + method)
        return decode(rpc(request, timeout=timeout))

    def version(self):
        # VersionResponse: version 1, runtime_name 2, runtime_version 3,
        # runtime_api_version 4.
        reply = self.call("Version", str_field(1, "v1"))
        print(text(reply, 2), text(reply, 3), text(reply, 4))

    def status(self):
        # StatusResponse: status 1 (RuntimeStatus: conditions 1, each
        # RuntimeCondition: type 1, status 2, reason 3, message 4).
        reply = self.call("Status", b"")
        for entry in decode(first(reply, 1, b"")).get(1, []):
            cond = decode(entry)
            print(text(cond, 1), bool(first(cond, 2, 0)), text(cond, 3),
                  text(cond, 4))

    def runp(self, pod, handler):
        # RunPodSandboxRequest: config 1, runtime_handler 2.
        reply = self.call("RunPodSandbox", bytes_field(1, pod_config(pod)) +
                          str_field(2, handler), timeout=120)
        print(text(reply, 1))

    def inspectp(self, pod_id):
        # PodSandboxStatusRequest: pod_sandbox_id 1. PodSandboxStatus: id 1,
        # state 3, network 5 (ip 1), runtime_handler 9.
        reply = self.call("PodSandboxStatus", str_field(1, pod_id))
        status = decode(first(reply, 1, b""))
        network = decode(first(status, 5, b""))
        print(json.dumps({"id": text(status, 1),
                          "state": SANDBOX_STATES[first(status, 3, 0)],
                          "ip": text(network, 1),
                          "runtime_handler": text(status, 9)}))

    def create(self, pod_id, ctr, pod):
        # CreateContainerRequest: pod_sandbox_id 1, config 2,
        # sandbox_config 3.
        reply = self.call("CreateContainer", str_field(1, pod_id) +
                          bytes_field(2, container_config(ctr, pod)) +
                          bytes_field(3, pod_config(pod)))
        print(text(reply, 1))

    def inspect(self, ctr_id):
        # ContainerStatusRequest: container_id 1, verbose 2. The response's
        # info (field 2, a map) contains containerd's JSON, with the pid.
        reply = self.call("ContainerStatus", str_field(1, ctr_id) +
                          int_field(2, True))
        out = container_status(decode(first(reply, 1, b"")))
        info = decode_map(reply.get(2, []))
        if "info" in info:
            out["pid"] = json.loads(info["info"]).get("pid", 0)
        print(json.dumps(out))

    def ps(self, pod_id=""):
        # ListContainersRequest: filter 1 (ContainerFilter: pod_sandbox_id
        # 3). Container: id 1, metadata 3, state 6.
        request = bytes_field(1, str_field(3, pod_id)) if pod_id else b""
        for entry in self.call("ListContainers", request).get(1, []):
            item = decode(entry)
            print(text(item, 1), text(decode(first(item, 3, b"")), 1),
                  CONTAINER_STATES[first(item, 6, 0)])

    def exec(self, ctr_id, timeout, cmd):
        # ExecSyncRequest: container_id 1, cmd 2, timeout 3.
        # ExecSyncResponse: stdout 1, stderr 2, exit_code 3.
        reply = self.call("ExecSync", str_field(1, ctr_id) +
                          strs_field(2, cmd) + int_field(3, timeout),
                          timeout=timeout + 30)
        # Flushed in this order, so that a caller that merges the two
        # streams gets stdout first, every time.
        sys.stdout.buffer.write(first(reply, 1, b""))
        sys.stdout.buffer.flush()
        sys.stderr.buffer.write(first(reply, 2, b""))
        sys.stderr.buffer.flush()
        return signed(first(reply, 3, 0))

    def by_id(self, method, ctr_id, extra=b""):
        # Each of these requests has the id as field 1.
        self.call(method, str_field(1, ctr_id) + extra, timeout=120)


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    client = Client(argv[1])
    cmd, args = argv[2], argv[3:]
    load = lambda path: json.load(open(path))
    if cmd == "version":
        client.version()
    elif cmd == "status":
        client.status()
    elif cmd == "runp":
        client.runp(load(args[0]), args[1])
    elif cmd == "inspectp":
        client.inspectp(args[0])
    elif cmd == "create":
        client.create(args[0], load(args[1]), load(args[2]))
    elif cmd == "inspect":
        client.inspect(args[0])
    elif cmd == "ps":
        client.ps(*args)
    elif cmd == "exec":
        return client.exec(args[0], int(args[1]), args[2:])
    elif cmd == "stop":
        # StopContainerRequest: container_id 1, timeout 2.
        client.by_id("StopContainer", args[0], int_field(2, int(args[1])))
    elif cmd in ("start", "rm", "stopp", "rmp"):
        client.by_id({"start": "StartContainer", "rm": "RemoveContainer",
                      "stopp": "StopPodSandbox",
                      "rmp": "RemovePodSandbox"}[cmd], args[0])
    else:
        sys.exit(f"unknown command {cmd!r}\n{__doc__}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except grpc.RpcError as e:
        sys.exit(f"{sys.argv[2]}: {e.code().name}: {e.details()}")
