"""What every block engine on the localnet shares: tips, faults, bundle bookkeeping, landing.

Landing model (chosen to behave like a real engine, and to stay deterministic):
a submission accepted during slot ``s`` waits in the engine's queue and executes at the
next slot boundary, i.e. as the first thing in slot ``s + 1``, through
``Chain.execute_bundle`` (bundles, all or nothing) or ``Chain.execute`` (plain
transactions, which commit even when they fail with a fee). With the clock stepped by
hand (``slot_ms=0``) nothing lands until the test calls ``chain.advance_slot()``;
``BlockEngine.land_pending()`` flushes the queue into the current slot on demand.
"""

from __future__ import annotations

import hashlib
import json
import logging
import struct
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from solders.account import Account
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import VersionedTransaction

from .records import SYSTEM_PROGRAM

if TYPE_CHECKING:
    from .chain import Chain

log = logging.getLogger(__name__)

BUNDLE_HISTORY = 10_000  # submissions remembered per engine for status queries
LOOKBACK_SECONDS = 300  # Jito's in-flight look-back: older bundles are "not in the system"
_SYSTEM_TRANSFER = 2  # SystemInstruction::Transfer


@dataclass
class EngineFaults:
    """Faults a test switches on at runtime: `app.engine("jito").faults = EngineFaults(...)`.

    - `latency_ms`: every request of the engine waits this long before it is handled;
    - `drop_share`: that share of accepted submissions get an id but never land. The
      choice is a hash of (`seed`, bundle id), so it is deterministic and independent of
      the order or concurrency of submissions;
    - `rate_limited`: every request gets HTTP 429 in the engine's own error shape;
    - `down`: every request gets HTTP 503 and the connection is closed (one socket
      serves all three engines, so a per-engine "connection refused" is not possible).
    """

    latency_ms: int = 0
    drop_share: float = 0.0
    rate_limited: bool = False
    down: bool = False
    seed: int = 0

    def drops(self, bundle_id: str) -> bool:
        if self.drop_share <= 0:
            return False
        if self.drop_share >= 1:
            return True
        digest = hashlib.sha256(f"{self.seed}:{bundle_id}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64 < self.drop_share


@dataclass
class Request:
    method: str
    path: str  # below the engine's prefix, e.g. "/api/v1/bundles"
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    body: bytes


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)


def json_response(
    status: int, value: Any, headers: list[tuple[str, str]] | None = None
) -> Response:
    body = json.dumps(value, separators=(",", ":")).encode()
    return Response(status, body, headers=headers or [])


@dataclass
class Submission:
    """One accepted bundle (or plain transaction) and what became of it."""

    bundle_id: str
    transactions: list[VersionedTransaction]
    atomic: bool  # a bundle; False for a plain send, whose failure still commits a fee
    received_slot: int
    dropped: bool
    received_at: float = field(default_factory=time.monotonic)
    state: str = "Pending"  # Pending -> Landed | Failed
    landed_slot: int | None = None
    err: Any = None

    @property
    def signatures(self) -> list[Signature]:
        return [tx.signatures[0] for tx in self.transactions]


def jito_bundle_id(transactions: list[VersionedTransaction]) -> str:
    """Jito's bundle id: hex SHA-256 of the base58 first signatures joined by commas."""
    joined = ",".join(str(tx.signatures[0]) for tx in transactions)
    return hashlib.sha256(joined.encode()).hexdigest()


def tip_lamports(tx: VersionedTransaction, tip_accounts: frozenset[Pubkey]) -> int:
    """Lamports `tx` moves to `tip_accounts` by top-level System transfers.

    Only static account keys count: a tip account reached through a lookup table is
    not seen by the engines (Jito documents such tips as ineffective).
    """
    message = tx.message
    keys = message.account_keys
    total = 0
    for ix in message.instructions:
        if ix.program_id_index >= len(keys) or keys[ix.program_id_index] != SYSTEM_PROGRAM:
            continue
        data = bytes(ix.data)
        accounts = bytes(ix.accounts)
        if len(data) < 12 or len(accounts) < 2:
            continue
        if struct.unpack_from("<I", data, 0)[0] != _SYSTEM_TRANSFER:
            continue
        if accounts[1] < len(keys) and keys[accounts[1]] in tip_accounts:
            total += struct.unpack_from("<Q", data, 4)[0]
    return total


