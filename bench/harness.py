"""Shared pieces of the HTTP benchmarks: servers as subprocesses, and the load.

A server is started in its own session (process group), polled until it answers
GET /api/ping with a 200, and always stopped afterwards: SIGTERM to its group, then
SIGKILL if it has not exited within a few seconds. The load generator is wrk when
it is on PATH, else bench/loadgen.py, each in its own process.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
HOST = "127.0.0.1"
PATH = "/api/ping"

SERVERS = ("granian", "uvicorn", "daphne")
# Chosen by bench/asgi_servers.py (see bench/RESULTS.md); also what the Procfile runs.
PRODUCTION_SERVER = "granian"

APPS = {
    "platform": "config.asgi:application",
    "stock_django": "bench.stock_django_asgi:application",
    "fastapi": "bench.fastapi_app:application",
}

WRK_REPORT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\\nBENCH_JSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, '
    .. '"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
"""


def server_env() -> dict[str, str]:
    """Production-like settings with throwaway secrets; SQLite; quiet logs."""
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DEBUG="false",
        SECRET_KEY="bench-only-" + base64.urlsafe_b64encode(os.urandom(30)).decode(),
        WALLET_ENCRYPTION_KEY=base64.urlsafe_b64encode(os.urandom(32)).decode(),
        LOG_LEVEL="WARNING",
        PYTHONPATH=str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
        PYTHONDONTWRITEBYTECODE="1",
    )
    for name in ("DATABASE_URL", "REDIS_URL", "PROMETHEUS_MULTIPROC_DIR"):
        env.pop(name, None)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def server_command(server: str, app: str, port: int, workers: int = 1) -> list[str]:
    """One worker on loopback, access logs off, each server's fastest stock options."""
    py = sys.executable
    quiet = "--no-access-log --log-level warning"
    if server == "granian":
        flags = (
            f"--interface asgi --host {HOST} --port {port} --workers {workers} --loop auto {quiet}"
        )
        return [py, "-m", "granian", *flags.split(), app]
    if server == "uvicorn":  # a single process (no --workers supervisor), uvloop + httptools
        flags = f"--host {HOST} --port {port} --loop uvloop --http httptools {quiet}"
        return [py, "-m", "uvicorn", *flags.split(), app]
    if server == "daphne":
        # -v 0: no access log. Daphne speaks no lifespan; none of the apps needs it.
        return [py, "-m", "daphne", "-b", HOST, "-p", str(port), "-v", "0", app]
    raise ValueError(f"unknown server {server!r}; one of {SERVERS}")


def _get_status(port: int, timeout: float = 1.0) -> int | None:
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as sock:
            sock.sendall(
                f"GET {PATH} HTTP/1.1\r\nHost: {HOST}:{port}\r\nConnection: close\r\n\r\n".encode()
            )
            head = sock.recv(64)
            return int(head[9:12]) if head.startswith(b"HTTP/1.") else None
    except (OSError, ValueError):
        return None


def _stop(proc: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGTERM, 8.0), (signal.SIGKILL, 5.0)):
        if proc.poll() is not None:
            break
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)  # the group we created: the server and its workers
        try:
            proc.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    with contextlib.suppress(ProcessLookupError):  # stray workers of our group
        os.killpg(proc.pid, signal.SIGKILL)


class ServerUrl(str):
    """The ping URL of a running server, carrying the server's process id."""

    pid: int

    def __new__(cls, url: str, pid: int) -> ServerUrl:
        obj = super().__new__(cls, url)
        obj.pid = pid
        return obj

    def base(self) -> str:
        return self.removesuffix(PATH)


def _process_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if parent == pid:
            found.append(int(stat.parent.name))
    return found


def worker_rss_mb(pid: int) -> float:
    """Resident memory of a server's largest worker (its main process if it has none), MB."""
    workers = _children(pid)
    return max((_process_rss_mb(w) for w in workers), default=_process_rss_mb(pid))


@contextlib.contextmanager
def running_server(
    server: str,
    app: str,
    *,
    cpu: int | None = None,
    ready_timeout: float = 40.0,
    env: dict[str, str] | None = None,
    workers: int = 1,
) -> Iterator[str]:
    """Serve app under server on a free loopback port; yield the ping URL.

    `env` adds to the production-like environment (e.g. SOLANA_RPC_URLS).
    """
    port = free_port()
    command = server_command(server, app, port, workers)
    if cpu is not None and shutil.which("taskset"):
        command = ["taskset", "-c", str(cpu), *command]
    log = tempfile.TemporaryFile(mode="w+b")
    proc = subprocess.Popen(
        command,
        cwd=ROOT,
        env={**server_env(), **(env or {})},
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + ready_timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"{server} serving {app} exited with {proc.returncode}:\n" + _tail(log)
                )
            status = _get_status(port)
            if status == 200:
                break
            if status is not None and status >= 400:
                raise RuntimeError(f"{server} serving {app}: GET {PATH} answered {status}")
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{server} serving {app} not ready in {ready_timeout:.0f}s:\n" + _tail(log)
                )
            time.sleep(0.1)
        yield ServerUrl(f"http://{HOST}:{port}{PATH}", proc.pid)
    finally:
        _stop(proc)
        log.close()


