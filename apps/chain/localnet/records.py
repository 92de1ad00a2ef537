"""What the localnet remembers about its slots and transactions, and how it reads a message.

The records are plain data so the RPC layer (and later the geyser stream and block
engines) can shape them without touching LiteSVM again.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from solders.account import Account
from solders.hash import Hash
from solders.message import Message, MessageV0
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import VersionedTransaction
from solders.transaction_metadata import FailedTransactionMetadata, TransactionMetadata

# The ids the platform shares are defined once in programs/ids.py; the localnet's names stay.
from ..programs.ids import SYSTEM_PROGRAM_ID as SYSTEM_PROGRAM
from ..programs.ids import TOKEN_2022_PROGRAM_ID as TOKEN_2022_PROGRAM
from ..programs.ids import TOKEN_PROGRAM_ID as TOKEN_PROGRAM
from ..programs.ids import WSOL_MINT as NATIVE_MINT

COMPUTE_BUDGET_PROGRAM = Pubkey.from_string("ComputeBudget111111111111111111111111111111")
ALT_PROGRAM = Pubkey.from_string("AddressLookupTab1e1111111111111111111111111")
NATIVE_MINT_2022 = Pubkey.from_string("9pan9bMn5HatX4EJdBwg9VgCa7Uz5HL8N1m5D3NdXejP")

LAMPORTS_PER_SIGNATURE = 5_000
MAX_COMPUTE_UNIT_LIMIT = 1_400_000
DEFAULT_INSTRUCTION_COMPUTE_UNIT_LIMIT = 200_000
# Since SIMD-170 a builtin instruction reserves only 3,000 CUs by default; LiteSVM
# charges priority fees that way, so getFeeForMessage must agree with it.
BUILTIN_INSTRUCTION_COMPUTE_UNIT_LIMIT = 3_000
_BUILTIN_PROGRAMS = {
    SYSTEM_PROGRAM,
    COMPUTE_BUDGET_PROGRAM,
    ALT_PROGRAM,
    Pubkey.from_string("Vote111111111111111111111111111111111111111"),
    Pubkey.from_string("Stake11111111111111111111111111111111111111"),
    Pubkey.from_string("Config1111111111111111111111111111111111111"),
    Pubkey.from_string("BPFLoader2111111111111111111111111111111111"),
    Pubkey.from_string("BPFLoaderUpgradeab1e11111111111111111111111"),
    Pubkey.from_string("LoaderV411111111111111111111111111111111111"),
}
_ALT_META_SIZE = 56


@dataclass(frozen=True)
class TokenBalance:
    account_index: int
    mint: Pubkey
    owner: Pubkey
    program_id: Pubkey
    amount: int
    decimals: int


@dataclass
class TxRecord:
    """One transaction the chain executed and committed (successfully or not)."""

    signature: Signature
    slot: int
    index: int
    transaction: VersionedTransaction
    account_keys: list[Pubkey]
    loaded_writable: list[Pubkey]
    loaded_readonly: list[Pubkey]
    writable: list[bool]
    err: Any
    logs: list[str]
    fee: int
    compute_units: int
    compute_unit_price: int
    pre_balances: list[int]
    post_balances: list[int]
    pre_token_balances: list[TokenBalance]
    post_token_balances: list[TokenBalance]
    inner_instructions: list[dict[str, Any]]
    return_data: dict[str, Any] | None
    accounts_written: list[tuple[Pubkey, Account | None]]
    block_time: int


@dataclass
class SlotRecord:
    slot: int
    parent: int
    blockhash: Hash
    block_time: int
    transactions: list[TxRecord] = field(default_factory=list)


@dataclass(frozen=True)
class ResolvedKeys:
    """A message's account keys in Solana order: static, loaded writable, loaded readonly."""

    static: list[Pubkey]
    loaded_writable: list[Pubkey]
    loaded_readonly: list[Pubkey]
    writable: list[bool]

    @property
    def all(self) -> list[Pubkey]:
        return [*self.static, *self.loaded_writable, *self.loaded_readonly]


