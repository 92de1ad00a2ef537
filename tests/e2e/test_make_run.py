"""`make run` on embedded defaults serves health, docs and admin within 60 s, the market's
coins reach the Pulse board through the monitor, and Ctrl-C stops everything it started."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.servers import free_port

CURVE = "4y6pru6YvC7"  # base58 of the BondingCurve discriminator
ROOT = Path(__file__).resolve().parents[2]


def _wait_for(url: str, status: int, deadline: float) -> httpx.Response:
    last: object = None
    while time.monotonic() < deadline:
        try:
            response = httpx.get(url, timeout=3, follow_redirects=False)
            if response.status_code == status:
                return response
            last = response.status_code
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.3)
    raise AssertionError(f"{url} did not answer {status} in time (last: {last!r})")


def _wait_for_coins(rpc_url: str, deadline: float) -> int:
    """How many pump.fun bonding curves the localnet holds, once the market made one."""
    curves = 0
    while time.monotonic() < deadline:
        try:
            answer = httpx.post(
                rpc_url,
                json={
                    "jsonrpc": "2.0",
                    "id": 1,
                    "method": "getProgramAccounts",
                    "params": [
                        "6EF8rrecthR5Dkzon8Nwu78hRvfCKubJ14M5uBEwF6P",
                        # BondingCurve accounts: their Anchor discriminator, base58.
                        {
                            "encoding": "base64",
                            "filters": [{"memcmp": {"offset": 0, "bytes": CURVE}}],
                        },
                    ],
                },
                timeout=5,
            ).json()
            curves = len(answer.get("result", []))
        except httpx.HTTPError:
            curves = 0
        if curves:
            return curves
        time.sleep(0.5)
    return curves


def _wait_for_pulse_tokens(base: str, deadline: float) -> int:
    """How many tokens GET /api/pulse lists, once the monitor has put one on the board."""
    listed = 0
    while time.monotonic() < deadline:
        try:
            columns = httpx.get(f"{base}/api/pulse", timeout=5).json()["columns"]
            listed = sum(len(tokens) for tokens in columns.values())
        except (httpx.HTTPError, KeyError, ValueError):
            listed = 0
        if listed:
            return listed
        time.sleep(0.5)
    return listed


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.slow
def test_make_run__embedded_defaults__serves_within_60s_and_ctrl_c_stops_all(tmp_path):
    port, chain_port = free_port(), free_port()
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", str(tmp_path)),
        "VAR_DIR": str(tmp_path / "var"),
        "PORT": str(port),
        "LOCALNET_PORT": str(chain_port),
        "LOCALNET_WS_PORT": str(free_port()),
        "LOCALNET_GRPC_PORT": str(free_port()),
        "LOCALNET_ENGINES_PORT": str(free_port()),
    }
    started = time.monotonic()
    proc = subprocess.Popen(
        ["make", "--no-print-directory", "run"],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = started + 60
        base = f"http://127.0.0.1:{port}"
        health = _wait_for(f"{base}/api/health", 200, deadline)
        docs = _wait_for(f"{base}/api/docs", 200, deadline)
        admin = _wait_for(f"{base}/admin/", 302, deadline)
        login = _wait_for(f"{base}/admin/login/", 200, deadline)
        elapsed = time.monotonic() - started
        curves = _wait_for_coins(f"http://127.0.0.1:{chain_port}", deadline + 30)
        # The monitor runs inside the web process here (the in-process bus needs it).
        listed = _wait_for_pulse_tokens(base, time.monotonic() + 30)
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            output, _ = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            output, _ = proc.communicate()

    assert elapsed < 60
    assert health.json()["status"] == "ok"
    assert health.json()["checks"]["chain_rpc"]["status"] == "up"
    assert "swagger" in docs.text.lower()
    assert "/admin/login/" in admin.headers["location"]
    assert "csrfmiddlewaretoken" in login.text
    assert f"http://127.0.0.1:{port}/api/docs" in output
    assert "Created development superuser: admin /" in output
    assert curves >= 1, "the market launched no coin on the localnet"
    assert listed >= 1, "the monitor put no launched coin on the Pulse board"
    deadline = time.monotonic() + 15
    while _group_alive(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _group_alive(proc.pid), "Ctrl-C left processes running"
