"""The in-process event bus (no REDIS_URL): a bounded deque per topic as the stream, fan-out
to subscribers' buffers. Thread-safe: publishers may run on other threads or event loops
(a Celery eager task, the market generator); each subscriber is fed on its own loop.
"""

from __future__ import annotations

import collections
import json
import threading
import time
import weakref

from django.conf import settings

from apps.realtime.bus import ZERO_ID, Event, Live, Subscription, format_event_id


class _Stream:
    __slots__ = ("entries", "last", "trimmed")

    def __init__(self, maxlen: int):
        self.entries: collections.deque[tuple[tuple[int, int], Event]] = collections.deque(
            maxlen=maxlen
        )
        self.last = ZERO_ID
        self.trimmed: tuple[int, int] | None = None  # newest id the bound pushed out


class MemoryBackend:
    def __init__(self, maxlen: int | None = None):
        self.maxlen = maxlen or settings.EVENT_STREAM_MAXLEN
        self._lock = threading.RLock()  # re-entrant: detach_soon may run from a finalizer
        self._streams: dict[str, _Stream] = {}
        self._subscribers: dict[str, weakref.WeakSet[Subscription]] = {}
        # The last data parsed: one event fanned out to several topics arrives as the same
        # encoded text each time, and is parsed once (events are read-only for subscribers).
        self._parsed: tuple[str | None, dict] = (None, {})

    def _stream(self, topic: str) -> _Stream:
        stream = self._streams.get(topic)
        if stream is None:
            stream = self._streams[topic] = _Stream(self.maxlen)
        return stream

    async def publish(self, topic: str, event_type: str, data_json: str) -> str:
        last_json, data = self._parsed  # one tuple read: safe against other threads
        if last_json is not data_json:
            data = json.loads(data_json)  # a private copy: the publisher may mutate its dict
            self._parsed = (data_json, data)
        with self._lock:
            stream = self._stream(topic)
            # Redis's id scheme: milliseconds, then a sequence within the millisecond;
            # never backwards even if the wall clock is.
            now_ms = time.time_ns() // 1_000_000
            ms, seq = stream.last
            event_id = (now_ms, 0) if now_ms > ms else (ms, seq + 1)
            event = Event(topic, format_event_id(event_id), event_type, data)
            if len(stream.entries) == stream.entries.maxlen:
                stream.trimmed = stream.entries[0][0]
            stream.entries.append((event_id, event))
            live = Live(event, event_id, stream.last)
            stream.last = event_id
            # Scheduling under the lock keeps each subscriber's feed in id order.
            for sub in list(self._subscribers.get(topic, ())):
                try:
                    sub.loop.call_soon_threadsafe(sub.feed, live)
                except RuntimeError:  # its loop is closed: the subscriber is gone
                    self._subscribers[topic].discard(sub)
        return event.id

    async def attach(self, sub: Subscription) -> None:
        with self._lock:
            for topic in sub.topics:
                self._subscribers.setdefault(topic, weakref.WeakSet()).add(sub)

    async def detach(self, sub: Subscription) -> None:
        self.detach_soon(sub)

    def detach_soon(self, sub: Subscription) -> None:
        with self._lock:
            for topic in sub.topics:
                subs = self._subscribers.get(topic)
                if subs is not None:
                    subs.discard(sub)
                    if not subs:
                        del self._subscribers[topic]

    def subscriber_count(self, topic: str) -> int:
        with self._lock:
            return len(self._subscribers.get(topic, ()))

    async def tails(self, topics: list[str]) -> dict[str, tuple[int, int]]:
        with self._lock:
            return {t: self._streams[t].last if t in self._streams else ZERO_ID for t in topics}

    async def read_after(self, topic: str, after: tuple[int, int], count: int):
        with self._lock:
            stream = self._streams.get(topic)
            if stream is None:
                return [], False
            out = []
            # Newest first from the right would be cheaper for short catch-ups, but replay
            # reads are rare and the deque is bounded.
            for event_id, event in stream.entries:
                if event_id > after:
                    out.append(event)
                    if len(out) == count:
                        break
            # The bound drops oldest first: anything trimmed after `after` was missed.
            return out, stream.trimmed is not None and stream.trimmed > after
