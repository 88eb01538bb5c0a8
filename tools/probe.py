#!/usr/bin/env python3
"""Hostile-client probes against a chatd binary (docs/reliability.md), standard library only.

Starts the given binary on 127.0.0.1 with a fresh SQLite database, runs each probe with a
hand-written WebSocket client (so frames can be malformed on purpose), and prints one JSON
line per probe. Bounded in count and time; loopback only.

    python3 tools/probe.py target/release/chatd            # every probe
    python3 tools/probe.py target/release/chatd nagle close
"""

import base64
import hashlib
import hmac
import json
import os
import select
import signal
import socket
import sqlite3
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time

SECRET = b"chatd-development-secret-do-not-deploy"


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign(claims):
    head = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64url(json.dumps(claims).encode())
    mac = hmac.new(SECRET, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64url(mac)}"


def token(user_id):
    return sign({"user_id": user_id, "username": f"user{user_id}", "exp": int(time.time()) + 3600})


class Server:
    def __init__(self, binary, db=None):
        self.binary = binary
        self.db = db or tempfile.mktemp(prefix="chatd-probe-", suffix=".db")
        self.proc = None

    def start(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        # No drain period: nothing balances load here, and stop() waits for the exit.
        env = dict(os.environ, RUST_LOG="error", CHAT__SERVER__PORT=str(self.port),
                   CHAT__SERVER__WORKERS="2", CHAT__DATABASE__URL=f"sqlite://{self.db}?mode=rwc",
                   CHAT__SERVER__DRAIN_SECONDS="0")
        # Run outside any checkout, so no settings.toml but the compiled-in defaults applies.
        self.proc = subprocess.Popen([os.path.abspath(self.binary)], env=env, cwd=tempfile.gettempdir(),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("server did not start")

    def rss_kib(self, key="VmRSS"):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])

    def fds(self):
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def query(self, sql):
        with sqlite3.connect(self.db) as conn:
            return conn.execute(sql).fetchall()

    def kill9(self):
        """The database stays, for the restart."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self, keep_db=False):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        if not keep_db:
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(self.db + suffix):
                    os.remove(self.db + suffix)


class Ws:
    """A WebSocket client that sends whatever bytes it is told to."""

    def __init__(self, port, tok, timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        key = base64.b64encode(os.urandom(16)).decode()
        query = f"?token={tok}" if tok is not None else ""
        self.sock.sendall((f"GET /messaging/{query} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                           f"Upgrade: websocket\r\nConnection: Upgrade\r\n"
                           f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("closed during handshake")
            head += chunk
        head, self.buf = head.split(b"\r\n\r\n", 1)
        if not head.startswith(b"HTTP/1.1 101"):
            raise ConnectionError(head.split(b"\r\n")[0].decode())

    @staticmethod
    def frame(opcode, payload, fin=True, declared=None):
        length = len(payload) if declared is None else declared
        out = bytes([(0x80 if fin else 0) | opcode])
        if length < 126:
            out += bytes([0x80 | length])
        elif length < 1 << 16:
            out += bytes([0x80 | 126]) + struct.pack(">H", length)
        else:
            out += bytes([0x80 | 127]) + struct.pack(">Q", length)
        mask = os.urandom(4)
        return out + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))

    def send(self, opcode, payload, fin=True):
        self.sock.sendall(self.frame(opcode, payload, fin))

    def send_json(self, value):
        self.send(0x1, json.dumps(value).encode())

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv(self):
        """(opcode, payload) of the next frame."""
        b0, b1 = self._read(2)
        length = b1 & 0x7F
        if length == 126:
            length = struct.unpack(">H", self._read(2))[0]
        elif length == 127:
            length = struct.unpack(">Q", self._read(8))[0]
        return b0 & 0x0F, self._read(length)

    def recv_json(self):
        while True:
            opcode, payload = self.recv()
            if opcode == 0x1:
                return json.loads(payload)
            if opcode == 0x8:
                raise EOFError(close_code(payload))

    def close(self):
        self.sock.close()


def close_code(payload):
    return struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else None


def connect(server, user_id):
    ws = Ws(server.port, token(user_id))
    first = ws.recv_json()
    assert first["eventType"] == "chat.notifications", first
    return ws


def probe_oversized(server):
    """A text-frame header declaring 2^40 bytes, then payload as fast as the socket takes it."""
    ws = connect(server, 1)
    rss_before = server.rss_kib()
    ws.sock.sendall(Ws.frame(0x1, b"", declared=1 << 40))
    chunk, sent, cap, code = b"x" * 65536, 0, 256 << 20, None
    ws.sock.setblocking(False)
    started = time.time()
    while sent < cap and time.time() - started < 20:
        readable, writable, _ = select.select([ws.sock], [ws.sock], [], 1)
        if readable and code is None:
            try:
                data = ws.sock.recv(65536)
            except OSError:
                break
            if not data:
                break
            ws.buf += data
            if len(ws.buf) >= 4 and ws.buf[0] & 0x0F == 0x8:
                code = close_code(ws.buf[2:4])
        if writable:
            try:
                sent += ws.sock.send(chunk)
            except OSError:
                break
    elapsed = time.time() - started
    time.sleep(0.5)
    out = {"probe": "oversized header", "close_code": code, "bytes_accepted_by_kernel": sent,
           "seconds": round(elapsed, 2), "rss_before_kib": rss_before,
           "rss_after_kib": server.rss_kib(), "rss_peak_kib": server.rss_kib("VmHWM")}
    ws.close()
    return out


def probe_utf8(server):
    ws = connect(server, 1)
    ws.send(0x1, b'{"event_type": "\xff"}')
    try:
        while True:
            opcode, payload = ws.recv()
            if opcode == 0x8:
                return {"probe": "invalid UTF-8 text frame", "close_code": close_code(payload)}
            if opcode == 0x1:
                return {"probe": "invalid UTF-8 text frame", "reply": json.loads(payload)}
    finally:
        ws.close()


def probe_nagle(server, rounds=40):
    """Time to a `room.list` reply on its own, and right after an error reply to the same
    client (the error goes out at once; the list follows from the database a moment later)."""
    ws = connect(server, 1)
    listing = Ws.frame(0x1, b'{"event_type": "room.list", "data": {}}')
    alone, second = [], []
    for _ in range(rounds):
        t = time.perf_counter()
        ws.sock.sendall(listing)
        ws.recv_json()
        alone.append(time.perf_counter() - t)
        t = time.perf_counter()
        ws.sock.sendall(Ws.frame(0x1, b"{not json") + listing)
        ws.recv_json()
        ws.recv_json()
        second.append(time.perf_counter() - t)
    ws.close()
    ms = lambda xs: round(statistics.median(xs) * 1000, 2)
    return {"probe": "back-to-back replies", "median_ms_single_reply": ms(alone),
            "median_ms_second_of_two": ms(second), "rounds": rounds}


def probe_close(server, rounds=30):
    """From the client's close frame to the server closing TCP."""
    times = []
    for _ in range(rounds):
        ws = connect(server, 1)
        t = time.perf_counter()
        ws.send(0x8, struct.pack(">H", 1000))
        try:
            while True:
                ws.recv()
        except (EOFError, ConnectionResetError):
            pass
        times.append(time.perf_counter() - t)
        ws.close()
    return {"probe": "close handshake", "median_ms_to_tcp_close": round(statistics.median(times) * 1000, 1),
            "max_ms": round(max(times) * 1000, 1), "rounds": rounds}


