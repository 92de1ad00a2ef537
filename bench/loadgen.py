"""A small HTTP/1.1 keep-alive load generator, for machines without wrk.

    python bench/loadgen.py --url http://127.0.0.1:8000/api/ping --seconds 10 --connections 64

Closed loop, like wrk: each of N keep-alive connections sends a GET, waits for the
whole response, records its latency and sends the next, until the duration is up.
asyncio Protocols on uvloop when installed (several times the throughput of
asyncio streams), so one generator core can load a single-worker Python server.
Prints one JSON line: requests, duration, rps, p50/p99 in ms, errors.

Bounded: at most --max-connections connections, and the run is cut off at
duration + 10 s whatever the server does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from urllib.parse import urlsplit

MAX_CONNECTIONS = 1024
MAX_RESPONSE_BYTES = 1 << 20


class _Stats:
    __slots__ = ("latencies", "ok", "bad_status", "errors", "measuring", "stop_at")

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.ok = 0
        self.bad_status = 0
        self.errors = 0
        self.measuring = False
        self.stop_at = float("inf")


def _parse_response(buf: bytearray) -> tuple[int, int] | None:
    """(status, bytes consumed) of the first complete response in buf, or None."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        if len(buf) > MAX_RESPONSE_BYTES:
            raise ValueError("response headers too large")
        return None
    head = bytes(buf[:end]).lower()
    status = int(head[9:12])
    body_start = end + 4
    pos = head.find(b"\r\ncontent-length:")
    if pos >= 0:
        line_end = head.find(b"\r\n", pos + 2)
        length = int(head[pos + 17 : line_end if line_end >= 0 else len(head)])
        total = body_start + length
        return (status, total) if len(buf) >= total else None
    if b"\r\ntransfer-encoding: chunked" in head:
        at = body_start
        while True:
            size_end = buf.find(b"\r\n", at)
            if size_end < 0:
                return None
            size = int(bytes(buf[at:size_end]).split(b";")[0], 16)
            at = size_end + 2 + size + 2  # data and its CRLF
            if size == 0:
                # no trailers expected: the last chunk is "0\r\n\r\n"
                return (status, at) if len(buf) >= at else None
            if len(buf) < at:
                return None
    return status, body_start  # no body (204/304 or a HEAD-like answer)


class _Connection(asyncio.Protocol):
    def __init__(self, request: bytes, stats: _Stats, done: asyncio.Future) -> None:
        self.request = request
        self.stats = stats
        self.done = done
        self.buf = bytearray()
        self.sent_at = 0.0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport
        self._send()

    def _send(self) -> None:
        now = time.perf_counter()
        if now >= self.stats.stop_at:
            self._finish()
            return
        self.sent_at = now
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            try:
                parsed = _parse_response(self.buf)
            except ValueError:
                self.stats.errors += 1
                self._finish()
                return
            if parsed is None:
                return
            status, used = parsed
            del self.buf[:used]
            stats = self.stats
            if stats.measuring:
                if 200 <= status < 400:
                    stats.ok += 1
                    stats.latencies.append(time.perf_counter() - self.sent_at)
                else:
                    stats.bad_status += 1
            self._send()
            if self.done.done():
                return

    def connection_lost(self, exc) -> None:
        if not self.done.done():
            if time.perf_counter() < self.stats.stop_at:
                self.stats.errors += 1
            self.done.set_result(None)

    def _finish(self) -> None:
        if self.transport is not None:
            self.transport.close()
        if not self.done.done():
            self.done.set_result(None)


def build_request(url: str, body: bytes | None = None) -> bytes:
    """A keep-alive GET, or a JSON POST when there is a body (e.g. a JSON-RPC call)."""
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    head = f"Host: {parts.netloc}\r\nAccept: */*\r\nUser-Agent: bench-loadgen\r\n"
    if body is None:
        return f"GET {path} HTTP/1.1\r\n{head}\r\n".encode()
    return (
        f"POST {path} HTTP/1.1\r\n{head}Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


async def run(
    url: str, seconds: float, connections: int, warmup: float = 0.0, body: bytes | None = None
) -> dict:
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    port = parts.port or 80
    request = build_request(url, body)
    connections = max(1, min(connections, MAX_CONNECTIONS))
    loop = asyncio.get_running_loop()
    stats = _Stats()
    stats.stop_at = time.perf_counter() + warmup + seconds
    futures = []
    for _ in range(connections):
        done = loop.create_future()
        try:
            await loop.create_connection(lambda d=done: _Connection(request, stats, d), host, port)
        except OSError:
            stats.errors += 1
            done.set_result(None)
        futures.append(done)
    if warmup:
        await asyncio.sleep(warmup)
    stats.measuring = True
    started = time.perf_counter()
    stats.stop_at = started + seconds
    try:
        await asyncio.wait_for(asyncio.gather(*futures), timeout=seconds + 10)
    except TimeoutError:
        stats.errors += 1
    elapsed = min(time.perf_counter(), stats.stop_at) - started
    latencies = sorted(stats.latencies)

    def pct(p: float) -> float | None:
        if not latencies:
            return None
        return round(latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1e3, 3)

    return {
        "requests": stats.ok,
        "duration_s": round(elapsed, 3),
        "rps": round(stats.ok / elapsed, 1) if elapsed > 0 else 0.0,
        "p50_ms": pct(50),
        "p99_ms": pct(99),
        "non_2xx_3xx": stats.bad_status,
        "errors": stats.errors,
        "connections": connections,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=0.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--body", default=None, help="POST this JSON body instead of a GET")
    args = parser.parse_args(argv)
    body = args.body.encode() if args.body is not None else None
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    result = runner(run(args.url, args.seconds, args.connections, args.warmup, body))
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
