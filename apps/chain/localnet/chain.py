"""A chain that moves: LiteSVM plus a slot clock, a blockhash window and per-slot records.

Commitment model (documented because LiteSVM holds only the latest state):

- transactions execute immediately in the *current* slot (the working bank);
- a transaction's status is ``processed`` in its own slot, ``confirmed`` once one more
  slot has started, ``finalized`` once ``finality_depth`` (32) more slots have started;
- the context slot for ``processed`` is the current slot, ``confirmed`` is current-1
  and ``finalized`` is current-32 (never below 0);
- account reads see the latest state whatever the commitment (no forks here, so
  what is processed is what will be finalized).

Bundles (`execute_bundle`) run all-or-nothing in the current slot. LiteSVM has no
snapshots, so a bundle records the pre-state of every account its transactions
reference and writes it back on failure. LiteSVM's own signature history cannot be
rolled back, so it is switched off and duplicate signatures are refused here from the
chain's records instead (the status cache a validator keeps).

Block height equals slot: the localnet never skips a slot. A blockhash made in slot
``s`` stays valid while the block height is at most ``s + 150``, like a validator's
MAX_PROCESSING_AGE; LiteSVM's own check (latest blockhash only) is switched off and
ours applied instead. Signature verification stays on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from solders.account import Account
from solders.clock import Clock
from solders.compute_budget import set_compute_unit_limit
from solders.hash import Hash
from solders.keypair import Keypair
from solders.litesvm import LiteSVM
from solders.message import Message
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction
from solders.transaction_metadata import FailedTransactionMetadata

from .modelled import ModelledExecutor, ProgramModel, calls_model, placeholder_program_account
from .records import (
    SYSTEM_PROGRAM,
    ResolvedKeys,
    RunMeta,
    SlotRecord,
    TokenBalance,
    TxRecord,
    compute_budget,
    native_mints,
    resolve_keys,
    split_result,
    token_balances,
    with_blockhash,
)

log = logging.getLogger(__name__)

COMMITMENTS = ("processed", "confirmed", "finalized")
BLOCKHASH_MAX_AGE = 150
STATUS_CACHE_SLOTS = 300  # what getSignatureStatuses sees without searchTransactionHistory
PRIORITIZATION_FEE_SLOTS = 150
SLOTS_PER_EPOCH = 432_000
FAUCET_LAMPORTS = 500_000_000 * 1_000_000_000


@dataclass
class ExecutionOutcome:
    """What happened to a submitted transaction; `record` is None when it did not land."""

    signature: Signature
    err: Any
    record: TxRecord | None


@dataclass
class BundleOutcome:
    """What happened to a bundle: every transaction landed (`records`), or none did."""

    signatures: list[Signature]
    slot: int
    records: list[TxRecord]
    failed_index: int | None = None  # the transaction that failed the bundle
    err: Any = None  # that transaction's error, in the validator's JSON form

    @property
    def landed(self) -> bool:
        return self.failed_index is None


@dataclass
class SimulationOutcome:
    err: Any
    logs: list[str]
    units_consumed: int
    fee: int
    return_data: dict[str, Any] | None
    inner_instructions: list[dict[str, Any]]
    accounts: list[Account | None]
    pre_balances: list[int]
    post_balances: list[int]
    replacement_blockhash: tuple[Hash, int] | None


# System program: AdvanceNonceAccount is instruction 4; a nonce account holds
# version u32, state u32 (1 = initialized), authority (32), durable nonce (32), fee (8).
ADVANCE_NONCE_INSTRUCTION = (4).to_bytes(4, "little")
NONCE_ACCOUNT_LEN = 80


def durable_nonce_of(tx: VersionedTransaction, get_account) -> Hash | None:
    """The stored value of the nonce account `tx` advances first, or None when its first
    instruction is not an AdvanceNonceAccount of an initialized nonce account."""
    message = tx.message
    if not message.instructions:
        return None
    first = message.instructions[0]
    keys = message.account_keys
    if (
        first.program_id_index >= len(keys)
        or keys[first.program_id_index] != SYSTEM_PROGRAM
        or bytes(first.data)[:4] != ADVANCE_NONCE_INSTRUCTION
        or not first.accounts
        or first.accounts[0] >= len(keys)
    ):
        return None
    account = get_account(keys[first.accounts[0]])
    if account is None or account.owner != SYSTEM_PROGRAM:
        return None
    data = bytes(account.data)
    if len(data) != NONCE_ACCOUNT_LEN or int.from_bytes(data[4:8], "little") != 1:
        return None
    return Hash.from_bytes(data[40:72])


class Chain:
    """LiteSVM wrapped as a moving chain. Thread-safe: every call takes one lock."""

    def __init__(self, *, finality_depth: int = 32, history_slots: int = 50_000) -> None:
        self.finality_depth = finality_depth
        self.history_slots = history_slots
        self._lock = threading.RLock()
        # No LiteSVM signature history: a rolled-back bundle must leave no signature
        # behind, and LiteSVM cannot forget one; `_by_signature` is the status cache.
        self._svm = LiteSVM().with_blockhash_check(False).with_transaction_history(0)
        self._slot = 0
        self._slots: OrderedDict[int, SlotRecord] = OrderedDict()
        self._blockhash_slot: dict[Hash, int] = {}
        self._by_signature: dict[Signature, TxRecord] = {}
        self._by_address: dict[Pubkey, deque[TxRecord]] = {}
        self._airdrop_counter = 0
        self.program_models: dict[Pubkey, ProgramModel] = {}
        self.slot_listeners: list[Callable[[SlotRecord], None]] = []
        self.transaction_listeners: list[Callable[[TxRecord], None]] = []
        self.faucet = Keypair()
        for pubkey, account in native_mints():
            self._svm.set_account(pubkey, account)
        self._svm.set_account(
            self.faucet.pubkey(),
            Account(lamports=FAUCET_LAMPORTS, data=b"", owner=SYSTEM_PROGRAM, executable=False),
        )
        self._start_slot(0, parent=0)

    # ---- clock -------------------------------------------------------------------

    @property
    def slot(self) -> int:
        """The current (processed) slot."""
        return self._slot

    def advance_slot(self, count: int = 1) -> int:
        """Close the current slot and open `count` new ones; returns the new slot."""
        for _ in range(count):
            with self._lock:
                parent = self._slot
                self._start_slot(parent + 1, parent=parent)
                record = self._slots[self._slot]
            log.debug("slot %d blockhash %s", record.slot, record.blockhash)
            for listener in list(self.slot_listeners):
                listener(record)
        return self._slot

    def _start_slot(self, slot: int, *, parent: int) -> None:
        now = int(time.time())
        self._slot = slot
        self._svm.set_clock(
            Clock(
                slot=slot,
                epoch_start_timestamp=now,
                epoch=slot // SLOTS_PER_EPOCH,
                leader_schedule_epoch=slot // SLOTS_PER_EPOCH + 1,
                unix_timestamp=now,
            )
        )
        self._svm.expire_blockhash()
        blockhash = self._svm.latest_blockhash()
        self._blockhash_slot[blockhash] = slot
        self._slots[slot] = SlotRecord(
            slot=slot, parent=parent, blockhash=blockhash, block_time=now
        )
        self._prune(slot)

    def _prune(self, slot: int) -> None:
        # Blockhashes beyond the age window are useless; records beyond the history
        # window go, so a localnet left running for days keeps bounded memory.
        for bh, bh_slot in list(self._blockhash_slot.items()):
            if bh_slot < slot - 2 * BLOCKHASH_MAX_AGE:
                del self._blockhash_slot[bh]
        while self._slots and next(iter(self._slots)) < slot - self.history_slots:
            _, old = self._slots.popitem(last=False)
            for rec in old.transactions:
                self._by_signature.pop(rec.signature, None)
                for key in rec.account_keys + rec.loaded_writable + rec.loaded_readonly:
                    queue = self._by_address.get(key)
                    while queue and queue[0].slot <= old.slot:
                        queue.popleft()
                    if queue is not None and not queue:
                        del self._by_address[key]

    def commitment_slot(self, commitment: str = "finalized") -> int:
        if commitment == "processed":
            return self._slot
        if commitment == "confirmed":
            return max(0, self._slot - 1)
        return max(0, self._slot - self.finality_depth)

    def confirmation_status(self, slot: int) -> tuple[str, int | None]:
        """(confirmationStatus, confirmations) of something that landed in `slot`."""
        depth = self._slot - slot
        if depth >= self.finality_depth:
            return "finalized", None
        return ("confirmed" if depth >= 1 else "processed"), depth

    def meets_commitment(self, slot: int, commitment: str) -> bool:
        status, _ = self.confirmation_status(slot)
        return COMMITMENTS.index(status) >= COMMITMENTS.index(commitment)

    # ---- blockhashes -------------------------------------------------------------

    def latest_blockhash(self, commitment: str = "finalized") -> tuple[Hash, int]:
        """(blockhash, lastValidBlockHeight) as seen at `commitment`."""
        with self._lock:
            slot = self.commitment_slot(commitment)
            record = self._slots.get(slot) or self._slots[self._slot]
            return record.blockhash, record.slot + BLOCKHASH_MAX_AGE

    def blockhash_slot(self, blockhash: Hash) -> int | None:
        with self._lock:
            return self._blockhash_slot.get(blockhash)

    def is_blockhash_valid(self, blockhash: Hash) -> bool:
        bh_slot = self.blockhash_slot(blockhash)
        return bh_slot is not None and self._slot <= bh_slot + BLOCKHASH_MAX_AGE

    def lifetime_ok(self, tx: VersionedTransaction) -> bool:
        """A recent blockhash, or a durable nonce: the first instruction advances a nonce
        account whose stored value is the transaction's blockhash (as the runtime checks
        it). The advance then changes the value, so only one transaction can use it."""
        blockhash = tx.message.recent_blockhash
        with self._lock:  # reentrant: execute() holds it already
            if self.is_blockhash_valid(blockhash):
                return True
            return durable_nonce_of(tx, self._svm.get_account) == blockhash

    # ---- state -------------------------------------------------------------------

    def get_account(self, pubkey: Pubkey) -> Account | None:
        with self._lock:
            return self._svm.get_account(pubkey)

    def get_balance(self, pubkey: Pubkey) -> int:
        with self._lock:
            return self._svm.get_balance(pubkey) or 0

    def set_account(self, pubkey: Pubkey, account: Account) -> None:
        """Write an account directly (fixtures only; real flows send transactions)."""
        with self._lock:
            self._svm.set_account(pubkey, account)

    def minimum_balance_for_rent_exemption(self, data_len: int) -> int:
        with self._lock:
            return self._svm.minimum_balance_for_rent_exemption(data_len)

    def program_accounts(self, program_id: Pubkey) -> list[tuple[Pubkey, Account]]:
        with self._lock:
            return self._svm.get_program_accounts(program_id)

    # ---- execution ---------------------------------------------------------------

    def execute(self, tx: VersionedTransaction) -> ExecutionOutcome:
        """Execute and, if the runtime commits it (success or fee-paying failure), record it."""
        signature = tx.signatures[0]
        with self._lock:
            if not self.lifetime_ok(tx):
                return ExecutionOutcome(signature, "BlockhashNotFound", None)
            if signature in self._by_signature:
                return ExecutionOutcome(signature, "AlreadyProcessed", None)
            keys = resolve_keys(tx.message, self._svm.get_account)
            all_keys = keys.all
            pre = [self._svm.get_balance(k) or 0 for k in all_keys]
            pre_tokens = token_balances(all_keys, self._svm.get_account)
            err, meta = self._run(tx)
            post = [self._svm.get_balance(k) or 0 for k in all_keys]
            # A failure the runtime committed still charged the fee payer; one it
            # rejected before execution (bad blockhash, no funds...) left no trace.
            if err is not None and post[0] >= pre[0]:
                return ExecutionOutcome(signature, err, None)
            slot_record = self._slots[self._slot]
            record = self._record(
                tx, keys, err, meta, pre, post, pre_tokens, len(slot_record.transactions)
            )
            slot_record.transactions.append(record)
            self._by_signature[signature] = record
            for key in dict.fromkeys(all_keys):
                self._by_address.setdefault(key, deque()).append(record)
        for listener in list(self.transaction_listeners):
            listener(record)
        return ExecutionOutcome(signature, err, record)

    def _run(self, tx: VersionedTransaction) -> tuple[Any, RunMeta | None]:
        """Run `tx` on the VM (lock held): LiteSVM alone, or with the program models
        when it calls one. Returns (err, meta); meta is None when nothing ran."""
        if calls_model(tx, self.program_models):
            run = ModelledExecutor(self._svm, self.program_models).run(tx, commit=True)
            return run.err, run.meta
        err, meta = split_result(self._svm.send_transaction(tx))
        return err, RunMeta.from_litesvm(meta)

    def register_program_model(self, model: ProgramModel) -> None:
        """Serve `model.program_id` with a Python model (see modelled.py)."""
        with self._lock:
            self.program_models[model.program_id] = model
            if self._svm.get_account(model.program_id) is None:
                self._svm.set_account(model.program_id, placeholder_program_account())

    def _record(
        self,
        tx: VersionedTransaction,
        keys: ResolvedKeys,
        err: Any,
        meta: RunMeta,
        pre: list[int],
        post: list[int],
        pre_tokens: list[TokenBalance],
        index: int,
    ) -> TxRecord:
        """The record of a transaction the runtime just ran in the current slot."""
        all_keys = keys.all
        written_keys = all_keys[:1]  # a failed transaction only charged its fee payer
        if err is None:
            written_keys = [k for k, w in zip(all_keys, keys.writable, strict=True) if w]
        slot_record = self._slots[self._slot]
        return TxRecord(
            signature=tx.signatures[0],
            slot=self._slot,
            index=index,
            transaction=tx,
            account_keys=keys.static,
            loaded_writable=keys.loaded_writable,
            loaded_readonly=keys.loaded_readonly,
            writable=keys.writable,
            err=err,
            logs=meta.logs,
            fee=meta.fee,
            compute_units=meta.compute_units,
            compute_unit_price=compute_budget(tx.message)[1],
            pre_balances=pre,
            post_balances=post,
            pre_token_balances=pre_tokens,
            post_token_balances=token_balances(all_keys, self._svm.get_account),
            inner_instructions=meta.inner_instructions,
            return_data=meta.return_data,
            accounts_written=[(k, self._svm.get_account(k)) for k in written_keys],
            block_time=slot_record.block_time,
        )

    def execute_bundle(self, txs: list[VersionedTransaction]) -> BundleOutcome:
        """Execute `txs` in order in the current slot, all or nothing, like a block engine's bundle.

        Any error fails the bundle, even one the runtime would commit with a fee. On
        failure every account any transaction referenced is written back as it was, and
        nothing is recorded or announced: the bundle leaves no trace. Listeners hear of
        the transactions only once the whole bundle has committed.
        """
        if not txs:
            raise ValueError("a bundle needs at least one transaction")
        signatures = [tx.signatures[0] for tx in txs]
        records: list[TxRecord] = []
        with self._lock:
            slot = self._slot
            slot_record = self._slots[slot]
            pre_state: dict[Pubkey, Account | None] = {}
            seen: set[Signature] = set()
            for position, tx in enumerate(txs):
                err, record = self._run_in_bundle(
                    tx, pre_state, seen, len(slot_record.transactions) + position
                )
                if err is not None:
                    self._restore(pre_state)
                    return BundleOutcome(signatures, slot, [], position, err)
                assert record is not None
                records.append(record)
                seen.add(record.signature)
            for record in records:
                slot_record.transactions.append(record)
                self._by_signature[record.signature] = record
                for key in dict.fromkeys(
                    record.account_keys + record.loaded_writable + record.loaded_readonly
                ):
                    self._by_address.setdefault(key, deque()).append(record)
        for record in records:
            for listener in list(self.transaction_listeners):
                listener(record)
        return BundleOutcome(signatures, slot, records)

    def _run_in_bundle(
        self,
        tx: VersionedTransaction,
        pre_state: dict[Pubkey, Account | None],
        seen: set[Signature],
        index: int,
    ) -> tuple[Any, TxRecord | None]:
        """Run one bundle transaction (lock held), saving the pre-state of what it references."""
        signature = tx.signatures[0]
        if not self.lifetime_ok(tx):
            return "BlockhashNotFound", None
        if signature in self._by_signature or signature in seen:
            return "AlreadyProcessed", None
        # Keys are resolved against the state the earlier bundle transactions left, so a
        # lookup table they extended is read as the runtime reads it.
        keys = resolve_keys(tx.message, self._svm.get_account)
        all_keys = keys.all
        tables = [lookup.account_key for lookup in getattr(tx.message, "address_table_lookups", [])]
        for key in [*all_keys, *tables]:
            if key not in pre_state:
                pre_state[key] = self._svm.get_account(key)
        pre = [self._svm.get_balance(k) or 0 for k in all_keys]
        pre_tokens = token_balances(all_keys, self._svm.get_account)
        err, meta = self._run(tx)
        if err is not None:
            return err, None
        post = [self._svm.get_balance(k) or 0 for k in all_keys]
        return None, self._record(tx, keys, None, meta, pre, post, pre_tokens, index)

    def _restore(self, pre_state: dict[Pubkey, Account | None]) -> None:
        for key, account in pre_state.items():
            if account is None:
                # A zero-lamport account is how LiteSVM forgets one.
                account = Account(lamports=0, data=b"", owner=SYSTEM_PROGRAM, executable=False)
            self._svm.set_account(key, account)

    def simulate(
        self,
        tx: VersionedTransaction,
        *,
        sig_verify: bool = False,
        replace_recent_blockhash: bool = False,
        addresses: Iterable[Pubkey] = (),
    ) -> SimulationOutcome:
        """Run `tx` against the current state without committing anything."""
        addresses = list(addresses)
        with self._lock:
            replacement = None
            if replace_recent_blockhash:
                blockhash, last_valid = self.latest_blockhash("processed")
                tx = with_blockhash(tx, blockhash)
                replacement = (blockhash, last_valid)
            elif not self.lifetime_ok(tx):
                return SimulationOutcome(
                    "BlockhashNotFound", [], 0, 0, None, [], [None] * len(addresses), [], [], None
                )
            keys = resolve_keys(tx.message, self._svm.get_account).all
            pre = [self._svm.get_balance(k) or 0 for k in keys]
            err, meta, post_accounts = self._simulate_raw(tx, sig_verify)
            post = [
                post_accounts[k].lamports if post_accounts.get(k) else balance
                for k, balance in zip(keys, pre, strict=True)
            ]
            accounts = [
                None if err is not None else post_accounts.get(a) or self._svm.get_account(a)
                for a in addresses
            ]
            return SimulationOutcome(
                err=err,
                logs=meta.logs if meta else [],
                units_consumed=meta.compute_units if meta else 0,
                fee=meta.fee if meta else 0,
                return_data=meta.return_data if meta else None,
                inner_instructions=meta.inner_instructions if meta else [],
                accounts=accounts,
                pre_balances=pre,
                post_balances=post,
                replacement_blockhash=replacement,
            )

    def _simulate_raw(
        self, tx: VersionedTransaction, sig_verify: bool
    ) -> tuple[Any, RunMeta | None, dict[Pubkey, Account | None]]:
        """(err, meta, post-state of touched accounts) without committing (lock held)."""
        if calls_model(tx, self.program_models):
            run = ModelledExecutor(self._svm, self.program_models).run(
                tx, commit=False, sig_verify=sig_verify
            )
            return run.err, run.meta, run.post_state if run.err is None else {}
        self._svm.with_sigverify(sig_verify)
        try:
            result = self._svm.simulate_transaction(tx)
        finally:
            self._svm.with_sigverify(True)
        if isinstance(result, FailedTransactionMetadata):
            err, meta = split_result(result)
            return err, RunMeta.from_litesvm(meta), {}
        return None, RunMeta.from_litesvm(result.meta()), dict(result.post_accounts())

    def airdrop(self, pubkey: Pubkey, lamports: int) -> ExecutionOutcome:
        """Send a real, signed faucet transfer to `pubkey` in the current slot."""
        with self._lock:
            self._airdrop_counter += 1
            blockhash, _ = self.latest_blockhash("processed")
            # Two equal airdrops in one slot would be byte-identical transactions (and
            # the second "AlreadyProcessed"); a varying CU limit keeps each one unique.
            instructions = [
                set_compute_unit_limit(10_000 + self._airdrop_counter % 1_000_000),
                transfer(
                    TransferParams(
                        from_pubkey=self.faucet.pubkey(), to_pubkey=pubkey, lamports=lamports
                    )
                ),
            ]
            message = Message.new_with_blockhash(instructions, self.faucet.pubkey(), blockhash)
            tx = VersionedTransaction(message, [self.faucet])
            return self.execute(tx)

    # ---- history -----------------------------------------------------------------

    def transaction(self, signature: Signature) -> TxRecord | None:
        with self._lock:
            return self._by_signature.get(signature)

    def slot_record(self, slot: int) -> SlotRecord | None:
        with self._lock:
            return self._slots.get(slot)

    def transactions_for_address(self, pubkey: Pubkey) -> list[TxRecord]:
        """Every recorded transaction that references `pubkey`, newest first."""
        with self._lock:
            return list(reversed(self._by_address.get(pubkey, ())))

    def recent_prioritization_fees(self, accounts: Iterable[Pubkey] = ()) -> list[tuple[int, int]]:
        """(slot, fee) for the last 150 completed slots, like Agave's fee cache."""
        accounts = list(accounts)
        out = []
        with self._lock:
            for slot in range(max(0, self._slot - PRIORITIZATION_FEE_SLOTS), self._slot):
                record = self._slots.get(slot)
                if record is None:
                    continue
                txs = record.transactions
                fee = min((t.compute_unit_price for t in txs), default=0)
                for account in accounts:
                    prices = [t.compute_unit_price for t in txs if _write_locks(t, account)]
                    if prices:
                        fee = max(fee, min(prices))
                out.append((slot, fee))
        return out


def _write_locks(record: TxRecord, account: Pubkey) -> bool:
    keys = record.account_keys + record.loaded_writable + record.loaded_readonly
    return any(k == account and w for k, w in zip(keys, record.writable, strict=True))


__all__ = [
    "COMMITMENTS",
    "BundleOutcome",
    "Chain",
    "ExecutionOutcome",
    "SimulationOutcome",
    "TokenBalance",
    "with_blockhash",
]
