"""Helpers for the Geyser subscriber tests: recording processors, pump traffic, the chain's
own record of what a pump subscriber must receive, and ways to cut a stream."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable
from typing import Any

from apps.chain.localnet import LocalnetHandle
from apps.chain.localnet.geyser import GeyserService
from apps.chain.localnet.market import MarketConfig, MarketGenerator
from apps.chain.programs.ids import PUMP_AMM_PROGRAM_ID, PUMP_PROGRAM_ID
from apps.monitoring.services.geyser_stream import update_key

PUMP_PROGRAMS = {bytes(PUMP_PROGRAM_ID), bytes(PUMP_AMM_PROGRAM_ID)}
# A market that launches, trades and graduates coins within a couple of hundred steps.
BUSY = MarketConfig(
    seed=11,
    launches_per_minute=30,
    trades_per_second=10,
    graduation_share=0.5,
    rug_share=0.25,
    graduate_buy_sol=12,
)

Record = tuple[str, int, tuple[Any, ...]]


def record_of(update: Any) -> Record:
    kind = update.WhichOneof("update_oneof")
    return (kind, getattr(update, kind).slot, update_key(update, kind)[1:])


class RecordingProcessor:
    """Keeps every update and flush it is given, in order; `delay` slows `process`."""

    def __init__(self, delay: float = 0.0) -> None:
        self.records: list[Record] = []
        self.flushes: list[int] = []
        self.delay = delay

    async def process(self, update: Any) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)
        self.records.append(record_of(update))

    async def flush(self, slot: int) -> None:
        self.flushes.append(slot)

    def pump(self, through: int | None = None) -> list[Record]:
        """The pump account writes and transactions received (up to slot `through`)."""
        return [
            r
            for r in self.records
            if r[0] in ("account", "transaction") and (through is None or r[1] <= through)
        ]


class RedisRecordingProcessor:
    """The same for `manage.py monitor --processor` in a child process: records go to the
    Redis list named by GEYSER_TEST_RECORDS, as `kind|slot|key-hex`, flushes as `flush|slot`."""

    def __init__(self, redis: Any, key: str) -> None:
        self.redis = redis
        self.key = key

    @classmethod
    def from_settings(cls) -> RedisRecordingProcessor:
        import redis.asyncio as aioredis
        from django.conf import settings

        return cls(aioredis.from_url(settings.REDIS_URL), os.environ["GEYSER_TEST_RECORDS"])

    async def process(self, update: Any) -> None:
        kind, slot, key = record_of(update)
        await self.redis.rpush(self.key, encode_record((kind, slot, key)))

    async def flush(self, slot: int) -> None:
        await self.redis.rpush(self.key, f"flush|{slot}")


def encode_record(record: Record) -> str:
    kind, slot, key = record
    parts = [p.hex() if isinstance(p, bytes) else str(p) for p in key]
    return f"{kind}|{slot}|{','.join(parts)}"


def expected_pump_records(net: LocalnetHandle, first: int, last: int) -> list[Record]:
    """What the chain says a pump subscriber must receive for slots first..last, in order:
    each transaction's pump-owned account writes, then the transaction if it succeeded."""
    out: list[Record] = []
    for slot in range(first, last + 1):
        record = net.chain.slot_record(slot)
        assert record is not None, f"the chain forgot slot {slot}"
        for tx in record.transactions:
            signature = bytes(tx.signature)
            for pubkey, account in tx.accounts_written:
                if account is not None and bytes(account.owner) in PUMP_PROGRAMS:
                    out.append(("account", slot, (bytes(pubkey), signature)))
            keys = {bytes(k) for k in (*tx.account_keys, *tx.loaded_writable, *tx.loaded_readonly)}
            if tx.err is None and keys & PUMP_PROGRAMS:
                out.append(("transaction", slot, (signature,)))
    return out


class Market:
    """The seeded market generator, stepped by the test with the slot clock in between."""

    def __init__(self, net: LocalnetHandle, config: MarketConfig = BUSY) -> None:
        self.net = net
        self.generator = MarketGenerator(net.rpc_url, config)

    async def setup(self) -> None:
        await self.generator.setup()
        self.net.chain.advance_slot()

    async def run(self, steps: int, *, slot_every: int = 4) -> int:
        """`steps` market steps, a new slot every `slot_every`; returns the last slot
        confirmed (the one before the open slot)."""
        for i in range(steps):
            await self.generator.step()
            if i % slot_every == slot_every - 1:
                self.net.chain.advance_slot()
        self.net.chain.advance_slot()
        return self.net.chain.slot - 1


async def until(check: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        await asyncio.sleep(0.01)


def restart_geyser(net: LocalnetHandle) -> None:
    """Stop the localnet's gRPC server (every stream ends) and start a new one on the same
    chain and port: the new one knows only the chain's records, as after a provider restart."""
    loop = net._loop
    assert loop is not None
    port = net.server.grpc_port

    async def swap() -> None:
        old = net.server.geyser
        await old.stop(grace=0)
        new = GeyserService(net.chain, x_token=old.x_token, ping_interval=old.ping_interval)
        await new.start(net.host, port)
        net.server.geyser = new

    asyncio.run_coroutine_threadsafe(swap(), loop).result(10)


class CuttableProxy:
    """A TCP proxy to `target`; `cut()` resets every connection through it (the network
    failing under a stream), while new connections are still accepted."""

    def __init__(self, target: str) -> None:
        host, _, port = target.rpartition(":")
        self.target = (host, int(port))
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.cuts = 0

    @property
    def address(self) -> str:
        assert self._server is not None
        return f"127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def start(self) -> CuttableProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            with contextlib.suppress(Exception):
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers -= {writer, up_writer}

    def cut(self) -> None:
        self.cuts += 1
        for writer in list(self._writers):
            transport = writer.transport
            with contextlib.suppress(Exception):
                transport.abort()  # RST, not a polite close: as when the path dies
        self._writers.clear()

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
