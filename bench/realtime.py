"""Realtime fan-out: publish-to-receive latency and loss for many WebSocket and SSE clients.

    python bench/realtime.py [--clients 500] [--rate 200] [--seconds 8] [--workers 1]

The platform runs under granian (as the Procfile runs it) on real Redis (database 14, so
the test suite's database 15 is left alone). A publisher process publishes `--rate`
events/s on `pulse` through the bus (apps.realtime.bus.publish), each carrying its
sequence number and wall-clock publish time. A client process holds `--clients`
WebSocket connections subscribed to `pulse` (then, in a second round, as many SSE
streams) on lean asyncio protocols over raw sockets: the frames are parsed by hand and
only the sequence number and publish time are pulled out of each payload (a regular
expression on bytes), so the measuring clients cost as little CPU as possible on a
machine they share with the server.

Latency: receive time minus publish time, over every event every client received
during the measured window. Loss: events published in the window that a client did not
receive, summed over clients. Reference, in the same run: one plain Redis pub/sub
subscriber on the bus's own channel, i.e. what fan-out costs before the platform.

Last line: {"bench": "realtime", "ws_clients", "ws_p50_ms", "ws_p99_ms", "ws_lost",
"sse_clients", "sse_p50_ms", "sse_p99_ms", "sse_lost", "redis_p50_ms", "redis_p99_ms"}.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import multiprocessing
import os
import re
import sys
import time
from array import array
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import APPS, running_server  # noqa: E402

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
EVENT = re.compile(rb'"seq":(\d+),"t":(\d+)')


def percentile(values, pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))]


# ---- clients (their own process) ---------------------------------------------------------


class Tally:
    """What one client received: sequence numbers, and latencies into a shared array."""

    __slots__ = ("seqs", "ready")

    def __init__(self) -> None:
        self.seqs: set[int] = set()
        self.ready = False


def record(chunk: bytes, tally: Tally, latencies: array) -> None:
    now = time.time_ns()
    for match in EVENT.finditer(chunk):
        tally.seqs.add(int(match[1]))
        latencies.append((now - int(match[2])) / 1e6)


class WsClient(asyncio.Protocol):
    """A WebSocket client over a raw socket: handshake, one subscribe frame, then server
    frames (unmasked) parsed from the byte stream."""

    def __init__(self, host: str, port: int, tally: Tally, latencies: array, ready) -> None:
        self.host, self.port = host, port
        self.tally, self.latencies, self.ready = tally, latencies, ready
        self.buffer = bytearray()
        self.upgraded = False

    def connection_made(self, transport) -> None:
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write(
            (
                f"GET /ws/ HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )

    def send_text(self, text: str) -> None:
        payload = text.encode()
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        assert len(payload) < 126
        self.transport.write(bytes([0x81, 0x80 | len(payload)]) + mask + masked)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.upgraded:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            if b" 101 " not in self.buffer[:end]:
                raise RuntimeError(bytes(self.buffer[:end]).decode(errors="replace"))
            del self.buffer[: end + 4]
            self.upgraded = True
            self.send_text('{"op":"subscribe","topics":["pulse"]}')
        buf = self.buffer
        offset = 0
        while len(buf) - offset >= 2:
            opcode = buf[offset] & 0x0F
            length = buf[offset + 1] & 0x7F
            head = 2
            if length == 126:
                if len(buf) - offset < 4:
                    break
                length = int.from_bytes(buf[offset + 2 : offset + 4], "big")
                head = 4
            elif length == 127:
                if len(buf) - offset < 10:
                    break
                length = int.from_bytes(buf[offset + 2 : offset + 10], "big")
                head = 10
            if len(buf) - offset < head + length:
                break
            payload = bytes(buf[offset + head : offset + head + length])
            offset += head + length
            if opcode != 1:
                continue
            if payload.startswith(b'{"topic"'):
                record(payload, self.tally, self.latencies)
            elif payload.startswith(b'{"type":"subscribed"'):
                self.tally.ready = True
                self.ready()
            elif payload.startswith(b'{"type":"ping"'):
                self.send_text('{"op":"pong"}')
        del buf[:offset]


class SseClient(asyncio.Protocol):
    def __init__(self, host: str, port: int, tally: Tally, latencies: array, ready) -> None:
        self.host, self.port = host, port
        self.tally, self.latencies, self.ready = tally, latencies, ready
        self.buffer = bytearray()
        self.started = False

    def connection_made(self, transport) -> None:
        transport.write(
            (
                f"GET /api/stream?topics=pulse HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                "Accept: text/event-stream\r\n\r\n"
            ).encode()
        )

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.started:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            if b" 200 " not in self.buffer[:end]:
                raise RuntimeError(bytes(self.buffer[:end]).decode(errors="replace"))
            del self.buffer[: end + 4]
            self.started = True
            self.tally.ready = True
            self.ready()
        # Whole events only (a chunk may end mid-event); chunked-encoding size lines never
        # match the event pattern.
        end = self.buffer.rfind(b"\n\n")
        if end >= 0:
            record(bytes(self.buffer[:end]), self.tally, self.latencies)
            del self.buffer[: end + 2]


async def _hold_clients(kind: str, host: str, port: int, n: int, conn) -> None:
    loop = asyncio.get_running_loop()
    latencies = array("d")
    tallies = [Tally() for _ in range(n)]
    ready = asyncio.Event()
    count = 0

    def one_ready() -> None:
        nonlocal count
        count += 1
        if count == n:
            ready.set()

    protocol = WsClient if kind == "ws" else SseClient
    transports = []
    for i in range(n):
        transport, _ = await loop.create_connection(
            lambda i=i: protocol(host, port, tallies[i], latencies, one_ready), host, port
        )
        transports.append(transport)
        if i % 100 == 99:
            await asyncio.sleep(0.05)  # a ramp, not a SYN flood
    try:
        await asyncio.wait_for(ready.wait(), 60)
    except TimeoutError:
        conn.send(f"only {count} of {n} {kind} clients subscribed in 60 s")
        return
    conn.send("ready")
    # (first seq, last seq) of the measured window, once publishing is over; read off the
    # loop so the clients keep receiving meanwhile.
    window = await loop.run_in_executor(None, conn.recv)
    lo, hi = window
    await asyncio.sleep(2.0)  # stragglers
    expected = hi - lo + 1
    lost = sum(expected - sum(1 for s in t.seqs if lo <= s <= hi) for t in tallies)
    for transport in transports:
        transport.close()
    conn.send({"latencies": latencies.tobytes(), "lost": lost, "clients": n})


def client_process(kind: str, host: str, port: int, n: int, conn) -> None:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, n * 2 + 1024)), hard))
    asyncio.run(_hold_clients(kind, host, port, n, conn))


# ---- publisher and reference -------------------------------------------------------------


async def _publish_at(rate: float, seconds: float, warmup: float) -> tuple[int, int, array]:
    """Publish `rate`/s for warmup+seconds; returns the measured window's (first, last) seq
    and the reference subscriber's latencies (a plain Redis pub/sub client)."""
    import redis.asyncio as aioredis

    from apps.realtime.bus import get_bus, publish

    backend = get_bus().backend
    reference = aioredis.from_url(REDIS_URL)
    pubsub = reference.pubsub()
    await pubsub.subscribe(backend.channel(reference, "pulse"))
    ref_latencies = array("d")

    async def listen() -> None:
        async for message in pubsub.listen():
            if message["type"] == "message":
                now = time.time_ns()
                match = EVENT.search(message["data"])
                if match:
                    ref_latencies.append((now - int(match[2])) / 1e6)

    listener = asyncio.create_task(listen())
    interval = 1 / rate
    start = time.monotonic()
    seq = 0
    first = last = None
    while (elapsed := time.monotonic() - start) < warmup + seconds:
        target = start + seq * interval
        delay = target - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        await publish("pulse", "token.updated", {"seq": seq, "t": time.time_ns()})
        if elapsed >= warmup:
            first = seq if first is None else first
            last = seq
        seq += 1
    await asyncio.sleep(1.0)
    listener.cancel()
    await pubsub.aclose()
    await reference.aclose()
    return first, last, ref_latencies


