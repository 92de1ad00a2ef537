"""The validator's WebSocket pubsub (what Agave serves on port 8900) over a localnet Chain.

An ASGI app: uvicorn speaks WebSocket, this module speaks Agave's pubsub JSON-RPC
(`accountSubscribe`, `programSubscribe`, `signatureSubscribe`, `slotSubscribe`,
`logsSubscribe` and their unsubscribes), with the validator's message shapes and errors.

Commitment follows chain.py: a transaction is `processed` when it executes, its slot
is `confirmed` once the next slot starts and `finalized` `finality_depth` slots later.
Processed notifications go out per transaction; confirmed and finalized ones when the
chain's clock makes a slot reach that level, with the slot's last written value.

The chain calls our listeners from any thread (clock task, RPC handler, a test), so a
listener only hands the event to our event loop. Every connection has a bounded outbox:
a client that cannot keep up is disconnected rather than slowing the chain or others.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from solders.account import Account
from solders.pubkey import Pubkey
from solders.signature import Signature

from . import params as p
from .b58 import b58decode, b58encode
from .chain import Chain
from .encoding import MAX_BASE58_BYTES, check_account_encoding, encode_account, slice_data
from .errors import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    RpcError,
    invalid_params,
)
from .methods import FEATURE_SET, SOLANA_CORE_VERSION
from .records import SYSTEM_PROGRAM, SlotRecord, TxRecord, is_token_account_data

log = logging.getLogger(__name__)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

MAX_MESSAGE_BYTES = 4_096  # Agave's soketto max message and frame size
MAX_ACTIVE_SUBSCRIPTIONS = 1_000_000  # Agave's node-wide default
MAX_SUBSCRIPTIONS_PER_CONNECTION = 10_000
MAX_QUEUED_MESSAGES = 10_000
MAX_PROGRAM_FILTERS = 4
MAX_FILTER_BYTES, MAX_FILTER_BASE58, MAX_FILTER_BASE64 = 128, 175, 172
CLOSE_TIMEOUT_S = 1.0

# WebSocket close codes (RFC 6455) we send, with a reason a developer can act on.
GOING_AWAY = 1001
INVALID_PAYLOAD = 1007
POLICY_VIOLATION = 1008
MESSAGE_TOO_BIG = 1009

_EMPTY_ACCOUNT = Account(lamports=0, data=b"", owner=SYSTEM_PROGRAM, executable=False, rent_epoch=0)
_LOGS_FILTERS = "`all`, `allWithVotes`, `mentions`"


# ---- subscriptions -----------------------------------------------------------------


@dataclass(eq=False, kw_only=True)
class Subscription:
    id: int = -1
    connection: Connection
    commitment: str = "finalized"
    notification = ""  # the method name of this kind's notifications


@dataclass(eq=False, kw_only=True)
class AccountSubscription(Subscription):
    notification = "accountNotification"
    pubkey: Pubkey
    encoding: str
    data_slice: dict[str, Any] | None


@dataclass(eq=False, kw_only=True)
class ProgramSubscription(Subscription):
    notification = "programNotification"
    program_id: Pubkey
    encoding: str
    data_slice: dict[str, Any] | None
    filters: list[Callable[[bytes], bool]]

    def matches(self, data: bytes) -> bool:
        return all(accepts(data) for accepts in self.filters)


@dataclass(eq=False, kw_only=True)
class SignatureSubscription(Subscription):
    notification = "signatureNotification"
    signature: Signature
    notify_received: bool
    received_sent: bool = False


@dataclass(eq=False, kw_only=True)
class LogsSubscription(Subscription):
    notification = "logsNotification"
    mentions: Pubkey | None  # None: every transaction


@dataclass(eq=False, kw_only=True)
class SlotSubscription(Subscription):
    notification = "slotNotification"


class Connection:
    """One client: its subscriptions and a bounded outbox of JSON text frames."""

    def __init__(self, max_queued: int) -> None:
        self.outbox: asyncio.Queue[str] = asyncio.Queue(max_queued)
        self.subscriptions: dict[int, Subscription] = {}
        self.close_code: int | None = None
        self.close_reason = ""
        self.dropped = asyncio.Event()
        self.finished = asyncio.Event()

    def push(self, text: str) -> None:
        if self.dropped.is_set():
            return
        try:
            self.outbox.put_nowait(text)
        except asyncio.QueueFull:
            # Agave drops a client that lags behind its broadcast queue; so do we.
            self.drop(POLICY_VIOLATION, "notification queue overflow: client is too slow")

    def drop(self, code: int, reason: str) -> None:
        if not self.dropped.is_set():
            self.close_code, self.close_reason = code, reason
            self.dropped.set()


@dataclass
class _Indexes:
    """Subscriptions by what the chain's events are keyed on."""

    accounts: dict[Pubkey, dict[int, AccountSubscription]] = field(default_factory=dict)
    programs: dict[Pubkey, dict[int, ProgramSubscription]] = field(default_factory=dict)
    signatures: dict[Signature, dict[int, SignatureSubscription]] = field(default_factory=dict)
    logs: dict[int, LogsSubscription] = field(default_factory=dict)
    slots: dict[int, SlotSubscription] = field(default_factory=dict)

    def bucket(self, sub: Subscription) -> tuple[dict[Any, Any], Any]:
        """(the dict holding `sub`'s group, the group key), or (the flat dict, None)."""
        if isinstance(sub, AccountSubscription):
            return self.accounts, sub.pubkey
        if isinstance(sub, ProgramSubscription):
            return self.programs, sub.program_id
        if isinstance(sub, SignatureSubscription):
            return self.signatures, sub.signature
        return (self.logs if isinstance(sub, LogsSubscription) else self.slots), None

    def add(self, sub: Subscription) -> None:
        table, key = self.bucket(sub)
        (table.setdefault(key, {}) if key is not None else table)[sub.id] = sub

    def remove(self, sub: Subscription) -> None:
        table, key = self.bucket(sub)
        if key is None:
            table.pop(sub.id, None)
            return
        group = table.get(key)
        if group is not None:
            group.pop(sub.id, None)
            if not group:
                del table[key]


