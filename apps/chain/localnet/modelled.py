"""Programs the localnet models in Python, executed in one atomic step with LiteSVM.

pump.fun and PumpSwap are not open binaries we can load into LiteSVM, so the localnet
runs a Python model of them (see `apps/chain/localnet/models/`). A transaction that
calls a modelled program is executed here instead of in one LiteSVM call:

1. every signature is verified (the runtime would, so we do, before anything runs);
2. the instructions run in order: consecutive ordinary instructions go to LiteSVM as
   one *segment* (the same message with only those instructions, so account indexes,
   signers and writable flags are unchanged), and each modelled instruction runs its
   Python model against the live account state;
3. the whole transaction is atomic: any failure restores every account it could have
   touched, then charges the fee payer the fee once, exactly as the runtime commits a
   failed transaction; success charges the message's real fee once (the segments'
   own fees are refunded).

Where this is simpler than the real runtime (said plainly, as the README does):
compute units are counted per segment plus a fixed cost per modelled instruction, not
against one shared meter; a modelled program cannot be invoked by CPI from another
program (none exist on the localnet); and the program account is a native-loader
placeholder, because LiteSVM refuses an upgradeable-loader account without an ELF.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from solders.account import Account
from solders.message import Message, MessageV0
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import VersionedTransaction
from solders.transaction_metadata import FailedTransactionMetadata

from .records import (
    COMPUTE_BUDGET_PROGRAM,
    ResolvedKeys,
    RunMeta,
    compute_budget,
    fee_for_message,
    inner_instructions,
    resolve_keys,
    return_data,
    split_result,
)

NATIVE_LOADER = Pubkey.from_string("NativeLoader1111111111111111111111111111111")
DEFAULT_COMPUTE_UNIT_LIMIT = 200_000
MAX_COMPUTE_UNIT_LIMIT = 1_400_000


@dataclass(frozen=True)
class AccountRef:
    """One account an instruction names, with the flags the message gives it."""

    pubkey: Pubkey
    is_signer: bool
    is_writable: bool


@dataclass(frozen=True)
class InnerInstruction:
    """A CPI the model performs, recorded as the validator records inner instructions."""

    program_id: Pubkey
    accounts: list[Pubkey]
    data: bytes


@dataclass
class ModelOutput:
    """What a modelled instruction did besides writing accounts."""

    logs: list[str] = field(default_factory=list)
    inner: list[InnerInstruction] = field(default_factory=list)
    compute_units: int = 30_000


class ProgramFailure(Exception):
    """A modelled instruction refused: fails the transaction with `{"Custom": code}`."""

    def __init__(self, code: int, name: str, message: str, logs: list[str] | None = None) -> None:
        super().__init__(f"{name} ({code}): {message}")
        self.code = code
        self.name = name
        self.message = message
        self.logs = logs or []


class AccountState(Protocol):
    def get(self, pubkey: Pubkey) -> Account | None: ...

    def set(self, pubkey: Pubkey, account: Account) -> None: ...

    def unix_timestamp(self) -> int: ...

    def rent_exempt_minimum(self, data_len: int) -> int: ...


class ProgramModel(Protocol):
    """A Python stand-in for an on-chain program."""

    program_id: Pubkey

    def process(
        self, accounts: list[AccountRef], data: bytes, state: AccountState
    ) -> ModelOutput: ...


class LiveState:
    """Reads and writes the VM's accounts directly; the executor snapshots for rollback."""

    def __init__(self, svm: Any) -> None:
        self._svm = svm

    def get(self, pubkey: Pubkey) -> Account | None:
        return self._svm.get_account(pubkey)

    def set(self, pubkey: Pubkey, account: Account) -> None:
        self._svm.set_account(pubkey, account)

    def unix_timestamp(self) -> int:
        return self._svm.get_clock().unix_timestamp

    def rent_exempt_minimum(self, data_len: int) -> int:
        return self._svm.minimum_balance_for_rent_exemption(data_len)


@dataclass
class ModelledRun:
    """The outcome of one transaction that called a modelled program.

    `meta` is None when nothing ran (bad signature, fee not payable); `post_state` holds
    the touched accounts as the transaction left them (what a simulation reports).
    """

    err: Any
    meta: RunMeta | None
    post_state: dict[Pubkey, Account | None] = field(default_factory=dict)