class BlockEngine:
    """Bookkeeping and landing for one engine; subclasses add the HTTP dialect."""

    name = ""
    tip_accounts: tuple[str, ...] = ()
    min_tip_lamports = 0

    def __init__(self, chain: Chain, *, auth: str | None = None) -> None:
        self.chain = chain
        self.auth = auth
        self.faults = EngineFaults()
        self.tip_pubkeys = frozenset(Pubkey.from_string(a) for a in self.tip_accounts)
        self._lock = threading.Lock()
        self._pending: list[Submission] = []
        self._submissions: OrderedDict[str, Submission] = OrderedDict()
        self._by_signature: dict[Signature, Submission] = {}
        self._open_tip_accounts()

    def _open_tip_accounts(self) -> None:
        # On mainnet the tip accounts exist and hold lamports; a tip smaller than the
        # rent-exempt minimum into a missing account would fail the bundle here instead.
        rent_exempt = self.chain.minimum_balance_for_rent_exemption(0)
        for pubkey in self.tip_pubkeys:
            if self.chain.get_account(pubkey) is None:
                self.chain.set_account(
                    pubkey,
                    Account(lamports=rent_exempt, data=b"", owner=SYSTEM_PROGRAM, executable=False),
                )

    # ---- checks ------------------------------------------------------------------

    def bundle_tip(self, transactions: list[VersionedTransaction]) -> int:
        return sum(tip_lamports(tx, self.tip_pubkeys) for tx in transactions)

    def pays_tip(self, transactions: list[VersionedTransaction]) -> bool:
        tip = self.bundle_tip(transactions)
        return tip > 0 and tip >= self.min_tip_lamports

    # ---- HTTP (the dialect is the subclass's) ------------------------------------------

    def handle(self, request: Request) -> Response:
        raise NotImplementedError

    def rate_limited(self) -> Response:
        raise NotImplementedError

    def internal_error(self) -> Response:
        raise NotImplementedError

    # ---- accepting and landing ------------------------------------------------------

    def accept(self, transactions: list[VersionedTransaction], *, atomic: bool) -> Submission:
        """Queue a checked submission for the next slot (or drop it, if the fault says so)."""
        bundle_id = jito_bundle_id(transactions)
        submission = Submission(
            bundle_id=bundle_id,
            transactions=list(transactions),
            atomic=atomic,
            received_slot=self.chain.slot,
            dropped=self.faults.drops(bundle_id),
        )
        with self._lock:
            self._submissions.pop(bundle_id, None)
            self._submissions[bundle_id] = submission
            for signature in submission.signatures:
                self._by_signature[signature] = submission
            while len(self._submissions) > BUNDLE_HISTORY:
                _, old = self._submissions.popitem(last=False)
                for signature in old.signatures:
                    if self._by_signature.get(signature) is old:
                        del self._by_signature[signature]
            if not submission.dropped:
                self._pending.append(submission)
        log.debug("%s accepted %s (%d txs)", self.name, bundle_id, len(transactions))
        return submission

    def land_pending(self) -> list[Submission]:
        """Execute every queued submission, in arrival order, in the chain's current slot."""
        with self._lock:
            pending, self._pending = self._pending, []
        for submission in pending:
            try:
                self._land(submission)
            except Exception:  # one bad submission must not stop the others or the clock
                log.exception("%s failed to land %s", self.name, submission.bundle_id)
                submission.state = "Failed"
        return pending

    def _land(self, submission: Submission) -> None:
        if submission.atomic:
            outcome = self.chain.execute_bundle(submission.transactions)
            if outcome.landed:
                submission.state, submission.landed_slot = "Landed", outcome.slot
            else:
                submission.state, submission.err = "Failed", outcome.err
            return
        # Plain sends: each transaction on its own, as a leader would take it.
        landed_slot = None
        for tx in submission.transactions:
            result = self.chain.execute(tx)
            if result.record is not None:
                landed_slot = result.record.slot
            elif submission.err is None:
                submission.err = result.err
        submission.landed_slot = landed_slot
        submission.state = "Landed" if landed_slot is not None else "Failed"

    # ---- queries -----------------------------------------------------------------

    def submission(self, bundle_id: str) -> Submission | None:
        with self._lock:
            return self._submissions.get(bundle_id)

    def submission_for(self, signature: Signature) -> Submission | None:
        with self._lock:
            return self._by_signature.get(signature)

    def submissions(self) -> list[Submission]:
        with self._lock:
            return list(self._submissions.values())

    def in_lookback(self, submission: Submission) -> bool:
        return time.monotonic() - submission.received_at <= LOOKBACK_SECONDS


__all__ = [
    "BUNDLE_HISTORY",
    "BlockEngine",
    "EngineFaults",
    "Request",
    "Response",
    "Submission",
    "jito_bundle_id",
    "json_response",
    "tip_lamports",
]
