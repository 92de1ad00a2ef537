"""The event bus: topics the front end streams, with replay after a last-seen id.

`await publish(topic, type, data)` appends the event to the topic's bounded stream and fans it
out live; it returns the event id (a Redis stream id, `<ms>-<seq>`, ordered per topic).
`subscribe(topics, last_ids)` is an async iterator of `Event`s: per topic, first what the
stream holds after the given last id, then live events, in order, with no gap or duplicate
at the seam.

With `REDIS_URL` the bus is Redis (`bus_redis.py`: a Stream per topic plus pub/sub, one
pub/sub connection per process shared by all subscribers); without it, the same interface
runs in process (`bus_memory.py`), which is what `make run`'s embedded defaults use.

How gaps are avoided (both backends): a subscriber attaches to live delivery before it reads
the stream tail, so nothing published after the tail can be missed; live events at or below
the last id already delivered are skipped. Every live message also carries the id of the
topic's previous event (`prev`): if that is newer than the last id delivered, something was
lost (a pub/sub reconnect, a subscriber buffer overflow), and the subscriber re-reads the
stream from its last id before going on. If the stream was trimmed past a subscriber's last
id, it receives one `REPLAY_TRUNCATED` event for that topic so the client can reload a
snapshot instead of trusting a partial history.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import json
import logging
import re
import threading
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple, Protocol

from django.conf import settings

from apps.chain.base58 import b58decode

log = logging.getLogger(__name__)

# The type of the marker event sent when a replay cannot be complete: the stream no longer
# holds some events after the client's last id (MAXLEN trimmed them). Its data says from
# where the retained history starts; its id is the last id the subscriber had.
REPLAY_TRUNCATED = "replay.truncated"

# Refuse oversized events: every subscriber of the topic would receive them.
MAX_EVENT_BYTES = 256 * 1024
# Stream entries read per round trip while replaying.
REPLAY_PAGE = 500

FIXED_TOPICS = ("pulse", "pulse:new", "pulse:final", "pulse:migrated", "migrations", "fees")
TOPIC_FORMS = (*FIXED_TOPICS, "token:<base58 mint>", "orders:<user id>")
_EVENT_TYPE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_EVENT_ID = re.compile(r"(\d{1,20})(?:-(\d{1,20}))?")
_USER_ID = re.compile(r"[1-9][0-9]{0,18}")


class Event(NamedTuple):
    """One event. Live events are shared by every subscriber in the process: do not mutate
    `data`."""

    topic: str
    id: str
    type: str
    data: dict[str, Any]

    def as_message(self) -> dict[str, Any]:
        """The wire shape clients receive: {topic, id, type, data}."""
        return {"topic": self.topic, "id": self.id, "type": self.type, "data": self.data}


# The wire text of recent events, shared by every connection of the process: a live event
# fanned out to a thousand WebSocket clients is encoded once, not a thousand times.
_WIRE_CACHE: collections.OrderedDict[tuple[str, str], str] = collections.OrderedDict()
_WIRE_CACHE_SIZE = 4096


def wire_text(event: Event) -> str:
    """`event.as_message()` as compact JSON, encoded once per process per event."""
    key = (event.topic, event.id)
    text = _WIRE_CACHE.get(key)
    if text is None or event.type == REPLAY_TRUNCATED:
        text = json.dumps(event.as_message(), separators=(",", ":"), ensure_ascii=False)
        if event.type != REPLAY_TRUNCATED:  # its id repeats a real event's id
            _WIRE_CACHE[key] = text
            if len(_WIRE_CACHE) > _WIRE_CACHE_SIZE:
                _WIRE_CACHE.popitem(last=False)
    return text


# --- validation -------------------------------------------------------------------


def validate_topic(topic: object) -> str:
    """The topic itself if it is one the platform streams; ValueError naming the forms if not."""
    if isinstance(topic, str):
        if topic in FIXED_TOPICS:
            return topic
        kind, sep, key = topic.partition(":")
        if sep and kind == "token" and _is_mint(key):
            return topic
        if sep and kind == "orders" and _USER_ID.fullmatch(key):
            return topic
    raise ValueError(f"unknown topic {topic!r}; allowed: {', '.join(TOPIC_FORMS)}")


def is_private_topic(topic: str) -> bool:
    """`orders:<user>` topics carry one user's orders; only that user may subscribe."""
    return topic.startswith("orders:")