def calls_model(tx: VersionedTransaction, models: dict[Pubkey, ProgramModel]) -> bool:
    if not models:
        return False
    keys = tx.message.account_keys
    return any(
        ix.program_id_index < len(keys) and keys[ix.program_id_index] in models
        for ix in tx.message.instructions
    )


def placeholder_program_account() -> Account:
    return Account(lamports=1_141_440, data=b"modelled", owner=NATIVE_LOADER, executable=True)


class ModelledExecutor:
    """Runs one transaction that calls modelled programs; see the module docstring."""

    def __init__(self, svm: Any, models: dict[Pubkey, ProgramModel]) -> None:
        self._svm = svm
        self._models = models

    def run(
        self, tx: VersionedTransaction, *, commit: bool, sig_verify: bool = True
    ) -> ModelledRun:
        """Execute `tx`; with `commit=False` (a simulation) every account is restored after."""
        message = tx.message
        if sig_verify and not all(tx.verify_with_results()):
            return ModelledRun("SignatureFailure", None)
        keys = resolve_keys(message, self._svm.get_account)
        all_keys = keys.all
        snapshot = {k: self._svm.get_account(k) for k in dict.fromkeys(all_keys)}
        fee = fee_for_message(message)
        payer = all_keys[0]
        if (self._svm.get_balance(payer) or 0) < fee:
            return ModelledRun("InsufficientFundsForFee", None)
        outcome = self._run_instructions(tx, keys)
        post_state = {k: self._svm.get_account(k) for k in snapshot}
        if outcome.err is not None or not commit:
            self._restore(snapshot)
        if outcome.err is not None and commit:
            self._charge(payer, fee)
        elif outcome.err is None and commit:
            # Segments paid their own fees; refund them and charge the real fee once.
            self._charge(payer, fee - outcome.segment_fees)
        if not commit and outcome.err is None:
            post_payer = post_state.get(payer)
            if post_payer is not None:
                post_state[payer] = _with_lamports(
                    post_payer, post_payer.lamports + outcome.segment_fees - fee
                )
        meta = RunMeta(
            logs=outcome.logs,
            fee=fee,
            compute_units=outcome.compute_units,
            inner_instructions=outcome.inner,
            return_data=outcome.return_data,
        )
        return ModelledRun(outcome.err, meta, post_state)

    # ---- internals ------------------------------------------------------------------

    def _restore(self, snapshot: dict[Pubkey, Account | None]) -> None:
        for key, account in snapshot.items():
            current = self._svm.get_account(key)
            if account is None:
                if current is not None:
                    # An account the transaction created: make it vanish again.
                    self._svm.set_account(key, _empty_account())
            elif current != account:
                self._svm.set_account(key, account)

    def _charge(self, payer: Pubkey, lamports: int) -> None:
        account = self._svm.get_account(payer)
        if account is not None and lamports:
            self._svm.set_account(payer, _with_lamports(account, account.lamports - lamports))

    def _run_instructions(self, tx: VersionedTransaction, keys: ResolvedKeys) -> _Run:
        message = tx.message
        all_keys = keys.all
        run = _Run()
        limit, _ = compute_budget(message)
        cu_limit = min(
            limit if limit is not None else MAX_COMPUTE_UNIT_LIMIT, MAX_COMPUTE_UNIT_LIMIT
        )
        budget_ixs = [
            ix
            for ix in message.instructions
            if all_keys[ix.program_id_index] == COMPUTE_BUDGET_PROGRAM
        ]
        pending: list[tuple[int, Any]] = []

        def flush() -> bool:
            if not pending:
                return True
            ok = self._run_segment(tx, keys, list(pending), budget_ixs, run)
            pending.clear()
            return ok

        for index, ix in enumerate(message.instructions):
            program_id = all_keys[ix.program_id_index]
            model = self._models.get(program_id)
            if model is None:
                if program_id != COMPUTE_BUDGET_PROGRAM:
                    pending.append((index, ix))
                continue
            if not flush():
                return run
            accounts = [
                AccountRef(
                    pubkey=all_keys[i],
                    is_signer=message.is_signer(i),
                    is_writable=keys.writable[i],
                )
                for i in bytes(ix.accounts)
            ]
            run.logs.append(f"Program {program_id} invoke [1]")
            try:
                output = model.process(accounts, bytes(ix.data), LiveState(self._svm))
            except ProgramFailure as failure:
                units = 20_000
                run.compute_units += units
                run.logs += failure.logs
                run.logs += [
                    f"Program {program_id} consumed {units} of {cu_limit} compute units",
                    f"Program {program_id} failed: custom program error: {failure.code:#x}",
                ]
                run.err = {"InstructionError": [index, {"Custom": failure.code}]}
                return run
            run.compute_units += output.compute_units
            run.logs += output.logs
            run.logs += [
                f"Program {program_id} consumed {output.compute_units} of {cu_limit} compute units",
                f"Program {program_id} success",
            ]
            if output.inner:
                run.inner.append(
                    {
                        "index": index,
                        "instructions": [
                            {
                                "programIdIndex": _key_index(all_keys, inner.program_id),
                                "accounts": [_key_index(all_keys, a) for a in inner.accounts],
                                "data": inner.data,
                                "stackHeight": 2,
                            }
                            for inner in output.inner
                        ],
                    }
                )
        flush()
        return run

    def _run_segment(
        self,
        tx: VersionedTransaction,
        keys: ResolvedKeys,
        instructions: list[tuple[int, Any]],
        budget_ixs: list[Any],
        run: _Run,
    ) -> bool:
        """Run ordinary instructions on LiteSVM; signatures were verified already."""
        original = [index for index, _ in instructions]
        segment_tx = _segment_transaction(tx, budget_ixs + [ix for _, ix in instructions])
        self._svm.with_sigverify(False)
        try:
            result = self._svm.send_transaction(segment_tx)
        finally:
            self._svm.with_sigverify(True)
        err, meta = split_result(result)
        if isinstance(result, FailedTransactionMetadata) and err is not None:
            run.err = _remap_error(err, len(budget_ixs), original)
            run.logs += list(meta.logs())
            run.compute_units += meta.compute_units_consumed()
            return False
        run.segment_fees += meta.fee()
        run.logs += list(meta.logs())
        run.compute_units += meta.compute_units_consumed()
        for inner in inner_instructions(meta):
            position = inner["index"] - len(budget_ixs)
            if position >= 0:
                run.inner.append({**inner, "index": original[position]})
        data = return_data(meta)
        if data is not None:
            run.return_data = data
        return True


