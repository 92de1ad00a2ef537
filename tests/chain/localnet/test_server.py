"""Starting and stopping the localnet: free ports, the slot clock, the CLI entry point."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from apps.chain.localnet import start_localnet_in_thread
from tests.chain.localnet import result

REPO_ROOT = Path(__file__).resolve().parents[3]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_port_zero__two_localnets_on_distinct_free_ports() -> None:
    with (
        start_localnet_in_thread(slot_ms=0) as first,
        start_localnet_in_thread(slot_ms=0) as second,
    ):
        assert first.port != second.port and first.port > 0
        assert first.rpc_url == f"http://127.0.0.1:{first.port}"
        first.chain.advance_slot(5)

        assert result(first.rpc_url, "getSlot", [{"commitment": "processed"}]) == 5
        assert result(second.rpc_url, "getSlot", [{"commitment": "processed"}]) == 0


def test_clock__advances_slots_on_its_own() -> None:
    with start_localnet_in_thread(slot_ms=10) as net:
        deadline = time.monotonic() + 5
        while net.chain.slot < 10 and time.monotonic() < deadline:
            time.sleep(0.01)

        assert net.chain.slot >= 10
        slot = result(net.rpc_url, "getSlot", [{"commitment": "processed"}])
        assert slot >= 10


def test_stop__releases_the_port() -> None:
    net = start_localnet_in_thread(slot_ms=0)
    port = net.port

    net.stop()

    with pytest.raises(httpx.TransportError):
        httpx.post(f"http://127.0.0.1:{port}", json={}, timeout=1)
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))


def test_get_health_route_and_wrong_http_method() -> None:
    with start_localnet_in_thread(slot_ms=0) as net:
        assert httpx.get(f"{net.rpc_url}/health").text == "ok"
        assert httpx.put(net.rpc_url, content=b"{}").status_code == 405


def test_python_dash_m__serves_until_interrupted() -> None:
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    env.pop("DJANGO_SETTINGS_MODULE", None)  # must work without Django
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "apps.chain.localnet", "--port", str(port), "--slot-ms", "20"),
            *("--ws-port", "0", "--grpc-port", "0", "--engines-port", "0"),
        ],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 15
        while True:
            try:
                if result(url, "getHealth") == "ok":
                    break
            except httpx.TransportError:
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                assert time.monotonic() < deadline, "localnet did not start"
                time.sleep(0.05)
        assert result(url, "getVersion")["solana-core"]
    finally:
        process.send_signal(2)  # SIGINT, as Ctrl-C
        process.wait(timeout=10)
    assert process.returncode == 0


async def test_one_handle_serves_rpc_pubsub_geyser_and_engines_over_one_chain() -> None:
    """Every interface `start_localnet_in_thread` opens sees the same chain: a Jito bundle
    lands, and the WebSocket and gRPC subscribers both hear the tip account's write."""
    import asyncio
    import json

    import grpc
    import websockets
    from solders.keypair import Keypair
    from solders.pubkey import Pubkey

    from apps.chain.localnet.engines import JitoEngine
    from protos.generated import geyser_pb2 as pb2
    from protos.generated import geyser_pb2_grpc as pb2_grpc
    from tests.chain.localnet import SOL, b64, transfer_tx

    tip_account = Pubkey.from_string(JitoEngine.tip_accounts[0])
    with start_localnet_in_thread(slot_ms=0, geyser_x_token="t0ken") as net:
        payer = Keypair()
        net.chain.airdrop(payer.pubkey(), 5 * SOL)
        async with (
            websockets.connect(net.ws_url) as ws,
            grpc.aio.insecure_channel(net.grpc_target) as channel,
        ):
            await ws.send(
                json.dumps(
                    {
                        "jsonrpc": "2.0",
                        "id": 1,
                        "method": "accountSubscribe",
                        "params": [
                            str(tip_account),
                            {"commitment": "processed", "encoding": "base64"},
                        ],
                    }
                )
            )
            assert "result" in json.loads(await ws.recv())
            stream = pb2_grpc.GeyserStub(channel).Subscribe(
                iter(
                    [
                        pb2.SubscribeRequest(
                            accounts={
                                "tip": pb2.SubscribeRequestFilterAccounts(
                                    account=[str(tip_account)]
                                )
                            },
                            commitment=pb2.CommitmentLevel.PROCESSED,
                            from_slot=net.chain.slot,  # no race with the stream's start
                        )
                    ]
                ),
                metadata=(("x-token", "t0ken"),),
            )
            blockhash, _ = net.chain.latest_blockhash("processed")
            tx = transfer_tx(payer, tip_account, 10_000, blockhash)
            async with httpx.AsyncClient() as client:
                response = await client.post(
                    f"{net.engines_url}/jito/api/v1/bundles",
                    json={
                        "jsonrpc": "2.0",
                        "id": 1,
                        "method": "sendBundle",
                        "params": [[b64(tx)], {"encoding": "base64"}],
                    },
                )
            assert response.status_code == 200, response.text
            net.chain.advance_slot()  # engines land what they accepted at the next slot
            notification = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert notification["method"] == "accountNotification"
            lamports = notification["params"]["result"]["value"]["lamports"]
            update = await asyncio.wait_for(stream.read(), 5)
            while update.WhichOneof("update_oneof") != "account":
                update = await asyncio.wait_for(stream.read(), 5)
            assert update.account.account.lamports == lamports
            assert update.filters == ["tip"]
            stream.cancel()
        status = result(net.rpc_url, "getSignatureStatuses", [[str(tx.signatures[0])]])
        assert status["value"][0]["slot"] == net.chain.slot
    # Stopped: nothing of the servers is left listening to the chain.
    assert net.chain.slot_listeners == [] and net.chain.transaction_listeners == []
