"""WebSocket /ws/ over a real socket: subscribe, live events, resume, private topics, bad
input, heartbeats and slow clients. Run on Redis and on the in-process bus."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import time

import pytest
import websockets
from django.contrib.auth import get_user_model

from apps.ingestion.services.api_tokens import api_token_issue
from apps.realtime.bus import publish
from config.asgi import application
from tests.servers import serve_asgi

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(params=["redis", "memory"])
def bus_kind(request, settings):
    if request.param == "memory":
        settings.REDIS_URL = ""
    return request.param


@pytest.fixture
def ws_url(bus_kind):
    with serve_asgi(application) as url:
        yield url.replace("http://", "ws://") + "/ws/"


async def recv_json(ws, timeout: float = 5.0) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def connect(url: str, **kwargs):
    ws = await websockets.connect(url, **kwargs)
    hello = await recv_json(ws)
    assert hello["type"] == "hello"
    return ws


async def subscribe(ws, topics, last_ids=None, **extra) -> dict:
    frame = {"op": "subscribe", "topics": topics, **extra}
    if last_ids:
        frame["last_ids"] = last_ids
    await ws.send(json.dumps(frame))
    return await recv_json(ws)


async def events(ws, n: int) -> list[dict]:
    return [await recv_json(ws) for _ in range(n)]


async def test_subscribe__live_events_arrive_in_order_with_ids(ws_url):
    ws = await connect(ws_url)
    answer = await subscribe(ws, ["pulse", "fees"])
    ids = [await publish("pulse", "token.created", {"n": n}) for n in range(3)]
    fee_id = await publish("fees", "fees.updated", {"level": "high"})

    got = await events(ws, 4)
    await ws.close()

    assert answer == {"type": "subscribed", "topics": ["pulse", "fees"]}
    assert [(e["topic"], e["id"], e["data"]) for e in got[:3]] == [
        ("pulse", ids[n], {"n": n}) for n in range(3)
    ]
    assert got[3] == {
        "topic": "fees",
        "id": fee_id,
        "type": "fees.updated",
        "data": {"level": "high"},
    }


async def test_resume__100_missed_events_exactly_once_in_order_then_live(ws_url):
    ws = await connect(ws_url)
    await subscribe(ws, ["pulse"])
    await publish("pulse", "token.updated", {"n": -1})
    last_seen = (await recv_json(ws))["id"]
    await ws.close()
    missed = [await publish("pulse", "token.updated", {"n": n}) for n in range(100)]

    ws = await connect(ws_url)
    answer = await subscribe(ws, ["pulse"], {"pulse": last_seen})
    replayed = await events(ws, 100)
    live_id = await publish("pulse", "token.updated", {"n": 100})
    live = await recv_json(ws)
    await ws.close()

    assert answer["type"] == "subscribed"
    assert [e["id"] for e in replayed] == missed
    assert [e["data"]["n"] for e in replayed] == list(range(100))
    assert live["id"] == live_id


async def test_unsubscribe__stops_that_topic_only(ws_url):
    ws = await connect(ws_url)
    await subscribe(ws, ["pulse", "migrations"])
    await ws.send(json.dumps({"op": "unsubscribe", "topics": ["pulse"]}))
    answer = await recv_json(ws)
    await publish("pulse", "token.created", {"n": 1})
    kept = await publish("migrations", "migrated", {"mint": "x"})
    got = await recv_json(ws)
    await ws.close()

    assert answer == {"type": "unsubscribed", "topics": ["migrations"]}
    assert got["id"] == kept and got["topic"] == "migrations"


async def test_subscribe_more__earlier_topics_keep_their_place(ws_url):
    ws = await connect(ws_url)
    await subscribe(ws, ["pulse"])
    first = await publish("pulse", "token.created", {"n": 1})
    assert (await recv_json(ws))["id"] == first
    answer = await subscribe(ws, ["fees"])
    second = await publish("pulse", "token.created", {"n": 2})
    fee = await publish("fees", "fees.updated", {})
    got = await events(ws, 2)
    await ws.close()

    assert answer["topics"] == ["pulse", "fees"]
    assert sorted(e["id"] for e in got) == sorted([second, fee])  # nothing replayed twice


@pytest.fixture
def two_users(db):
    user_model = get_user_model()
    alice = user_model.objects.create_user("alice", "alice@example.com")
    bob = user_model.objects.create_user("bob", "bob@example.com")
    return (
        (alice.pk, api_token_issue(user=alice).raw),
        (bob.pk, api_token_issue(user=bob).raw),
    )


@pytest.fixture
def ws_url_redis(settings):
    with serve_asgi(application) as url:
        yield url.replace("http://", "ws://") + "/ws/"


async def test_private_topic__refused_without_or_with_a_wrong_or_foreign_token(
    ws_url_redis, two_users
):
    (alice_id, alice_token), (bob_id, bob_token) = two_users
    ws = await connect(ws_url_redis)

    anonymous = await subscribe(ws, [f"orders:{alice_id}"])
    wrong = await subscribe(ws, [f"orders:{alice_id}"], token="tp_not-a-real-token")
    foreign = await subscribe(ws, [f"orders:{alice_id}"], token=bob_token)
    await ws.close()

    assert anonymous["type"] == "error" and anonymous["error"]["code"] == "forbidden"
    assert anonymous["error"]["field"] == "topics"
    assert wrong["error"]["code"] == "unauthorized" and wrong["error"]["field"] == "token"
    assert foreign["error"]["code"] == "forbidden"


async def test_private_topic__each_user_gets_only_their_own_orders(ws_url_redis, two_users):
    (alice_id, alice_token), (bob_id, bob_token) = two_users
    alice = await connect(
        ws_url_redis, additional_headers={"Authorization": f"Bearer {alice_token}"}
    )
    bob = await connect(ws_url_redis)
    await bob.send(json.dumps({"op": "auth", "token": bob_token}))
    bob_auth = await recv_json(bob)
    alice_sub = await subscribe(alice, [f"orders:{alice_id}"])
    bob_sub = await subscribe(bob, [f"orders:{bob_id}"])

    await publish(f"orders:{alice_id}", "order.landed", {"owner": "alice"})
    await publish(f"orders:{bob_id}", "order.landed", {"owner": "bob"})
    alice_got = await recv_json(alice)
    bob_got = await recv_json(bob)
    with pytest.raises(TimeoutError):
        await recv_json(alice, timeout=0.3)
    await alice.close()
    await bob.close()

    assert bob_auth == {"type": "authenticated", "user_id": bob_id}
    assert alice_sub["type"] == bob_sub["type"] == "subscribed"
    assert alice_got["data"] == {"owner": "alice"}
    assert bob_got["data"] == {"owner": "bob"}


@pytest.mark.parametrize(
    ("frame", "code", "field"),
    [
        ("{not json", "malformed_json", None),
        ("[1, 2]", "bad_frame", None),
        ('{"op": "dance"}', "unknown_op", "op"),
        ('{"op": 7}', "unknown_op", "op"),
        ('{"op": "subscribe", "topics": ["weather"]}', "bad_topics", "topics"),
        ('{"op": "subscribe", "topics": "pulse"}', "bad_topics", "topics"),
        ('{"op": "subscribe", "topics": []}', "bad_topics", "topics"),
        ('{"op": "subscribe", "topics": ["token:not-a-mint"]}', "bad_topics", "topics"),
        (
            '{"op": "subscribe", "topics": ["pulse"], "last_ids": {"pulse": "x"}}',
            "bad_last_ids",
            "last_ids",
        ),
        (
            '{"op": "subscribe", "topics": ["pulse"], "last_ids": {"fees": "1-0"}}',
            "bad_last_ids",
            "last_ids",
        ),
        ('{"op": "subscribe", "topics": ["pulse"], "last_ids": [1]}', "bad_last_ids", "last_ids"),
        ('{"op": "auth", "token": 5}', "unauthorized", "token"),
    ],
)
async def test_bad_frames__error_frame_naming_the_problem_and_connection_stays(
    ws_url_redis, frame, code, field
):
    ws = await connect(ws_url_redis)
    await ws.send(frame)
    error = await recv_json(ws)
    await ws.send(json.dumps({"op": "ping", "ts": 1}))
    still_open = await recv_json(ws)
    await ws.close()

    assert error["type"] == "error"
    assert error["error"]["code"] == code
    assert error["error"].get("field") == field
    assert still_open == {"type": "pong", "ts": 1}


async def test_binary_frame__error_frame(ws_url_redis):
    ws = await connect(ws_url_redis)
    await ws.send(b"\x00\x01")
    error = await recv_json(ws)
    await ws.close()

    assert error["error"]["code"] == "bad_frame"


async def test_huge_frame__closed_1009(ws_url_redis):
    ws = await connect(ws_url_redis, max_size=None)
    await ws.send(json.dumps({"op": "ping", "pad": "x" * 70_000}))
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await recv_json(ws)

    assert closed.value.rcvd.code == 1009


async def test_heartbeat__server_pings_and_closes_a_silent_client_4408(settings):
    settings.WS_HEARTBEAT_SECONDS = 0.2
    with serve_asgi(application) as url:
        # The client library's own pings would count as traffic only at the WS layer; the
        # platform's heartbeat is application frames, which this client never sends.
        ws = await websockets.connect(url.replace("http://", "ws://") + "/ws/", ping_interval=None)
        hello = await recv_json(ws)
        ping = await recv_json(ws, timeout=2)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                await recv_json(ws, timeout=3)

    assert hello["heartbeat_seconds"] == 0.2
    assert ping["type"] == "ping" and isinstance(ping["ts"], int)
    assert closed.value.rcvd.code == 4408


async def test_heartbeat__a_client_that_answers_stays_open(settings):
    settings.WS_HEARTBEAT_SECONDS = 0.2
    with serve_asgi(application) as url:
        ws = await connect(url.replace("http://", "ws://") + "/ws/", ping_interval=None)
        deadline = time.monotonic() + 1.5  # more than 3 heartbeats
        pings = 0
        while time.monotonic() < deadline:
            frame = await recv_json(ws, timeout=1)
            if frame["type"] == "ping":
                pings += 1
                await ws.send(json.dumps({"op": "pong"}))
        await ws.send(json.dumps({"op": "ping", "ts": "still here"}))
        while (frame := await recv_json(ws))["type"] == "ping":
            pass
        await ws.close()

    assert pings >= 4
    assert frame == {"type": "pong", "ts": "still here"}


def _raw_client_that_never_reads(host: str, port: int, topics: list[str]) -> socket.socket:
    """A client that subscribes, then stops reading (a tiny receive window)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            "GET /ws/ HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    sock.settimeout(5)
    assert b" 101 " in sock.recv(4096)
    payload = json.dumps({"op": "subscribe", "topics": topics}).encode()
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    sock.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + masked)
    return sock