def resolve_keys(
    message: Message | MessageV0, get_account: Callable[[Pubkey], Account | None]
) -> ResolvedKeys:
    """Resolve lookup tables and work out which keys the message write-locks."""
    static = list(message.account_keys)
    loaded_w: list[Pubkey] = []
    loaded_r: list[Pubkey] = []
    if isinstance(message, MessageV0):
        for lookup in message.address_table_lookups:
            table = get_account(lookup.account_key)
            addresses = _alt_addresses(table.data if table is not None else b"")
            loaded_w += [addresses[i] for i in lookup.writable_indexes if i < len(addresses)]
            loaded_r += [addresses[i] for i in lookup.readonly_indexes if i < len(addresses)]
    header = message.header
    signed = header.num_required_signatures
    n = len(static)
    program_indexes = {ix.program_id_index for ix in message.instructions}
    writable = []
    for i, key in enumerate(static):
        if i < signed:
            w = i < signed - header.num_readonly_signed_accounts
        else:
            w = i < n - header.num_readonly_unsigned_accounts
        # The runtime demotes called programs and reserved ids to read-only locks.
        if i in program_indexes or key in _BUILTIN_PROGRAMS or str(key).startswith("Sysvar"):
            w = False
        writable.append(w)
    writable += [True] * len(loaded_w) + [False] * len(loaded_r)
    return ResolvedKeys(static, loaded_w, loaded_r, writable)


def _alt_addresses(data: bytes) -> list[Pubkey]:
    body = data[_ALT_META_SIZE:]
    return [Pubkey.from_bytes(body[i : i + 32]) for i in range(0, len(body) - 31, 32)]


def compute_budget(message: Message | MessageV0) -> tuple[int | None, int]:
    """(requested CU limit or None, CU price in micro-lamports) from ComputeBudget ixs."""
    keys = message.account_keys
    limit: int | None = None
    price = 0
    for ix in message.instructions:
        if keys[ix.program_id_index] != COMPUTE_BUDGET_PROGRAM or not ix.data:
            continue
        data = bytes(ix.data)
        if data[0] == 2 and len(data) >= 5:
            limit = struct.unpack_from("<I", data, 1)[0]
        elif data[0] == 3 and len(data) >= 9:
            price = struct.unpack_from("<Q", data, 1)[0]
    return limit, price


def fee_for_message(message: Message | MessageV0) -> int:
    """Base fee per signature plus the priority fee on the requested CU limit."""
    limit, price = compute_budget(message)
    if limit is None:
        keys = message.account_keys
        limit = 0
        for ix in message.instructions:
            # ComputeBudget instructions count too: they are builtins like any other.
            program = keys[ix.program_id_index]
            limit += (
                BUILTIN_INSTRUCTION_COMPUTE_UNIT_LIMIT
                if program in _BUILTIN_PROGRAMS
                else DEFAULT_INSTRUCTION_COMPUTE_UNIT_LIMIT
            )
    limit = min(limit, MAX_COMPUTE_UNIT_LIMIT)
    priority = (limit * price + 999_999) // 1_000_000
    return LAMPORTS_PER_SIGNATURE * message.header.num_required_signatures + priority


def token_balances(
    keys: list[Pubkey], get_account: Callable[[Pubkey], Account | None]
) -> list[TokenBalance]:
    """SPL / Token-2022 token-account balances among `keys`, as a validator's meta lists them."""
    out: list[TokenBalance] = []
    decimals_cache: dict[Pubkey, int | None] = {}
    for index, key in enumerate(keys):
        acc = get_account(key)
        if acc is None or acc.owner not in (TOKEN_PROGRAM, TOKEN_2022_PROGRAM):
            continue
        data = bytes(acc.data)
        if not is_token_account_data(data):
            continue
        mint = Pubkey.from_bytes(data[0:32])
        if mint not in decimals_cache:
            mint_acc = get_account(mint)
            mint_data = bytes(mint_acc.data) if mint_acc is not None else b""
            decimals_cache[mint] = mint_data[44] if len(mint_data) >= 82 else None
        decimals = decimals_cache[mint]
        if decimals is None:
            continue
        out.append(
            TokenBalance(
                account_index=index,
                mint=mint,
                owner=Pubkey.from_bytes(data[32:64]),
                program_id=acc.owner,
                amount=struct.unpack_from("<Q", data, 64)[0],
                decimals=decimals,
            )
        )
    return out