@functools.lru_cache(maxsize=65_536)  # token topics repeat on every trade: decode each mint once
def _is_mint(text: str) -> bool:
    if not 32 <= len(text) <= 44:
        return False
    try:
        return len(b58decode(text)) == 32
    except ValueError:
        return False


def validate_event_type(event_type: object) -> str:
    if type(event_type) is str and event_type in _KNOWN_TYPES:
        return event_type
    if not isinstance(event_type, str) or not _EVENT_TYPE.fullmatch(event_type):
        raise ValueError(
            f"event type must be 1-64 characters of letters, digits and _.:- (got {event_type!r})"
        )
    if len(_KNOWN_TYPES) < 1024:  # a few dozen types in practice; never grows unbounded
        _KNOWN_TYPES.add(event_type)
    return event_type


_KNOWN_TYPES: set[str] = set()


def encode_data(data: object) -> str:
    """The event data as compact JSON text; TypeError/ValueError saying why it cannot be."""
    if not isinstance(data, dict):
        raise TypeError(f"event data must be a JSON object (dict), not {type(data).__name__}")
    try:
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"event data is not JSON-serializable: {exc}") from None
    if len(text.encode()) > MAX_EVENT_BYTES:
        raise ValueError(f"event data is over {MAX_EVENT_BYTES} bytes as JSON")
    return text


class EncodedData(NamedTuple):
    """Event data already checked and encoded by `encode_data`: one event published on several
    topics (Pulse fan-out) is encoded once. Make it with `encode_event_data`."""

    text: str


def encode_event_data(data: object) -> EncodedData:
    """`data` encoded once for several `publish` calls (same errors as publish)."""
    return EncodedData(encode_data(data))


def parse_event_id(event_id: object) -> tuple[int, int]:
    """`<ms>-<seq>` (or a bare `<ms>`, as Redis accepts) as a comparable pair."""
    match = _EVENT_ID.fullmatch(event_id) if isinstance(event_id, str) else None
    if match is None:
        raise ValueError(f"bad event id {event_id!r}: expected <milliseconds>-<sequence>")
    ms, seq = int(match[1]), int(match[2] or 0)
    if ms >= 2**64 or seq >= 2**64:
        raise ValueError(f"bad event id {event_id!r}: out of range")
    return ms, seq


def format_event_id(pair: tuple[int, int]) -> str:
    return f"{pair[0]}-{pair[1]}"


ZERO_ID = (0, 0)


def validate_last_ids(topics: list[str], last_ids: dict[str, str] | None) -> dict[str, tuple]:
    if not last_ids:
        return {}
    unknown = set(last_ids) - set(topics)
    if unknown:
        raise ValueError(f"last ids given for topics not subscribed: {sorted(unknown)}")
    return {topic: parse_event_id(value) for topic, value in last_ids.items()}


# --- backends ---------------------------------------------------------------------


class Live(NamedTuple):
    """A live event as fanned out, with the id of its topic's previous event."""

    event: Event
    id: tuple[int, int]  # event.id parsed once for every subscriber
    prev: tuple[int, int]


class Backend(Protocol):
    """What a Subscription needs from a store. Events are ordered per topic by id."""

    async def publish(self, topic: str, event_type: str, data_json: str) -> str: ...

    async def attach(self, sub: Subscription) -> None:
        """Start live delivery (sub.feed / sub.resync) for sub.topics; returns once active."""

    async def detach(self, sub: Subscription) -> None: ...

    def detach_soon(self, sub: Subscription) -> None:
        """detach() from a finalizer: no awaiting, any thread."""

    async def tails(self, topics: list[str]) -> dict[str, tuple[int, int]]:
        """Each topic's newest event id, ZERO_ID for an empty stream."""

    async def read_after(
        self, topic: str, after: tuple[int, int], count: int
    ) -> tuple[list[Event], bool]:
        """Up to `count` events after `after`, oldest first, and whether the stream bound
        already dropped some events after `after` (the replay cannot be complete)."""


