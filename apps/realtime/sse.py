"""Server-Sent Events at GET /api/stream?topics=pulse,token:<mint>

    id: pulse@1732460000000-0;token:<mint>@1732460000001-3
    event: token.updated
    data: {"topic":"pulse","id":"1732460000000-0","type":"token.updated","data":{...}}

One stream may follow several topics while Last-Event-ID is one string, so each `id:` is a
cursor holding the last id of every topic delivered so far (`<topic>@<id>` joined by `;`).
A client just echoes it: on reconnect (EventSource does it by itself with the
Last-Event-ID header; `?last_event_id=` does the same for clients that cannot set headers)
each topic resumes exactly after its own last event. A `: ping` comment goes out every
SSE_HEARTBEAT_SECONDS so proxies and clients see a live connection.

Private topics (`orders:<user id>`) need the user's bearer token: the Authorization header,
or `?token=` for EventSource, which cannot set headers. Everything is checked before the
stream opens: a bad topic or cursor is a 400 naming the field, a private topic without its
user's token a 403.

Served on the event loop: an async generator over a bus subscription, so an open stream
holds no thread; it ends (and releases its subscription) when the client disconnects.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase, StreamingHttpResponse
from django.views.decorators.http import require_GET

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
from config.api_errors import error_response

log = logging.getLogger(__name__)

MAX_CURSOR_LENGTH = 8 * 1024


def parse_cursor(cursor: str, topics: list[str]) -> dict[str, str]:
    """`topic@id;topic@id` → {topic: id}, for topics of this stream only (a cursor from a
    stream with more topics is fine: the others are ignored). ValueError saying why."""
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise ValueError("too long")
    last_ids: dict[str, str] = {}
    for part in filter(None, cursor.split(";")):
        topic, sep, event_id = part.rpartition("@")
        if not sep or not topic:
            raise ValueError(f"{part!r} is not <topic>@<event id>")
        parse_event_id(event_id)
        if topic in topics:
            last_ids[topic] = event_id
    return last_ids


def format_cursor(last_ids: dict[str, str]) -> str:
    return ";".join(f"{topic}@{event_id}" for topic, event_id in last_ids.items())


@require_GET
async def event_stream(request: HttpRequest) -> HttpResponseBase:
    try:
        topics = parse_topics(request.GET.get("topics", ""))
    except ValueError as exc:
        return error_response(400, str(exc), field="topics")
    cursor = request.headers.get("Last-Event-ID") or request.GET.get("last_event_id") or ""
    try:
        last_ids = parse_cursor(cursor, topics)
    except ValueError as exc:
        return error_response(400, f"bad cursor: {exc}", field="Last-Event-ID")
    token = bearer_token(request.headers.get("Authorization")) or request.GET.get("token")
    user_id = await user_id_for_token(token) if token else None
    try:
        check_topic_access(topics, user_id)
    except TopicForbidden as exc:
        return error_response(403, str(exc), field="topics")
    subscription = subscribe(topics, last_ids or None)
    try:
        await subscription.start()  # before answering 200: a dead bus is a 503, not a hang
    except Exception as exc:
        await subscription.aclose()
        log.warning("sse: cannot subscribe: %s", exc)
        return error_response(503, "the event bus is unavailable", field=None)
    response = StreamingHttpResponse(
        _events(subscription, last_ids), content_type="text/event-stream; charset=utf-8"
    )
    response["Cache-Control"] = "no-cache, no-transform"
    response["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
    return response


async def _events(subscription: Subscription, last_ids: dict[str, str]) -> AsyncIterator[bytes]:
    heartbeat = settings.SSE_HEARTBEAT_SECONDS
    cursor = dict(last_ids)
    try:
        # Tell EventSource how soon to reconnect, and open the stream for proxies at once.
        yield b"retry: 1000\n: connected\n\n"
        while True:
            try:
                event = await subscription.next_within(heartbeat)
            except StopAsyncIteration:
                return
            if event is None:
                yield b": ping\n\n"
                continue
            if event.type != REPLAY_TRUNCATED:
                cursor[event.topic] = event.id
            yield (
                f"id: {format_cursor(cursor)}\nevent: {event.type}\ndata: {wire_text(event)}\n\n"
            ).encode()
    finally:
        await subscription.aclose()
