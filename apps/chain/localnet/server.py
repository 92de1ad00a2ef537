"""Run the localnet: a slot clock, JSON-RPC, its WebSocket pubsub, the Yellowstone gRPC
stream and the block engines, all in one asyncio loop over one Chain.

`serve()` is the long-running entry point (management command, `python -m`);
`start_localnet_in_thread()` gives tests and benchmarks a handle on free ports.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from solders.pubkey import Pubkey

from apps.chain.programs.pump.constants import PUMP_PROGRAM_ID

from .chain import Chain
from .engines import BlockEnginesApp
from .geyser import GeyserService
from .models import install_pump_programs
from .pubsub import PubSubApp
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


@dataclass
class LocalnetPorts:
    """Where each interface listens; 0 picks a free port. `None` for ws means rpc + 1,
    the validator's convention."""

    rpc: int = 8899
    ws: int | None = None
    grpc: int = 10000
    engines: int = 8902

    def resolved_ws(self) -> int:
        if self.ws is not None:
            return self.ws
        return 0 if self.rpc == 0 else self.rpc + 1


@dataclass
class LocalnetOptions:
    host: str = "127.0.0.1"
    ports: LocalnetPorts = field(default_factory=LocalnetPorts)
    slot_ms: int = 400
    # Slots of transaction history kept (getTransaction, signatures by address); a
    # localnet left running for hours keeps bounded memory. 5,000 slots = 33 min.
    history_slots: int = 5_000
    geyser_x_token: str | None = None
    # engine name ("jito", "bloxroute", "nextblock") -> the auth value it demands
    engine_auth: dict[str, str] = field(default_factory=dict)


def _uvicorn_server(app: Any) -> uvicorn.Server:
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        # httptools/uvloop when present; h11 otherwise, both fine for loopback.
        http="auto",
        ws="websockets-sansio",
        loop="none",
    )
    server = uvicorn.Server(config)
    # uvicorn installs SIGINT/SIGTERM handlers, which only work in the main thread.
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    return server


class LocalnetServer:
    """One chain, its clock and every network interface, driven by the caller's loop."""

    def __init__(
        self, *, chain: Chain | None = None, options: LocalnetOptions | None = None
    ) -> None:
        self.options = options or LocalnetOptions()
        self.chain = chain or Chain(history_slots=self.options.history_slots)
        if PUMP_PROGRAM_ID not in self.chain.program_models:
            install_pump_programs(self.chain)  # pump.fun and PumpSwap, as on mainnet
        opts = self.options
        self.host = opts.host
        self.slot_ms = opts.slot_ms
        # Bind every HTTP socket up front so port 0 resolves before anything serves.
        self.rpc_socket = bind_socket(opts.host, opts.ports.rpc)
        self.ws_socket = bind_socket(opts.host, opts.ports.resolved_ws())
        self.engines_socket = bind_socket(opts.host, opts.ports.engines)
        self.port: int = self.rpc_socket.getsockname()[1]
        self.ws_port: int = self.ws_socket.getsockname()[1]
        self.engines_port: int = self.engines_socket.getsockname()[1]
        self.grpc_port: int = opts.ports.grpc  # known once the gRPC server has bound
        self.pubsub = PubSubApp(self.chain)
        self.engines = BlockEnginesApp(self.chain, auth=dict(opts.engine_auth))
        self.geyser = GeyserService(self.chain, x_token=opts.geyser_x_token)
        self._servers = [
            (_uvicorn_server(JsonRpcApp(self.chain)), self.rpc_socket),
            (_uvicorn_server(self.pubsub), self.ws_socket),
            (_uvicorn_server(self.engines), self.engines_socket),
        ]
        self._stop: asyncio.Event | None = None

    def _url(self, scheme: str, port: int) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{port}"

    @property
    def rpc_url(self) -> str:
        return self._url("http", self.port)

    @property
    def ws_url(self) -> str:
        return self._url("ws", self.ws_port)

    @property
    def engines_url(self) -> str:
        return self._url("http", self.engines_port)

    @property
    def grpc_target(self) -> str:
        """host:port for a grpc channel (`grpc.aio.insecure_channel(target)`)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.grpc_port}"

    @property
    def started(self) -> bool:
        return all(server.started for server, _ in self._servers)

    async def serve(self) -> None:
        """Serve until `request_stop()`."""
        self._stop = asyncio.Event()
        self.grpc_port = await self.geyser.start(self.host, self.options.ports.grpc)
        tasks = [
            asyncio.create_task(server.serve(sockets=[sock])) for server, sock in self._servers
        ]
        if self.slot_ms > 0:
            tasks.append(asyncio.create_task(run_clock(self.chain, self.slot_ms, self._stop)))
        try:
            await self._stop.wait()
        finally:
            self._stop.set()
            for server, _ in self._servers:
                server.should_exit = True
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.geyser.stop()
            await self.pubsub.close()
            self.engines.close()
            for _, sock in self._servers:
                sock.close()

    def request_stop(self) -> None:
        if self._stop is not None:
            self._stop.set()
        for server, _ in self._servers:
            server.should_exit = True

    def describe(self) -> str:
        return (
            f"localnet RPC {self.rpc_url}  WebSocket {self.ws_url}  gRPC {self.grpc_target}  "
            f"engines {self.engines_url}/{{jito,bloxroute,nextblock}}  (slot {self.slot_ms} ms)"
        )


class LocalnetHandle:
    """A localnet running in a background thread. Use as a context manager or call stop()."""

    def __init__(self, server: LocalnetServer) -> None:
        self.server = server
        self.chain: Chain = server.chain
        self.host: str = server.host
        self.port: int = server.port
        self.rpc_url: str = server.rpc_url
        self.ws_url: str = server.ws_url
        self.engines_url: str = server.engines_url
        self.engines = server.engines
        self.grpc_target: str = ""
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
        serving = asyncio.create_task(self.server.serve())
        # uvicorn exposes "started" only as a flag, so poll it briefly.
        while not self.server.started and not serving.done():  # noqa: ASYNC110
            await asyncio.sleep(0.005)
        self.grpc_target = self.server.grpc_target
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
            loop.call_soon_threadsafe(self.server.request_stop)
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
    geyser_x_token: str | None = None,
    engine_auth: dict[str, str] | None = None,
) -> LocalnetHandle:
    """Start a localnet and return once it accepts requests.

    `port=0` (the default) puts every interface on a free port. `slot_ms=0` disables
    the clock; the test then steps it with `handle.chain.advance_slot()`.
    """
    free = port == 0
    ports = LocalnetPorts(
        rpc=port, ws=0 if free else None, grpc=0 if free else 10000, engines=0 if free else 8902
    )
    options = LocalnetOptions(
        host=host,
        ports=ports,
        slot_ms=slot_ms,
        geyser_x_token=geyser_x_token,
        engine_auth=engine_auth or {},
    )
    server = LocalnetServer(chain=chain, options=options)
    fund_accounts(server.chain, fund)
    return LocalnetHandle(server).start()


async def serve(
    options: LocalnetOptions | None = None, *, fund: Iterable[tuple[Pubkey, int]] = ()
) -> None:
    """Run a localnet in the current event loop until SIGINT or SIGTERM (Ctrl-C, honcho)."""
    server = LocalnetServer(options=options)
    fund_accounts(server.chain, fund)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        # A clean stop closes every stream and socket instead of dying mid-write.
        loop.add_signal_handler(sig, server.request_stop)
    serving = asyncio.create_task(server.serve())
    while not server.started and not serving.done():  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    log.info("%s", server.describe())
    await serving