class Subscription:
    """An async iterator of Events for some topics. Close it (`aclose`, `async with`) when
    done; one dropped without closing is detached when garbage collected."""

    def __init__(
        self,
        backend: Backend,
        topics: Iterable[str],
        last_ids: dict[str, str] | None = None,
        buffer: int | None = None,
        on_overflow: Callable[[], None] | None = None,
    ):
        if isinstance(topics, str):
            raise TypeError("topics must be a list of topic names, not one string")
        self.topics: list[str] = list(dict.fromkeys(validate_topic(t) for t in topics))
        if not self.topics:
            raise ValueError("subscribe needs at least one topic")
        self._given = validate_last_ids(self.topics, last_ids)
        self._backend = backend
        self._buffer = buffer or settings.EVENT_SUBSCRIBER_BUFFER
        # Called (instead of catching up from the stream) when the buffer overflows: a
        # WebSocket too slow to keep up is cut off rather than served from behind forever.
        self._on_overflow = on_overflow
        self.overflowed = False
        self._timed_out = False
        self._last: dict[str, tuple[int, int]] = {}
        self._pending: collections.deque[Event] = collections.deque()
        self._behind: dict[str, None] = {}  # topics to re-read from the stream, in order
        self._queue: collections.deque[Live] = collections.deque()
        self._wake: asyncio.Event | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._started = False
        self._closed = False

    # -- called by backends, on self.loop --

    def feed(self, live: Live) -> None:
        """A live event. Never blocks: a subscriber too far behind drops its buffer and
        catches up from the stream instead of slowing the fan-out for everyone else."""
        if self._closed or self.overflowed:
            return
        if len(self._queue) >= self._buffer:
            self._queue.clear()
            if self._on_overflow is not None:
                self.overflowed = True  # iteration ends; the owner closes it
                self._wake.set()
                self._on_overflow()
                return
            for topic in self.topics:
                self._behind[topic] = None
            log.debug("event subscriber overflowed its buffer; catching up from the stream")
        else:
            self._queue.append(live)
        self._wake.set()

    def resync(self, topic: str) -> None:
        """Live delivery for topic may have lost events (reconnect): re-read the stream."""
        if not self._closed and topic in self._last:
            self._behind[topic] = None
            self._wake.set()

    # -- iteration --

    def __aiter__(self) -> Subscription:
        return self

    async def __aenter__(self) -> Subscription:
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()

    async def start(self) -> None:
        """Attach to live delivery and position each topic; idempotent. Events published
        after this returns are delivered (subscribe() alone starts on first iteration)."""
        if self._started:
            return
        if self._closed:
            raise RuntimeError("subscription is closed")
        self.loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._started = True
        try:
            await self._backend.attach(self)
            tails = await self._backend.tails(self.topics)
        except BaseException:
            await self.aclose()
            raise
        for topic in self.topics:
            tail = tails[topic]
            given = self._given.get(topic)
            if given is None or given >= tail:
                # No history asked for, or nothing newer: live from the tail. A last id past
                # the tail (a client's bogus id) must not hide events still to come.
                self._last[topic] = tail
            else:
                self._last[topic] = given
                self._behind[topic] = None

    async def next_within(self, timeout: float) -> Event | None:
        """The next event, or None when none comes within `timeout` seconds (SSE sends a
        heartbeat then). A timer, not a task per call: a stream waits like this per event."""
        if not self._started:
            await self.start()
        handle = self.loop.call_later(timeout, self._time_out)
        try:
            return await self._next(may_time_out=True)
        finally:
            handle.cancel()
            self._timed_out = False

    def _time_out(self) -> None:
        self._timed_out = True
        self._wake.set()

    async def __anext__(self) -> Event:
        if not self._started:
            await self.start()
        return await self._next(may_time_out=False)

    async def _next(self, may_time_out: bool) -> Event | None:
        while True:
            if self._closed or self.overflowed:
                raise StopAsyncIteration
            if self._pending:
                event = self._pending.popleft()
                if event.type != REPLAY_TRUNCATED:
                    self._last[event.topic] = parse_event_id(event.id)
                return event
            if self._behind:
                await self._read_behind(next(iter(self._behind)))
                continue
            if not self._queue:
                if may_time_out and self._timed_out:
                    return None
                self._wake.clear()
                await self._wake.wait()
                continue
            event, event_id, prev = self._queue.popleft()
            last = self._last[event.topic]
            if event_id <= last:
                continue  # already replayed (the seam) or already caught up
            if prev > last:
                self._behind[event.topic] = None  # events between last and this one missed
                continue
            self._last[event.topic] = event_id
            return event

    async def _read_behind(self, topic: str) -> None:
        # Unmark first: an overflow or resync while the read is in flight marks it again.
        del self._behind[topic]
        last = self._last[topic]
        try:
            events, truncated = await self._backend.read_after(topic, last, REPLAY_PAGE)
        except BaseException:  # e.g. the caller's wait_for timed out: read again next time
            self._behind[topic] = None
            raise
        if truncated:
            oldest = events[0].id if events else None
            self._pending.append(
                Event(
                    topic,
                    format_event_id(last),
                    REPLAY_TRUNCATED,
                    {"after": format_event_id(last), "oldest_available": oldest},
                )
            )
        self._pending.extend(events)
        if len(events) == REPLAY_PAGE:
            # More to read. The next page is read once this one is yielded (which moves
            # _last to its end), so a long replay is held in memory one page at a time.
            self._behind[topic] = None

    async def aclose(self) -> None:
        """Stop and release live delivery (the pub/sub subscription). Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._wake is not None:
            self._wake.set()
        self._queue.clear()
        self._pending.clear()
        if self._started:
            await asyncio.shield(self._backend.detach(self))

    @property
    def closed(self) -> bool:
        return self._closed

    def __del__(self) -> None:
        if getattr(self, "_started", False) and not self._closed:
            self._closed = True
            # Its loop may be closed or the interpreter exiting: nothing left to release then.
            with contextlib.suppress(Exception):
                self._backend.detach_soon(self)


# --- the process's bus ------------------------------------------------------------


class EventBus:
    """publish/subscribe over one backend."""

    def __init__(self, backend: Backend):
        self.backend = backend

    async def publish(
        self,
        topic: str,
        type: str,  # noqa: A002
        data: dict[str, Any] | EncodedData,
    ) -> str:
        validate_topic(topic)
        validate_event_type(type)
        text = data.text if isinstance(data, EncodedData) else encode_data(data)
        return await self.backend.publish(topic, type, text)

    def subscribe(
        self,
        topics: list[str],
        last_ids: dict[str, str] | None = None,
        *,
        buffer: int | None = None,
        on_overflow: Callable[[], None] | None = None,
    ) -> Subscription:
        return Subscription(self.backend, topics, last_ids, buffer, on_overflow)


_bus: tuple[str, EventBus] | None = None
_bus_lock = threading.Lock()


def get_bus() -> EventBus:
    """Redis when REDIS_URL is set, else the in-process bus; one per process."""
    global _bus
    key = settings.REDIS_URL or ""
    bus = _bus  # one read: the common case needs no lock
    if bus is not None and bus[0] == key:
        return bus[1]
    with _bus_lock:
        if _bus is None or _bus[0] != key:
            if key:
                from apps.realtime.bus_redis import RedisBackend

                _bus = (key, EventBus(RedisBackend()))
            else:
                from apps.realtime.bus_memory import MemoryBackend

                _bus = (key, EventBus(MemoryBackend()))
        return _bus[1]


async def publish(topic: str, type: str, data: dict[str, Any] | EncodedData) -> str:  # noqa: A002
    """Append an event to topic's stream and fan it out; returns its id. `data` may come
    pre-encoded (`encode_event_data`) when the same event goes to several topics."""
    return await get_bus().publish(topic, type, data)


def subscribe(
    topics: list[str],
    last_ids: dict[str, str] | None = None,
    *,
    buffer: int | None = None,
    on_overflow: Callable[[], None] | None = None,
) -> Subscription:
    """Events of topics: the stream after last_ids[topic] (if given), then live. With
    `on_overflow`, a subscriber more than `buffer` live events behind is not caught up from
    the stream: on_overflow is called and it receives nothing more."""
    return get_bus().subscribe(topics, last_ids, buffer=buffer, on_overflow=on_overflow)
