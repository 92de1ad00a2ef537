"""The WebSocket endpoint at /ws/: topics from the event bus, with resume.

Protocol (JSON text frames, one object each; README "Realtime"):

    server → {"type": "hello", "heartbeat_seconds": H}
    client → {"op": "subscribe", "topics": [...], "last_ids": {topic: id}, "token"?: ...}
    server → {"type": "subscribed", "topics": [every topic now followed]}
             then, per new topic, what the stream holds after its last id, then live:
             {"topic": T, "id": "<ms>-<seq>", "type": "token.created", "data": {...}}
    client → {"op": "unsubscribe", "topics": [...]}  → {"type": "unsubscribed", "topics": [...]}
    client → {"op": "auth", "token": "tp_..."}       → {"type": "authenticated", "user_id": N}
    client → {"op": "ping", "ts": x}                  → {"type": "pong", "ts": x}
    server → {"type": "ping", "ts": ms} every H s; any client frame (e.g. {"op": "pong"})
             keeps the connection alive, none for 3·H closes it with 4408.

Errors are frames {"type": "error", "error": {"code", "message", "field"?}}; the connection
stays open. Close codes: 1009 frame over 64 KiB, 4008 too slow (more than WS_SEND_QUEUE
events waiting for this client), 4408 heartbeat timeout.

Fan-out goes through the event bus (apps/realtime/bus.py: one Redis subscription per
process, Streams for replay), not through a channel layer: a per-connection channel
would cost a Redis subscription per client and could not replay. So the consumer sets no
channel layer. Each connection has one bus Subscription over all its topics and one task
(the pump) that sends what it yields; the subscription's bounded buffer is the
connection's send queue, and overflowing it closes the connection (4008) instead of
slowing the fan-out to everyone else.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from redis.exceptions import RedisError

from apps.realtime.access import (
    TopicForbidden,
    bearer_token,
    check_topic_access,
    parse_topics,
    user_id_for_token,
)
from apps.realtime.bus import (
    REPLAY_TRUNCATED,
    Subscription,
    parse_event_id,
    subscribe,
    wire_text,
)

log = logging.getLogger(__name__)

MAX_FRAME_BYTES = 64 * 1024
CLOSE_FRAME_TOO_LARGE = 1009
CLOSE_TOO_SLOW = 4008
CLOSE_HEARTBEAT_TIMEOUT = 4408
# A client silent for this many heartbeats is taken for dead.
HEARTBEATS_MISSED = 3


class ProtocolError(Exception):
    def __init__(self, code: str, message: str, field: str | None = None):
        super().__init__(message)
        self.code, self.message, self.field = code, message, field


class RealtimeConsumer(AsyncWebsocketConsumer):
    channel_layer_alias = "__bus__"  # no such layer: fan-out is the event bus (see above)

    async def connect(self) -> None:
        self.user_id: int | None = None
        self.topics: list[str] = []
        self.last_ids: dict[str, str] = {}  # the last event id sent per topic
        self.subscription: Subscription | None = None
        self.pump: asyncio.Task | None = None
        self.closing = False
        self.last_heard = time.monotonic()
        header = dict(self.scope.get("headers") or ()).get(b"authorization")
        token = bearer_token(header.decode("latin-1")) if header else None
        if token:
            self.user_id = await user_id_for_token(token)
        await self.accept()
        self.heartbeat = asyncio.get_running_loop().create_task(self._heartbeat())
        await self._send({"type": "hello", "heartbeat_seconds": settings.WS_HEARTBEAT_SECONDS})

    async def disconnect(self, code: int) -> None:
        self.closing = True
        self.heartbeat.cancel()
        await self._stop_pump()

    # ---- frames from the client -------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None):
        self.last_heard = time.monotonic()
        raw = text_data if text_data is not None else bytes_data
        if raw is not None and len(raw) > MAX_FRAME_BYTES:
            await self._close(CLOSE_FRAME_TOO_LARGE)
            return
        try:
            if text_data is None:
                raise ProtocolError("bad_frame", "send JSON text frames, not binary")
            try:
                message = json.loads(text_data)
            except ValueError:
                raise ProtocolError("malformed_json", "frame is not valid JSON") from None
            if not isinstance(message, dict):
                raise ProtocolError("bad_frame", "frame must be a JSON object")
            op = message.get("op")
            handler = self.OPS.get(op) if isinstance(op, str) else None
            if handler is None:
                raise ProtocolError(
                    "unknown_op", f"unknown op {op!r}; one of {', '.join(self.OPS)}", "op"
                )
            await handler(self, message)
        except ProtocolError as exc:
            await self._error(exc.code, exc.message, exc.field)

    async def _op_ping(self, message: dict) -> None:
        ts = message.get("ts")
        if not isinstance(ts, str | int | float | None) or isinstance(ts, bool):
            ts = None
        await self._send({"type": "pong", "ts": ts})

    async def _op_pong(self, message: dict) -> None:
        pass  # last_heard is already updated

    async def _op_auth(self, message: dict) -> None:
        await self._authenticate(message.get("token"))
        await self._send({"type": "authenticated", "user_id": self.user_id})

    async def _authenticate(self, token: Any) -> None:
        if not isinstance(token, str) or not token:
            raise ProtocolError("unauthorized", "token must be a non-empty string", "token")
        user_id = await user_id_for_token(token)
        if user_id is None:
            raise ProtocolError("unauthorized", "the token is not valid", "token")
        self.user_id = user_id

    @staticmethod
    def _topics(message: dict) -> list[str]:
        topics = message.get("topics")
        if not isinstance(topics, list):
            raise ProtocolError("bad_topics", "topics must be a list of topic names", "topics")
        try:
            return parse_topics(topics)
        except ValueError as exc:
            raise ProtocolError("bad_topics", str(exc), "topics") from None

    async def _op_subscribe(self, message: dict) -> None:
        topics = self._topics(message)
        last_ids = message.get("last_ids") or {}
        if not isinstance(last_ids, dict) or any(not isinstance(v, str) for v in last_ids.values()):
            raise ProtocolError("bad_last_ids", "last_ids maps topics to event ids", "last_ids")
        unknown = set(last_ids) - set(topics)
        if unknown:
            raise ProtocolError(
                "bad_last_ids", f"last ids for topics not asked for: {sorted(unknown)}", "last_ids"
            )
        for value in last_ids.values():
            try:
                parse_event_id(value)
            except ValueError as exc:
                raise ProtocolError("bad_last_ids", str(exc), "last_ids") from None
        if "token" in message:
            await self._authenticate(message["token"])
        try:
            check_topic_access(topics, self.user_id)
        except TopicForbidden as exc:
            raise ProtocolError("forbidden", str(exc), "topics") from None
        added = [t for t in topics if t not in self.topics]
        # Topics already followed keep their position; a new last id for one restarts it.
        positions = {**self.last_ids, **last_ids}
        for topic in added:
            if topic not in last_ids:
                positions.pop(topic, None)
        await self._follow_or_fail([*self.topics, *added], positions)
        await self._send({"type": "subscribed", "topics": self.topics})

    async def _op_unsubscribe(self, message: dict) -> None:
        topics = self._topics(message)
        keep = [t for t in self.topics if t not in topics]
        await self._follow_or_fail(keep, {t: i for t, i in self.last_ids.items() if t in keep})
        await self._send({"type": "unsubscribed", "topics": self.topics})

    OPS = {
        "subscribe": _op_subscribe,
        "unsubscribe": _op_unsubscribe,
        "auth": _op_auth,
        "ping": _op_ping,
        "pong": _op_pong,
    }

    # ---- events to the client ---------------------------------------------------------------

    async def _follow_or_fail(self, topics: list[str], positions: dict[str, str]) -> None:
        try:
            await self._follow(topics, positions)
        except (OSError, ConnectionError, RedisError) as exc:
            log.warning("websocket subscribe failed: %s", exc)
            self.topics, self.subscription = [], None
            raise ProtocolError(
                "unavailable", "the event bus is unavailable; subscribe again shortly"
            ) from None

    async def _follow(self, topics: list[str], positions: dict[str, str]) -> None:
        """Replace the connection's subscription by one over `topics`, each resuming after
        `positions[topic]` (topics without one start live). The old pump stops first, so
        nothing is sent twice; the new subscription resumes where it stopped."""
        await self._stop_pump()
        self.topics = topics
        self.last_ids = {t: i for t, i in positions.items() if t in topics}
        if not topics:
            return
        self.subscription = subscribe(
            topics,
            self.last_ids or None,
            buffer=settings.WS_SEND_QUEUE,
            on_overflow=self._too_slow,
        )
        await self.subscription.start()
        self.pump = asyncio.get_running_loop().create_task(self._pump(self.subscription))

    async def _pump(self, subscription: Subscription) -> None:
        try:
            async for event in subscription:
                if event.type != REPLAY_TRUNCATED:
                    self.last_ids[event.topic] = event.id
                # Straight to the server: Channels' send wrapper adds nothing here.
                await self.base_send({"type": "websocket.send", "text": wire_text(event)})
            if subscription.overflowed:
                # Sent from this task, after the send in flight: a close racing a blocked
                # send is lost by some servers (granian), leaving the socket half dead.
                await self._close(CLOSE_TOO_SLOW, force=True)
        except asyncio.CancelledError:
            raise
        except Exception:
            # The client went away mid-send, or the bus failed: end this connection cleanly.
            log.debug("websocket pump ended", exc_info=True)
            await self._close(1011)

    async def _stop_pump(self) -> None:
        pump, self.pump = self.pump, None
        if pump is not None:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pump
        subscription, self.subscription = self.subscription, None
        if subscription is not None:
            await subscription.aclose()

    def _too_slow(self) -> None:
        """The bus's buffer for this client overflowed: it gets nothing more, and the pump
        closes the connection (4008) once its send in flight is through."""
        self.closing = True

    async def _heartbeat(self) -> None:
        interval = settings.WS_HEARTBEAT_SECONDS
        while True:
            await asyncio.sleep(interval)
            if time.monotonic() - self.last_heard > HEARTBEATS_MISSED * interval:
                await self._close(CLOSE_HEARTBEAT_TIMEOUT)
                return
            with contextlib.suppress(Exception):
                await self._send({"type": "ping", "ts": int(time.time() * 1000)})

    async def _close(self, code: int, force: bool = False) -> None:
        if self.closing and not force:
            return
        self.closing = True
        with contextlib.suppress(Exception):
            await self.close(code=code)
        if self.pump is not None and self.pump is not asyncio.current_task():
            self.pump.cancel()

    async def _send(self, payload: dict) -> None:
        await self.send(text_data=json.dumps(payload, separators=(",", ":")))

    async def _error(self, code: str, message: str, field: str | None = None) -> None:
        error = {"code": code, "message": message}
        if field:
            error["field"] = field
        await self._send({"type": "error", "error": error})