# ---- the app -----------------------------------------------------------------------


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
        self.max_active_subscriptions = max_active_subscriptions
        self.max_subscriptions_per_connection = max_subscriptions_per_connection
        self.max_queued_messages = max_queued_messages
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self._next_id = 0
        self._subscriptions: dict[int, Subscription] = {}
        self._index = _Indexes()
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
        self._index = _Indexes()

    # ---- ASGI ------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self._serve_connection(receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            body = b"Expected a WebSocket upgrade (Solana pubsub)"
            await send(
                {
                    "type": "http.response.start",
                    "status": 400,
                    "headers": [
                        (b"content-type", b"text/plain"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

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
                self._remove(sub)
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

    # ---- JSON-RPC envelope -----------------------------------------------------------

    def handle(self, connection: Connection, text: str) -> str | None:
        """Answer one text frame: a request or a batch. None when nothing is owed."""
        try:
            request = json.loads(text)
        except (ValueError, RecursionError):  # serde_json also refuses deep nesting
            return _dumps(_error(PARSE_ERROR, "Parse error"))
        if isinstance(request, list):
            if not request:
                return _dumps(_error(INVALID_REQUEST, "Invalid request"))
            replies = [r for r in (self._call(connection, item) for item in request) if r]
            return _dumps(replies) if replies else None
        reply = self._call(connection, request)
        return _dumps(reply) if reply is not None else None

    def _call(self, connection: Connection, request: Any) -> dict[str, Any] | None:
        if (
            not isinstance(request, dict)
            or request.get("jsonrpc") != "2.0"
            or not isinstance(request.get("method"), str)
            or not isinstance(request.get("id"), (str, int, type(None)))
            or isinstance(request.get("id"), bool)
        ):
            request_id = request.get("id") if isinstance(request, dict) else None
            if isinstance(request_id, (dict, list, bool, float)):
                request_id = None
            return _error(INVALID_REQUEST, "Invalid request", request_id)
        request_id = request.get("id")
        handler = self.handlers.get(request["method"])
        if handler is None:
            response = _error(METHOD_NOT_FOUND, "Method not found", request_id)
        else:
            try:
                params = request.get("params")
                if params is None:
                    params = []
                if not isinstance(params, list):
                    raise invalid_params("Invalid params: invalid type: map, expected a sequence.")
                result = handler(connection, params)
                response = {"jsonrpc": "2.0", "result": result, "id": request_id}
            except RpcError as exc:
                response = {"jsonrpc": "2.0", "error": exc.to_json(), "id": request_id}
            except Exception:  # a bug must cost one request, never the connection
                log.exception("localnet pubsub %s failed", request["method"])
                response = _error(INTERNAL_ERROR, "Internal error", request_id)
        return None if "id" not in request else response

    # ---- methods ---------------------------------------------------------------------

    def account_subscribe(self, connection: Connection, params: list[Any]) -> int:
        p.require(params, 1)
        pubkey = _parsed(params[0], p.pubkey, "pubkey")
        cfg = p.config_arg(params, 1)
        return self._add(
            AccountSubscription(
                connection=connection,
                commitment=p.commitment(cfg),
                pubkey=pubkey,
                encoding=check_account_encoding(cfg.get("encoding")),
                data_slice=_data_slice(cfg.get("dataSlice")),
            )
        )

    def program_subscribe(self, connection: Connection, params: list[Any]) -> int:
        p.require(params, 1)
        program_id = _parsed(params[0], p.pubkey, "pubkey")
        cfg = p.config_arg(params, 1)
        return self._add(
            ProgramSubscription(
                connection=connection,
                commitment=p.commitment(cfg),
                program_id=program_id,
                encoding=check_account_encoding(cfg.get("encoding")),
                data_slice=_data_slice(cfg.get("dataSlice")),
                filters=_program_filters(cfg.get("filters")),
            )
        )

    def signature_subscribe(self, connection: Connection, params: list[Any]) -> int:
        p.require(params, 1)
        signature = _parsed(params[0], p.signature, "signature")
        cfg = p.config_arg(params, 1)
        received = cfg.get("enableReceivedNotification")
        if received is not None and not isinstance(received, bool):
            raise p.type_error(received, "a boolean")
        sub = SignatureSubscription(
            connection=connection,
            commitment=p.commitment(cfg),
            signature=signature,
            notify_received=bool(received),
        )
        sub_id = self._add(sub)
        record = self.chain.transaction(signature)
        if record is not None and self.chain.meets_commitment(record.slot, sub.commitment):
            # Already there: answer at once, but only after the subscribe reply.
            assert self._loop is not None
            self._loop.call_soon(self._signature_already_landed, sub, record)
        return sub_id

    def logs_subscribe(self, connection: Connection, params: list[Any]) -> int:
        p.require(params, 1)
        mentions = _logs_filter(params[0])
        cfg = p.config_arg(params, 1)
        return self._add(
            LogsSubscription(connection=connection, commitment=p.commitment(cfg), mentions=mentions)
        )

    def slot_subscribe(self, connection: Connection, params: list[Any]) -> int:
        if params:
            raise invalid_params("Invalid parameters: No parameters were expected")
        return self._add(SlotSubscription(connection=connection))

    def unsubscribe(self, connection: Connection, params: list[Any]) -> bool:
        # Like Agave, any *Unsubscribe removes any of the connection's subscriptions.
        if not params:
            raise invalid_params("Invalid params: invalid length 0, expected a tuple of size 1.")
        sub = connection.subscriptions.get(p.u64_arg(params, 0))
        if sub is None:
            raise RpcError(INVALID_PARAMS, "Invalid subscription id.")
        self._remove(sub)
        return True

    def get_version(self, connection: Connection, params: list[Any]) -> dict[str, Any]:
        return {"feature-set": FEATURE_SET, "solana-core": SOLANA_CORE_VERSION}

    def _add(self, sub: Subscription) -> int:
        if len(self._subscriptions) >= self.max_active_subscriptions:
            raise RpcError(
                INTERNAL_ERROR,
                "Internal Error: Subscription refused. Node subscription limit reached",
            )
        if len(sub.connection.subscriptions) >= self.max_subscriptions_per_connection:
            raise RpcError(
                INTERNAL_ERROR,
                "Internal Error: Subscription refused. Connection subscription limit reached",
            )
        sub.id = self._next_id
        self._next_id += 1
        self._subscriptions[sub.id] = sub
        sub.connection.subscriptions[sub.id] = sub
        self._index.add(sub)
        return sub.id

    def _remove(self, sub: Subscription) -> None:
        self._subscriptions.pop(sub.id, None)
        sub.connection.subscriptions.pop(sub.id, None)
        self._index.remove(sub)

    # ---- chain events ----------------------------------------------------------------

    def _on_slot(self, record: SlotRecord) -> None:
        self._post(self._slot_started, record)

    def _on_transaction(self, record: TxRecord) -> None:
        self._post(self._transaction_processed, record)

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

    def _transaction_processed(self, tx: TxRecord) -> None:
        for sub in list(self._index.signatures.get(tx.signature, {}).values()):
            if sub.commitment == "processed":
                self._notify_signature(sub, tx.slot, tx.err)
            elif sub.notify_received and not sub.received_sent:
                sub.received_sent = True
                self._notify(sub, _context(tx.slot, "receivedSignature"))
        self._publish_logs(tx, "processed", tx.slot)
        self._publish_writes(tx.accounts_written, "processed", tx.slot)

    def _slot_started(self, record: SlotRecord) -> None:
        root = max(0, record.slot - self.chain.finality_depth)
        for sub in list(self._index.slots.values()):
            self._notify(sub, {"parent": record.parent, "root": root, "slot": record.slot})
        if record.slot >= 1:
            self._slot_reached(record.slot - 1, "confirmed")
        if record.slot >= self.chain.finality_depth:
            self._slot_reached(root, "finalized")

    def _slot_reached(self, slot: int, commitment: str) -> None:
        """Publish what `slot` holds to the subscriptions waiting for `commitment`."""
        record = self.chain.slot_record(slot)
        if record is None or not record.transactions:
            return
        latest: dict[Pubkey, Account | None] = {}
        for tx in record.transactions:
            for sub in list(self._index.signatures.get(tx.signature, {}).values()):
                if sub.commitment == commitment:
                    self._notify_signature(sub, slot, tx.err)
            self._publish_logs(tx, commitment, slot)
            latest.update(tx.accounts_written)
        self._publish_writes(latest.items(), commitment, slot)

    def _signature_already_landed(self, sub: SignatureSubscription, tx: TxRecord) -> None:
        if sub.id in self._subscriptions:
            self._notify_signature(sub, self.chain.commitment_slot(sub.commitment), tx.err)

    def _notify_signature(self, sub: SignatureSubscription, slot: int, err: Any) -> None:
        self._notify(sub, _context(slot, {"err": err}))
        self._remove(sub)  # one notification, then gone, as in Agave

    def _publish_logs(self, tx: TxRecord, commitment: str, slot: int) -> None:
        subs = [s for s in self._index.logs.values() if s.commitment == commitment]
        if not subs:
            return
        mentioned = {*tx.account_keys, *tx.loaded_writable, *tx.loaded_readonly}
        value = {"signature": str(tx.signature), "err": tx.err, "logs": tx.logs}
        for sub in subs:
            if sub.mentions is None or sub.mentions in mentioned:
                self._notify(sub, _context(slot, value))

    def _publish_writes(
        self, writes: Iterable[tuple[Pubkey, Account | None]], commitment: str, slot: int
    ) -> None:
        for pubkey, account in writes:
            for sub in list(self._index.accounts.get(pubkey, {}).values()):
                if sub.commitment == commitment:
                    shown = account or _EMPTY_ACCOUNT  # a closed account reads as empty
                    ui = self._ui_account(pubkey, shown, sub)
                    self._notify(sub, _context(slot, ui))
            if account is None:
                continue
            for sub in list(self._index.programs.get(account.owner, {}).values()):
                if sub.commitment == commitment and sub.matches(bytes(account.data)):
                    ui = self._ui_account(pubkey, account, sub)
                    self._notify(sub, _context(slot, {"pubkey": str(pubkey), "account": ui}))

    def _ui_account(
        self, pubkey: Pubkey, account: Account, sub: AccountSubscription | ProgramSubscription
    ) -> dict[str, Any]:
        sliced = slice_data(bytes(account.data), sub.data_slice)
        if sub.encoding in ("base58", "binary") and len(sliced) > MAX_BASE58_BYTES:
            # getAccountInfo refuses base58 past 128 bytes; Agave's pubsub encodes it anyway.
            ui = encode_account(pubkey, account, "base64", sub.data_slice)
            text = b58encode(sliced)
            ui["data"] = text if sub.encoding == "binary" else [text, "base58"]
            return ui
        # jsonParsed reads a token account's mint for its decimals.
        return encode_account(
            pubkey, account, sub.encoding, sub.data_slice, get_account=self.chain.get_account
        )

    def _notify(self, sub: Subscription, result: Any) -> None:
        params = {"result": result, "subscription": sub.id}
        message = {"jsonrpc": "2.0", "method": sub.notification, "params": params}
        sub.connection.push(_dumps(message))


# ---- params and shapes -------------------------------------------------------------


def _parsed(value: Any, parse: Callable[[Any], Any], thing: str) -> Any:
    """A base58 param, with Agave's pubsub wording when it does not parse."""
    if not isinstance(value, str):
        raise p.type_error(value, "a string")
    try:
        return parse(value)
    except RpcError:
        raise invalid_params(f"Invalid Request: Invalid {thing} provided") from None


def _data_slice(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise p.type_error(value, "struct UiDataSliceConfig")
    slice_data(b"", value)  # raises now rather than in every notification
    return value


def _logs_filter(value: Any) -> Pubkey | None:
    if value in ("all", "allWithVotes"):  # the localnet has no vote transactions
        return None
    if isinstance(value, str):
        raise invalid_params(
            f"Invalid params: unknown variant `{value}`, expected one of {_LOGS_FILTERS}."
        )
    if not isinstance(value, dict) or len(value) != 1:
        raise p.type_error(value, "enum RpcTransactionLogsFilter")
    [(variant, keys)] = value.items()
    if variant != "mentions":
        raise invalid_params(
            f"Invalid params: unknown variant `{variant}`, expected one of {_LOGS_FILTERS}."
        )
    if not isinstance(keys, list):
        raise p.type_error(keys, "a sequence")
    if len(keys) != 1:
        raise invalid_params("Invalid Request: Only 1 address supported")
    return _parsed(keys[0], p.pubkey, "mentions")


def _program_filters(value: Any) -> list[Callable[[bytes], bool]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise p.type_error(value, "a sequence")
    if len(value) > MAX_PROGRAM_FILTERS:
        # Agave's programSubscribe prefixes the RPC error's text with its code's name.
        raise invalid_params(
            f"Invalid params: Too many filters provided; max {MAX_PROGRAM_FILTERS}"
        )
    return [_program_filter(f) for f in value]


def _program_filter(value: Any) -> Callable[[bytes], bool]:
    if value == "tokenAccountState":
        return is_token_account_data
    if not isinstance(value, dict) or len(value) != 1:
        raise p.type_error(value, "enum RpcFilterType")
    [(kind, arg)] = value.items()
    if kind == "dataSize":
        if isinstance(arg, bool) or not isinstance(arg, int) or arg < 0:
            raise p.type_error(arg, "u64")
        return lambda data: len(data) == arg
    if kind != "memcmp":
        raise invalid_params(
            f"Invalid params: unknown variant `{kind}`, expected one of "
            "`dataSize`, `memcmp`, `tokenAccountState`."
        )
    if not isinstance(arg, dict):
        raise p.type_error(arg, "struct Memcmp")
    offset = arg.get("offset")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise p.type_error(offset, "usize")
    expected = _memcmp_bytes(arg.get("bytes"), arg.get("encoding"))
    return lambda data: data[offset : offset + len(expected)] == expected


def _memcmp_bytes(raw: Any, encoding: Any) -> bytes:
    too_large = invalid_params("Invalid params: Invalid param: DataTooLarge")
    if isinstance(raw, list):
        if not all(isinstance(b, int) and 0 <= b < 256 for b in raw):
            raise p.type_error(raw, "a sequence of u8")
        if len(raw) > MAX_FILTER_BYTES:
            raise too_large
        return bytes(raw)
    if not isinstance(raw, str):
        raise p.type_error(raw, "a string or a sequence of u8")
    if encoding in (None, "base58", "binary"):
        if len(raw) > MAX_FILTER_BASE58:
            raise too_large
        try:
            decoded = b58decode(raw)
        except ValueError:
            raise invalid_params("Invalid params: Invalid param: Base58DecodeError") from None
    elif encoding == "base64":
        if len(raw) > MAX_FILTER_BASE64:
            raise too_large
        try:
            decoded = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise invalid_params("Invalid params: Invalid param: Base64DecodeError") from None
    else:
        raise invalid_params(
            f"Invalid params: unknown variant `{encoding}`, expected one of "
            "`base58`, `base64`, `bytes`."
        )
    if len(decoded) > MAX_FILTER_BYTES:
        raise too_large
    return decoded


def _context(slot: int, value: Any) -> dict[str, Any]:
    return {"context": {"slot": slot}, "value": value}


def _error(code: int, message: str, request_id: Any = None) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "error": RpcError(code, message).to_json(), "id": request_id}


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


__all__ = ["MAX_MESSAGE_BYTES", "PubSubApp"]
