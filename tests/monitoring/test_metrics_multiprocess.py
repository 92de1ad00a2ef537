"""/metrics adds up every worker process's counts (PROMETHEUS_MULTIPROC_DIR)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
REQUESTS = 300


@pytest.mark.slow
def test_two_granian_workers__metrics_count_every_request_once(tmp_path):
    port = free_port()
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    env = {
        "PATH": os.environ["PATH"],
        "VAR_DIR": str(tmp_path / "var"),
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "LOG_LEVEL": "WARNING",
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "granian",
            "--interface",
            "asgi",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "2",
            "--no-access-log",
            "config.asgi:application",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{base}/metrics", timeout=2)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        # Concurrent new connections keep both workers accepting.
        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(
                pool.map(
                    lambda _: httpx.get(f"{base}/api/ping", timeout=5).status_code, range(REQUESTS)
                )
            )
        assert statuses == [200] * REQUESTS
        scrapes = [httpx.get(f"{base}/metrics", timeout=5).text for _ in range(6)]
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)

    pid_of = re.compile(r"_(\d+)\.db$")
    writers = {m.group(1) for f in metrics_dir.iterdir() if (m := pid_of.search(f.name))}
    assert len(writers) >= 2, "only one worker served: the test did not exercise aggregation"
    pattern = re.compile(
        r'^platform_http_requests_total\{[^}]*route="/api/ping"[^}]*status="200"[^}]*\} (\S+)$',
        re.M,
    )
    for text in scrapes:  # whichever worker answers the scrape, the total is the same
        assert float(pattern.search(text).group(1)) == REQUESTS