@dataclass
class _Run:
    err: Any = None
    logs: list[str] = field(default_factory=list)
    inner: list[dict[str, Any]] = field(default_factory=list)
    compute_units: int = 0
    segment_fees: int = 0
    return_data: dict[str, Any] | None = None


def _segment_transaction(tx: VersionedTransaction, instructions: list[Any]) -> VersionedTransaction:
    """The same message carrying only `instructions`, with fresh (unverified) signatures.

    Fresh signatures keep LiteSVM's duplicate-signature check from refusing a second
    segment of the same transaction.
    """
    msg = tx.message
    if isinstance(msg, MessageV0):
        segment: Message | MessageV0 = MessageV0(
            msg.header,
            msg.account_keys,
            msg.recent_blockhash,
            instructions,
            msg.address_table_lookups,
        )
    else:
        h = msg.header
        segment = Message.new_with_compiled_instructions(
            h.num_required_signatures,
            h.num_readonly_signed_accounts,
            h.num_readonly_unsigned_accounts,
            msg.account_keys,
            msg.recent_blockhash,
            instructions,
        )
    signatures = [Signature.new_unique() for _ in tx.signatures]
    return VersionedTransaction.populate(segment, signatures)


def _remap_error(err: Any, offset: int, original: list[int]) -> Any:
    """A segment's InstructionError index, turned back into the transaction's index."""
    if isinstance(err, dict) and "InstructionError" in err:
        position, detail = err["InstructionError"]
        position -= offset
        index = original[position] if 0 <= position < len(original) else original[0]
        return {"InstructionError": [index, detail]}
    return err


def _key_index(keys: list[Pubkey], pubkey: Pubkey) -> int:
    try:
        return keys.index(pubkey)
    except ValueError:
        # The real program can only touch accounts the transaction passed it.
        raise AssertionError(f"model used {pubkey}, which the transaction does not name") from None


def _with_lamports(account: Account, lamports: int) -> Account:
    return Account(
        lamports=lamports,
        data=bytes(account.data),
        owner=account.owner,
        executable=account.executable,
        rent_epoch=account.rent_epoch,
    )


def _empty_account() -> Account:
    return Account(lamports=0, data=b"", owner=Pubkey.default(), executable=False)


def program_data_log(program_event: bytes) -> str:
    """Anchor's `emit!`: one `Program data: <base64>` line per event."""
    return "Program data: " + base64.b64encode(program_event).decode()


GetAccount = Callable[[Pubkey], Account | None]
