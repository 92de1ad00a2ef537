"""Who is subscribed to what: pubsub connections, their subscriptions, and the node-wide index.

A connection owns a bounded outbox of JSON text frames; a client that cannot keep up
is dropped rather than slowing the chain or other clients. The registry enforces
Agave's subscription limits and indexes subscriptions by what chain events are keyed
on (account, program, signature), so publishing an event touches only its watchers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from solders.pubkey import Pubkey
from solders.signature import Signature

from .errors import INTERNAL_ERROR, RpcError

MAX_ACTIVE_SUBSCRIPTIONS = 1_000_000  # Agave's node-wide default
MAX_SUBSCRIPTIONS_PER_CONNECTION = 10_000
MAX_QUEUED_MESSAGES = 10_000

# WebSocket close codes (RFC 6455) we send, with a reason a developer can act on.
GOING_AWAY = 1001
INVALID_PAYLOAD = 1007
POLICY_VIOLATION = 1008
MESSAGE_TOO_BIG = 1009


# ---- subscriptions ------------------------------------------------------------------------


@dataclass(eq=False, kw_only=True)
class Subscription:
    id: int = -1
    connection: Connection
    commitment: str = "finalized"
    notification = ""  # the method name of this kind's notifications


@dataclass(eq=False, kw_only=True)
class AccountViewSubscription(Subscription):
    """A subscription notified with accounts: how it wants them encoded and sliced."""

    encoding: str
    data_slice: dict[str, Any] | None


@dataclass(eq=False, kw_only=True)
class AccountSubscription(AccountViewSubscription):
    notification = "accountNotification"
    pubkey: Pubkey


@dataclass(eq=False, kw_only=True)
class ProgramSubscription(AccountViewSubscription):
    notification = "programNotification"
    program_id: Pubkey
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


# ---- the registry -------------------------------------------------------------------------


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


class Subscriptions:
    """Every live subscription of a node, by id, by connection and by event key."""

    def __init__(self, max_active: int, max_per_connection: int) -> None:
        self.max_active = max_active
        self.max_per_connection = max_per_connection
        self._next_id = 0
        self._by_id: dict[int, Subscription] = {}
        self.index = _Indexes()

    def __len__(self) -> int:
        return len(self._by_id)

    def is_live(self, sub: Subscription) -> bool:
        return sub.id in self._by_id

    def add(self, sub: Subscription) -> int:
        """Register `sub` under a fresh id, within Agave's node and connection limits."""
        if len(self._by_id) >= self.max_active:
            raise RpcError(
                INTERNAL_ERROR,
                "Internal Error: Subscription refused. Node subscription limit reached",
            )
        if len(sub.connection.subscriptions) >= self.max_per_connection:
            raise RpcError(
                INTERNAL_ERROR,
                "Internal Error: Subscription refused. Connection subscription limit reached",
            )
        sub.id = self._next_id
        self._next_id += 1
        self._by_id[sub.id] = sub
        sub.connection.subscriptions[sub.id] = sub
        self.index.add(sub)
        return sub.id

    def remove(self, sub: Subscription) -> None:
        self._by_id.pop(sub.id, None)
        sub.connection.subscriptions.pop(sub.id, None)
        self.index.remove(sub)

    def clear(self) -> None:
        self._by_id.clear()
        self.index = _Indexes()
