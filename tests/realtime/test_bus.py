"""The event bus against real Redis and in process: replay, the replay/live seam, bounds,
cross-process delivery, bad input, and that closed subscribers release their connections."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.conf import settings

from apps.chain.base58 import b58encode
from apps.realtime.bus import (
    REPLAY_TRUNCATED,
    EventBus,
    get_bus,
    parse_event_id,
    validate_topic,
)
from apps.realtime.bus_memory import MemoryBackend
from apps.realtime.bus_redis import RedisBackend
from config.redis_pool import async_redis

ROOT = Path(__file__).resolve().parents[2]
MINT = b58encode(bytes(range(1, 33)))
WAIT = 5.0


@pytest.fixture(params=["memory", "redis"])
async def bus(request):
    if request.param == "memory":
        yield EventBus(MemoryBackend(maxlen=1_000))
        return
    assert settings.REDIS_URL, "make test runs the suite with REDIS_URL set"
    prefix = f"test-bus-{uuid.uuid4().hex[:12]}"
    yield EventBus(RedisBackend(prefix=prefix, maxlen=1_000))
    client = async_redis()
    keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
    if keys:
        await client.delete(*keys)


@pytest.fixture
async def redis_bus():
    assert settings.REDIS_URL, "make test runs the suite with REDIS_URL set"
    prefix = f"test-bus-{uuid.uuid4().hex[:12]}"
    yield EventBus(RedisBackend(prefix=prefix, maxlen=1_000))
    client = async_redis()
    keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
    if keys:
        await client.delete(*keys)


async def take(sub, count: int) -> list:
    return [await asyncio.wait_for(anext(sub), WAIT) for _ in range(count)]


async def nothing_more(sub, seconds: float = 0.2) -> bool:
    try:
        await asyncio.wait_for(anext(sub), seconds)
    except TimeoutError:
        return True
    return False


# --- round trip, replay, the seam ---------------------------------------------------


async def test_published_events_reach_a_subscriber_in_order_per_topic(bus):
    async with bus.subscribe(["pulse:new", f"token:{MINT}"]) as sub:
        sent = [
            ("pulse:new", await bus.publish("pulse:new", "token.new", {"mint": MINT, "n": 1})),
            (f"token:{MINT}", await bus.publish(f"token:{MINT}", "trade", {"sol": 1.5})),
            ("pulse:new", await bus.publish("pulse:new", "token.new", {"mint": MINT, "n": 2})),
        ]
        got = await take(sub, 3)

    assert [(e.topic, e.id) for e in got] == sent
    assert [e.type for e in got] == ["token.new", "trade", "token.new"]
    assert got[1].data == {"sol": 1.5}
    assert got[2].as_message() == {
        "topic": "pulse:new",
        "id": sent[2][1],
        "type": "token.new",
        "data": {"mint": MINT, "n": 2},
    }
    assert parse_event_id(sent[0][1]) < parse_event_id(sent[2][1])


async def test_an_unrelated_topic_is_not_delivered(bus):
    async with bus.subscribe(["fees"]) as sub:
        await bus.publish("migrations", "migrated", {"mint": MINT})
        fee_id = await bus.publish("fees", "levels", {"p50": 1000})
        got = await take(sub, 1)
        assert [e.id for e in got] == [fee_id]
        assert await nothing_more(sub)


async def test_resume_after_last_id_replays_exactly_the_missed_events_then_live(bus):
    ids = [await bus.publish("pulse", "tick", {"i": i}) for i in range(120)]

    async with bus.subscribe(["pulse"], {"pulse": ids[19]}) as sub:
        replayed = await take(sub, 100)
        live_ids = [await bus.publish("pulse", "tick", {"i": 120 + i}) for i in range(3)]
        live = await take(sub, 3)
        assert await nothing_more(sub)

    assert [e.id for e in replayed] == ids[20:]
    assert [e.data["i"] for e in replayed] == list(range(20, 120))
    assert [e.id for e in live] == live_ids


async def test_no_last_id_starts_live_and_a_last_id_past_the_tail_hides_nothing(bus):
    await bus.publish("fees", "levels", {"old": True})
    async with (
        bus.subscribe(["fees"]) as fresh,
        bus.subscribe(["fees"], {"fees": "99999999999999-0"}) as bogus,
    ):
        new_id = await bus.publish("fees", "levels", {"old": False})
        assert [e.id for e in await take(fresh, 1)] == [new_id]
        assert [e.id for e in await take(bogus, 1)] == [new_id]


async def test_the_replay_live_seam_has_no_gap_or_duplicate_under_concurrent_publishing(bus):
    published: list[str] = []
    halfway = asyncio.Event()

    async def publisher(worker: int):
        for i in range(150):
            published.append(await bus.publish("pulse:final", "tick", {"w": worker, "i": i}))
            if len(published) == 100:
                halfway.set()
            await asyncio.sleep(0)

    publishers = [asyncio.create_task(publisher(w)) for w in range(2)]
    await halfway.wait()
    resume_from = published[49]
    # Subscribing while both publishers run: attach, tail read and replay all race them.
    async with bus.subscribe(["pulse:final"], {"pulse:final": resume_from}) as sub:
        await asyncio.gather(*publishers)
        expected = sorted(published, key=parse_event_id)
        expected = expected[expected.index(resume_from) + 1 :]
        got = await take(sub, len(expected))
        assert await nothing_more(sub)

    assert [e.id for e in got] == expected
    # Per publisher, its events keep their order.
    for worker in (0, 1):
        seq = [e.data["i"] for e in got if e.data["w"] == worker]
        assert seq == sorted(seq)


async def test_a_subscriber_that_falls_behind_its_buffer_catches_up_from_the_stream(bus, settings):
    settings.EVENT_SUBSCRIBER_BUFFER = 5
    async with bus.subscribe(["migrations"]) as sub:
        ids = [await bus.publish("migrations", "migrated", {"i": i}) for i in range(60)]
        await asyncio.sleep(0.05)  # let live delivery overflow the 5-event buffer
        got = await take(sub, 60)
        assert await nothing_more(sub)
    assert [e.id for e in got] == ids


# --- bounds -------------------------------------------------------------------------


async def test_maxlen_bounds_the_stream_and_an_old_resume_says_history_was_cut(bus):
    small = EventBus(type(bus.backend)(**_same_place(bus.backend), maxlen=50))
    ids = [await small.publish("pulse:migrated", "moved", {"i": i}) for i in range(400)]

    if isinstance(small.backend, RedisBackend):
        length = await async_redis().xlen(small.backend.stream_key("pulse:migrated"))
        # MAXLEN ~ trims whole stream nodes (100 entries by default): at least 50, near 50.
        assert 50 <= length <= 50 + 100
    else:
        length = 50

    async with small.subscribe(["pulse:migrated"], {"pulse:migrated": ids[0]}) as sub:
        marker, *rest = await take(sub, 1 + length)
        assert await nothing_more(sub)
    assert marker.type == REPLAY_TRUNCATED
    assert marker.id == ids[0]
    assert marker.data == {"after": ids[0], "oldest_available": ids[-length]}
    assert [e.id for e in rest] == ids[-length:]

    # Resuming from the newest trimmed event misses nothing: no marker.
    boundary = ids[-length - 1]
    async with small.subscribe(["pulse:migrated"], {"pulse:migrated": boundary}) as sub:
        got = await take(sub, length)
        assert await nothing_more(sub)
    assert [e.id for e in got] == ids[-length:]


def _same_place(backend) -> dict:
    return {"prefix": backend.prefix} if isinstance(backend, RedisBackend) else {}


# --- bad input ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "topic",
    [
        "",
        "PULSE",
        "pulse:old",
        "token:",
        "token:abc",
        "token:" + b58encode(bytes(range(1, 32))),  # 31 bytes: not a mint
        "token:" + MINT[:-1] + "0",  # '0' is not base58
        "orders:",
        "orders:0",
        "orders:alice",
        "orders:1:2",
        None,
        42,
    ],
)
async def test_a_bad_topic_is_refused_naming_the_allowed_forms(bus, topic):
    with pytest.raises(ValueError, match=r"allowed: pulse, .*token:<base58 mint>.*orders:<user"):
        await bus.publish(topic, "x", {})
    with pytest.raises(ValueError, match="allowed"):
        bus.subscribe(["pulse", topic])


def test_the_platform_topics_are_accepted():
    for topic in ("pulse", "pulse:new", "pulse:final", "pulse:migrated", "migrations", "fees"):
        assert validate_topic(topic) == topic
    assert validate_topic(f"token:{MINT}") == f"token:{MINT}"
    assert validate_topic("orders:17") == "orders:17"


@pytest.mark.parametrize(
    "data",
    [{"when": object()}, {"price": float("nan")}, {"raw": b"\x01"}, [1, 2], "text", None],
)
async def test_data_that_is_not_a_json_object_is_refused_and_nothing_is_published(bus, data):
    async with bus.subscribe(["fees"]) as sub:
        with pytest.raises(TypeError, match="JSON"):
            await bus.publish("fees", "levels", data)
        assert await nothing_more(sub, 0.1)


async def test_bad_event_types_and_last_ids_are_refused(bus):
    with pytest.raises(ValueError, match="event type"):
        await bus.publish("fees", "", {})
    with pytest.raises(ValueError, match="event type"):
        await bus.publish("fees", "has space", {})
    with pytest.raises(ValueError, match="bad event id"):
        bus.subscribe(["fees"], {"fees": "yesterday"})
    with pytest.raises(ValueError, match="not subscribed"):
        bus.subscribe(["fees"], {"pulse": "1-0"})
    with pytest.raises(TypeError, match="list"):
        bus.subscribe("fees")


# --- Redis specifics: processes, connections, reconnects ---------------------------


async def test_an_event_published_by_another_process_reaches_this_one(redis_bus):
    prefix = redis_bus.backend.prefix
    async with redis_bus.subscribe(["pulse", "orders:7"]) as sub:
        script = (
            "import asyncio, json, django; django.setup()\n"
            "from apps.realtime.bus import EventBus\n"
            "from apps.realtime.bus_redis import RedisBackend\n"
            "async def main():\n"
            f"    bus = EventBus(RedisBackend(prefix={prefix!r}))\n"
            "    ids = [await bus.publish('pulse', 'tick', {'i': i}) for i in range(20)]\n"
            "    ids.append(await bus.publish('orders:7', 'order.filled', {'sig': 'x'}))\n"
            "    print(json.dumps(ids))\n"
            "asyncio.run(main())\n"
        )
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", script, cwd=ROOT, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 0, err.decode()
        sent = json.loads(out.decode().strip().splitlines()[-1])
        got = await take(sub, 21)

    assert [e.id for e in got] == sent
    assert got[-1].topic == "orders:7" and got[-1].data == {"sig": "x"}
    assert [e.data["i"] for e in got[:-1]] == list(range(20))


async def _pubsub_clients(client) -> set[str]:
    """Redis's view: addresses of connections that are subscribed to something."""
    clients = await client.client_list()
    return {c["addr"] for c in clients if int(c.get("sub", 0)) or int(c.get("psub", 0))}


