"""A Yellowstone-compatible gRPC Geyser server ("Dragon's Mouth") on top of the localnet chain.

Any Yellowstone client subscribes here exactly as it would to a Triton/Helius/QuickNode
endpoint: `geyser.Geyser/Subscribe` with the same filters, commitment, data slices,
ping/pong, `from_slot` replay and `x-token` auth, and the unary helpers.

How updates flow:

- the chain calls our listeners from whatever thread moved it; we only hop onto our
  event loop with `call_soon_threadsafe` and never block the chain;
- on the loop, every chain event becomes an `_Entry` (its SubscribeUpdate serialised
  once, without filter names) appended to one log per commitment level, as Yellowstone
  broadcasts per commitment: `processed` gets accounts/transactions as they execute,
  `confirmed`/`finalized` get a slot's accounts, transactions and block meta when the slot
  reaches that status, in slot order; slot status updates go to all three;
- each subscriber is a cursor into the log of its commitment. The logs are bounded by
  slots of history (`history_slots`), so a slow subscriber costs no memory: once it is
  more than `max_lag` entries behind (or the history it still needs is gone) it is
  disconnected with Yellowstone's status, INTERNAL "lagged to send an update";
- `from_slot` replays from the same logs, so the replayed prefix and the live stream
  join without a gap or a duplicate.

Slot lifecycle in the localnet's commitment model (chain.py): when slot s opens it is
PROCESSED (CREATED_BANK first, for interslot subscribers); when s+1 opens, s is COMPLETED,
its block meta is out, and it is CONFIRMED; slot s+1-finality_depth is FINALIZED.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import socket
import struct
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from solders.account import Account
from solders.hash import Hash, ParseHashError
from solders.message import MessageV0

from .b58 import b58decode
from .chain import COMMITMENTS, Chain
from .records import SYSTEM_PROGRAM, SlotRecord, TokenBalance, TxRecord, is_token_account_data

try:
    import protos
except ImportError:  # run from outside the repository root: protos/ sits beside apps/
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
    import protos

protos.ensure_stubs()
from protos.generated import geyser_pb2 as pb  # noqa: E402

log = logging.getLogger(__name__)

SERVICE = "geyser.Geyser"
VERSION = "localnet-geyser 0.1.0"
PING_INTERVAL_S = 10.0  # Yellowstone's server ping period (older releases: 15 s)
MAX_FILTER_NAME = 128
MAX_ACCOUNT_STATE_FILTERS = 4
MAX_MEMCMP_BYTES = 128
MAX_DATA_SLICES = 32

_PROCESSED, _CONFIRMED, _FINALIZED = 0, 1, 2


# ---- bincode TransactionError -----------------------------------------------------------
# Yellowstone carries meta.err as the bincode of the runtime's TransactionError enum
# (u32 LE variant index, then the payload). Variant orders are Agave's, append-only.

_TX_ERRORS = (
    "AccountInUse AccountLoadedTwice AccountNotFound ProgramAccountNotFound "
    "InsufficientFundsForFee InvalidAccountForFee AlreadyProcessed BlockhashNotFound "
    "InstructionError CallChainTooDeep MissingSignatureForFee InvalidAccountIndex "
    "SignatureFailure InvalidProgramForExecution SanitizeFailure ClusterMaintenance "
    "AccountBorrowOutstanding WouldExceedMaxBlockCostLimit UnsupportedVersion "
    "InvalidWritableAccount WouldExceedMaxAccountCostLimit WouldExceedAccountDataBlockLimit "
    "TooManyAccountLocks AddressLookupTableNotFound InvalidAddressLookupTableOwner "
    "InvalidAddressLookupTableData InvalidAddressLookupTableIndex InvalidRentPayingAccount "
    "WouldExceedMaxVoteCostLimit WouldExceedAccountDataTotalLimit DuplicateInstruction "
    "InsufficientFundsForRent MaxLoadedAccountsDataSizeExceeded "
    "InvalidLoadedAccountsDataSizeLimit ResanitizationNeeded "
    "ProgramExecutionTemporarilyRestricted UnbalancedTransaction ProgramCacheHitMaxLimit "
    "CommitCancelled"
).split()
_IX_ERRORS = (
    "GenericError InvalidArgument InvalidInstructionData InvalidAccountData "
    "AccountDataTooSmall InsufficientFunds IncorrectProgramId MissingRequiredSignature "
    "AccountAlreadyInitialized UninitializedAccount UnbalancedInstruction ModifiedProgramId "
    "ExternalAccountLamportSpend ExternalAccountDataModified ReadonlyLamportChange "
    "ReadonlyDataModified DuplicateAccountIndex ExecutableModified RentEpochModified "
    "NotEnoughAccountKeys AccountDataSizeChanged AccountNotExecutable AccountBorrowFailed "
    "AccountBorrowOutstanding DuplicateAccountOutOfSync Custom InvalidError "
    "ExecutableDataModified ExecutableLamportChange ExecutableAccountNotRentExempt "
    "UnsupportedProgramId CallDepth MissingAccount ReentrancyNotAllowed MaxSeedLengthExceeded "
    "InvalidSeeds InvalidRealloc ComputationalBudgetExceeded PrivilegeEscalation "
    "ProgramEnvironmentSetupFailure ProgramFailedToComplete ProgramFailedToCompile Immutable "
    "IncorrectAuthority BorshIoError AccountNotRentExempt InvalidAccountOwner "
    "ArithmeticOverflow UnsupportedSysvar IllegalOwner MaxAccountsDataAllocationsExceeded "
    "MaxAccountsExceeded MaxInstructionTraceLengthExceeded "
    "BuiltinProgramsMustConsumeComputeUnits"
).split()


def _variant(err: Any) -> tuple[str, Any]:
    if isinstance(err, str):
        return err, None
    if isinstance(err, dict) and len(err) == 1:
        return next(iter(err.items()))
    raise ValueError(f"not a TransactionError: {err!r}")


def _instruction_error_bincode(err: Any) -> bytes:
    name, payload = _variant(err)
    out = struct.pack("<I", _IX_ERRORS.index(name))
    if name == "Custom":
        out += struct.pack("<I", int(payload))
    elif name == "BorshIoError":  # serialised with its message string (empty when unknown)
        text = (payload or "").encode()
        out += struct.pack("<Q", len(text)) + text
    return out


def transaction_error_bincode(err: Any) -> bytes:
    """bincode of a TransactionError given in the validator's JSON form (`record.err`)."""
    name, payload = _variant(err)
    out = struct.pack("<I", _TX_ERRORS.index(name))
    if name == "InstructionError":
        index, inner = payload
        out += struct.pack("<B", index) + _instruction_error_bincode(inner)
    elif name == "DuplicateInstruction":
        out += struct.pack("<B", int(payload))
    elif name in ("InsufficientFundsForRent", "ProgramExecutionTemporarilyRestricted"):
        out += struct.pack("<B", int(payload["account_index"]))
    return out


