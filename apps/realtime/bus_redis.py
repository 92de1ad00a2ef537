"""The Redis event bus: a bounded Stream per topic (replay) plus pub/sub (live fan-out).

Publishing is one Lua script, so XADD and PUBLISH happen atomically: live subscribers in
every process see a topic's events in stream order even with many concurrent publishers,
and each message carries the id of the topic's previous event so a subscriber can tell it
missed one. Subscribing shares one pub/sub connection per process and event loop (a hub):
a thousand WebSocket clients on `pulse` cost one Redis subscription, not a thousand; the hub
subscribes a channel when its first local subscriber arrives, unsubscribes it when the last
one leaves, and closes the connection when no one is left.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import weakref
from collections.abc import Callable

import redis.asyncio as aioredis
from django.conf import settings
from redis.exceptions import NoScriptError, RedisError

from apps.realtime.bus import (
    ZERO_ID,
    Event,
    Live,
    Subscription,
    format_event_id,
    parse_event_id,
)
from config.redis_pool import async_redis

log = logging.getLogger(__name__)

# Seconds to wait for Redis to confirm a SUBSCRIBE before giving up on a subscriber.
SUBSCRIBE_TIMEOUT = 5.0
# The hub's read wakes at least this often, so redis-py's health-check PING runs and a dead
# connection is noticed instead of blocking forever.
READ_WAKE_SECONDS = 10.0

# KEYS[1] stream; ARGV: maxlen, channel, type, data JSON, topic JSON, type JSON.
# The pub/sub payload is assembled from already-encoded JSON parts: {topic,id,prev,type,data}.
# The entry keeps `prev` too: a replay then knows whether trimming cut events it needed.
PUBLISH_SCRIPT = """
local newest = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local prev = '0-0'
if newest[1] then prev = newest[1][1] end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*',
  'type', ARGV[3], 'data', ARGV[4], 'prev', prev)
redis.call('PUBLISH', ARGV[2], '{"topic":' .. ARGV[5] .. ',"id":"' .. id .. '","prev":"' .. prev
  .. '","type":' .. ARGV[6] .. ',"data":' .. ARGV[4] .. '}')
