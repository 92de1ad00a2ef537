"""The Yellowstone Geyser subscriber: pump and PumpSwap account writes and transactions, in
slot order, exactly once, to a `StreamProcessor`.

What it subscribes to (one `Subscribe` stream, at GEYSER_COMMITMENT, default confirmed):
accounts owned by the pump or the PumpSwap program, transactions that include either
(vote and failed excluded), slot status updates and block meta.

Delivery. Each update goes to `processor.process(update)` in stream order; when a slot is
complete at the subscribed commitment, `processor.flush(slot)` follows its last update,
and then the slot is checkpointed. A slot is complete when
- confirmed / finalized: its slot status at that commitment arrives. Yellowstone sends a
  slot's messages at a commitment as one batch when the slot reaches it, then the status;
- processed: its block meta arrives (sent once the bank is frozen, after every account
  and transaction of the slot). Processed slots can still be dropped by a fork; use
  confirmed for anything that moves money.

Resume. The reader keeps a frontier: the last slot whose completion it handed to the
queue (at start: the checkpoint). A new stream asks `from_slot = frontier + 1`:
Yellowstone replays its buffered messages from that slot on (starting at a slot
boundary, with the same filters), then goes on live on the same stream, so the slot after
the last complete one is the first that may hold anything not yet handed on. The queue
survives reconnects, so the frontier (not the durable checkpoint) is the right place; a
restarted process starts from the durable checkpoint instead.
Dropped as already handed on: anything for a slot <= frontier, and any update whose key
was handed on before (the partly delivered slot a replay sends again). Keys: transaction
(slot, signature); account (slot, pubkey, txn_signature), or write_version for a write
without a signature (write_version is numbered per validator process, so a failover to
another node or a plugin restart renumbers it, while a transaction writes an account
once); slot status (slot, status); block meta (slot). The same rule applies cut or not,
so a cut run hands on exactly what an uncut run does. Across a process restart delivery
is at-least-once for the slots after the checkpoint: processors keep their writes
idempotent.

A too-old `from_slot` (OUT_OF_RANGE, or INVALID_ARGUMENT "... is not available" from
older servers) is a gap: logged as an error, counted (geyser_replay_gaps_total and the
slots lost), and the stream resumes at the oldest slot the server still has
(SubscribeReplayInfo), or live when it does not say.

Backpressure. The queue between reader and processor is bounded (GEYSER_QUEUE_SIZE). A
full queue pauses reading, which stops the gRPC flow-control window and with it the
server; nothing is dropped. A pause longer than GEYSER_STALL_SECONDS would make a real
server cut us off as a slow consumer, so the reader releases the stream itself, waits
until the queue is half drained and resumes with from_slot: the server's replay buffer
holds the backlog instead of our memory. (Needs the server's replay window to outlast
the stall; otherwise it is a counted, logged gap as above.)

Connection. GEYSER_URL is `host:port` (plaintext) or `https://host:port` (TLS, system
roots); GEYSER_X_TOKEN goes in the `x-token` metadata. Server pings are answered with a
ping request (proxies close streams a client never writes on) and we ping every
GEYSER_PING_SECONDS; a stream silent for 3 pings is considered dead. Failures reconnect
after a jittered exponential backoff (GEYSER_RECONNECT_BASE_SECONDS doubling up to
GEYSER_RECONNECT_MAX_SECONDS), reset once a stream has stayed up for
GEYSER_HEALTHY_SECONDS. A refused x-token is logged as such and backs off like any
failure, never a tight loop.

A processor exception is not swallowed: the subscriber stops (the checkpoint stays before
the slot), so the supervisor's restart replays the slot instead of silently losing it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import grpc
from django.conf import settings
from prometheus_client import Counter, Gauge

import protos
from apps.chain.programs.ids import PUMP_AMM_PROGRAM_ID, PUMP_PROGRAM_ID

from .geyser_checkpoint import CheckpointStore, FileCheckpoint, RedisCheckpoint
from .geyser_lease import LeaseLost, RedisLease

protos.ensure_stubs()
from protos.generated import geyser_pb2 as pb  # noqa: E402
from protos.generated import geyser_pb2_grpc as pb_grpc  # noqa: E402

log = logging.getLogger(__name__)

COMMITMENTS = {"processed": pb.PROCESSED, "confirmed": pb.CONFIRMED, "finalized": pb.FINALIZED}
# Filter names: each update names the filters it matched.
ACCOUNTS_FILTER, TRANSACTIONS_FILTER, SLOTS_FILTER, BLOCKS_FILTER = (
    "pump_accounts",
    "pump_transactions",
    "slots",
    "blocks",
)
IDLE_PINGS = 3  # pings without any message before a stream is considered dead

UPDATES = Counter("geyser_updates_total", "Geyser updates handed to the processor", ["kind"])
DROPPED = Counter(
    "geyser_updates_dropped_total",
    "Geyser updates not handed on: already delivered (duplicate) or before the checkpoint",
    ["reason"],
)
RECONNECTS = Counter("geyser_reconnects_total", "Geyser stream reconnections", ["reason"])
REPLAY_GAPS = Counter(
    "geyser_replay_gaps_total", "Resumes refused as too old: the stream skipped slots"
)
REPLAY_GAP_SLOTS = Counter("geyser_replay_gap_slots_total", "Slots skipped by replay gaps")
STALLS = Counter(
    "geyser_backpressure_releases_total",
    "Streams released because the processor fell behind (resumed by replay, nothing dropped)",
)
PINGS_ANSWERED = Counter("geyser_server_pings_answered_total", "Server pings answered")
QUEUE_DEPTH = Gauge(
    "geyser_queue_depth", "Updates queued for the processor", multiprocess_mode="livemax"
)
CHAIN_SLOT = Gauge(
    "geyser_chain_slot",
    "Newest slot reported at the subscribed commitment",
    multiprocess_mode="livemax",
)
PROCESSED_SLOT = Gauge(
    "geyser_processed_slot",
    "Last slot fully processed and checkpointed",
    multiprocess_mode="livemax",
)
SLOT_LAG = Gauge(
    "geyser_slot_lag", "Chain slot minus last processed slot", multiprocess_mode="livemax"
)
ACTIVE = Gauge(
    "geyser_active", "1 while this instance holds the stream (lease)", multiprocess_mode="livemax"
)


class StreamProcessor(Protocol):
    async def process(self, update: Any) -> None: ...

    async def flush(self, slot: int) -> None: ...


@dataclass(frozen=True)
class StreamConfig:
    url: str
    x_token: str = ""
    commitment: str = "confirmed"
    programs: tuple[str, ...] = (str(PUMP_PROGRAM_ID), str(PUMP_AMM_PROGRAM_ID))
    name: str = "monitor"  # names the checkpoint and the lease: one per logical stream
    queue_size: int = 10_000
    ping_s: float = 10.0
    reconnect_base_s: float = 0.5
    reconnect_max_s: float = 30.0
    healthy_s: float = 30.0
    stall_s: float = 10.0

    def __post_init__(self) -> None:
        if self.commitment not in COMMITMENTS:
            raise ValueError(f"GEYSER_COMMITMENT must be one of {sorted(COMMITMENTS)}")
        if self.queue_size < 2:
            raise ValueError("GEYSER_QUEUE_SIZE must be at least 2")
        if min(self.ping_s, self.reconnect_base_s, self.stall_s) <= 0:
            raise ValueError("Geyser intervals must be positive")
        parse_endpoint(self.url)

    @classmethod
    def from_settings(cls, **overrides: Any) -> StreamConfig:
        values: dict[str, Any] = {
            "url": settings.GEYSER_URL,
            "x_token": settings.GEYSER_X_TOKEN,
            "commitment": settings.GEYSER_COMMITMENT,
            "name": settings.GEYSER_STREAM_NAME,
            "queue_size": settings.GEYSER_QUEUE_SIZE,
            "ping_s": settings.GEYSER_PING_SECONDS,
            "reconnect_base_s": settings.GEYSER_RECONNECT_BASE_SECONDS,
            "reconnect_max_s": settings.GEYSER_RECONNECT_MAX_SECONDS,
            "healthy_s": settings.GEYSER_HEALTHY_SECONDS,
            "stall_s": settings.GEYSER_STALL_SECONDS,
        }
        values.update(overrides)
        return cls(**values)

    @property
    def level(self) -> int:
        return COMMITMENTS[self.commitment]


def parse_endpoint(url: str) -> tuple[str, bool]:
    """GEYSER_URL -> (grpc target, tls). `https://host[:port]` is TLS (443 by default);
    `host:port` and `http://host:port` are plaintext."""
    text = url.strip().rstrip("/")
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "", text
    bad = ValueError(f"GEYSER_URL must be host:port or https://host:port, not {url!r}")
    if scheme not in ("", "http", "https") or not rest or "/" in rest:
        raise bad
    tls = scheme == "https"
    if rest.startswith("["):  # [v6]:port
        host, _, tail = rest.partition("]")
        host, port = host + "]", tail.removeprefix(":")
    else:
        host, _, port = rest.partition(":")
    if not port and tls:
        port = "443"
    if not host.strip("[]") or not port.isdigit() or not 0 < int(port) < 65536:
        raise bad
    return f"{host}:{port}", tls


def subscribe_request(config: StreamConfig, from_slot: int | None = None) -> Any:
    request = pb.SubscribeRequest(commitment=config.level)
    request.accounts[ACCOUNTS_FILTER].owner.extend(config.programs)
    transactions = request.transactions[TRANSACTIONS_FILTER]
    transactions.vote = False
    transactions.failed = False
    transactions.account_include.extend(config.programs)
    request.slots[SLOTS_FILTER].SetInParent()  # every status: completion and chain slot
    request.blocks_meta[BLOCKS_FILTER].SetInParent()
    if from_slot is not None:
        request.from_slot = from_slot
    return request


# ---- which updates are new --------------------------------------------------------------


def update_slot(update: Any, kind: str) -> int | None:
    return getattr(getattr(update, kind), "slot", None)


def update_key(update: Any, kind: str) -> tuple[Any, ...]:
    if kind == "account":
        info = update.account.account
        if info.txn_signature:
            return (kind, info.pubkey, info.txn_signature)
        return (kind, info.pubkey, info.write_version)
    if kind == "transaction":
        return (kind, update.transaction.transaction.signature)
    if kind == "slot":
        return (kind, update.slot.status)
    if kind == "transaction_status":
        return (kind, update.transaction_status.signature)
    return (kind,)  # block_meta, block, entry: one per slot


class StreamCursor:
    """The reader's position: which updates are new, and where a new stream resumes.

    `frontier` is the last slot whose completion was handed on; `_seen` holds the keys
    handed on for later slots (the partly delivered slot), per slot for cheap pruning.
    """

    def __init__(self, level: int, frontier: int | None) -> None:
        self.level = level
        self.frontier = frontier
        self.chain_slot = frontier
        self._seen: dict[int, set[tuple[Any, ...]]] = {}
        self._live = False  # resume live once (after a replay gap with no way back)

    @property
    def resume_slot(self) -> int | None:
        if self.frontier is None or self._live:
            return None
        return self.frontier + 1

    def is_stale(self, slot: int) -> bool:
        return self.frontier is not None and slot <= self.frontier

    def seen(self, slot: int, key: tuple[Any, ...]) -> bool:
        keys = self._seen.get(slot)
        return keys is not None and key in keys

    def completes(self, update: Any, kind: str) -> bool:
        if kind == "slot":
            return self.level != pb.PROCESSED and update.slot.status == self.level
        return kind == "block_meta" and self.level == pb.PROCESSED

    def note_chain_slot(self, update: Any, kind: str) -> None:
        if kind == "slot" and update.slot.status == self.level:
            if self.chain_slot is None or update.slot.slot > self.chain_slot:
                self.chain_slot = update.slot.slot

    def handed_on(self, slot: int, key: tuple[Any, ...], completes: bool) -> None:
        if completes:
            self.advance(slot)
        else:
            self._seen.setdefault(slot, set()).add(key)

    def advance(self, slot: int) -> None:
        self.frontier = slot
        self._live = False
        for old in [s for s in self._seen if s <= slot]:
            del self._seen[old]

    def skip_to(self, first_available: int) -> None:
        """A replay gap: resume at the oldest slot the server still has."""
        self.advance(first_available - 1)

    def go_live(self) -> None:
        self._live = True


# ---- the subscriber ---------------------------------------------------------------------


@dataclass
class StreamStats:
    """What this instance saw; the Prometheus metrics carry the same, process-wide."""

    attempts: int = 0  # Subscribe calls made
    streams: int = 0  # of which delivered at least one message
    reconnects: int = 0
    delivered: int = 0
    duplicates: int = 0
    stale: int = 0
    server_pings: int = 0
    pings_answered: int = 0  # our answers the server acknowledged with a pong
    pongs: int = 0
    replay_gaps: int = 0
    stalls: int = 0
    flushed_slot: int | None = None
    active: bool = False
    last_error: str = ""
    errors: list[str] = field(default_factory=list)  # the last few, newest last

    def error(self, text: str) -> None:
        self.last_error = text
        self.errors = [*self.errors[-9:], text]


class _Stalled(Exception):
    pass


class _ReplayGap(Exception):
    def __init__(self, details: str) -> None:
        super().__init__(details)
        self.details = details


def _is_replay_gap(exc: grpc.aio.AioRpcError) -> bool:
    code = exc.code()
    details = exc.details() or ""
    return code == grpc.StatusCode.OUT_OF_RANGE or (
        code == grpc.StatusCode.INVALID_ARGUMENT and "is not available" in details
    )


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Equal jitter: half the exponential step fixed, half random; never 0, never in step."""
    ceiling = min(cap, base * 2 ** min(attempt, 30))
    return rng.uniform(ceiling / 2, ceiling)


