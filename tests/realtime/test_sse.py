"""SSE /api/stream over a real socket: headers, events, heartbeats, Last-Event-ID resume,
private topics and bad input. Run on Redis and on the in-process bus."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from django.contrib.auth import get_user_model

from apps.ingestion.services.api_tokens import api_token_issue
from apps.realtime.bus import get_bus, publish
from apps.realtime.sse import format_cursor, parse_cursor
from config.asgi import application
from tests.servers import serve_asgi

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(params=["redis", "memory"])
def base_url(request, settings):
    if request.param == "memory":
        settings.REDIS_URL = ""
    with serve_asgi(application) as url:
        yield url


class SseReader:
    """Parses a text/event-stream into (id, event, data) and comments."""

    def __init__(self, response: httpx.Response):
        self.lines = response.aiter_lines()
        self.comments: list[str] = []

    async def next_event(self, timeout: float = 5.0) -> dict:
        async def read() -> dict:
            fields: dict[str, str] = {}
            async for line in self.lines:
                if line == "":
                    if "data" in fields:
                        return fields
                    continue
                if line.startswith(":"):
                    self.comments.append(line[1:].strip())
                    continue
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")
            raise EOFError("stream ended")

        return await asyncio.wait_for(read(), timeout)


async def open_stream(client: httpx.AsyncClient, url: str, **kwargs):
    request = client.build_request("GET", url, **kwargs)
    return await client.send(request, stream=True)


async def test_stream__headers_and_live_events_with_cursor_ids(base_url):
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        response = await open_stream(client, "/api/stream?topics=pulse,fees")
        reader = SseReader(response)
        pulse_id = await publish("pulse", "token.created", {"n": 1})
        fee_id = await publish("fees", "fees.updated", {"level": "low"})
        first = await reader.next_event()
        second = await reader.next_event()
        await response.aclose()

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"].startswith("no-cache")
    assert response.headers["x-accel-buffering"] == "no"
    assert "content-length" not in response.headers
    assert first["event"] == "token.created"
    assert json.loads(first["data"]) == {
        "topic": "pulse",
        "id": pulse_id,
        "type": "token.created",
        "data": {"n": 1},
    }
    assert first["id"] == f"pulse@{pulse_id}"
    assert second["id"] == f"pulse@{pulse_id};fees@{fee_id}"  # every topic's place


async def test_stream__comment_heartbeats_when_idle(base_url, settings):
    settings.SSE_HEARTBEAT_SECONDS = 0.1
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        response = await open_stream(client, "/api/stream?topics=pulse")
        reader = SseReader(response)
        await asyncio.sleep(0.5)
        await publish("pulse", "token.created", {})
        await reader.next_event()
        await response.aclose()

    assert reader.comments.count("ping") >= 2


async def test_resume__last_event_id__exactly_the_100_missed_in_order_then_live(base_url):
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        response = await open_stream(client, "/api/stream?topics=pulse,migrations")
        reader = SseReader(response)
        await publish("pulse", "token.created", {"n": -1})
        await publish("migrations", "migrated", {"m": -1})
        await reader.next_event()
        cursor = (await reader.next_event())["id"]
        await response.aclose()

        missed = []
        for n in range(100):
            topic = "pulse" if n % 2 else "migrations"
            missed.append((topic, await publish(topic, "x.happened", {"n": n})))

        response = await open_stream(
            client, "/api/stream?topics=pulse,migrations", headers={"Last-Event-ID": cursor}
        )
        reader = SseReader(response)
        replayed = [json.loads((await reader.next_event())["data"]) for _ in range(100)]
        live_id = await publish("pulse", "token.created", {"n": 100})
        live = json.loads((await reader.next_event())["data"])
        await response.aclose()

    # Each topic's events come in their order; the two topics' replays follow one another.
    for topic in ("pulse", "migrations"):
        assert [e["id"] for e in replayed if e["topic"] == topic] == [
            i for t, i in missed if t == topic
        ]
    assert sorted(e["data"]["n"] for e in replayed) == list(range(100))
    assert live["id"] == live_id


async def test_resume__query_fallback_for_clients_without_headers(base_url):
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        first = await publish("fees", "fees.updated", {"n": 1})
        second = await publish("fees", "fees.updated", {"n": 2})
        response = await open_stream(
            client, "/api/stream", params={"topics": "fees", "last_event_id": f"fees@{first}"}
        )
        event = await SseReader(response).next_event()
        await response.aclose()

    assert json.loads(event["data"])["id"] == second


@pytest.mark.parametrize(
    ("query", "headers", "field"),
    [
        ("", {}, "topics"),
        ("?topics=weather", {}, "topics"),
        ("?topics=pulse,token:nope", {}, "topics"),
        ("?topics=pulse", {"Last-Event-ID": "garbage"}, "Last-Event-ID"),
        ("?topics=pulse", {"Last-Event-ID": "pulse@12-x"}, "Last-Event-ID"),
    ],
)
async def test_bad_input__400_naming_the_field(base_url, query, headers, field):
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        response = await client.get(f"/api/stream{query}", headers=headers)

    assert response.status_code == 400
    assert response.json()["error"]["field"] == field


@pytest.fixture
def two_users(db):
    user_model = get_user_model()
    alice = user_model.objects.create_user("alice", "alice@example.com")
    bob = user_model.objects.create_user("bob", "bob@example.com")
    return (alice.pk, api_token_issue(user=alice).raw), (bob.pk, api_token_issue(user=bob).raw)


@pytest.fixture
def redis_url(settings):
    with serve_asgi(application) as url:
        yield url


async def test_private_topic__403_without_or_with_a_foreign_token_200_with_own(
    redis_url, two_users
):
    (alice_id, alice_token), (_, bob_token) = two_users
    path = f"/api/stream?topics=orders:{alice_id}"
    async with httpx.AsyncClient(base_url=redis_url, timeout=10) as client:
        anonymous = await client.get(path)
        foreign = await client.get(path, headers={"Authorization": f"Bearer {bob_token}"})
        wrong = await client.get(path + "&token=tp_wrong")
        response = await open_stream(
            client, path, headers={"Authorization": f"Bearer {alice_token}"}
        )
        await publish(f"orders:{alice_id}", "order.landed", {"id": 7})
        event = await SseReader(response).next_event()
        await response.aclose()
        by_query = await open_stream(client, path + f"&token={alice_token}")
        await by_query.aclose()

    assert anonymous.status_code == foreign.status_code == wrong.status_code == 403
    assert anonymous.json()["error"]["field"] == "topics"
    assert response.status_code == 200
    assert json.loads(event["data"])["data"] == {"id": 7}
    assert by_query.status_code == 200


async def test_disconnect__releases_the_bus_subscription(settings):
    settings.REDIS_URL = ""
    backend = get_bus().backend
    with serve_asgi(application) as url:
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            response = await open_stream(client, "/api/stream?topics=fees")
            await publish("fees", "fees.updated", {})
            await SseReader(response).next_event()
            during = backend.subscriber_count("fees")
            await response.aclose()
        for _ in range(50):
            if backend.subscriber_count("fees") == 0:
                break
            await asyncio.sleep(0.05)
        after = backend.subscriber_count("fees")

    assert during == 1
    assert after == 0


def test_cursor__round_trip_and_foreign_topics_ignored():
    cursor = format_cursor(
        {"pulse": "5-0", "token:So11111111111111111111111111111111111111112": "6-1"}
    )

    assert parse_cursor(cursor, ["pulse"]) == {"pulse": "5-0"}
    assert parse_cursor(cursor, ["pulse", "token:So11111111111111111111111111111111111111112"]) == {
        "pulse": "5-0",
        "token:So11111111111111111111111111111111111111112": "6-1",
    }
    with pytest.raises(ValueError):
        parse_cursor("pulse5-0", ["pulse"])
