"""Yellowstone SubscribeRequest filters: parsed once per request, matched per broadcast entry.

Parsing refuses what Yellowstone refuses, with its wording (raised as FilterError and
answered INVALID_ARGUMENT); matching decides which of a subscriber's named filters an
entry satisfies, since each update carries the names of the filters it matched.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from .b58 import b58decode
from .geyser_broadcast import ACCOUNT, BLOCK_META, SLOT, TRANSACTION, Entry
from .geyser_messages import COMMITMENT_LEVELS, PROCESSED, AccountWrite, account_update, pb
from .records import TxRecord, is_token_account_data

MAX_FILTER_NAME = 128
MAX_ACCOUNT_STATE_FILTERS = 4
MAX_MEMCMP_BYTES = 128
MAX_DATA_SLICES = 32


class FilterError(ValueError):
    """A SubscribeRequest we refuse; answered as INVALID_ARGUMENT like Yellowstone."""


def commitment_level(request: Any, default: int) -> int:
    """The request's CommitmentLevel (`default` when unset), refusing unknown values."""
    level = request.commitment if request.HasField("commitment") else default
    if level not in COMMITMENT_LEVELS:
        raise FilterError(f"failed to create CommitmentLevel from {level}")
    return level


def _name(name: str) -> str:
    size = len(name.encode())
    if size > MAX_FILTER_NAME:
        raise FilterError(
            f"oversized filter name (max allowed size {MAX_FILTER_NAME}), found {size}"
        )
    return name


def _b58_fixed(text: str, size: int, *, invalid: str, wrong_size: str) -> bytes:
    try:
        raw = b58decode(text)
    except ValueError:
        raise FilterError(invalid) from None
    if len(raw) != size:
        raise FilterError(wrong_size)
    return raw


def _pubkey(text: str) -> bytes:
    # Messages are those of solana-pubkey's ParsePubkeyError, which Yellowstone passes on.
    wrong_size = "String is the wrong size"
    if len(text) > 44:
        raise FilterError(wrong_size)
    return _b58_fixed(text, 32, invalid="Invalid Base58 string", wrong_size=wrong_size)


def _signature(text: str) -> bytes:
    return _b58_fixed(
        text,
        64,
        invalid="failed to decode string to signature",
        wrong_size="string decoded to wrong size for signature",
    )


# ---- accounts ---------------------------------------------------------------------------


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

    def matches(self, write: AccountWrite) -> bool:
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


def _memcmp_bytes(memcmp: Any) -> bytes:
    source = memcmp.WhichOneof("data")
    if source == "bytes":
        raw = memcmp.bytes
    elif source == "base58":
        try:
            raw = b58decode(memcmp.base58)
        except ValueError:
            raise FilterError("invalid base58") from None
    elif source == "base64":
        try:
            raw = base64.b64decode(memcmp.base64, validate=True)
        except ValueError:
            raise FilterError("invalid base64") from None
    else:
        raise FilterError("data for memcmp should be defined")
    if len(raw) > MAX_MEMCMP_BYTES:
        raise FilterError("data too large")
    return bytes(raw)


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
            memcmp.append((f.memcmp.offset, _memcmp_bytes(f.memcmp)))
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


# ---- transactions -----------------------------------------------------------------------


@dataclass
class _TransactionsFilter:
    name: str
    vote: bool | None
    failed: bool | None
    signature: bytes | None
    include: frozenset[bytes]
    exclude: frozenset[bytes]
    required: frozenset[bytes]

    def matches(self, entry: Entry) -> bool:
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


# ---- the whole request ------------------------------------------------------------------


def _data_slices(request: Any) -> list[tuple[int, int]]:
    slices = [(s.offset, s.offset + s.length) for s in request.accounts_data_slice]
    if len(slices) > MAX_DATA_SLICES:
        raise FilterError(f"Max amount of data slices reached, only {MAX_DATA_SLICES} allowed")
    for i, (start, _) in enumerate(slices):
        if any(start > other for other, _ in slices[i + 1 :]):
            raise FilterError("failed to create filter: data slices out of order")
        if any(start < end for _, end in slices[:i]):
            raise FilterError("failed to create filter: data slices overlapped")
    return slices


@dataclass
class SubscriptionFilter:
    """A compiled SubscribeRequest: what one subscriber wants, and at which commitment."""

    commitment: int = PROCESSED
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
        commitment = commitment_level(request, PROCESSED)
        if request.blocks:
            raise FilterError("`blocks` filters are not supported by the localnet")
        if request.entry:
            raise FilterError("`entry` filters are not supported by the localnet")
        slices = _data_slices(request)
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
        # Protobuf fields concatenate, so the filter names go in front of the shared body.
        key = tuple(names)
        prefix = self._prefixes.get(key)
        if prefix is None:
            prefix = pb.SubscribeUpdate(filters=names).SerializeToString()
            self._prefixes[key] = prefix
        return prefix

    def render(self, entry: Entry) -> list[bytes]:
        """The serialised SubscribeUpdates this subscriber gets for `entry` (often none)."""
        kind = entry.kind
        if kind == ACCOUNT:
            names = [f.name for f in self.accounts if f.matches(entry.payload)]
            if not names:
                return []
            body = entry.body
            if self.data_slices:
                body = self._sliced_account(entry)
            return [self._prefix(names) + body]
        if kind == TRANSACTION:
            out = []
            names = [f.name for f in self.transactions if f.matches(entry)]
            if names:
                out.append(self._prefix(names) + entry.body)
            names = [f.name for f in self.transactions_status if f.matches(entry)]
            if names:
                out.append(self._prefix(names) + entry.status_body())
            return out
        if kind == SLOT:
            status = entry.payload
            names = [
                name
                for name, by_commitment, interslot in self.slots
                if (not by_commitment or status == self.commitment)
                and (interslot or status in COMMITMENT_LEVELS)
            ]
            return [self._prefix(names) + entry.body] if names else []
        if kind == BLOCK_META and self.blocks_meta:
            return [self._prefix(self.blocks_meta) + entry.body]
        return []

    def _sliced_account(self, entry: Entry) -> bytes:
        write: AccountWrite = entry.payload
        data = write.data
        sliced = b"".join(data[start:end] for start, end in self.data_slices if len(data) >= end)
        return account_update(write, entry.slot, sliced, entry.created_at).SerializeToString()


__all__ = ["FilterError", "SubscriptionFilter", "commitment_level"]