def probe_churn(server, cycles=2000):
    """Connect/disconnect of every kind; afterwards no session rows and no extra descriptors."""
    time.sleep(0.5)
    fds_before = server.fds()
    kinds = ["clean close", "drop after first frame", "drop before reading", "no token",
             "drop mid-frame", "tcp only"]
    for i in range(cycles):
        kind = kinds[i % len(kinds)]
        try:
            if kind == "tcp only":
                socket.create_connection(("127.0.0.1", server.port)).close()
            elif kind == "no token":
                Ws(server.port, None).close()
            elif kind == "drop before reading":
                Ws(server.port, token(i % 50 + 1)).close()
            else:
                ws = connect(server, i % 50 + 1)
                if kind == "clean close":
                    ws.send(0x8, struct.pack(">H", 1000))
                    try:
                        while True:
                            ws.recv()
                    except (EOFError, OSError):
                        pass
                elif kind == "drop mid-frame":
                    ws.sock.sendall(Ws.frame(0x1, b'{"event_type": "session.heartbeat"}')[:9])
                ws.close()
        except (OSError, EOFError):
            pass
    deadline = time.time() + 10
    while time.time() < deadline:
        rows = server.query("select count(*) from sessions")[0][0]
        if rows == 0 and server.fds() <= fds_before:
            break
        time.sleep(0.2)
    return {"probe": "connect/disconnect churn", "cycles": cycles, "session_rows_left": rows,
            "fds_before": fds_before, "fds_after": server.fds(), "rss_kib": server.rss_kib()}


