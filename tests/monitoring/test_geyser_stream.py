"""The Geyser subscriber over real gRPC against the localnet, with pump traffic from the
seeded market generator and checkpoints and leases in real Redis.

The oracle is the chain itself: its slot records say which pump account writes and
transactions a subscriber must receive, slot by slot, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from django.conf import settings
from prometheus_client import REGISTRY

from apps.chain.localnet import LocalnetHandle, start_localnet_in_thread
from apps.chain.localnet.chain import Chain
from apps.chain.localnet.geyser import GeyserService
from apps.monitoring.services.geyser_checkpoint import FileCheckpoint, checkpoint_key
from apps.monitoring.services.geyser_lease import lease_key
from apps.monitoring.services.geyser_stream import (
    GeyserSubscriber,
    StreamConfig,
    build_subscriber,
    parse_endpoint,
)
from protos.generated import geyser_pb2 as pb
from tests.monitoring.geyser_helpers import (
    CuttableProxy,
    Market,
    RecordingProcessor,
    encode_record,
    expected_pump_records,
    restart_geyser,
    until,
)

ROOT = Path(__file__).resolve().parents[2]
LEASE_TTL = 1.0


@pytest.fixture(scope="module")
def net() -> Iterator[LocalnetHandle]:
    with start_localnet_in_thread(slot_ms=0) as handle:
        handle.server.geyser.ping_interval = 0.2  # server pings often: answers are tested
        yield handle


@pytest.fixture
async def redis() -> AsyncIterator[aioredis.Redis]:
    assert settings.REDIS_URL, "make test runs the suite with REDIS_URL set"
    client = aioredis.from_url(settings.REDIS_URL)
    yield client
    await client.aclose()


@pytest.fixture
async def name(redis: aioredis.Redis) -> AsyncIterator[str]:
    stream = f"test-{uuid.uuid4().hex[:8]}"
    yield stream
    await redis.delete(checkpoint_key(stream), lease_key(stream))


def config(target: str, name: str = "t", **overrides: object) -> StreamConfig:
    values: dict = {
        "url": target,
        "name": name,
        "ping_s": 0.5,
        "reconnect_base_s": 0.05,
        "reconnect_max_s": 0.4,
    }
    values.update(overrides)
    return StreamConfig(**values)


def subscriber(
    target: str, redis: aioredis.Redis, name: str, processor: object, **overrides: object
) -> GeyserSubscriber:
    return build_subscriber(
        processor, config(target, name, **overrides), redis=redis, lease_ttl_s=LEASE_TTL
    )


@contextlib.asynccontextmanager
async def running(*subs: GeyserSubscriber) -> AsyncIterator[list[asyncio.Task]]:
    tasks = [asyncio.create_task(s.run()) for s in subs]
    try:
        yield tasks
    finally:
        for task in tasks:
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        for result in results:  # a subscriber that crashed fails the test
            assert isinstance(result, asyncio.CancelledError), result


def flushed(sub: GeyserSubscriber, slot: int) -> bool:
    return sub.stats.flushed_slot is not None and sub.stats.flushed_slot >= slot


async def start_after_confirmed_slot(net: LocalnetHandle, redis, name: str) -> int:
    """Checkpoint the last confirmed slot, so the stream starts exactly after it."""
    start = net.chain.slot - 1
    await redis.set(checkpoint_key(name), start)
    return start


def metric(name: str, labels: dict[str, str] | None = None) -> float:
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


# ---- delivery ---------------------------------------------------------------------------


async def test_every_pump_write_and_transaction_once_in_slot_order(net, redis, name) -> None:
    market = Market(net)
    await market.setup()
    start = await start_after_confirmed_slot(net, redis, name)
    processor = RecordingProcessor()
    sub = subscriber(net.grpc_target, redis, name, processor)
    async with running(sub):
        last = await market.run(120)
        await until(lambda: flushed(sub, last), what="the last slot flushed")
        await until(lambda: sub.stats.pings_answered >= 1, what="a server ping answered")
        assert int(await redis.get(checkpoint_key(name))) == last
        assert await redis.get(lease_key(name)) == sub.lease.token.encode()

    expected = expected_pump_records(net, start + 1, last)
    launches = len(market.generator.ledger.launches)
    assert launches >= 3 and len(expected) > 200  # real pump traffic, not a toy
    assert processor.pump() == expected
    # each slot flushed once, in order, after its own updates and its CONFIRMED status
    assert processor.flushes == list(range(start + 1, last + 1))
    confirmed = [r[1] for r in processor.records if r[0] == "slot" and r[2] == (pb.CONFIRMED,)]
    assert confirmed == processor.flushes
    assert len(set(processor.records)) == len(processor.records)
    assert sub.stats.server_pings >= 1 and sub.stats.pongs >= sub.stats.pings_answered
    assert await redis.get(lease_key(name)) is None  # released on shutdown
    assert metric("geyser_processed_slot") == last


async def test_cut_connections_lose_and_duplicate_nothing_versus_an_uncut_run(
    net, redis, name
) -> None:
    """One subscriber straight to the server, one through a proxy that resets its TCP
    connection right after every few slots open (while the server writes the slot out)."""
    market = Market(net)
    await market.setup()
    proxy = await CuttableProxy(net.grpc_target).start()
    cut_name = f"{name}-cut"
    start = await start_after_confirmed_slot(net, redis, name)
    await redis.set(checkpoint_key(cut_name), start)
    uncut, cut = RecordingProcessor(), RecordingProcessor()
    straight = subscriber(net.grpc_target, redis, name, uncut)
    proxied = subscriber(proxy.address, redis, cut_name, cut)
    try:
        async with running(straight, proxied):
            await until(lambda: proxied.stats.streams == 1, what="the proxied stream")
            for _ in range(8):
                await market.run(12, slot_every=3)
                proxy.cut()
                await until(lambda: proxied.stats.streams > proxy.cuts, what="a reconnection")
            last = net.chain.slot - 1
            await until(lambda: flushed(straight, last) and flushed(proxied, last))
    finally:
        await proxy.close()
        await redis.delete(checkpoint_key(cut_name), lease_key(cut_name))

    assert proxied.stats.reconnects >= 8 and straight.stats.reconnects == 0
    assert cut.records == uncut.records  # every update, slot statuses included
    assert cut.flushes == uncut.flushes == list(range(start + 1, last + 1))
    assert cut.pump() == expected_pump_records(net, start + 1, last)


async def test_server_restarts_mid_run_lose_and_duplicate_nothing(net, redis, name) -> None:
    market = Market(net)
    await market.setup()
    start = await start_after_confirmed_slot(net, redis, name)
    processor = RecordingProcessor()
    sub = subscriber(net.grpc_target, redis, name, processor)
    before = metric("geyser_reconnects_total", {"reason": "unavailable"})
    async with running(sub):
        for restarts in range(1, 4):
            await market.run(25, slot_every=3)
            await asyncio.to_thread(restart_geyser, net)  # a new server on the same port
            await until(lambda r=restarts: sub.stats.streams > r, what="resubscribed")
        last = await market.run(20, slot_every=3)
        await until(lambda: flushed(sub, last))

    assert processor.pump() == expected_pump_records(net, start + 1, last)
    assert processor.flushes == list(range(start + 1, last + 1))
    assert len(set(processor.records)) == len(processor.records)
    assert sub.stats.reconnects >= 3
    assert metric("geyser_reconnects_total", {"reason": "unavailable"}) >= before + 3


async def test_restart_resumes_from_the_checkpoint(net, redis, name) -> None:
    market = Market(net)
    await market.setup()
    start = await start_after_confirmed_slot(net, redis, name)
    first = RecordingProcessor()
    sub = subscriber(net.grpc_target, redis, name, first)
    async with running(sub):
        middle = await market.run(40)
        await until(lambda: flushed(sub, middle))
    checkpoint = int(await redis.get(checkpoint_key(name)))
    assert checkpoint == middle

    last = await market.run(40)  # traffic while no subscriber runs
    second = RecordingProcessor()
    sub = subscriber(net.grpc_target, redis, name, second)
    async with running(sub):
        await until(lambda: flushed(sub, last))

    assert second.flushes == list(range(checkpoint + 1, last + 1))
    assert second.pump() == expected_pump_records(net, checkpoint + 1, last)
    assert first.pump(through=checkpoint) + second.pump() == expected_pump_records(
        net, start + 1, last
    )


# ---- one active instance ------------------------------------------------------------------


async def test_standby_takes_over_when_the_active_instance_stops(net, redis, name) -> None:
    market = Market(net)
    await market.setup()
    start = await start_after_confirmed_slot(net, redis, name)
    active_processor, standby_processor = RecordingProcessor(), RecordingProcessor()
    active = subscriber(net.grpc_target, redis, name, active_processor)
    standby = subscriber(net.grpc_target, redis, name, standby_processor)
    async with running(active) as (active_task,):
        await until(lambda: active.stats.active)
        async with running(standby):
            middle = await market.run(30)
            await until(lambda: flushed(active, middle))
            assert not standby.stats.active and standby_processor.records == []
            active_task.cancel()  # shuts down: releases the lease
            with contextlib.suppress(asyncio.CancelledError):
                await active_task
            await until(lambda: standby.stats.active, timeout=LEASE_TTL, what="takeover")
            last = await market.run(30)
            await until(lambda: flushed(standby, last))

    handover = active.stats.flushed_slot
    assert standby_processor.flushes[0] == handover + 1
    assert active_processor.pump(through=handover) + standby_processor.pump() == (
        expected_pump_records(net, start + 1, last)
    )


async def test_standby_takes_over_when_the_active_process_is_killed(net, redis, name) -> None:
    """`manage.py monitor` in a child process is the active instance; SIGKILL leaves its
    lease to expire, and the in-process standby resumes from its checkpoint."""
    market = Market(net)
    await market.setup()
    start = await start_after_confirmed_slot(net, redis, name)
    records_key = f"{name}:records"
    env = {
        **os.environ,
        "REDIS_URL": settings.REDIS_URL,
        "GEYSER_URL": net.grpc_target,
        "GEYSER_STREAM_NAME": name,
        "GEYSER_LEASE_TTL_SECONDS": str(LEASE_TTL),
        "GEYSER_RECONNECT_BASE_SECONDS": "0.05",
        "GEYSER_TEST_RECORDS": records_key,
    }
    child = subprocess.Popen(  # noqa: ASYNC220 (a child process, waited for below)
        [
            sys.executable,
            "manage.py",
            "monitor",
            "--processor",
            "tests.monitoring.geyser_helpers.RedisRecordingProcessor",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    standby_processor = RecordingProcessor()
    standby = subscriber(net.grpc_target, redis, name, standby_processor)
    try:
        async with contextlib.AsyncExitStack() as stack:

            async def child_holds_lease() -> bool:
                holder = await redis.get(lease_key(name))
                return holder is not None and f":{child.pid}:" in holder.decode()

            for _ in range(300):
                if await child_holds_lease() or child.poll() is not None:
                    break
                await asyncio.sleep(0.05)
            assert await child_holds_lease(), child.communicate()[0].decode()[-2000:]
            await stack.enter_async_context(running(standby))
            middle = await market.run(30)
            for _ in range(300):
                stored = await redis.get(checkpoint_key(name))
                if stored is not None and int(stored) >= middle:
                    break
                await asyncio.sleep(0.02)
            assert int(await redis.get(checkpoint_key(name))) == middle
            assert not standby.stats.active
            child.send_signal(signal.SIGKILL)  # no release: the lease has to expire
            await asyncio.to_thread(child.wait, 10)
            await until(lambda: standby.stats.active, timeout=3 * LEASE_TTL, what="takeover")
            last = await market.run(30)
            await until(lambda: flushed(standby, last))
        child_records = [r.decode() for r in await redis.lrange(records_key, 0, -1)]
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)
        await redis.delete(records_key)

    expected = [encode_record(r) for r in expected_pump_records(net, start + 1, last)]
    child_pump = [
        r
        for r in child_records
        if r.split("|")[0] in ("account", "transaction") and int(r.split("|")[1]) <= middle
    ]
    assert f"flush|{middle}" in child_records
    assert standby_processor.flushes[0] == middle + 1
    assert child_pump + [encode_record(r) for r in standby_processor.pump()] == expected


# ---- failures handled without a crash -------------------------------------------------------


@pytest.fixture
async def lone_server() -> AsyncIterator[tuple[Chain, GeyserService, str]]:
    """A gRPC server of our own (short replay history, x-token required) on a bare chain."""
    chain = Chain(finality_depth=3)
    service = GeyserService(chain, x_token="right", history_slots=8, ping_interval=0.2)
    port = await service.start("127.0.0.1", 0)
    try:
        yield chain, service, f"127.0.0.1:{port}"
    finally:
        await service.stop(grace=0)


async def test_wrong_x_token_is_a_clear_error_and_backs_off(lone_server, tmp_path) -> None:
    chain, _, target = lone_server
    processor = RecordingProcessor()
    cfg = config(target, x_token="wrong", reconnect_base_s=0.2, reconnect_max_s=0.8)
    sub = GeyserSubscriber(processor, cfg, checkpoint=FileCheckpoint(tmp_path / "ckpt"))
    async with running(sub):
        chain.advance_slot()
        await asyncio.sleep(1.5)
    # 0.1-0.2 s, then 0.2-0.4, 0.4-0.8, ...: a handful of tries, not thousands
    assert 2 <= sub.stats.attempts <= 6
    assert sub.stats.streams == 0 and processor.records == []
    assert "UNAUTHENTICATED" in sub.stats.last_error and "x-token" in sub.stats.last_error


async def test_too_old_checkpoint_resumes_at_the_oldest_slot_kept_and_says_so(
    lone_server, tmp_path
) -> None:
    chain, service, target = lone_server
    chain.advance_slot(20)  # the server keeps 8 slots
    checkpoint = FileCheckpoint(tmp_path / "ckpt")
    await checkpoint.save(2)
    gaps, gap_slots = metric("geyser_replay_gaps_total"), metric("geyser_replay_gap_slots_total")
    processor = RecordingProcessor()
    sub = GeyserSubscriber(processor, config(target, x_token="right"), checkpoint=checkpoint)
    async with running(sub):
        await until(lambda: sub.stats.streams == 1, what="the stream after the gap")
        assert sub.stats.replay_gaps == 1
        first = service.first_available
        # Let the replay reach the tip first: advancing prunes the 8-slot history, and a
        # replay still reading its oldest slots (a loaded CI machine) would lose them.
        await until(lambda: flushed(sub, chain.slot - 1), what="the replay to catch up")
        chain.advance_slot(2)
        last = chain.slot - 1
        await until(lambda: flushed(sub, last))
    assert processor.flushes == list(range(first, last + 1))
    assert metric("geyser_replay_gaps_total") == gaps + 1
    assert metric("geyser_replay_gap_slots_total") == gap_slots + (first - 3)
    assert "replay gap" in sub.stats.last_error
    assert int((tmp_path / "ckpt").read_text()) == last


async def test_a_stalled_processor_pauses_then_releases_the_stream_and_loses_nothing(
    lone_server, tmp_path
) -> None:
    chain, _, target = lone_server
    chain.advance_slot()
    gate = asyncio.Event()

    class Hiccup(RecordingProcessor):
        async def process(self, update) -> None:
            await gate.wait()  # the processor is stuck (a slow database, say)
            await super().process(update)

    slow, reference = Hiccup(), RecordingProcessor()
    start = chain.slot - 1
    checkpoints = [FileCheckpoint(tmp_path / n) for n in ("slow", "ref")]
    for c in checkpoints:
        await c.save(start)
    stalled = GeyserSubscriber(
        slow, config(target, x_token="right", queue_size=4, stall_s=0.2), checkpoint=checkpoints[0]
    )
    steady = GeyserSubscriber(reference, config(target, x_token="right"), checkpoint=checkpoints[1])
    async with running(stalled, steady):
        chain.advance_slot(3)  # the server keeps 8 slots: the backlog must fit in them
        await until(lambda: stalled.stats.stalls >= 1, what="the stream released")
        assert stalled._queue is not None and stalled._queue.full()
        gate.set()
        chain.advance_slot(3)
        last = chain.slot - 1
        await until(lambda: flushed(stalled, last) and flushed(steady, last))
    # Up to the last flushed slot; the open slot's statuses reach each stream when they do.
    assert [r for r in slow.records if r[1] <= last] == [
        r for r in reference.records if r[1] <= last
    ]
    assert slow.flushes == list(range(start + 1, last + 1))


# ---- configuration ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("127.0.0.1:10000", ("127.0.0.1:10000", False)),
        ("http://geyser.local:10000", ("geyser.local:10000", False)),
        ("https://grpc.example.com", ("grpc.example.com:443", True)),
        ("https://grpc.example.com:2053/", ("grpc.example.com:2053", True)),
        ("[::1]:10000", ("[::1]:10000", False)),
    ],
)
def test_geyser_url_forms(url: str, expected: tuple[str, bool]) -> None:
    assert parse_endpoint(url) == expected


@pytest.mark.parametrize("url", ["", "localhost", "ftp://x:1", "h:port", "https://h:1/path"])
def test_bad_geyser_url_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="GEYSER_URL"):
        parse_endpoint(url)
