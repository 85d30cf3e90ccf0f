# python3: subprocess (run, Popen with pipes, shell), threads (a lock, a
# condition variable, a thread pool), json round trips, and a fork.
set -eu
T=$(mktemp -d /tmp/moat-case.XXXXXX)
trap 'cd /; rm -rf "$T"' EXIT
cd "$T"

python3 - <<'EOF_PY'
import concurrent.futures
import hashlib
import json
import os
import subprocess
import sys
import threading

r = subprocess.run(["echo", "hello from echo"], capture_output=True, text=True)
print("run:", r.returncode, r.stdout.strip())
r = subprocess.run(["sh", "-c", "echo out; echo err >&2; exit 3"],
                   capture_output=True, text=True)
print("sh:", r.returncode, repr(r.stdout), repr(r.stderr))
p = subprocess.Popen(["sort", "-r"], stdin=subprocess.PIPE,
                     stdout=subprocess.PIPE, text=True)
out, _ = p.communicate("b\na\nc\n")
print("popen sort:", out.split(), "status", p.returncode)
print("check_output:", subprocess.check_output("seq 3 | paste -sd+",
                                               shell=True, text=True).strip())
try:
    subprocess.run(["false"], check=True)
except subprocess.CalledProcessError as e:
    print("CalledProcessError status", e.returncode)
try:
    subprocess.run(["sleep", "5"], timeout=0.2)
except subprocess.TimeoutExpired:
    print("TimeoutExpired raised")
big = subprocess.run(["head", "-c", "3000000", "/dev/zero"],
                     capture_output=True).stdout
print("big output bytes:", len(big))

counter = 0
lock = threading.Lock()
def bump(n):
    global counter
    for _ in range(n):
        with lock:
            counter += 1
threads = [threading.Thread(target=bump, args=(10000,)) for _ in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("locked counter:", counter)

cond = threading.Condition()
queue = []
def producer():
    for i in range(100):
        with cond:
            queue.append(i)
            cond.notify()
    with cond:
        queue.append(None)
        cond.notify()
consumed = []
def consumer():
    while True:
        with cond:
            while not queue:
                cond.wait()
            item = queue.pop(0)
        if item is None:
            return
        consumed.append(item)
tc = threading.Thread(target=consumer)
tp = threading.Thread(target=producer)
tc.start(); tp.start(); tp.join(); tc.join()
print("condition queue:", len(consumed), sum(consumed))

def digest(i):
    return hashlib.sha256(str(i).encode()).hexdigest()[:8]
with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
    digests = list(pool.map(digest, range(20)))
print("pool digests:", digests[0], digests[19], len(set(digests)))

doc = {"name": "moat", "ok": True, "nums": [1, 2.5, -3], "nested": {"z": None, "a": "\u00e9"}}
text = json.dumps(doc, sort_keys=True)
print("json:", text)
with open("doc.json", "w") as f:
    json.dump(doc, f, indent=2, sort_keys=True)
with open("doc.json") as f:
    back = json.load(f)
print("json round trip equal:", back == doc, os.path.getsize("doc.json"), "bytes")
print("json pretty:", json.dumps(back["nested"], indent=1, sort_keys=True, ensure_ascii=True))

rd, wr = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(rd)
    os.write(wr, b"from child")
    os._exit(7)
os.close(wr)
msg = os.read(rd, 100)
_, status = os.waitpid(pid, 0)
print("fork:", msg.decode(), "exit code", os.waitstatus_to_exitcode(status))
sys.stdout.flush()
sys.exit(0)
EOF_PY
echo "python exit $?"
