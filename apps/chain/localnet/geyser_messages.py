"""The localnet's records in Yellowstone's wire shapes (geyser.proto, solana-storage.proto).

Everything here is pure: a TxRecord, SlotRecord or account write in, a protobuf
message (or the bincode Yellowstone embeds in one) out. The broadcast and the
service decide when to build them and whom to send them to.
"""

from __future__ import annotations

import struct
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from solders.message import MessageV0

from .records import SlotRecord, TokenBalance, TxRecord

try:
    import protos
except ImportError:  # run from outside the repository root: protos/ sits beside apps/
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
    import protos

protos.ensure_stubs()
from protos.generated import geyser_pb2 as pb  # noqa: E402

# CommitmentLevel; the slot statuses SLOT_PROCESSED/CONFIRMED/FINALIZED share these values.
PROCESSED, CONFIRMED, FINALIZED = pb.PROCESSED, pb.CONFIRMED, pb.FINALIZED
COMMITMENT_LEVELS = (PROCESSED, CONFIRMED, FINALIZED)


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


def _message(record: TxRecord) -> Any:
    msg = record.transaction.message
    header = msg.header
    versioned = isinstance(msg, MessageV0)
    return pb.Message(
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


def _status_meta(record: TxRecord) -> Any:
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
    return meta


def transaction_info(record: TxRecord) -> Any:
    """SubscribeUpdateTransactionInfo: the transaction and its status meta, as Yellowstone sends."""
    signatures = [bytes(s) for s in record.transaction.signatures]
    return pb.SubscribeUpdateTransactionInfo(
        signature=bytes(record.signature),
        is_vote=False,  # the localnet has no voters
        transaction=pb.Transaction(signatures=signatures, message=_message(record)),
        meta=_status_meta(record),
        index=record.index,
    )


# ---- SubscribeUpdate variants -----------------------------------------------------------
# Each builder takes the `created_at` to stamp: a re-rendered update (another variant or
# a data slice of the same event) keeps the time of the original.


def now() -> Any:
    """A Timestamp of this instant, for SubscribeUpdate.created_at."""
    ts = pb.SubscribeUpdate().created_at
    ts.FromNanoseconds(time.time_ns())
    return ts


@dataclass(slots=True)
class AccountWrite:
    """One account state a transaction wrote, as the geyser plugin is notified of it."""

    pubkey: bytes
    lamports: int
    owner: bytes
    executable: bool
    rent_epoch: int
    data: bytes
    write_version: int
    txn_signature: bytes

    def info(self, data: bytes) -> Any:
        """SubscribeUpdateAccountInfo with `data` (the whole account data or a slice of it)."""
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


def account_update(write: AccountWrite, slot: int, data: bytes, created_at: Any) -> Any:
    update = pb.SubscribeUpdate(created_at=created_at)
    update.account.account.CopyFrom(write.info(data))
    update.account.slot = slot
    return update


def transaction_update(record: TxRecord, created_at: Any) -> Any:
    update = pb.SubscribeUpdate(created_at=created_at)
    update.transaction.transaction.CopyFrom(transaction_info(record))
    update.transaction.slot = record.slot
    return update


def transaction_status_update(record: TxRecord, created_at: Any) -> Any:
    update = pb.SubscribeUpdate(created_at=created_at)
    status = update.transaction_status
    status.slot = record.slot
    status.signature = bytes(record.signature)
    status.index = record.index
    if record.err is not None:
        status.err.err = transaction_error_bincode(record.err)
    return update


def slot_update(slot: int, parent: int, status: int, created_at: Any) -> Any:
    update = pb.SubscribeUpdate(created_at=created_at)
    update.slot.slot = slot
    update.slot.parent = parent
    update.slot.status = status
    return update


def block_meta_update(
    record: SlotRecord, parent_blockhash: str, executed_transaction_count: int, created_at: Any
) -> Any:
    update = pb.SubscribeUpdate(created_at=created_at)
    meta = update.block_meta
    meta.slot = record.slot
    meta.blockhash = str(record.blockhash)
    meta.rewards.SetInParent()
    meta.block_time.timestamp = record.block_time
    meta.block_height.block_height = record.slot  # block height equals slot here
    meta.parent_slot = record.parent
    meta.parent_blockhash = parent_blockhash
    meta.executed_transaction_count = executed_transaction_count
    return update


def ping_update() -> Any:
    update = pb.SubscribeUpdate(created_at=now())
    update.ping.SetInParent()
    return update


def pong_update(ping_id: int) -> Any:
    update = pb.SubscribeUpdate(created_at=now())
    update.pong.id = ping_id
    return update


__all__ = [
    "COMMITMENT_LEVELS",
    "CONFIRMED",
    "FINALIZED",
    "PROCESSED",
    "AccountWrite",
    "account_update",
    "block_meta_update",
    "now",
    "pb",
    "ping_update",
    "pong_update",
    "slot_update",
    "transaction_error_bincode",
    "transaction_info",
    "transaction_status_update",
    "transaction_update",
]