return id
"""
_PUBLISH_SHA = hashlib.sha1(PUBLISH_SCRIPT.encode(), usedforsecurity=False).hexdigest()


class RedisBackend:
    def __init__(
        self,
        prefix: str = "events",
        maxlen: int | None = None,
        client: Callable[[], aioredis.Redis] = async_redis,
    ):
        self.prefix = prefix
        self.maxlen = maxlen or settings.EVENT_STREAM_MAXLEN
        self._client = client
        self._hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Hub] = (
            weakref.WeakKeyDictionary()
        )

    def stream_key(self, topic: str) -> str:
        return f"{self.prefix}:{topic}"

    def channel(self, client: aioredis.Redis, topic: str) -> str:
        # Pub/sub ignores the database number; name it so a test database (or a second
        # deployment on the same Redis) never hears another's events.
        db = client.connection_pool.connection_kwargs.get("db", 0)
        return f"{self.prefix}:{db}:{topic}"

    async def publish(self, topic: str, event_type: str, data_json: str) -> str:
        client = self._client()
        args = (
            self.maxlen,
            self.channel(client, topic),
            event_type,
            data_json,
            json.dumps(topic),
            json.dumps(event_type),
        )
        key = self.stream_key(topic)
        try:
            event_id = await client.evalsha(_PUBLISH_SHA, 1, key, *args)
        except NoScriptError:  # first use on this server, or after SCRIPT FLUSH
            event_id = await client.eval(PUBLISH_SCRIPT, 1, key, *args)
        return event_id.decode() if isinstance(event_id, bytes) else str(event_id)

    # -- subscriber side --

    def hub(self, loop: asyncio.AbstractEventLoop | None = None) -> _Hub:
        loop = loop or asyncio.get_running_loop()
        hub = self._hubs.get(loop)
        if hub is None:
            hub = self._hubs[loop] = _Hub(self, loop)
        return hub

    async def attach(self, sub: Subscription) -> None:
        await self.hub(sub.loop).attach(sub)

    async def detach(self, sub: Subscription) -> None:
        hub = self._hubs.get(sub.loop)
        if hub is not None:
            await hub.detach(sub)

    def detach_soon(self, sub: Subscription) -> None:
        hub = self._hubs.get(sub.loop)
        if hub is not None:
            sub.loop.call_soon_threadsafe(hub.prune_soon)

    async def tails(self, topics: list[str]) -> dict[str, tuple[int, int]]:
        pipe = self._client().pipeline(transaction=False)
        for topic in topics:
            pipe.xrevrange(self.stream_key(topic), "+", "-", count=1)
        results = await pipe.execute()
        return {
            topic: parse_event_id(newest[0][0].decode()) if newest else ZERO_ID
            for topic, newest in zip(topics, results, strict=True)
        }

    async def read_after(self, topic: str, after: tuple[int, int], count: int):
        entries = await self._client().xrange(
            self.stream_key(topic), min=f"({format_event_id(after)}", max="+", count=count
        )
        events = [
            Event(topic, entry_id.decode(), fields[b"type"].decode(), json.loads(fields[b"data"]))
            for entry_id, fields in entries
        ]
        # The first entry after `after` names its predecessor; if that is newer than
        # `after`, the events in between were trimmed by MAXLEN.
        truncated = False
        if entries:
            prev = entries[0][1].get(b"prev")
            truncated = prev is not None and parse_event_id(prev.decode()) > after
        return events, truncated


class _Hub:
    """One event loop's pub/sub connection, routing channel messages to local subscribers."""

    def __init__(self, backend: RedisBackend, loop: asyncio.AbstractEventLoop):
        self.backend = backend
        self.loop = loop
        self.routes: dict[str, weakref.WeakSet[Subscription]] = {}
        self.topics: dict[str, str] = {}  # channel -> topic
        self.subscribed: set[str] = set()  # channels SUBSCRIBE was sent for
        self.pubsub: aioredis.client.PubSub | None = None
        self.reader: asyncio.Task | None = None
        self._confirming: dict[str, asyncio.Future] = {}
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task] = set()

    async def attach(self, sub: Subscription) -> None:
        client = self.backend._client()
        async with self._lock:
            channels = []
            for topic in sub.topics:
                channel = self.backend.channel(client, topic)
                self.routes.setdefault(channel, weakref.WeakSet()).add(sub)
                self.topics[channel] = topic
                channels.append(channel)
            missing = [c for c in channels if c not in self.subscribed]
            if missing:
                await self._subscribe(client, missing)

    async def _subscribe(self, client: aioredis.Redis, channels: list[str]) -> None:
        if self.pubsub is None:
            self.pubsub = client.pubsub()
        futures = [self.loop.create_future() for _ in channels]
        self._confirming.update(zip(channels, futures, strict=True))
        self.subscribed.update(channels)  # so a failure below still unsubscribes them later
        try:
            await self.pubsub.subscribe(*channels)
            if self.reader is None:
                self.reader = self.loop.create_task(self._read(self.pubsub))
            # Only once Redis has confirmed is every later publish certain to reach us;
            # the subscriber reads the stream tail after this.
            await asyncio.wait_for(asyncio.gather(*futures), SUBSCRIBE_TIMEOUT)
        finally:
            for channel in channels:
                self._confirming.pop(channel, None)

    async def detach(self, sub: Subscription) -> None:
        for routed in self.routes.values():
            routed.discard(sub)
        await self.prune()

    def prune_soon(self) -> None:
        task = self.loop.create_task(self.prune())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def prune(self) -> None:
        """Unsubscribe channels nobody here listens to; close the connection if none are left."""
        async with self._lock:
            idle = [channel for channel, subs in self.routes.items() if not subs]
            for channel in idle:
                del self.routes[channel]
                self.topics.pop(channel, None)
            if not self.routes:
                await self._close()
                return
            unsubscribe = [c for c in idle if c in self.subscribed]
            if unsubscribe:
                self.subscribed.difference_update(unsubscribe)
                try:
                    await self.pubsub.unsubscribe(*unsubscribe)
                except (RedisError, OSError) as exc:
                    # The reader's reconnect resubscribes what the pubsub still lists;
                    # stray messages for these channels are simply not routed.
                    log.warning("event bus: unsubscribe failed: %s", exc)

    async def _close(self) -> None:
        reader, self.reader = self.reader, None
        pubsub, self.pubsub = self.pubsub, None
        self.subscribed.clear()
        if reader is not None:
            reader.cancel()
            await asyncio.wait([reader])  # without re-raising its CancelledError here
        if pubsub is not None:
            await pubsub.aclose()

    async def _read(self, pubsub: aioredis.client.PubSub) -> None:
        failures = 0
        while True:
            try:
                message = await pubsub.get_message(timeout=READ_WAKE_SECONDS)
            except (RedisError, OSError) as exc:
                # Redis went away. The next read reconnects and redis-py resubscribes every
                # channel; each resubscription's confirmation below makes its subscribers
                # re-read the stream, so nothing published meanwhile is lost.
                failures += 1
                delay = min(0.05 * 2**failures, 5.0)
                log.warning("event bus: pub/sub read failed (%s); retrying in %.2fs", exc, delay)
                await asyncio.sleep(delay)
                continue
            failures = 0
            if message is not None:
                self._handle(message)

    def _handle(self, message: dict) -> None:
        kind = message["type"]
        channel = message["channel"]
        channel = channel.decode() if isinstance(channel, bytes) else channel
        if kind == "message":
            self._dispatch(channel, message["data"])
        elif kind == "subscribe":
            future = self._confirming.get(channel)
            if future is not None and not future.done():
                future.set_result(None)
            else:  # a resubscription after reconnecting: events may have been missed
                topic = self.topics.get(channel)
                for sub in list(self.routes.get(channel, ())):
                    sub.resync(topic)

    def _dispatch(self, channel: str, raw: bytes) -> None:
        subs = self.routes.get(channel)
        if not subs:
            return
        try:
            message = json.loads(raw)
            event = Event(message["topic"], message["id"], message["type"], message["data"])
            live = Live(event, parse_event_id(event.id), parse_event_id(message["prev"]))
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("event bus: malformed message on %s: %s", channel, exc)
            return
        if event.topic != self.topics.get(channel):
            log.warning("event bus: message for %r on channel %s", event.topic, channel)
            return
        for sub in list(subs):
            sub.feed(live)