# ---- solana-storage shapes --------------------------------------------------------------


def _ui_token_amount(amount: int, decimals: int) -> Any:
    if decimals:
        whole, frac = divmod(amount, 10**decimals)
        text = f"{whole}.{frac:0{decimals}d}".rstrip("0").rstrip(".")
    else:
        text = str(amount)
    return pb.UiTokenAmount(
        ui_amount=amount / 10**decimals,
        decimals=decimals,
        amount=str(amount),
        ui_amount_string=text,
    )


def _token_balance(tb: TokenBalance) -> Any:
    return pb.TokenBalance(
        account_index=tb.account_index,
        mint=str(tb.mint),
        ui_token_amount=_ui_token_amount(tb.amount, tb.decimals),
        owner=str(tb.owner),
        program_id=str(tb.program_id),
    )


def transaction_info(record: TxRecord) -> Any:
    """SubscribeUpdateTransactionInfo: the transaction and its status meta, as Yellowstone sends."""
    tx = record.transaction
    msg = tx.message
    header = msg.header
    versioned = isinstance(msg, MessageV0)
    message = pb.Message(
        header=pb.MessageHeader(
            num_required_signatures=header.num_required_signatures,
            num_readonly_signed_accounts=header.num_readonly_signed_accounts,
            num_readonly_unsigned_accounts=header.num_readonly_unsigned_accounts,
        ),
        account_keys=[bytes(k) for k in msg.account_keys],
        recent_blockhash=bytes(msg.recent_blockhash),
        instructions=[
            pb.CompiledInstruction(
                program_id_index=ix.program_id_index,
                accounts=bytes(ix.accounts),
                data=bytes(ix.data),
            )
            for ix in msg.instructions
        ],
        versioned=versioned,
        address_table_lookups=[
            pb.MessageAddressTableLookup(
                account_key=bytes(lookup.account_key),
                writable_indexes=bytes(lookup.writable_indexes),
                readonly_indexes=bytes(lookup.readonly_indexes),
            )
            for lookup in (msg.address_table_lookups if versioned else [])
        ],
    )
    meta = pb.TransactionStatusMeta(
        fee=record.fee,
        pre_balances=record.pre_balances,
        post_balances=record.post_balances,
        inner_instructions=[
            pb.InnerInstructions(
                index=group["index"],
                instructions=[
                    pb.InnerInstruction(
                        program_id_index=ix["programIdIndex"],
                        accounts=bytes(ix["accounts"]),
                        data=bytes(ix["data"]),
                        stack_height=ix["stackHeight"],
                    )
                    for ix in group["instructions"]
                ],
            )
            for group in record.inner_instructions
        ],
        log_messages=record.logs,
        pre_token_balances=[_token_balance(t) for t in record.pre_token_balances],
        post_token_balances=[_token_balance(t) for t in record.post_token_balances],
        loaded_writable_addresses=[bytes(k) for k in record.loaded_writable],
        loaded_readonly_addresses=[bytes(k) for k in record.loaded_readonly],
        return_data_none=record.return_data is None,
        compute_units_consumed=record.compute_units,
    )
    if record.err is not None:
        meta.err.err = transaction_error_bincode(record.err)
    if record.return_data is not None:
        meta.return_data.program_id = bytes(record.return_data["programId"])
        meta.return_data.data = bytes(record.return_data["data"])
    return pb.SubscribeUpdateTransactionInfo(
        signature=bytes(record.signature),
        is_vote=False,  # the localnet has no voters
        transaction=pb.Transaction(signatures=[bytes(s) for s in tx.signatures], message=message),
        meta=meta,
        index=record.index,
    )