CLOSE_4008 = b"\x88\x02\x0f\xa8"  # a server close frame with code 4008


async def test_slow_client__closed_4008_while_100_fast_clients_keep_up(settings):
    settings.WS_SEND_QUEUE = 50
    with serve_asgi(application) as url:
        host, port = url.removeprefix("http://").split(":")
        slow = await asyncio.to_thread(
            _raw_client_that_never_reads, host, int(port), ["pulse", "fees"]
        )
        fast = [await connect(url.replace("http://", "ws://") + "/ws/") for _ in range(100)]
        for ws in fast:
            await subscribe(ws, ["pulse"])
        await asyncio.sleep(0.3)  # the slow client's subscription is in place

        # Big events only the slow client follows fill its socket buffers, then its queue.
        pad = "x" * 60_000
        for n in range(250):
            await publish("fees", "fees.updated", {"n": n, "pad": pad})
        lateness = []
        for n in range(100):
            sent = time.monotonic()
            await publish("pulse", "token.updated", {"n": n})
            for ws in fast:
                assert (await recv_json(ws))["data"]["n"] == n
            lateness.append(time.monotonic() - sent)
        for ws in fast:
            await ws.close()

        slow.settimeout(0.2)
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        received = b""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and CLOSE_4008 not in received[-64:]:
            try:
                chunk = await asyncio.to_thread(slow.recv, 1 << 20)
            except TimeoutError:
                continue
            if not chunk:
                break
            received += chunk
        slow.close()

    assert CLOSE_4008 in received[-64:]
    assert received.count(b'"topic":"pulse"') < 100  # it was cut off, not served from behind
    lateness.sort()
    assert lateness[len(lateness) // 2] < 0.5, lateness  # the 100 others were not held up


async def test_subscribe__bus_down__error_frame_not_a_crash(ws_url_redis, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    ws = await connect(ws_url_redis)
    answer = await subscribe(ws, ["pulse"])
    await ws.send(json.dumps({"op": "ping"}))
    pong = await recv_json(ws)
    await ws.close()

    assert answer["type"] == "error" and answer["error"]["code"] == "unavailable"
    assert pong["type"] == "pong"
