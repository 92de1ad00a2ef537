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
        [sys.executable, "-m", "apps.chain.localnet", "--port", str(port), "--slot-ms", "20"],
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