# ---- the per-commitment logs ------------------------------------------------------------

_ACCOUNT, _SLOT, _TRANSACTION, _BLOCK_META = range(4)


def _now() -> Any:
    ts = pb.SubscribeUpdate().created_at
    ts.FromNanoseconds(time.time_ns())
    return ts


@dataclass(slots=True)
class _AccountWrite:
    pubkey: bytes
    lamports: int
    owner: bytes
    executable: bool
    rent_epoch: int
    data: bytes
    write_version: int
    txn_signature: bytes

    def info(self, data: bytes) -> Any:
        return pb.SubscribeUpdateAccountInfo(
            pubkey=self.pubkey,
            lamports=self.lamports,
            owner=self.owner,
            executable=self.executable,
            rent_epoch=self.rent_epoch,
            data=data,
            write_version=self.write_version,
            txn_signature=self.txn_signature,
        )


@dataclass(slots=True)
class _Entry:
    """One broadcast update; `body` is its SubscribeUpdate serialised without filter names."""

    slot: int
    kind: int
    payload: Any  # _AccountWrite | TxRecord | slot status (int) | None
    body: bytes
    created_at: Any
    keys: frozenset[bytes] = frozenset()  # a transaction's account keys, for filters
    _status_body: bytes | None = None

    def status_body(self) -> bytes:
        """The transaction_status variant of a transaction entry, built on first use."""
        if self._status_body is None:
            record: TxRecord = self.payload
            update = pb.SubscribeUpdate(created_at=self.created_at)
            status = update.transaction_status
            status.slot = record.slot
            status.signature = bytes(record.signature)
            status.index = record.index
            if record.err is not None:
                status.err.err = transaction_error_bincode(record.err)
            self._status_body = update.SerializeToString()
        return self._status_body


