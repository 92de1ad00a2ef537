"""Two ASGI server processes (granian, as the Procfile runs them) on one real Redis: an
event published in another process reaches the WebSocket and SSE clients of both, with
the same ids in the same order."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
import websockets
from django.conf import settings

from apps.realtime.bus import publish
from bench.harness import APPS, running_server

pytestmark = pytest.mark.slow


@pytest.fixture
def two_servers():
    env = {"REDIS_URL": settings.REDIS_URL}
    with (
        running_server("granian", APPS["platform"], env=env) as a,
        running_server("granian", APPS["platform"], env=env) as b,
    ):
        assert a.pid != b.pid
        yield a.base(), b.base()


async def _ws_events(base: str, n: int, ready: asyncio.Event) -> list[dict]:
    async with websockets.connect(base.replace("http://", "ws://") + "/ws/") as ws:
        await ws.recv()  # hello
        await ws.send(json.dumps({"op": "subscribe", "topics": ["pulse"]}))
        assert json.loads(await ws.recv())["type"] == "subscribed"
        ready.set()
        return [json.loads(await asyncio.wait_for(ws.recv(), 10)) for _ in range(n)]


async def _sse_events(base: str, n: int, ready: asyncio.Event) -> list[dict]:
    async with httpx.AsyncClient(timeout=10) as client:
        async with client.stream("GET", f"{base}/api/stream?topics=pulse") as response:
            assert response.status_code == 200
            ready.set()
            events = []
            async for line in response.aiter_lines():
                if line.startswith("data: "):
                    events.append(json.loads(line.removeprefix("data: ")))
                    if len(events) == n:
                        return events
    raise AssertionError("the stream ended early")


async def test_event_published_elsewhere_reaches_ws_and_sse_clients_of_both_servers(
    two_servers,
):
    a, b = two_servers
    readies = [asyncio.Event() for _ in range(4)]
    clients = [
        asyncio.create_task(_ws_events(a, 5, readies[0])),
        asyncio.create_task(_ws_events(b, 5, readies[1])),
        asyncio.create_task(_sse_events(a, 5, readies[2])),
        asyncio.create_task(_sse_events(b, 5, readies[3])),
    ]
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 20)
    await asyncio.sleep(0.2)  # the SSE subscriptions are attached once the 200 is sent

    ids = [await publish("pulse", "token.created", {"n": n}) for n in range(5)]
    received = await asyncio.wait_for(asyncio.gather(*clients), 20)

    for events in received:
        assert [e["id"] for e in events] == ids
        assert [e["data"]["n"] for e in events] == list(range(5))