def _hub_addr(bus) -> str:
    hub = bus.backend.hub()
    host, port = hub.pubsub.connection._writer.get_extra_info("sockname")[:2]
    return f"{host}:{port}"


async def test_subscribers_share_one_pubsub_connection_and_closing_releases_it(redis_bus):
    client = async_redis()
    channel = redis_bus.backend.channel(client, "pulse")

    first = redis_bus.subscribe(["pulse"])
    second = redis_bus.subscribe(["pulse", "fees"])
    await first.start()
    await second.start()
    addr = _hub_addr(redis_bus)
    assert addr in await _pubsub_clients(client)
    assert (await client.pubsub_numsub(channel))[0][1] == 1  # one connection for both

    await first.aclose()
    assert (await client.pubsub_numsub(channel))[0][1] == 1  # second still listens
    await second.aclose()
    assert (await client.pubsub_numsub(channel))[0][1] == 0
    assert redis_bus.backend.hub().pubsub is None
    assert addr not in await _pubsub_clients(client)


async def test_a_cancelled_or_abandoned_consumer_releases_its_subscription(redis_bus):
    client = async_redis()
    channel = redis_bus.backend.channel(client, "fees")
    started = asyncio.Event()

    async def consumer():
        async with redis_bus.subscribe(["fees"]) as sub:
            started.set()
            async for _ in sub:
                pass

    task = asyncio.create_task(consumer())
    await asyncio.wait_for(started.wait(), WAIT)
    assert (await client.pubsub_numsub(channel))[0][1] == 1
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert (await client.pubsub_numsub(channel))[0][1] == 0

    # Iterating, breaking out and dropping it without aclose(): collected, then released.
    sub = redis_bus.subscribe(["fees"])
    await sub.start()
    await redis_bus.publish("fees", "levels", {})
    async for _ in sub:
        break
    assert (await client.pubsub_numsub(channel))[0][1] == 1
    del sub
    gc.collect()
    for _ in range(50):
        await asyncio.sleep(0.02)
        if (await client.pubsub_numsub(channel))[0][1] == 0:
            break
    assert (await client.pubsub_numsub(channel))[0][1] == 0
    assert redis_bus.backend.hub().pubsub is None