class _Log:
    """An append-only run of entries with absolute sequence numbers, pruned by slot."""

    def __init__(self) -> None:
        self._entries: list[_Entry] = []
        self._base = 0  # sequence number of _entries[0]
        self._start = 0  # index of the first live entry (pruned ones wait for compaction)

    @property
    def first_seq(self) -> int:
        return self._base + self._start

    @property
    def end(self) -> int:
        return self._base + len(self._entries)

    def append(self, entry: _Entry) -> None:
        self._entries.append(entry)

    def get(self, seq: int) -> _Entry:
        return self._entries[seq - self._base]

    def first_at_or_after(self, slot: int) -> int:
        for i in range(self._start, len(self._entries)):
            if self._entries[i].slot >= slot:
                return self._base + i
        return self.end

    def prune_below(self, slot: int) -> None:
        entries = self._entries
        while self._start < len(entries) and entries[self._start].slot < slot:
            self._start += 1
        if self._start > 4096 and self._start * 2 > len(entries):
            del entries[: self._start]
            self._base += self._start
            self._start = 0


@dataclass
class _SlotState:
    record: SlotRecord
    next_index: int = 0  # transactions of the slot ingested so far, in order
    entries: list[_Entry] = field(default_factory=list)  # accounts and transactions
    block_meta: _Entry | None = None


# ---- subscription filters ---------------------------------------------------------------


class FilterError(ValueError):
    """A SubscribeRequest we refuse; answered as INVALID_ARGUMENT like Yellowstone."""


def _name(name: str) -> str:
    size = len(name.encode())
    if size > MAX_FILTER_NAME:
        raise FilterError(
            f"oversized filter name (max allowed size {MAX_FILTER_NAME}), found {size}"
        )
    return name


def _pubkey(text: str) -> bytes:
    # Messages are those of solana-pubkey's ParsePubkeyError, which Yellowstone passes on.
    if len(text) > 44:
        raise FilterError("String is the wrong size")
    try:
        raw = b58decode(text)
    except ValueError:
        raise FilterError("Invalid Base58 string") from None
    if len(raw) != 32:
        raise FilterError("String is the wrong size")
    return raw


def _signature(text: str) -> bytes:
    try:
        raw = b58decode(text)
    except ValueError:
        raise FilterError("failed to decode string to signature") from None
    if len(raw) != 64:
        raise FilterError("string decoded to wrong size for signature")
    return raw


@dataclass
class _AccountsFilter:
    name: str
    accounts: frozenset[bytes]
    owners: frozenset[bytes]
    nonempty_txn_signature: bool | None
    memcmp: list[tuple[int, bytes]]
    datasize: int | None
    token_account_state: bool
    lamports: list[tuple[str, int]]

    def matches(self, write: _AccountWrite) -> bool:
        if self.accounts and write.pubkey not in self.accounts:
            return False
        if self.owners and write.owner not in self.owners:
            return False
        if self.nonempty_txn_signature is not None and self.nonempty_txn_signature != bool(
            write.txn_signature
        ):
            return False
        data = write.data
        if self.datasize is not None and len(data) != self.datasize:
            return False
        if self.token_account_state and not is_token_account_data(data):
            return False
        for op, value in self.lamports:
            lamports = write.lamports
            if not (
                (op == "eq" and lamports == value)
                or (op == "ne" and lamports != value)
                or (op == "lt" and lamports < value)
                or (op == "gt" and lamports > value)
            ):
                return False
        return all(data[offset : offset + len(raw)] == raw for offset, raw in self.memcmp)