def is_token_account_data(data: bytes) -> bool:
    # A base token account is exactly 165 bytes; a Token-2022 one with extensions
    # carries AccountType 2 at offset 165. State byte 0 means uninitialized.
    if len(data) < 165 or data[108] == 0:
        return False
    return len(data) == 165 or data[165] == 2


def native_mints() -> list[tuple[Pubkey, Account]]:
    """The wrapped-SOL mints every cluster has from genesis (LiteSVM starts without them):
    9 decimals, no supply, no authorities."""
    data = bytes(36) + struct.pack("<QBB", 0, 9, 1) + bytes(36)
    return [
        (mint, Account(lamports=5_000_000_000, data=data, owner=program, executable=False))
        for mint, program in ((NATIVE_MINT, TOKEN_PROGRAM), (NATIVE_MINT_2022, TOKEN_2022_PROGRAM))
    ]


def with_blockhash(tx: VersionedTransaction, blockhash: Hash) -> VersionedTransaction:
    """The same transaction with another recent blockhash (its signatures no longer verify)."""
    msg = tx.message
    if isinstance(msg, MessageV0):
        new_msg: Message | MessageV0 = MessageV0(
            msg.header, msg.account_keys, blockhash, msg.instructions, msg.address_table_lookups
        )
    else:
        h = msg.header
        new_msg = Message.new_with_compiled_instructions(
            h.num_required_signatures,
            h.num_readonly_signed_accounts,
            h.num_readonly_unsigned_accounts,
            msg.account_keys,
            blockhash,
            msg.instructions,
        )
    return VersionedTransaction.populate(new_msg, tx.signatures)


@dataclass
class RunMeta:
    """What one execution produced besides account writes, whoever ran it
    (LiteSVM, or the modelled-program executor)."""

    logs: list[str]
    fee: int
    compute_units: int
    inner_instructions: list[dict[str, Any]]
    return_data: dict[str, Any] | None

    @classmethod
    def from_litesvm(cls, meta: TransactionMetadata) -> RunMeta:
        return cls(
            logs=list(meta.logs()),
            fee=meta.fee(),
            compute_units=meta.compute_units_consumed(),
            inner_instructions=inner_instructions(meta),
            return_data=return_data(meta),
        )


def split_result(
    result: TransactionMetadata | FailedTransactionMetadata,
) -> tuple[Any, TransactionMetadata]:
    if isinstance(result, FailedTransactionMetadata):
        # solders serialises TransactionError exactly as the validator's JSON does.
        return json.loads(result.to_json())["err"], result.meta()
    return None, result


def inner_instructions(meta: TransactionMetadata) -> list[dict[str, Any]]:
    out = []
    for index, inner in enumerate(meta.inner_instructions()):
        if not inner:
            continue
        out.append(
            {
                "index": index,
                "instructions": [_inner_json(ii.instruction(), ii.stack_height()) for ii in inner],
            }
        )
    return out


def _inner_json(instruction: Any, stack_height: int) -> dict[str, Any]:
    # solders exposes InnerInstruction's fields as methods, not attributes.
    return {
        "programIdIndex": instruction.program_id_index,
        "accounts": list(bytes(instruction.accounts)),
        "data": bytes(instruction.data),
        "stackHeight": stack_height,
    }


def return_data(meta: TransactionMetadata) -> dict[str, Any] | None:
    rd = meta.return_data()
    if rd is None or not bytes(rd.data):
        return None
    return {"programId": rd.program_id, "data": bytes(rd.data)}
