"""The validator's WebSocket pubsub (what Agave serves on port 8900) over a localnet Chain.

An ASGI app: uvicorn speaks WebSocket, this module speaks Agave's pubsub JSON-RPC
(`accountSubscribe`, `programSubscribe`, `signatureSubscribe`, `slotSubscribe`,
`logsSubscribe` and their unsubscribes), with the validator's message shapes and errors.

Alongside it: pubsub_params.py reads the subscribe params, pubsub_subscriptions.py
keeps connections and subscriptions, pubsub_notify.py turns chain events into
notifications.

The chain calls our listeners from any thread (clock task, RPC handler, a test), so a
listener only hands the event to our event loop. Every connection has a bounded outbox:
a client that cannot keep up is disconnected rather than slowing the chain or others.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from . import params as p
from . import pubsub_params as pp
from .asgi import Receive, Scope, Send, respond, serve_lifespan
from .chain import Chain
from .errors import INVALID_PARAMS, RpcError, invalid_params
from .jsonrpc import answer, dumps
from .methods import FEATURE_SET, SOLANA_CORE_VERSION
from .pubsub_notify import Notifier
from .pubsub_subscriptions import (
    GOING_AWAY,
    INVALID_PAYLOAD,
    MAX_ACTIVE_SUBSCRIPTIONS,
    MAX_QUEUED_MESSAGES,
    MAX_SUBSCRIPTIONS_PER_CONNECTION,
    MESSAGE_TOO_BIG,
    AccountSubscription,
    Connection,
    LogsSubscription,
    ProgramSubscription,
    SignatureSubscription,
    SlotSubscription,
    Subscription,
    Subscriptions,
)
from .records import SlotRecord, TxRecord

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 4_096  # Agave's soketto max message and frame size
CLOSE_TIMEOUT_S = 1.0


class PubSubApp:
    """ASGI app serving Agave's WebSocket pubsub for one Chain.

    Listeners are registered on `start()` (called by the first connection or the ASGI
    lifespan startup) and removed by `close()`, which also disconnects every client.
    """

    def __init__(
        self,
        chain: Chain,
        *,
        max_active_subscriptions: int = MAX_ACTIVE_SUBSCRIPTIONS,
        max_subscriptions_per_connection: int = MAX_SUBSCRIPTIONS_PER_CONNECTION,
        max_queued_messages: int = MAX_QUEUED_MESSAGES,
    ) -> None:
        self.chain = chain
        self.max_queued_messages = max_queued_messages
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self._subscriptions = Subscriptions(
            max_active_subscriptions, max_subscriptions_per_connection
        )
        self._notifier = Notifier(chain, self._subscriptions)
        self._connections: set[Connection] = set()
        self.handlers: dict[str, Callable[[Connection, list[Any]], Any]] = {
            "accountSubscribe": self.account_subscribe,
            "accountUnsubscribe": self.unsubscribe,
            "programSubscribe": self.program_subscribe,
            "programUnsubscribe": self.unsubscribe,
            "signatureSubscribe": self.signature_subscribe,
            "signatureUnsubscribe": self.unsubscribe,
            "slotSubscribe": self.slot_subscribe,
            "slotUnsubscribe": self.unsubscribe,
            "logsSubscribe": self.logs_subscribe,
            "logsUnsubscribe": self.unsubscribe,
            "getVersion": self.get_version,
        }

    @property
    def connection_count(self) -> int:
        return len(self._connections)

    @property
    def subscription_count(self) -> int:
        return len(self._subscriptions)

    # ---- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        """Bind to the running loop and listen to the chain (idempotent)."""
        if self._closed:
            raise RuntimeError("PubSubApp is closed")
        if self._loop is not None:
            return
        self._loop = asyncio.get_running_loop()
        self.chain.slot_listeners.append(self._on_slot)
        self.chain.transaction_listeners.append(self._on_transaction)

    async def close(self) -> None:
        """Stop listening to the chain and disconnect every client."""
        self._closed = True
        for listeners, listener in (
            (self.chain.slot_listeners, self._on_slot),
            (self.chain.transaction_listeners, self._on_transaction),
        ):
            while listener in listeners:
                listeners.remove(listener)
        connections = list(self._connections)
        for connection in connections:
            connection.drop(GOING_AWAY, "server shutting down")
        if connections:
            await asyncio.wait(
                [asyncio.create_task(c.finished.wait()) for c in connections],
                timeout=2 * CLOSE_TIMEOUT_S,
            )
        self._subscriptions.clear()

    # ---- ASGI ------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self._serve_connection(receive, send)
        elif scope["type"] == "lifespan":
            await serve_lifespan(receive, send, on_startup=self.start, on_shutdown=self.close)
        elif scope["type"] == "http":
            body = b"Expected a WebSocket upgrade (Solana pubsub)"
            await respond(send, 400, body, b"text/plain")

    async def _serve_connection(self, receive: Receive, send: Send) -> None:
        if (await receive())["type"] != "websocket.connect":
            return
        if self._closed:
            await send({"type": "websocket.close", "code": GOING_AWAY})
            return
        await self.start()
        await send({"type": "websocket.accept"})
        connection = Connection(self.max_queued_messages)
        self._connections.add(connection)
        tasks = [
            asyncio.create_task(self._read_frames(connection, receive)),
            asyncio.create_task(self._write_frames(connection, send)),
            asyncio.create_task(connection.dropped.wait()),
        ]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for sub in list(connection.subscriptions.values()):
                self._subscriptions.remove(sub)
            self._connections.discard(connection)
            connection.finished.set()
        if connection.close_code is not None:
            # A stuck client may never drain its socket: do not wait on it for long.
            try:
                await asyncio.wait_for(
                    send(
                        {
                            "type": "websocket.close",
                            "code": connection.close_code,
                            "reason": connection.close_reason,
                        }
                    ),
                    CLOSE_TIMEOUT_S,
                )
            except Exception as exc:  # noqa: BLE001 - the client is gone either way
                log.debug("pubsub close frame not sent: %r", exc)

    async def _read_frames(self, connection: Connection, receive: Receive) -> None:
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            if message["type"] != "websocket.receive":
                continue
            text = message.get("text")
            if text is None:
                # Agave reads binary frames as text when they are UTF-8 and hangs up otherwise.
                try:
                    text = (message.get("bytes") or b"").decode()
                except UnicodeDecodeError:
                    connection.drop(INVALID_PAYLOAD, "binary frame is not UTF-8 JSON-RPC")
                    return
            size = len(text.encode())
            if size > MAX_MESSAGE_BYTES:
                connection.drop(
                    MESSAGE_TOO_BIG, f"message of {size} bytes exceeds {MAX_MESSAGE_BYTES} bytes"
                )
                return
            reply = self.handle(connection, text)
            if reply is not None:
                connection.push(reply)

    async def _write_frames(self, connection: Connection, send: Send) -> None:
        while True:
            text = await connection.outbox.get()
            try:
                await send({"type": "websocket.send", "text": text})
            except Exception:  # noqa: BLE001 - the client went away mid-send
                return

    def handle(self, connection: Connection, text: str) -> str | None:
        """Answer one text frame: a request or a batch. None when nothing is owed."""
        reply = answer(text, self.handlers, connection, service="pubsub")
        return dumps(reply) if reply is not None else None

    # ---- methods ---------------------------------------------------------------------

    def account_subscribe(self, connection: Connection, params: list[Any]) -> int:
        pubkey, cfg = pp.subject_and_config(params, pp.pubkey)
        return self._subscriptions.add(
            AccountSubscription(connection=connection, pubkey=pubkey, **pp.account_view(cfg))
        )

    def program_subscribe(self, connection: Connection, params: list[Any]) -> int:
        program_id, cfg = pp.subject_and_config(params, pp.pubkey)
        return self._subscriptions.add(
            ProgramSubscription(
                connection=connection,
                program_id=program_id,
                **pp.account_view(cfg),
                filters=pp.program_filters(cfg.get("filters")),
            )
        )

    def signature_subscribe(self, connection: Connection, params: list[Any]) -> int:
        signature, cfg = pp.subject_and_config(params, pp.signature)
        notify_received = pp.notify_received(cfg)
        sub = SignatureSubscription(
            connection=connection,
            commitment=p.commitment(cfg),
            signature=signature,
            notify_received=notify_received,
        )
        sub_id = self._subscriptions.add(sub)
        record = self.chain.transaction(signature)
        if record is not None and self.chain.meets_commitment(record.slot, sub.commitment):
            # Already there: answer at once, but only after the subscribe reply.
            assert self._loop is not None
            self._loop.call_soon(self._notifier.signature_already_landed, sub, record)
        return sub_id

    def logs_subscribe(self, connection: Connection, params: list[Any]) -> int:
        mentions, cfg = pp.subject_and_config(params, pp.logs_filter)
        return self._subscriptions.add(
            LogsSubscription(connection=connection, commitment=p.commitment(cfg), mentions=mentions)
        )

    def slot_subscribe(self, connection: Connection, params: list[Any]) -> int:
        if params:
            raise invalid_params("Invalid parameters: No parameters were expected")
        return self._subscriptions.add(SlotSubscription(connection=connection))

    def unsubscribe(self, connection: Connection, params: list[Any]) -> bool:
        # Like Agave, any *Unsubscribe removes any of the connection's subscriptions.
        if not params:
            raise invalid_params("Invalid params: invalid length 0, expected a tuple of size 1.")
        sub: Subscription | None = connection.subscriptions.get(p.u64_arg(params, 0))
        if sub is None:
            raise RpcError(INVALID_PARAMS, "Invalid subscription id.")
        self._subscriptions.remove(sub)
        return True

    def get_version(self, connection: Connection, params: list[Any]) -> dict[str, Any]:
        return {"feature-set": FEATURE_SET, "solana-core": SOLANA_CORE_VERSION}

    # ---- chain events (any thread) -> the loop ---------------------------------------

    def _on_slot(self, record: SlotRecord) -> None:
        self._post(self._notifier.slot_started, record)

    def _on_transaction(self, record: TxRecord) -> None:
        self._post(self._notifier.transaction_processed, record)

    def _post(self, handler: Callable[[Any], None], record: Any) -> None:
        """Hand an event to our loop from whatever thread the chain called us on."""
        loop = self._loop
        if loop is None or self._closed:
            return
        try:
            loop.call_soon_threadsafe(self._run_handler, handler, record)
        except RuntimeError:  # the loop is closed: nobody is listening any more
            pass

    def _run_handler(self, handler: Callable[[Any], None], record: Any) -> None:
        if self._closed:
            return
        try:
            handler(record)
        except Exception:  # one bad event must not stop the ones after it
            log.exception("localnet pubsub failed to publish %r", record)


__all__ = ["MAX_MESSAGE_BYTES", "PubSubApp"]
