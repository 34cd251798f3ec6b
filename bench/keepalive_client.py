#!/usr/bin/env python3
"""Sends exactly N keep-alive GET requests over C connections (one in flight per
connection, like wrk), checks every response is 200, prints the count."""
import selectors, socket, sys, time

host, port = sys.argv[1].rsplit(":", 1)
port = int(port)
total = int(sys.argv[2])
conns = int(sys.argv[3]) if len(sys.argv) > 3 else 8
https = False
req = (b"GET / HTTP/1.1\r\nHost: " + sys.argv[1].encode() +
       b"\r\nUser-Agent: perf-client\r\nAccept: */*\r\n\r\n")

sel = selectors.DefaultSelector()
sent = 0
done = 0
state = {}

def send(s):
    global sent
    s.sendall(req)
    sent += 1

for _ in range(min(conns, total)):
    s = socket.create_connection((host, port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    state[s] = b""
    sel.register(s, selectors.EVENT_READ)
    send(s)

t0 = time.time()
while done < total:
    for key, _ in sel.select(timeout=30):
        s = key.fileobj
        data = s.recv(65536)
        if not data:
            sys.exit("connection closed after %d responses" % done)
        buf = state[s] + data
        while True:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                break
            head = buf[:end].decode("latin-1")
            if not head.startswith("HTTP/1.1 200"):
                sys.exit("bad response: " + head.splitlines()[0])
            cl = 0
            for line in head.split("\r\n")[1:]:
                k, _, v = line.partition(":")
                if k.lower() == "content-length":
                    cl = int(v)
            if len(buf) < end + 4 + cl:
                break
            buf = buf[end + 4 + cl:]
            done += 1
            if sent < total:
                send(s)
        state[s] = buf
for s in state:
    s.close()
print("responses %d in %.2fs" % (done, time.time() - t0))
