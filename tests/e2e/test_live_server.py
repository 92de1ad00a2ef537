"""The ASGI application under a real server on a loopback port: HTTP and WebSocket."""

from __future__ import annotations

import json

import httpx
import pytest
import websockets

from apps.chain.localnet import start_localnet_in_thread
from config.asgi import application
from tests.servers import free_port, serve_asgi

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def live_url():
    with serve_asgi(application) as url:
        yield url


def test_health__everything_up__200_over_a_socket(live_url, settings):
    with start_localnet_in_thread(slot_ms=0) as net:
        settings.SOLANA_RPC_URLS = [net.rpc_url]
        response = httpx.get(f"{live_url}/api/health", timeout=10)

    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "ok" and body["down"] == []
    assert {name: c["status"] for name, c in body["checks"].items()} == {
        "database": "up",
        "redis": "up",
        "chain_rpc": "up",
    }
    assert body["checks"]["chain_rpc"]["latency_ms"] > 0


def test_health__chain_rpc_down__503_naming_it(live_url, settings):
    settings.SOLANA_RPC_URLS = [f"http://127.0.0.1:{free_port()}/?api-key=SECRET123"]

    response = httpx.get(f"{live_url}/api/health", timeout=10)

    body = response.json()
    assert response.status_code == 503
    assert body["down"] == ["chain_rpc"]
    assert body["checks"]["database"]["status"] == "up"
    assert body["checks"]["redis"]["status"] == "up"
    assert body["error"]["code"] == "unavailable"
    assert "SECRET123" not in response.text  # RPC URLs are shown without their keys


async def test_websocket__ping__pong_and_bad_frames_get_error_frames(live_url):
    ws_url = live_url.replace("http://", "ws://") + "/ws/"
    async with websockets.connect(ws_url) as ws:
        hello = json.loads(await ws.recv())
        await ws.send(json.dumps({"op": "ping", "ts": 7}))
        pong = json.loads(await ws.recv())
        await ws.send("{not json")
        malformed = json.loads(await ws.recv())
        await ws.send(json.dumps({"op": "launch-missiles"}))
        unknown = json.loads(await ws.recv())

    assert hello["type"] == "hello"
    assert pong == {"type": "pong", "ts": 7}
    assert malformed["error"]["code"] == "malformed_json"
    assert unknown["error"]["code"] == "unknown_op"
    assert unknown["error"]["field"] == "op"
    assert unknown["error"]["message"].startswith("unknown op 'launch-missiles'; one of subscribe")


async def test_websocket__huge_frame__closed_with_1009(live_url):
    ws_url = live_url.replace("http://", "ws://") + "/ws/"
    async with websockets.connect(ws_url, max_size=None) as ws:
        await ws.recv()
        await ws.send("x" * (128 * 1024))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()

    assert closed.value.rcvd.code == 1009
