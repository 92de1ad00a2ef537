"""The chain's events as Yellowstone broadcasts them: one log of updates per commitment level.

Every chain event becomes an `Entry` (its SubscribeUpdate serialised once, without
filter names) appended to the log of each commitment level that should see it:
`processed` gets accounts and transactions as they execute; `confirmed`/`finalized`
get a slot's accounts, transactions and block meta when the slot reaches that status,
in slot order; slot status updates go to all three.

Slot lifecycle in the localnet's commitment model (chain.py): when slot s opens it is
PROCESSED (CREATED_BANK first, for interslot subscribers); when s+1 opens, s is COMPLETED,
its block meta is out, and it is CONFIRMED; slot s+1-finality_depth is FINALIZED.

The logs keep `history_slots` slots, which bounds memory and is how far back `from_slot`
can replay. Everything here runs on the service's event loop only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from solders.account import Account
from solders.hash import Hash

from .chain import Chain
from .geyser_messages import (
    CONFIRMED,
    FINALIZED,
    PROCESSED,
    AccountWrite,
    account_update,
    block_meta_update,
    now,
    pb,
    slot_update,
    transaction_status_update,
    transaction_update,
)
from .records import SYSTEM_PROGRAM, SlotRecord, TxRecord

# What an Entry carries; its payload's type follows from it.
ACCOUNT, SLOT, TRANSACTION, BLOCK_META = range(4)

# Pruned entries are dropped from the list only in bulk, so pruning stays amortised O(1).
_COMPACT_AFTER = 4096


@dataclass(slots=True)
class Entry:
    """One broadcast update; `body` is its SubscribeUpdate serialised without filter names."""

    slot: int
    kind: int
    payload: Any  # AccountWrite | TxRecord | slot status (int) | None
    body: bytes
    created_at: Any
    keys: frozenset[bytes] = frozenset()  # a transaction's account keys, for filters
    _status_body: bytes | None = None

    def status_body(self) -> bytes:
        """The transaction_status variant of a transaction entry, built on first use."""
        if self._status_body is None:
            update = transaction_status_update(self.payload, self.created_at)
            self._status_body = update.SerializeToString()
        return self._status_body


class Log:
    """An append-only run of entries with absolute sequence numbers, pruned by slot."""

    def __init__(self) -> None:
        self._entries: list[Entry] = []
        self._base = 0  # sequence number of _entries[0]
        self._start = 0  # index of the first live entry (pruned ones wait for compaction)

    @property
    def first_seq(self) -> int:
        return self._base + self._start

    @property
    def end(self) -> int:
        return self._base + len(self._entries)

    def append(self, entry: Entry) -> None:
        self._entries.append(entry)

    def get(self, seq: int) -> Entry:
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
        if self._start > _COMPACT_AFTER and self._start * 2 > len(entries):
            del entries[: self._start]
            self._base += self._start
            self._start = 0


@dataclass
class _SlotState:
    record: SlotRecord
    next_index: int = 0  # transactions of the slot ingested so far, in order
    entries: list[Entry] = field(default_factory=list)  # accounts and transactions
    block_meta: Entry | None = None


class Broadcast:
    """The per-commitment logs of one chain, fed from its slot and transaction events.

    `on_append` runs after each batch of appends, so the service can wake (or drop)
    its subscribers once per event rather than once per entry.
    """

    def __init__(self, chain: Chain, history_slots: int, on_append: Callable[[], None]) -> None:
        self.chain = chain
        self.history_slots = max(1, history_slots)
        # A slot's entries must live until it is finalized, whatever replay depth is asked.
        self._retain_slots = max(self.history_slots, chain.finality_depth + 1)
        self._on_append = on_append
        self.logs = (Log(), Log(), Log())  # indexed by commitment level
        self._slots: dict[int, _SlotState] = {}
        self.current = -1
        self.first_slot = 0
        self._write_version = 0

    @property
    def first_available(self) -> int:
        """The oldest slot `from_slot` can still replay."""
        return max(self.first_slot, self.current - self.history_slots + 1)

    def seed(self) -> None:
        """Rebuild the recent past from the chain's records, as if we had been listening."""
        current = self.chain.slot
        first = max(0, current - self.history_slots + 1)
        while first < current and self.chain.slot_record(first) is None:
            first += 1
        self.first_slot = first
        record = self.chain.slot_record(first)
        if record is None:
            return
        self._open_slot(record)
        self.advance_to(current, None)
        self._ingest_up_to(self._slots[self.current], None)
        self._on_append()

    def advance_to(self, slot: int, hint: SlotRecord | None) -> None:
        """Close every open slot below `slot` and open the ones up to it."""
        while self.current < slot:
            nxt = self.current + 1
            record = hint if hint is not None and hint.slot == nxt else None
            record = record or self.chain.slot_record(nxt)
            if record is None:  # the chain forgot it (far behind); start afresh there
                record = hint or self.chain.slot_record(slot)
                if record is None:
                    return
            self._close_slot(self.current, record.slot)
            self._open_slot(record)
        self._on_append()

    def ingest_transaction(self, record: TxRecord) -> None:
        if record.slot > self.current:  # the slot event is still on its way to the loop
            self.advance_to(record.slot, None)
        state = self._slots.get(record.slot)
        if state is None or record.index < state.next_index:
            return  # too old to matter, or already taken from the slot record
        self._ingest_up_to(state, record.index)
        self._on_append()

    # ---- slot lifecycle ----------------------------------------------------------------

    def _open_slot(self, record: SlotRecord) -> None:
        slot = record.slot
        self.current = slot
        self._slots[slot] = _SlotState(record)
        self._emit_slot_status(slot, record.parent, pb.SLOT_CREATED_BANK)
        self._emit_slot_status(slot, record.parent, PROCESSED)
        floor = min(self.first_available, slot - self._retain_slots + 1)
        for old in [s for s in self._slots if s < floor]:
            del self._slots[old]
        for log_ in self.logs:
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
        self.logs[PROCESSED].append(state.block_meta)
        for confirmed in range(slot, next_slot):  # the localnet skips no slot; be safe anyway
            self._commit(confirmed, CONFIRMED)
        finalized = next_slot - self.chain.finality_depth
        if finalized >= self.first_slot:
            self._commit(finalized, FINALIZED)

    def _commit(self, slot: int, level: int) -> None:
        state = self._slots.get(slot)
        if state is None:
            return
        log_ = self.logs[level]
        for entry in state.entries:
            log_.append(entry)
        if state.block_meta is not None:
            log_.append(state.block_meta)
        self._emit_slot_status(slot, state.record.parent, level)

    def _emit_slot_status(self, slot: int, parent: int, status: int) -> None:
        update = slot_update(slot, parent, status, now())
        entry = Entry(slot, SLOT, status, update.SerializeToString(), update.created_at)
        for log_ in self.logs:  # like Yellowstone: slot updates reach every commitment
            log_.append(entry)

    def _block_meta_entry(self, state: _SlotState) -> Entry:
        record = state.record
        parent_state = self._slots.get(record.parent) if record.slot else None
        parent = parent_state.record if parent_state else self.chain.slot_record(record.parent)
        parent_blockhash = str(parent.blockhash) if parent else str(Hash.default())
        update = block_meta_update(record, parent_blockhash, state.next_index, now())
        return Entry(record.slot, BLOCK_META, None, update.SerializeToString(), update.created_at)

    # ---- transactions ------------------------------------------------------------------

    def _ingest_up_to(self, state: _SlotState, index: int | None) -> None:
        """Ingest the slot's transactions in order, up to `index` (all when None).

        Listeners may fire out of order across threads; the slot record's list is the
        chain's own order, so we always take transactions from it.
        """
        txs = state.record.transactions
        stop = len(txs) if index is None else min(index + 1, len(txs))
        processed = self.logs[PROCESSED]
        for record in txs[state.next_index : stop]:
            for entry in self._transaction_entries(record):
                state.entries.append(entry)
                processed.append(entry)
        state.next_index = max(state.next_index, stop)

    def _transaction_entries(self, record: TxRecord) -> list[Entry]:
        out = []
        signature = bytes(record.signature)
        # Validators notify account writes before the transaction itself.
        for pubkey, account in record.accounts_written:
            self._write_version += 1
            if account is None:  # closed: what Agave reports for an account it deleted
                account = Account(lamports=0, data=b"", owner=SYSTEM_PROGRAM, executable=False)
            write = AccountWrite(
                pubkey=bytes(pubkey),
                lamports=account.lamports,
                owner=bytes(account.owner),
                executable=account.executable,
                rent_epoch=account.rent_epoch,
                data=bytes(account.data),
                write_version=self._write_version,
                txn_signature=signature,
            )
            update = account_update(write, record.slot, write.data, now())
            body = update.SerializeToString()
            out.append(Entry(record.slot, ACCOUNT, write, body, update.created_at))
        update = transaction_update(record, now())
        keys = frozenset(
            bytes(k)
            for k in (*record.account_keys, *record.loaded_writable, *record.loaded_readonly)
        )
        body = update.SerializeToString()
        out.append(Entry(record.slot, TRANSACTION, record, body, update.created_at, keys))
        return out


__all__ = ["ACCOUNT", "BLOCK_META", "SLOT", "TRANSACTION", "Broadcast", "Entry", "Log"]