class GeyserSubscriber:
    """Streams to `processor` while active; see the module docstring. `await run()`."""

    def __init__(
        self,
        processor: StreamProcessor,
        config: StreamConfig,
        *,
        checkpoint: CheckpointStore,
        lease: RedisLease | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.processor = processor
        self.config = config
        self.checkpoint = checkpoint
        self.lease = lease
        self.stats = StreamStats()
        self.target, self.tls = parse_endpoint(config.url)
        self._metadata = (("x-token", config.x_token),) if config.x_token else None
        self._rng = rng or random.Random()  # noqa: S311 (jitter, not security)
        self._kinds: dict[str, Any] = {}
        self._answers: set[int] = set()
        self._ping_id = 0
        self._queue: asyncio.Queue[tuple[Any, str, int | None]] | None = None
        self._stream_up_since: float | None = None  # when the current stream first delivered

    # ---- lifecycle ---------------------------------------------------------------------

    async def run(self) -> None:
        """Stream until cancelled; as a standby first when there is a lease."""
        while True:
            if self.lease is not None:
                await self.lease.acquire()
            try:
                await self._run_active()
            except LeaseLost as exc:
                log.error("geyser: lease lost (%s); stopping the stream, back to standby", exc)
                self.stats.error(f"lease lost: {exc}")
            finally:
                self.stats.active = False
                ACTIVE.set(0)
                if self.lease is not None:
                    await asyncio.shield(self.lease.release())

    async def _run_active(self) -> None:
        frontier = await self.checkpoint.load()
        cursor = StreamCursor(self.config.level, frontier)
        self._queue = asyncio.Queue(self.config.queue_size)
        self.stats.active = True
        ACTIVE.set(1)
        log.info(
            "geyser: streaming from %s at %s, %s",
            self.config.url,
            self.config.commitment,
            f"resuming after slot {frontier}" if frontier is not None else "live (no checkpoint)",
        )
        tasks = [
            asyncio.create_task(self._read_forever(cursor), name="geyser-reader"),
            asyncio.create_task(self._process_forever(cursor), name="geyser-processor"),
        ]
        if self.lease is not None:
            tasks.append(asyncio.create_task(self.lease.keep(), name="geyser-lease"))
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # these run forever: only an exception ends one
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._queue = None

    # ---- processing --------------------------------------------------------------------

    async def _process_forever(self, cursor: StreamCursor) -> None:
        queue = self._queue
        assert queue is not None
        processor, checkpoint, stats = self.processor, self.checkpoint, self.stats
        while True:
            update, kind, complete = await queue.get()
            QUEUE_DEPTH.set(queue.qsize())
            await processor.process(update)
            stats.delivered += 1
            counter = self._kinds.get(kind)
            if counter is None:
                counter = self._kinds[kind] = UPDATES.labels(kind)
            counter.inc()
            if complete is not None:
                await processor.flush(complete)
                await checkpoint.save(complete)
                stats.flushed_slot = complete
                PROCESSED_SLOT.set(complete)
                if cursor.chain_slot is not None:
                    SLOT_LAG.set(max(0, cursor.chain_slot - complete))

    # ---- the stream --------------------------------------------------------------------

    async def _read_forever(self, cursor: StreamCursor) -> None:
        failures = 0  # in a row: the backoff exponent
        while True:
            self.stats.attempts += 1
            if self.stats.attempts > 1:
                self.stats.reconnects += 1
            reason, retry_now = await self._one_stream(cursor)
            RECONNECTS.labels(reason).inc()
            if retry_now:  # not a failure: backpressure release or replay-gap recovery
                continue
            up_since = self._stream_up_since
            if up_since is not None and time.monotonic() - up_since >= self.config.healthy_s:
                failures = 0
            delay = backoff_delay(
                failures, self.config.reconnect_base_s, self.config.reconnect_max_s, self._rng
            )
            failures += 1
            log.info("geyser: reconnecting in %.2fs (%s)", delay, reason)
            await asyncio.sleep(delay)

    async def _one_stream(self, cursor: StreamCursor) -> tuple[str, bool]:
        """One Subscribe call until it fails. Returns (reason, reconnect at once?)."""
        self._stream_up_since = None
        try:
            await self._stream(cursor)
        except _Stalled:
            self.stats.stalls += 1
            STALLS.inc()
            log.warning(
                "geyser: processor %ss behind a full queue; released the stream, resuming "
                "from slot %s once the queue drains",
                self.config.stall_s,
                cursor.resume_slot,
            )
            await self._wait_for_drain()
            return "backpressure", True
        except _ReplayGap as gap:
            await self._recover_gap(cursor, gap.details)
            return "replay_gap", True
        except grpc.aio.AioRpcError as exc:
            code = exc.code()
            if code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
                text = f"{code.name}: {self.target} refused the x-token ({exc.details()})"
                log.error("geyser: %s; check GEYSER_X_TOKEN", text)
                self.stats.error(text)
                return "auth", False
            text = f"{code.name}: {exc.details()}"
            log.warning("geyser: stream from %s failed: %s", self.target, text)
            self.stats.error(text)
            return code.name.lower(), False
        except TimeoutError:
            text = f"no message for {IDLE_PINGS * self.config.ping_s:.1f}s"
            log.warning("geyser: stream from %s is silent (%s)", self.target, text)
            self.stats.error(text)
            return "idle", False
        except EOFError:
            log.warning("geyser: %s ended the stream", self.target)
            self.stats.error("stream ended by the server")
            return "eof", False
        return "eof", False  # pragma: no cover (the stream only ends by an exception)

    def _channel(self) -> grpc.aio.Channel:
        options = [
            ("grpc.max_receive_message_length", 64 * 1024 * 1024),
            # Transport keepalive finds a dead TCP path even while the stream is paused.
            ("grpc.keepalive_time_ms", 10_000),
            ("grpc.keepalive_timeout_ms", 5_000),
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.max_pings_without_data", 0),
            # The channel's own reconnect backoff (default up to 120 s) would otherwise sit
            # under ours: after a server restart it could keep us off a server that is up.
            ("grpc.initial_reconnect_backoff_ms", int(self.config.reconnect_base_s * 1000)),
            ("grpc.min_reconnect_backoff_ms", int(self.config.reconnect_base_s * 1000)),
            ("grpc.max_reconnect_backoff_ms", int(self.config.reconnect_max_s * 1000)),
        ]
        if self.tls:
            return grpc.aio.secure_channel(self.target, grpc.ssl_channel_credentials(), options)
        return grpc.aio.insecure_channel(self.target, options)

    async def _stream(self, cursor: StreamCursor) -> None:
        requests: asyncio.Queue[Any] = asyncio.Queue()
        from_slot = cursor.resume_slot
        requests.put_nowait(subscribe_request(self.config, from_slot))

        async def outgoing() -> AsyncIterator[Any]:
            while (request := await requests.get()) is not None:
                yield request

        idle_s = IDLE_PINGS * self.config.ping_s
        loop = asyncio.get_running_loop()
        channel = self._channel()
        call = pb_grpc.GeyserStub(channel).Subscribe(outgoing(), metadata=self._metadata)
        pinger = asyncio.create_task(self._ping_forever(requests))
        try:
            async with asyncio.timeout(loop.time() + idle_s) as deadline:
                first = True
                while True:
                    try:
                        update = await call.read()
                    except grpc.aio.AioRpcError as exc:
                        if from_slot is not None and _is_replay_gap(exc):
                            raise _ReplayGap(exc.details() or "") from exc
                        raise
                    if update is grpc.aio.EOF:
                        raise EOFError
                    if first:
                        first = False
                        self.stats.streams += 1
                        self._stream_up_since = time.monotonic()
                        log.info(
                            "geyser: subscribed to %s (%s)",
                            self.target,
                            f"from slot {from_slot}" if from_slot is not None else "live",
                        )
                    deadline.reschedule(None)  # a paused reader is not a silent server
                    await self._handle(update, cursor, requests)
                    deadline.reschedule(loop.time() + idle_s)
        finally:
            pinger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pinger
            requests.put_nowait(None)  # ends the request iterator: grpc's consumer exits
            call.cancel()
            await channel.close(grace=None)

    async def _ping_forever(self, requests: asyncio.Queue[Any]) -> None:
        while True:
            await asyncio.sleep(self.config.ping_s)
            requests.put_nowait(self._ping_request())

    def _ping_request(self) -> Any:
        self._ping_id = self._ping_id % 2_000_000_000 + 1  # int32 on the wire
        return pb.SubscribeRequest(ping=pb.SubscribeRequestPing(id=self._ping_id))

    async def _handle(self, update: Any, cursor: StreamCursor, requests: asyncio.Queue) -> None:
        kind = update.WhichOneof("update_oneof")
        if kind == "ping":
            self.stats.server_pings += 1
            answer = self._ping_request()
            self._answers.add(answer.ping.id)
            requests.put_nowait(answer)
            return
        if kind == "pong":
            self.stats.pongs += 1
            if update.pong.id in self._answers:
                self._answers.discard(update.pong.id)
                self.stats.pings_answered += 1
                PINGS_ANSWERED.inc()
            return
        if kind is None:
            return  # a variant this client does not know: nothing to deliver
        slot = update_slot(update, kind)
        if slot is None:
            log.debug("geyser: %s update without a slot ignored", kind)
            return
        cursor.note_chain_slot(update, kind)
        if cursor.is_stale(slot):
            self.stats.stale += 1
            DROPPED.labels("before_checkpoint").inc()
            return
        key = update_key(update, kind)
        if cursor.seen(slot, key):
            self.stats.duplicates += 1
            DROPPED.labels("duplicate").inc()
            return
        completes = cursor.completes(update, kind)
        await self._enqueue((update, kind, slot if completes else None))
        cursor.handed_on(slot, key, completes)
        if kind == "slot" and cursor.chain_slot is not None:
            CHAIN_SLOT.set(cursor.chain_slot)

    async def _enqueue(self, item: tuple[Any, str, int | None]) -> None:
        queue = self._queue
        assert queue is not None
        try:
            queue.put_nowait(item)
        except asyncio.QueueFull:
            # Backpressure: stop reading (the server sees our flow-control window close)
            # for up to stall_s; past that, release the stream rather than be cut off.
            try:
                async with asyncio.timeout(self.config.stall_s):
                    await queue.put(item)
            except TimeoutError:
                raise _Stalled from None
        QUEUE_DEPTH.set(queue.qsize())

    async def _wait_for_drain(self) -> None:
        queue = self._queue
        assert queue is not None
        while queue.qsize() > queue.maxsize // 2:  # noqa: ASYNC110 (polls a plain queue)
            await asyncio.sleep(0.01)

    async def _recover_gap(self, cursor: StreamCursor, details: str) -> None:
        wanted = cursor.resume_slot
        first = await self._first_available()
        assert wanted is not None
        if first is not None and first > wanted:
            lost = first - wanted
            cursor.skip_to(first)
            resume = f"resuming at slot {first}, the oldest the server has"
        else:
            cursor.go_live()
            lost = 0
            resume = "resuming live: the server does not say what it still has"
        self.stats.replay_gaps += 1
        REPLAY_GAPS.inc()
        REPLAY_GAP_SLOTS.inc(lost)
        text = f"replay gap: {details}"
        self.stats.error(text)
        log.error(
            "GEYSER REPLAY GAP: the server cannot replay from slot %d (%s); %s. "
            "Updates for %s slots are LOST to this subscriber.",
            wanted,
            details,
            resume,
            lost or "an unknown number of",
        )

    async def _first_available(self) -> int | None:
        channel = self._channel()
        try:
            stub = pb_grpc.GeyserStub(channel)
            info = await stub.SubscribeReplayInfo(
                pb.SubscribeReplayInfoRequest(), metadata=self._metadata, timeout=5
            )
            return info.first_available if info.HasField("first_available") else None
        except grpc.aio.AioRpcError:
            return None
        finally:
            await channel.close(grace=None)


# ---- wiring from settings -----------------------------------------------------------------


def build_subscriber(
    processor: StreamProcessor,
    config: StreamConfig | None = None,
    *,
    redis: Any = None,
    redis_url: str | None = None,
    lease_ttl_s: float | None = None,
) -> GeyserSubscriber:
    """The subscriber as `manage.py monitor` runs it: Redis checkpoint and lease when
    REDIS_URL is set, else a checkpoint file under VAR_DIR and no lease (one process)."""
    config = config or StreamConfig.from_settings()
    url = settings.REDIS_URL if redis_url is None else redis_url
    if redis is None and url:
        import redis.asyncio as aioredis

        ttl = lease_ttl_s or settings.GEYSER_LEASE_TTL_SECONDS
        # Calls must fail well inside the lease TTL, never hang past it.
        redis = aioredis.from_url(url, socket_timeout=ttl / 3, socket_connect_timeout=ttl / 3)
    if redis is not None:
        lease = RedisLease(
            redis, config.name, ttl_s=lease_ttl_s or settings.GEYSER_LEASE_TTL_SECONDS
        )
        checkpoint: CheckpointStore = RedisCheckpoint(redis, config.name, lease=lease)
        return GeyserSubscriber(processor, config, checkpoint=checkpoint, lease=lease)
    path = settings.VAR_DIR / f"geyser-{config.name}.checkpoint"
    return GeyserSubscriber(processor, config, checkpoint=FileCheckpoint(path))


def load_processor(dotted: str) -> StreamProcessor:
    """Instantiate a processor class by dotted path (`from_settings()` when it has one)."""
    from django.utils.module_loading import import_string

    factory: Callable[[], StreamProcessor] = import_string(dotted)
    make = getattr(factory, "from_settings", factory)
    return make()


__all__ = [
    "COMMITMENTS",
    "GeyserSubscriber",
    "StreamConfig",
    "StreamCursor",
    "StreamProcessor",
    "StreamStats",
    "backoff_delay",
    "build_subscriber",
    "load_processor",
    "parse_endpoint",
    "subscribe_request",
    "update_key",
]
