"""Run the localnet: a slot clock and the JSON-RPC server in one asyncio loop.

`serve()` is the long-running entry point (management command, `python -m`);
`start_localnet_in_thread()` gives tests and benchmarks a handle on free ports.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Iterable

import uvicorn
from solders.pubkey import Pubkey

from .chain import Chain
from .rpc import JsonRpcApp

log = logging.getLogger(__name__)


async def run_clock(chain: Chain, slot_ms: int, stop: asyncio.Event) -> None:
    """Advance one slot every `slot_ms`, on deadlines so slow slots do not drift."""
    interval = slot_ms / 1000
    deadline = time.monotonic() + interval
    while not stop.is_set():
        delay = deadline - time.monotonic()
        if delay > 0:
            try:
                await asyncio.wait_for(stop.wait(), timeout=delay)
                return
            except TimeoutError:
                pass
        chain.advance_slot()
        deadline = max(deadline + interval, time.monotonic())


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind before uvicorn starts so port 0 resolves to a known free port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must be IPPROTO_TCP: asyncio only sets TCP_NODELAY on accepted sockets whose
    # proto says TCP, and without it every keep-alive response stalls ~40 ms (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def fund_accounts(chain: Chain, accounts: Iterable[tuple[Pubkey, int]]) -> None:
    for pubkey, lamports in accounts:
        chain.airdrop(pubkey, lamports)


class LocalnetServer:
    """One chain, its clock and its RPC server, driven by the caller's event loop."""

    def __init__(
        self,
        *,
        chain: Chain | None = None,
        host: str = "127.0.0.1",
        port: int = 8899,
        slot_ms: int = 400,
    ) -> None:
        self.chain = chain or Chain()
        self.host = host
        self.slot_ms = slot_ms
        self.socket = bind_socket(host, port)
        self.port: int = self.socket.getsockname()[1]
        self._stop: asyncio.Event | None = None
        config = uvicorn.Config(
            JsonRpcApp(self.chain),
            log_level="warning",
            access_log=False,
            lifespan="off",
            # httptools/uvloop when present; h11 otherwise, both fine for loopback.
            http="auto",
            loop="none",
        )
        self._uvicorn = uvicorn.Server(config)
        # uvicorn installs SIGINT/SIGTERM handlers, which only work in the main thread.
        self._uvicorn.install_signal_handlers = lambda: None  # type: ignore[method-assign]

    @property
    def rpc_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def started(self) -> bool:
        return bool(self._uvicorn.started)

    async def serve(self) -> None:
        """Serve until `request_stop()`."""
        self._stop = asyncio.Event()
        tasks = [asyncio.create_task(self._uvicorn.serve(sockets=[self.socket]))]
        if self.slot_ms > 0:
            tasks.append(asyncio.create_task(run_clock(self.chain, self.slot_ms, self._stop)))
        try:
            await self._stop.wait()
        finally:
            self._stop.set()
            self._uvicorn.should_exit = True
            await asyncio.gather(*tasks, return_exceptions=True)
            self.socket.close()

    def request_stop(self) -> None:
        if self._stop is not None:
            self._stop.set()
        self._uvicorn.should_exit = True


class LocalnetHandle:
    """A localnet running in a background thread. Use as a context manager or call stop()."""

    def __init__(self, server: LocalnetServer) -> None:
        self._server = server
        self.chain: Chain = server.chain
        self.host: str = server.host
        self.port: int = server.port
        self.rpc_url: str = server.rpc_url
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"localnet:{self.port}", daemon=True)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main())
        except BaseException as exc:  # surfaced to the starting thread
            self._error = exc
            self._ready.set()
        finally:
            loop.close()

    async def _main(self) -> None:
        serving = asyncio.create_task(self._server.serve())
        # uvicorn exposes "started" only as a flag, so poll it briefly.
        while not self._server.started and not serving.done():  # noqa: ASYNC110
            await asyncio.sleep(0.005)
        self._ready.set()
        await serving

    def start(self, timeout: float = 10.0) -> LocalnetHandle:
        self._thread.start()
        if not self._ready.wait(timeout) or self._error is not None:
            raise RuntimeError(f"localnet failed to start: {self._error!r}")
        return self

    def stop(self, timeout: float = 10.0) -> None:
        loop = self._loop
        if loop is not None and self._thread.is_alive():
            loop.call_soon_threadsafe(self._server.request_stop)
        self._thread.join(timeout)

    def __enter__(self) -> LocalnetHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_localnet_in_thread(
    host: str = "127.0.0.1",
    port: int = 0,
    slot_ms: int = 400,
    *,
    chain: Chain | None = None,
    fund: Iterable[tuple[Pubkey, int]] = (),
) -> LocalnetHandle:
    """Start a localnet (port 0 = a free port) and return once it accepts requests.

    `slot_ms=0` disables the clock; the test then steps it with `handle.chain.advance_slot()`.
    """
    server = LocalnetServer(chain=chain, host=host, port=port, slot_ms=slot_ms)
    fund_accounts(server.chain, fund)
    return LocalnetHandle(server).start()


async def serve(
    host: str = "127.0.0.1",
    port: int = 8899,
    slot_ms: int = 400,
    *,
    fund: Iterable[tuple[Pubkey, int]] = (),
) -> None:
    """Run a localnet in the current event loop until cancelled (Ctrl-C)."""
    server = LocalnetServer(host=host, port=port, slot_ms=slot_ms)
    fund_accounts(server.chain, fund)
    log.info("localnet RPC on %s (slot %d ms)", server.rpc_url, slot_ms)
    try:
        await server.serve()
    finally:
        server.request_stop()