def run_round(kind: str, base: str, clients: int, rate: float, seconds: float) -> dict:
    host, port = base.removeprefix("http://").split(":")
    parent, child = multiprocessing.Pipe()
    proc = multiprocessing.get_context("spawn").Process(
        target=client_process, args=(kind, host, int(port), clients, child), daemon=True
    )
    proc.start()
    if not parent.poll(120):
        raise RuntimeError(f"{kind} clients did not connect in time")
    status = parent.recv()
    if status != "ready":
        raise RuntimeError(status)
    first, last, ref = asyncio.run(_publish_at(rate, seconds, warmup=1.0))
    parent.send((first, last))
    result = parent.recv()
    proc.join(10)
    latencies = array("d")
    latencies.frombytes(result["latencies"])
    return {
        "clients": result["clients"],
        "events": last - first + 1,
        "p50_ms": round(percentile(latencies, 50), 2),
        "p99_ms": round(percentile(latencies, 99), 2),
        "lost": result["lost"],
        "ref_p50_ms": round(percentile(ref, 50), 2),
        "ref_p99_ms": round(percentile(ref, 99), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # 500: what this 2-core machine carries at 200 events/s within the bar (README).
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--sse-clients", type=int, default=None, help="default: --clients")
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--workers", type=int, default=1, help="granian workers")
    args = parser.parse_args()

    os.environ["REDIS_URL"] = REDIS_URL
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()

    env = {"REDIS_URL": REDIS_URL}
    with running_server("granian", APPS["platform"], env=env, workers=args.workers) as url:
        base = url.base()
        ws = run_round("ws", base, args.clients, args.rate, args.seconds)
        print(
            f"websocket: {ws['clients']} clients, {ws['events']} events at {args.rate:g}/s: "
            f"p50 {ws['p50_ms']} ms, p99 {ws['p99_ms']} ms, lost {ws['lost']} | "
            f"redis pub/sub alone p50 {ws['ref_p50_ms']} ms, p99 {ws['ref_p99_ms']} ms"
        )
        sse = run_round("sse", base, args.sse_clients or args.clients, args.rate, args.seconds)
        print(
            f"sse:       {sse['clients']} clients, {sse['events']} events at {args.rate:g}/s: "
            f"p50 {sse['p50_ms']} ms, p99 {sse['p99_ms']} ms, lost {sse['lost']} | "
            f"redis pub/sub alone p50 {sse['ref_p50_ms']} ms, p99 {sse['ref_p99_ms']} ms"
        )
    print(
        json.dumps(
            {
                "bench": "realtime",
                "ws_clients": ws["clients"],
                "ws_p50_ms": ws["p50_ms"],
                "ws_p99_ms": ws["p99_ms"],
                "ws_lost": ws["lost"],
                "sse_clients": sse["clients"],
                "sse_p50_ms": sse["p50_ms"],
                "sse_p99_ms": sse["p99_ms"],
                "sse_lost": sse["lost"],
                "redis_p50_ms": ws["ref_p50_ms"],
                "redis_p99_ms": ws["ref_p99_ms"],
                "rate": args.rate,
            }
        )
    )


if __name__ == "__main__":
    main()