def probe_markup(server):
    """10 000 characters of unclosed formatting elements and paragraphs: the HTML parser
    re-opens every formatting element in each paragraph."""
    alice, bob = connect(server, 1), connect(server, 2)
    alice.send_json({"event_type": "room.create", "data": {"type": "OneToOneChat", "participants": [2]}})
    room = alice.recv_json()["data"]["id"]
    bob.recv_json()
    crafted = "<p>" + "".join(f"<b class={i}>" for i in range(300))
    while len(crafted) + 4 <= 10_000:
        crafted += "<p>x"
    rss_before = server.rss_kib()
    t = time.perf_counter()
    alice.send_json({"event_type": "message.send", "data": {"room_id": room, "content": crafted}})
    reply = alice.recv_json()
    elapsed = time.perf_counter() - t
    stored = server.query("select length(content) from messages")
    out = {"probe": "crafted markup", "input_chars": len(crafted),
           "reply": reply.get("error") or reply.get("eventType"), "stored_chars": stored,
           "ms": round(elapsed * 1000), "rss_before_kib": rss_before,
           "rss_peak_kib": server.rss_kib("VmHWM")}
    alice.close()
    bob.close()
    return out


FORGED = {
    "exp garbage string": {"user_id": 11, "exp": "garbage"},
    "exp string in the past": {"user_id": 12, "exp": "1"},
    "exp null": {"user_id": 13, "exp": None},
    "exp fraction in the past": {"user_id": 14, "exp": time.time() - 3600.5},
    "nbf string": {"user_id": 15, "nbf": "x"},
    "nbf null": {"user_id": 16, "nbf": None},
    "user_id 0": {"user_id": 0},
    "user_id -5": {"user_id": -5},
    "user_id '01'": {"user_id": "01"},
    "user_id '-5'": {"user_id": "-5"},
    "user_id 1.0": {"user_id": 1.0},
    "username 10000 chars": {"user_id": 17, "username": "u" * 10000},
    "email 255 chars": {"user_id": 18, "email": "e" * 243 + "@example.com"},
    "username not a string": {"user_id": 19, "username": 5},
}


def probe_tokens(server):
    outcome = {}
    for name, claims in FORGED.items():
        ws = Ws(server.port, sign(claims))
        opcode, payload = ws.recv()
        outcome[name] = close_code(payload) if opcode == 0x8 else "admitted"
        ws.close()
    time.sleep(0.3)
    users = server.query("select id, length(username) from users")
    return {"probe": "forged tokens", "outcome": outcome, "user_rows": users}


def probe_kill9(binary, runs=3, pairs=4, seconds=2.0):
    """kill -9 while pairs exchange messages; every message a client saw dispatched must be stored."""
    results = []
    for _ in range(runs):
        server = Server(binary).start()
        dispatched, lock, stop = set(), threading.Lock(), threading.Event()

        def pair(n):
            a, b = 100 + 2 * n, 101 + 2 * n
            try:
                wa, wb = connect(server, a), connect(server, b)
                wa.send_json({"event_type": "room.create", "data": {"type": "OneToOneChat", "participants": [b]}})
                room = wa.recv_json()["data"]["id"]
                wb.recv_json()
                i = 0
                while not stop.is_set():
                    wa.send_json({"event_type": "message.send", "data": {"room_id": room, "content": f"m{i}"}})
                    seen = wa.recv_json()
                    if seen.get("eventType") == "message.dispatch":
                        with lock:
                            dispatched.add(seen["data"]["id"])
                    i += 1
            except (OSError, EOFError, ValueError):
                pass

        threads = [threading.Thread(target=pair, args=(n,)) for n in range(pairs)]
        for t in threads:
            t.start()
        time.sleep(seconds)
        server.kill9()
        stop.set()
        for t in threads:
            t.join(timeout=10)
        restarted = Server(binary, db=server.db).start()
        stored = {row[0] for row in restarted.query("select id from messages")}
        # SQLite stores the uuid as text or blob depending on the driver; compare normalised.
        stored = {s if isinstance(s, str) else str(__import__("uuid").UUID(bytes=s)) for s in stored}
        lost = len(dispatched - stored)
        results.append({"dispatched": len(dispatched), "stored": len(stored), "lost": lost})
        restarted.stop()
    return {"probe": "kill -9 under load", "runs": results}


PROBES = ["oversized", "utf8", "nagle", "close", "churn", "tokens", "markup", "kill9"]


def main():
    binary, wanted = sys.argv[1], sys.argv[2:] or PROBES
    for name in wanted:
        if name == "kill9":
            print(json.dumps(probe_kill9(binary)), flush=True)
            continue
        server = Server(binary).start()
        try:
            print(json.dumps(globals()[f"probe_{name}"](server)), flush=True)
        except Exception as e:  # a probe that breaks is reported, not hidden
            print(json.dumps({"probe": name, "error": repr(e)}), flush=True)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