async def test_events_published_while_the_pubsub_connection_is_down_are_not_lost(redis_bus):
    client = async_redis()
    async with redis_bus.subscribe(["token:" + MINT]) as sub:
        before = await redis_bus.publish("token:" + MINT, "trade", {"i": 0})
        assert [e.id for e in await take(sub, 1)] == [before]

        addr = _hub_addr(redis_bus)
        await client.client_kill_filter(_type="pubsub", addr=addr)
        during = [await redis_bus.publish("token:" + MINT, "trade", {"i": i}) for i in (1, 2)]
        got = await take(sub, 2)
        after = await redis_bus.publish("token:" + MINT, "trade", {"i": 3})
        got += await take(sub, 1)
        assert await nothing_more(sub)

    assert [e.id for e in got] == [*during, after]


async def test_a_live_message_lost_in_transit_is_recovered_from_the_stream(redis_bus):
    """Pub/sub is at most once: an event in the stream whose message never arrived (here:
    appended without PUBLISH) is noticed through the next message's `prev` and replayed."""
    client = async_redis()
    key = redis_bus.backend.stream_key("fees")
    async with redis_bus.subscribe(["fees"]) as sub:
        first = await redis_bus.publish("fees", "levels", {"n": 1})
        lost = (
            await client.xadd(key, {"type": "levels", "data": '{"n":2}', "prev": first})
        ).decode()
        third = await redis_bus.publish("fees", "levels", {"n": 3})
        got = await take(sub, 3)
        assert await nothing_more(sub)
    assert [e.id for e in got] == [first, lost, third]
    assert [e.data["n"] for e in got] == [1, 2, 3]


# --- in process ---------------------------------------------------------------------


async def test_in_process_closing_detaches_and_other_threads_can_publish():
    backend = MemoryBackend(maxlen=100)
    bus = EventBus(backend)
    async with bus.subscribe(["pulse"]) as sub:
        assert backend.subscriber_count("pulse") == 1
        # A publisher on another thread with its own event loop (a sync task, say).
        ids = await asyncio.to_thread(
            lambda: [asyncio.run(bus.publish("pulse", "tick", {"i": i})) for i in range(5)]
        )
        assert [e.id for e in await take(sub, 5)] == ids
    assert backend.subscriber_count("pulse") == 0


def test_the_process_bus_follows_redis_url(settings):
    settings.REDIS_URL = ""
    assert isinstance(get_bus().backend, MemoryBackend)
    settings.REDIS_URL = "redis://127.0.0.1:6379/15"
    assert isinstance(get_bus().backend, RedisBackend)