def _accounts_filter(name: str, spec: Any) -> _AccountsFilter:
    if len(spec.filters) > MAX_ACCOUNT_STATE_FILTERS:
        raise FilterError(f"Too many filters provided; max {MAX_ACCOUNT_STATE_FILTERS}")
    memcmp: list[tuple[int, bytes]] = []
    datasize = None
    token_state = False
    lamports: list[tuple[str, int]] = []
    for f in spec.filters:
        kind = f.WhichOneof("filter")
        if kind == "memcmp":
            source = f.memcmp.WhichOneof("data")
            if source == "bytes":
                raw = f.memcmp.bytes
            elif source == "base58":
                try:
                    raw = b58decode(f.memcmp.base58)
                except ValueError:
                    raise FilterError("invalid base58") from None
            elif source == "base64":
                try:
                    raw = base64.b64decode(f.memcmp.base64, validate=True)
                except ValueError:
                    raise FilterError("invalid base64") from None
            else:
                raise FilterError("data for memcmp should be defined")
            if len(raw) > MAX_MEMCMP_BYTES:
                raise FilterError("data too large")
            memcmp.append((f.memcmp.offset, bytes(raw)))
        elif kind == "datasize":
            if datasize is not None:
                raise FilterError("datasize used more than once")
            datasize = f.datasize
        elif kind == "token_account_state":
            if not f.token_account_state:
                raise FilterError("token_account_state only allowed to be true")
            token_state = True
        elif kind == "lamports":
            op = f.lamports.WhichOneof("cmp")
            if op is None:
                raise FilterError("cmp for lamports should be defined")
            lamports.append((op, getattr(f.lamports, op)))
        else:
            raise FilterError("filter should be defined")
    return _AccountsFilter(
        name=name,
        accounts=frozenset(_pubkey(a) for a in spec.account),
        owners=frozenset(_pubkey(o) for o in spec.owner),
        nonempty_txn_signature=(
            spec.nonempty_txn_signature if spec.HasField("nonempty_txn_signature") else None
        ),
        memcmp=memcmp,
        datasize=datasize,
        token_account_state=token_state,
        lamports=lamports,
    )


@dataclass
class _TransactionsFilter:
    name: str
    vote: bool | None
    failed: bool | None
    signature: bytes | None
    include: frozenset[bytes]
    exclude: frozenset[bytes]
    required: frozenset[bytes]

    def matches(self, entry: _Entry) -> bool:
        record: TxRecord = entry.payload
        if self.vote is True:  # no vote transactions on the localnet
            return False
        if self.failed is not None and self.failed != (record.err is not None):
            return False
        if self.signature is not None and self.signature != bytes(record.signature):
            return False
        keys = entry.keys
        if self.include and self.include.isdisjoint(keys):
            return False
        if self.exclude and not self.exclude.isdisjoint(keys):
            return False
        return not self.required or self.required <= keys


def _transactions_filter(name: str, spec: Any) -> _TransactionsFilter:
    return _TransactionsFilter(
        name=name,
        vote=spec.vote if spec.HasField("vote") else None,
        failed=spec.failed if spec.HasField("failed") else None,
        signature=_signature(spec.signature) if spec.HasField("signature") else None,
        include=frozenset(_pubkey(k) for k in spec.account_include),
        exclude=frozenset(_pubkey(k) for k in spec.account_exclude),
        required=frozenset(_pubkey(k) for k in spec.account_required),
    )