def _tail(log, limit: int = 3000) -> str:
    log.flush()
    log.seek(0)
    return log.read().decode(errors="replace")[-limit:]


@dataclass
class LoadResult:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int


def load_generator() -> str:
    """wrk when on PATH, else bench/loadgen.py; BENCH_LOADGEN=python|wrk forces one."""
    forced = os.environ.get("BENCH_LOADGEN", "auto")
    if forced in ("python", "wrk"):
        return forced
    return "wrk" if shutil.which("wrk") else "python"


def _wrk_post(body: str) -> str:
    return (
        f'wrk.method = "POST"\nwrk.body = {json.dumps(body)}\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
    )


def run_load(
    url: str,
    *,
    seconds: float,
    connections: int,
    threads: int = 1,
    cpu: int | None = None,
    body: str | None = None,
) -> LoadResult:
    """Closed-loop keep-alive load on url for `seconds`, in a separate process.

    With `body`, every request is a JSON POST of it (a JSON-RPC call, say).
    """
    prefix = ["taskset", "-c", str(cpu)] if cpu is not None and shutil.which("taskset") else []
    if load_generator() == "wrk":
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
            script.write((_wrk_post(body) if body is not None else "") + WRK_REPORT)
        try:
            duration = max(1, round(seconds))
            out = subprocess.run(
                [
                    *prefix,
                    "wrk",
                    "-t",
                    str(threads),
                    "-c",
                    str(connections),
                    "-d",
                    f"{duration}s",
                    "--timeout",
                    "5s",
                    "-s",
                    script.name,
                    url,
                ],
                capture_output=True,
                text=True,
                timeout=duration + 30,
                check=True,
            ).stdout
        finally:
            os.unlink(script.name)
        line = next(ln for ln in out.splitlines() if ln.startswith("BENCH_JSON "))
        data = json.loads(line.removeprefix("BENCH_JSON "))
        elapsed = data["duration_us"] / 1e6
        errors = sum(data[k] for k in ("connect", "read", "write", "status", "timeout"))
        good = data["requests"] - data["status"]
        return LoadResult(
            rps=good / elapsed,
            p50_ms=data["p50_us"] / 1e3,
            p99_ms=data["p99_us"] / 1e3,
            requests=data["requests"],
            errors=errors,
        )
    out = subprocess.run(
        [
            *prefix,
            sys.executable,
            str(BENCH / "loadgen.py"),
            "--url",
            url,
            "--seconds",
            str(seconds),
            "--connections",
            str(connections),
            *(["--body", body] if body is not None else []),
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=True,
    ).stdout
    data = json.loads(out.strip().splitlines()[-1])
    return LoadResult(
        rps=data["rps"],
        p50_ms=data["p50_ms"] or 0.0,
        p99_ms=data["p99_ms"] or 0.0,
        requests=data["requests"],
        errors=data["errors"] + data["non_2xx_3xx"],
    )


def measure(
    server: str, app: str, *, seconds: float, warmup: float, connections: int, pin: bool = False
) -> LoadResult:
    """Start server+app, warm it up, measure, stop it."""
    server_cpu, load_cpu = (0, 1) if pin else (None, None)
    with running_server(server, app, cpu=server_cpu) as url:
        if warmup > 0:
            run_load(url, seconds=warmup, connections=connections, cpu=load_cpu)
        return run_load(url, seconds=seconds, connections=connections, cpu=load_cpu)


def add_load_options(parser) -> None:
    """The load-generator options every HTTP bench takes."""
    parser.add_argument(
        "--load-generator",
        choices=("auto", "wrk", "python"),
        default="auto",
        help="auto: wrk when on PATH, else bench/loadgen.py",
    )
    parser.add_argument(
        "--pin", action="store_true", help="taskset: server on CPU 0, load generator on CPU 1"
    )


def install_signal_handlers() -> None:
    """SIGTERM/SIGHUP behave like Ctrl-C, so every `finally` stops its server."""

    def _interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started ignoring it
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
