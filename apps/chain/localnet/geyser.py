"""A Yellowstone-compatible gRPC Geyser server ("Dragon's Mouth") on top of the localnet chain.

Any Yellowstone client subscribes here exactly as it would to a Triton/Helius/QuickNode
endpoint: `geyser.Geyser/Subscribe` with the same filters, commitment, data slices,
ping/pong, `from_slot` replay and `x-token` auth, and the unary helpers.

How updates flow:

- the chain calls our listeners from whatever thread moved it; we only hop onto our
  event loop with `call_soon_threadsafe` and never block the chain;
- on the loop, the `Broadcast` (geyser_broadcast.py) turns every chain event into
  entries of one log per commitment level, as Yellowstone broadcasts per commitment;
- each subscriber is a cursor into the log of its commitment, rendered through its
  `SubscriptionFilter` (geyser_filters.py). The logs are bounded by slots of history
  (`history_slots`), so a slow subscriber costs no memory: once it is more than `max_lag`
  entries behind (or the history it still needs is gone) it is disconnected with
  Yellowstone's status, INTERNAL "lagged to send an update";
- `from_slot` replays from the same logs, so the replayed prefix and the live stream
  join without a gap or a duplicate.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from solders.hash import Hash, ParseHashError

from .chain import COMMITMENTS, Chain
from .geyser_broadcast import Broadcast
from .geyser_filters import FilterError, SubscriptionFilter, commitment_level
from .geyser_messages import (
    FINALIZED,
    PROCESSED,
    pb,
    ping_update,
    pong_update,
)
from .records import SlotRecord, TxRecord

log = logging.getLogger(__name__)

SERVICE = "geyser.Geyser"
VERSION = "localnet-geyser 0.1.0"
PING_INTERVAL_S = 10.0  # Yellowstone's server ping period (older releases: 15 s)


# ---- subscribers ------------------------------------------------------------------------


class _Closed(Exception):
    def __init__(self, code: grpc.StatusCode | None = None, details: str = "") -> None:
        super().__init__(details)
        self.code = code
        self.details = details


class _Subscriber:
    def __init__(self, sub_id: int, commitment_end: int) -> None:
        self.id = sub_id
        self.filter: SubscriptionFilter | None = None  # nothing flows before the first request
        self.commitment = PROCESSED
        self.cursor = commitment_end
        self.replay_end = 0  # entries before this seq are replay: skip those below replay_from
        self.replay_from = 0
        self.control: list[bytes] = []  # pongs and pings, sent ahead of queued updates
        self.wake = asyncio.Event()
        self.closed: asyncio.Future[_Closed] = asyncio.get_running_loop().create_future()
        self.sent = 0

    def close(self, code: grpc.StatusCode | None = None, details: str = "") -> None:
        if not self.closed.done():
            self.closed.set_result(_Closed(code, details))
        self.wake.set()

    def push_control(self, data: bytes) -> None:
        self.control.append(data)
        self.wake.set()

    def lagged(self) -> None:
        self.close(grpc.StatusCode.INTERNAL, "lagged to send an update")


def _identity(data: bytes) -> bytes:
    return data


# ---- the service ------------------------------------------------------------------------


class GeyserService:
    """Yellowstone gRPC over a `Chain`: `await start(host, port)` -> bound port, `await stop()`."""

    def __init__(
        self,
        chain: Chain,
        *,
        x_token: str | None = None,
        history_slots: int = 300,
        max_lag: int = 250_000,
        ping_interval: float = PING_INTERVAL_S,
    ) -> None:
        self.chain = chain
        self.x_token = x_token
        self.max_lag = max_lag
        self.ping_interval = ping_interval
        self.updates_sent = 0  # every update written to any subscriber (benchmarks read it)
        self._broadcast = Broadcast(chain, history_slots, on_append=self._publish)
        self._logs = self._broadcast.logs
        self._server: grpc.aio.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._subscribers: dict[int, _Subscriber] = {}
        self._next_sub_id = 0

    @property
    def history_slots(self) -> int:
        return self._broadcast.history_slots

    @property
    def first_available(self) -> int:
        return self._broadcast.first_available

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    # ---- lifecycle ---------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        self._loop = asyncio.get_running_loop()
        # Listen before reading history: anything that lands meanwhile is queued on the loop
        # and deduplicated against what the seeding already ingested.
        self.chain.slot_listeners.append(self._on_slot)
        self.chain.transaction_listeners.append(self._on_transaction)
        try:
            self._broadcast.seed()
            self._server = grpc.aio.server(
                options=[
                    # Yellowstone clients ping every ~10 s; gRPC's default would GOAWAY them.
                    ("grpc.http2.min_recv_ping_interval_without_data_ms", 5_000),
                    ("grpc.keepalive_permit_without_calls", 1),
                    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
                ]
            )
            self._server.add_generic_rpc_handlers((self._handlers(),))
            family_host = f"[{host}]" if ":" in host and not host.startswith("[") else host
            bound = self._server.add_insecure_port(f"{family_host}:{port}")
            if bound == 0:
                raise OSError(f"cannot bind gRPC on {host}:{port}")
            await self._server.start()
        except BaseException:
            self._remove_listeners()
            raise
        first = self._broadcast.first_slot
        log.info("geyser gRPC on %s:%d (first replayable slot %d)", host, bound, first)
        return bound

    async def stop(self, grace: float = 1.0) -> None:
        self._remove_listeners()
        for sub in list(self._subscribers.values()):
            sub.close(grpc.StatusCode.UNAVAILABLE, "server is shutting down try again later")
        if self._server is not None:
            await self._server.stop(grace)
            self._server = None

    def _remove_listeners(self) -> None:
        with contextlib.suppress(ValueError):
            self.chain.slot_listeners.remove(self._on_slot)
        with contextlib.suppress(ValueError):
            self.chain.transaction_listeners.remove(self._on_transaction)

    # ---- chain events (any thread) -> the loop ----------------------------------------

    def _on_slot(self, record: SlotRecord) -> None:
        self._call_in_loop(self._broadcast.advance_to, record.slot, record)

    def _on_transaction(self, record: TxRecord) -> None:
        self._call_in_loop(self._broadcast.ingest_transaction, record)

    def _call_in_loop(self, fn: Callable[..., None], *args: Any) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop closed between check and call
            loop.call_soon_threadsafe(fn, *args)

    def _publish(self) -> None:
        """Wake every subscriber; disconnect those too far behind to ever catch up."""
        for sub in list(self._subscribers.values()):
            log_ = self._logs[sub.commitment]
            if sub.filter is None:  # not subscribed yet: nothing to fall behind on
                sub.cursor = log_.end
                continue
            behind_live = log_.end - max(sub.cursor, sub.replay_end)
            if sub.cursor < log_.first_seq or behind_live > self.max_lag:
                sub.lagged()
            else:
                sub.wake.set()

    # ---- gRPC plumbing -----------------------------------------------------------------

    def _handlers(self) -> grpc.GenericRpcHandler:
        def unary(fn: Callable[[Any], Any], request_type: Any) -> grpc.RpcMethodHandler:
            return grpc.unary_unary_rpc_method_handler(
                self._authorized_unary(fn),
                request_deserializer=request_type.FromString,
                response_serializer=lambda message: message.SerializeToString(),
            )

        return grpc.method_handlers_generic_handler(
            SERVICE,
            {
                "Subscribe": grpc.stream_stream_rpc_method_handler(
                    self._subscribe,
                    request_deserializer=pb.SubscribeRequest.FromString,
                    response_serializer=_identity,  # updates are serialised once, up front
                ),
                "SubscribeDeshred": grpc.stream_stream_rpc_method_handler(
                    self._unimplemented_stream,
                    request_deserializer=pb.SubscribeDeshredRequest.FromString,
                    response_serializer=_identity,
                ),
                "SubscribeGossip": grpc.unary_stream_rpc_method_handler(
                    self._unimplemented_stream,
                    request_deserializer=pb.SubscribeGossipRequest.FromString,
                    response_serializer=_identity,
                ),
                "SubscribeReplayInfo": unary(self._replay_info, pb.SubscribeReplayInfoRequest),
                "Ping": unary(self._ping, pb.PingRequest),
                "GetLatestBlockhash": unary(self._latest_blockhash, pb.GetLatestBlockhashRequest),
                "GetBlockHeight": unary(self._block_height, pb.GetBlockHeightRequest),
                "GetSlot": unary(self._get_slot, pb.GetSlotRequest),
                "IsBlockhashValid": unary(self._is_blockhash_valid, pb.IsBlockhashValidRequest),
                "GetVersion": unary(self._get_version, pb.GetVersionRequest),
            },
        )

    async def _authorize(self, context: grpc.aio.ServicerContext) -> None:
        if self.x_token is None:
            return
        token = dict(context.invocation_metadata() or ()).get("x-token")
        if token != self.x_token:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "No valid auth token")

    def _authorized_unary(
        self, fn: Callable[[Any], Any]
    ) -> Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]:
        async def handler(request: Any, context: grpc.aio.ServicerContext) -> Any:
            await self._authorize(context)
            try:
                return fn(request)
            except FilterError as exc:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))

        return handler

    async def _unimplemented_stream(self, request: Any, context: grpc.aio.ServicerContext) -> None:
        await self._authorize(context)
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "not supported by the localnet")

    # ---- unary methods -----------------------------------------------------------------

    @staticmethod
    def _commitment(request: Any) -> str:
        # The unary methods default to finalized, where Subscribe defaults to processed.
        return COMMITMENTS[commitment_level(request, FINALIZED)]

    def _replay_info(self, request: Any) -> Any:
        return pb.SubscribeReplayInfoResponse(first_available=self.first_available)

    def _ping(self, request: Any) -> Any:
        return pb.PongResponse(count=request.count)

    def _latest_blockhash(self, request: Any) -> Any:
        commitment = self._commitment(request)
        blockhash, last_valid = self.chain.latest_blockhash(commitment)
        slot = self.chain.blockhash_slot(blockhash)
        return pb.GetLatestBlockhashResponse(
            slot=slot if slot is not None else self.chain.commitment_slot(commitment),
            blockhash=str(blockhash),
            last_valid_block_height=last_valid,
        )

    def _block_height(self, request: Any) -> Any:
        return pb.GetBlockHeightResponse(
            block_height=self.chain.commitment_slot(self._commitment(request))
        )

    def _get_slot(self, request: Any) -> Any:
        return pb.GetSlotResponse(slot=self.chain.commitment_slot(self._commitment(request)))

    def _is_blockhash_valid(self, request: Any) -> Any:
        slot = self.chain.commitment_slot(self._commitment(request))
        try:
            blockhash = Hash.from_string(request.blockhash)
        except (ValueError, ParseHashError):  # Yellowstone answers valid=false, not an error
            return pb.IsBlockhashValidResponse(slot=slot, valid=False)
        return pb.IsBlockhashValidResponse(
            slot=slot, valid=self.chain.is_blockhash_valid(blockhash)
        )

    def _get_version(self, request: Any) -> Any:
        version = {
            "version": {"package": "localnet-geyser", "version": VERSION.split()[-1]},
            "extra": {"hostname": socket.gethostname()},
        }
        return pb.GetVersionResponse(version=json.dumps(version))

    # ---- Subscribe ---------------------------------------------------------------------

    async def _subscribe(self, requests: Any, context: grpc.aio.ServicerContext) -> None:
        await self._authorize(context)
        self._next_sub_id += 1
        sub = _Subscriber(self._next_sub_id, self._logs[PROCESSED].end)
        self._subscribers[sub.id] = sub
        tasks = [
            asyncio.create_task(self._read_requests(sub, requests)),
            asyncio.create_task(self._write_updates(sub, context)),
            asyncio.create_task(self._ping_loop(sub)),
        ]
        try:
            closed = await sub.closed
        finally:
            self._subscribers.pop(sub.id, None)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        if closed.code is not None:
            log.info("geyser subscriber #%d closed: %s %s", sub.id, closed.code, closed.details)
            await context.abort(closed.code, closed.details)

    async def _read_requests(self, sub: _Subscriber, requests: Any) -> None:
        try:
            async for request in requests:
                self._apply_request(sub, request)
                if sub.closed.done():
                    return
        except asyncio.CancelledError:
            raise
        except Exception:  # the client went away mid-read
            sub.close()
            return
        # A half-closed client keeps receiving, as with Yellowstone.

    def _apply_request(self, sub: _Subscriber, request: Any) -> None:
        try:
            new_filter = SubscriptionFilter.from_request(request)
        except FilterError as exc:
            sub.close(grpc.StatusCode.INVALID_ARGUMENT, f"failed to create filter: {exc}")
            return
        if request.HasField("ping"):  # a keep-alive only: answer it, keep the filters
            sub.push_control(pong_update(request.ping.id).SerializeToString())
            return
        log_ = self._logs[new_filter.commitment]
        if request.HasField("from_slot"):
            first = self.first_available
            if request.from_slot < first:
                sub.close(
                    grpc.StatusCode.OUT_OF_RANGE,
                    f"broadcast from {request.from_slot} is not available, last available: {first}",
                )
                return
            sub.cursor = log_.first_at_or_after(request.from_slot)
            sub.replay_end = log_.end
            sub.replay_from = request.from_slot
        elif sub.filter is None or new_filter.commitment != sub.commitment:
            sub.cursor = log_.end  # live from now on
            sub.replay_end = 0
        sub.filter = new_filter
        sub.commitment = new_filter.commitment
        sub.wake.set()

    async def _ping_loop(self, sub: _Subscriber) -> None:
        while True:
            await asyncio.sleep(self.ping_interval)
            sub.push_control(ping_update().SerializeToString())

    async def _write_updates(self, sub: _Subscriber, context: grpc.aio.ServicerContext) -> None:
        try:
            while not sub.closed.done():
                sub.wake.clear()
                while sub.control:
                    await context.write(sub.control.pop(0))
                    sub.sent += 1
                    self.updates_sent += 1
                if sub.filter is not None:
                    await self._drain_log(sub, context)
                if not sub.control and not sub.closed.done():
                    await sub.wake.wait()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the client disconnected under a write
            log.debug("geyser subscriber #%d write failed: %r", sub.id, exc)
            sub.close()

    async def _drain_log(self, sub: _Subscriber, context: grpc.aio.ServicerContext) -> None:
        log_ = self._logs[sub.commitment]
        while sub.cursor < log_.end and not sub.closed.done() and not sub.control:
            if sub.cursor < log_.first_seq:
                sub.lagged()
                return
            entry = log_.get(sub.cursor)
            sub.cursor += 1
            if sub.cursor <= sub.replay_end and entry.slot < sub.replay_from:
                continue
            assert sub.filter is not None
            for data in sub.filter.render(entry):
                await context.write(data)
                sub.sent += 1
                self.updates_sent += 1
            if log_ is not self._logs[sub.commitment]:
                return  # a new request switched commitment while we awaited


__all__ = ["GeyserService"]