@dataclass
class SubscriptionFilter:
    """A compiled SubscribeRequest: what one subscriber wants, and at which commitment."""

    commitment: int = _PROCESSED
    accounts: list[_AccountsFilter] = field(default_factory=list)
    slots: list[tuple[str, bool, bool]] = field(default_factory=list)
    transactions: list[_TransactionsFilter] = field(default_factory=list)
    transactions_status: list[_TransactionsFilter] = field(default_factory=list)
    blocks_meta: list[str] = field(default_factory=list)
    data_slices: list[tuple[int, int]] = field(default_factory=list)
    _prefixes: dict[tuple[str, ...], bytes] = field(default_factory=dict)

    @classmethod
    def from_request(cls, request: Any) -> SubscriptionFilter:
        """Compile; raises FilterError with Yellowstone's wording for what it would refuse."""
        commitment = request.commitment if request.HasField("commitment") else _PROCESSED
        if commitment not in (_PROCESSED, _CONFIRMED, _FINALIZED):
            raise FilterError(f"failed to create CommitmentLevel from {commitment}")
        if request.blocks:
            raise FilterError("`blocks` filters are not supported by the localnet")
        if request.entry:
            raise FilterError("`entry` filters are not supported by the localnet")
        slices = [(s.offset, s.offset + s.length) for s in request.accounts_data_slice]
        if len(slices) > MAX_DATA_SLICES:
            raise FilterError(f"Max amount of data slices reached, only {MAX_DATA_SLICES} allowed")
        for i, (start, _) in enumerate(slices):
            if any(start > other for other, _ in slices[i + 1 :]):
                raise FilterError("failed to create filter: data slices out of order")
            if any(start < end for _, end in slices[:i]):
                raise FilterError("failed to create filter: data slices overlapped")
        return cls(
            commitment=commitment,
            accounts=[
                _accounts_filter(_name(n), spec) for n, spec in sorted(request.accounts.items())
            ],
            slots=[
                (_name(n), spec.filter_by_commitment, spec.interslot_updates)
                for n, spec in sorted(request.slots.items())
            ],
            transactions=[
                _transactions_filter(_name(n), spec)
                for n, spec in sorted(request.transactions.items())
            ],
            transactions_status=[
                _transactions_filter(_name(n), spec)
                for n, spec in sorted(request.transactions_status.items())
            ],
            blocks_meta=[_name(n) for n in sorted(request.blocks_meta)],
            data_slices=slices,
        )

    def _prefix(self, names: list[str]) -> bytes:
        key = tuple(names)
        prefix = self._prefixes.get(key)
        if prefix is None:
            prefix = pb.SubscribeUpdate(filters=names).SerializeToString()
            self._prefixes[key] = prefix
        return prefix

    def render(self, entry: _Entry) -> list[bytes]:
        """The serialised SubscribeUpdates this subscriber gets for `entry` (often none)."""
        kind = entry.kind
        if kind == _ACCOUNT:
            names = [f.name for f in self.accounts if f.matches(entry.payload)]
            if not names:
                return []
            body = entry.body
            if self.data_slices:
                body = self._sliced_account(entry)
            return [self._prefix(names) + body]
        if kind == _TRANSACTION:
            out = []
            names = [f.name for f in self.transactions if f.matches(entry)]
            if names:
                out.append(self._prefix(names) + entry.body)
            names = [f.name for f in self.transactions_status if f.matches(entry)]
            if names:
                out.append(self._prefix(names) + entry.status_body())
            return out
        if kind == _SLOT:
            status = entry.payload
            names = [
                name
                for name, by_commitment, interslot in self.slots
                if (not by_commitment or status == self.commitment)
                and (interslot or status in (_PROCESSED, _CONFIRMED, _FINALIZED))
            ]
            return [self._prefix(names) + entry.body] if names else []
        if kind == _BLOCK_META and self.blocks_meta:
            return [self._prefix(self.blocks_meta) + entry.body]
        return []

    def _sliced_account(self, entry: _Entry) -> bytes:
        write: _AccountWrite = entry.payload
        data = write.data
        sliced = b"".join(data[start:end] for start, end in self.data_slices if len(data) >= end)
        update = pb.SubscribeUpdate(created_at=entry.created_at)
        update.account.account.CopyFrom(write.info(sliced))
        update.account.slot = entry.slot
        return update.SerializeToString()


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
        self.commitment = _PROCESSED
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


def _identity(data: bytes) -> bytes:
    return data


