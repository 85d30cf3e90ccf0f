# python3 over the loopback network: http.server answering urllib, an
# asyncio echo over ::1, UDP between two sockets, and a refused connect.
set -eu

python3 - <<'EOF_PY'
import asyncio
import http.server
import socket
import socketserver
import threading
import urllib.request


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("ok " + self.path).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


server = socketserver.TCPServer(("127.0.0.1", 0), Handler)
thread = threading.Thread(target=server.serve_forever)
thread.start()
port = server.server_address[1]
for i in range(3):
    with urllib.request.urlopen("http://localhost:%d/page%d" % (port, i)) as r:
        print("http:", r.status, r.read().decode())
server.shutdown()
server.server_close()
thread.join()


async def echo():
    async def handle(reader, writer):
        writer.write((await reader.readline()).upper())
        await writer.drain()
        writer.close()

    srv = await asyncio.start_server(handle, "::1", 0)
    reader, writer = await asyncio.open_connection(
        "::1", srv.sockets[0].getsockname()[1])
    writer.write(b"hello over ipv6\n")
    await writer.drain()
    print("asyncio:", (await reader.readline()).decode().strip())
    writer.close()
    srv.close()
    await srv.wait_closed()

asyncio.run(echo())

a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
a.bind(("127.0.0.1", 0))
b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
b.sendto(b"datagram", a.getsockname())
data, source = a.recvfrom(100)
print("udp:", data.decode(), source[0], source[1] == b.getsockname()[1])

holder = socket.socket()
holder.bind(("127.0.0.1", 0))
try:
    socket.create_connection(holder.getsockname(), timeout=5)
except ConnectionRefusedError as e:
    print("refused:", e.errno)
EOF_PY