def _lagged(sub: _Subscriber) -> None:
    sub.close(grpc.StatusCode.INTERNAL, "lagged to send an update")


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
        # A slot's entries must live until it is finalized, whatever replay depth is asked.
        self.history_slots = max(1, history_slots)
        self._retain_slots = max(self.history_slots, chain.finality_depth + 1)
        self.max_lag = max_lag
        self.ping_interval = ping_interval
        self.updates_sent = 0  # every update written to any subscriber (benchmarks read it)
        self._server: grpc.aio.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._logs = (_Log(), _Log(), _Log())
        self._slots: dict[int, _SlotState] = {}
        self._current = -1
        self._first_slot = 0
        self._write_version = 0
        self._subscribers: dict[int, _Subscriber] = {}
        self._next_sub_id = 0

    # ---- lifecycle ---------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        self._loop = asyncio.get_running_loop()
        # Listen before reading history: anything that lands meanwhile is queued on the loop
        # and deduplicated against what the seeding already ingested.
        self.chain.slot_listeners.append(self._on_slot)
        self.chain.transaction_listeners.append(self._on_transaction)
        try:
            self._seed()
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
        log.info("geyser gRPC on %s:%d (first replayable slot %d)", host, bound, self._first_slot)
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

    @property
    def first_available(self) -> int:
        return max(self._first_slot, self._current - self.history_slots + 1)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    # ---- chain events (any thread) -> the loop ----------------------------------------

    def _on_slot(self, record: SlotRecord) -> None:
        self._call_in_loop(self._advance_to, record.slot, record)

    def _on_transaction(self, record: TxRecord) -> None:
        self._call_in_loop(self._ingest_transaction, record)

    def _call_in_loop(self, fn: Callable[..., None], *args: Any) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop closed between check and call
            loop.call_soon_threadsafe(fn, *args)

    # ---- ingest (loop thread only) -----------------------------------------------------

    def _seed(self) -> None:
        """Rebuild the recent past from the chain's records, as if we had been listening."""
        current = self.chain.slot
        first = max(0, current - self.history_slots + 1)
        while first < current and self.chain.slot_record(first) is None:
            first += 1
        self._first_slot = first
        record = self.chain.slot_record(first)
        if record is None:
            return
        self._open_slot(record)
        self._advance_to(current, None)
        self._ingest_up_to(self._slots[self._current], None)
        self._publish()

    def _advance_to(self, slot: int, hint: SlotRecord | None) -> None:
        while self._current < slot:
            nxt = self._current + 1
            record = hint if hint is not None and hint.slot == nxt else None
            record = record or self.chain.slot_record(nxt)
            if record is None:  # the chain forgot it (far behind); start afresh there
                record = hint or self.chain.slot_record(slot)
                if record is None:
                    return
            self._close_slot(self._current, record.slot)
            self._open_slot(record)
        self._publish()

    def _open_slot(self, record: SlotRecord) -> None:
        slot = record.slot
        self._current = slot
        self._slots[slot] = _SlotState(record)
        self._emit_slot_status(slot, record.parent, pb.SLOT_CREATED_BANK)
        self._emit_slot_status(slot, record.parent, _PROCESSED)
        floor = min(self.first_available, slot - self._retain_slots + 1)
        for old in [s for s in self._slots if s < floor]:
            del self._slots[old]
        for log_ in self._logs:
            log_.prune_below(self.first_available)

    def _close_slot(self, slot: int, next_slot: int) -> None:
        """`slot` is complete (the next one opened): confirm it, finalize the one deep enough."""
        state = self._slots.get(slot)
        if state is None:
            return
        self._ingest_up_to(state, None)
        parent = state.record.parent
        self._emit_slot_status(slot, parent, pb.SLOT_COMPLETED)
        state.block_meta = self._block_meta_entry(state)
        self._logs[_PROCESSED].append(state.block_meta)
        for confirmed in range(slot, next_slot):  # the localnet skips no slot; be safe anyway
            self._commit(confirmed, _CONFIRMED)
        finalized = next_slot - self.chain.finality_depth
        if finalized >= self._first_slot:
            self._commit(finalized, _FINALIZED)

    def _commit(self, slot: int, level: int) -> None:
        state = self._slots.get(slot)
        if state is None:
            return
        log_ = self._logs[level]
        for entry in state.entries:
            log_.append(entry)
        if state.block_meta is not None:
            log_.append(state.block_meta)
        self._emit_slot_status(slot, state.record.parent, level)

    def _emit_slot_status(self, slot: int, parent: int, status: int) -> None:
        update = pb.SubscribeUpdate(created_at=_now())
        update.slot.slot = slot
        update.slot.parent = parent
        update.slot.status = status
        entry = _Entry(slot, _SLOT, status, update.SerializeToString(), update.created_at)
        for log_ in self._logs:  # like Yellowstone: slot updates reach every commitment
            log_.append(entry)

    def _block_meta_entry(self, state: _SlotState) -> _Entry:
        record = state.record
        parent_state = self._slots.get(record.parent) if record.slot else None
        parent = parent_state.record if parent_state else self.chain.slot_record(record.parent)
        update = pb.SubscribeUpdate(created_at=_now())
        meta = update.block_meta
        meta.slot = record.slot
        meta.blockhash = str(record.blockhash)
        meta.rewards.SetInParent()
        meta.block_time.timestamp = record.block_time
        meta.block_height.block_height = record.slot  # block height equals slot here
        meta.parent_slot = record.parent
        meta.parent_blockhash = str(parent.blockhash) if parent else str(Hash.default())
        meta.executed_transaction_count = state.next_index
        return _Entry(record.slot, _BLOCK_META, None, update.SerializeToString(), update.created_at)

    def _ingest_transaction(self, record: TxRecord) -> None:
        if record.slot > self._current:  # the slot event is still on its way to the loop
            self._advance_to(record.slot, None)
        state = self._slots.get(record.slot)
        if state is None or record.index < state.next_index:
            return  # too old to matter, or already taken from the slot record
        self._ingest_up_to(state, record.index)
        self._publish()

    def _ingest_up_to(self, state: _SlotState, index: int | None) -> None:
        """Ingest the slot's transactions in order, up to `index` (all when None).

        Listeners may fire out of order across threads; the slot record's list is the
        chain's own order, so we always take transactions from it.
        """
        txs = state.record.transactions
        stop = len(txs) if index is None else min(index + 1, len(txs))
        processed = self._logs[_PROCESSED]
        for record in txs[state.next_index : stop]:
            for entry in self._transaction_entries(record):
                state.entries.append(entry)
                processed.append(entry)
        state.next_index = max(state.next_index, stop)

    def _transaction_entries(self, record: TxRecord) -> list[_Entry]:
        out = []
        signature = bytes(record.signature)
        # Validators notify account writes before the transaction itself.
        for pubkey, account in record.accounts_written:
            self._write_version += 1
            if account is None:  # closed: what Agave reports for an account it deleted
                account = Account(lamports=0, data=b"", owner=SYSTEM_PROGRAM, executable=False)
            write = _AccountWrite(
                pubkey=bytes(pubkey),
                lamports=account.lamports,
                owner=bytes(account.owner),
                executable=account.executable,
                rent_epoch=account.rent_epoch,
                data=bytes(account.data),
                write_version=self._write_version,
                txn_signature=signature,
            )
            update = pb.SubscribeUpdate(created_at=_now())
            update.account.account.CopyFrom(write.info(write.data))
            update.account.slot = record.slot
            out.append(
                _Entry(record.slot, _ACCOUNT, write, update.SerializeToString(), update.created_at)
            )
        update = pb.SubscribeUpdate(created_at=_now())
        update.transaction.transaction.CopyFrom(transaction_info(record))
        update.transaction.slot = record.slot
        keys = frozenset(
            bytes(k)
            for k in (*record.account_keys, *record.loaded_writable, *record.loaded_readonly)
        )
        out.append(
            _Entry(
                record.slot,
                _TRANSACTION,
                record,
                update.SerializeToString(),
                update.created_at,
                keys,
            )
        )
        return out

    def _publish(self) -> None:
        """Wake every subscriber; disconnect those too far behind to ever catch up."""
        for sub in list(self._subscribers.values()):
            log_ = self._logs[sub.commitment]
            if sub.filter is None:  # not subscribed yet: nothing to fall behind on
                sub.cursor = log_.end
                continue
            behind_live = log_.end - max(sub.cursor, sub.replay_end)
            if sub.cursor < log_.first_seq or behind_live > self.max_lag:
                _lagged(sub)
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
        level = request.commitment if request.HasField("commitment") else _FINALIZED
        if level not in (_PROCESSED, _CONFIRMED, _FINALIZED):
            raise FilterError(f"failed to create CommitmentLevel from {level}")
        return COMMITMENTS[level]

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
        sub = _Subscriber(self._next_sub_id, self._logs[_PROCESSED].end)
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
            update = pb.SubscribeUpdate(created_at=_now())
            update.pong.id = request.ping.id
            sub.push_control(update.SerializeToString())
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
            update = pb.SubscribeUpdate(created_at=_now())
            update.ping.SetInParent()
            sub.push_control(update.SerializeToString())

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
                _lagged(sub)
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


__all__ = [
    "FilterError",
    "GeyserService",
    "SubscriptionFilter",
    "transaction_error_bincode",
    "transaction_info",
]
