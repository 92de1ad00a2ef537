"""Simulate a wire transaction and say what it would do, ready for a front end to render.

`simulate_transaction` validates the transaction before any RPC call (encoding, packet size,
deserialization, sanitization, signatures when asked), then asks the upstream at once for
the pre-state of every account the message writes (getMultipleAccounts), the simulation
itself (whose returned accounts are the post-state) and the fee (getFeeForMessage). The
answer carries a decoded error (instruction index, program, IDL/Anchor/builtin error name
and message), logs, compute units, fee, and the SOL and token balance changes per account
and per owner, in raw and UI units.

Amount conventions match the accounts API: lamports are integers, token amounts are strings
of base units (u64 exceeds a JavaScript number), UI amounts are exact decimal strings.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from typing import Any

from solders.address_lookup_table_account import AddressLookupTable
from solders.hash import Hash
from solders.message import Message, MessageV0, to_bytes_versioned
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction

from apps.chain.base58 import b58decode
from apps.chain.programs.anchor_errors import ANCHOR_ERRORS_BY_CODE, ERROR_CODE_OFFSET
from apps.chain.programs.builtin_errors import BUILTIN_PROGRAM_ERRORS
from apps.chain.programs.ids import PUMP_AMM_PROGRAM_ID, PUMP_PROGRAM_ID
from apps.chain.programs.pump.program import PUMP
from apps.chain.programs.pump_amm.program import PUMP_AMM
from apps.chain.rpc import RpcClient, RpcError, RpcUnavailable, context_value
from apps.chain.tokens import ui_amount
from config.api_errors import ApiError

PACKET_DATA_SIZE = 1232
# The longest text a 1,232-byte packet encodes to (the validator's own limits).
MAX_ENCODED_LEN = {"base64": 1644, "base58": 1683}
MAX_MULTIPLE_ACCOUNTS = 100  # getMultipleAccounts' cap per call
SOL_DECIMALS = 9
TOKEN_PROGRAM_NAMES = ("spl-token", "spl-token-2022")

# JSON-RPC codes with which a node refuses the transaction itself (not the node's fault).
_INVALID_PARAMS = -32602
_SIGNATURE_VERIFICATION_FAILURE = -32003


class InvalidTransaction(ApiError):
    status = 422
    code = "invalid_transaction"


# ---- decoding the request --------------------------------------------------------------


def decode_transaction(encoded: str, encoding: str) -> VersionedTransaction:
    """The wire transaction in `encoded`; InvalidTransaction (field `transaction`) when it is
    not `encoding`, exceeds a packet, or is not a well-formed legacy/v0 transaction."""
    limit = MAX_ENCODED_LEN[encoding]
    if len(encoded) > limit:
        raise InvalidTransaction(
            f"the transaction is too large: {len(encoded)} {encoding} characters "
            f"(at most {limit}, a {PACKET_DATA_SIZE}-byte packet)",
            field="transaction",
            code="transaction_too_large",
        )
    try:
        if encoding == "base64":
            raw = base64.b64decode(encoded, validate=True)
        else:
            raw = b58decode(encoded)
    except (binascii.Error, ValueError) as exc:
        raise InvalidTransaction(
            f"the transaction is not valid {encoding}: {exc}",
            field="transaction",
            code="invalid_encoding",
        ) from None
    if len(raw) > PACKET_DATA_SIZE:
        raise InvalidTransaction(
            f"the transaction is too large: {len(raw)} bytes (at most {PACKET_DATA_SIZE})",
            field="transaction",
            code="transaction_too_large",
        )
    try:
        tx = VersionedTransaction.from_bytes(raw)
    except ValueError as exc:
        raise InvalidTransaction(
            f"the bytes are not a Solana transaction (legacy or v0): {exc}", field="transaction"
        ) from None
    try:
        tx.sanitize()
        well_formed = len(tx.signatures) == tx.message.header.num_required_signatures
    except ValueError:
        well_formed = False
    if not well_formed:
        raise InvalidTransaction(
            "the transaction is malformed: its signatures and account indexes do not match "
            "its message",
            field="transaction",
        )
    return tx


# ---- which accounts the message writes -------------------------------------------------


@dataclass(frozen=True)
class MessageAccounts:
    """Account keys in the runtime's order (static, then loaded writable, then loaded
    read-only), and the subset the transaction may write."""

    keys: list[Pubkey]
    writable: list[Pubkey]


def static_writable(message: Message | MessageV0) -> list[bool]:
    """Per static key, whether the header marks it writable (invoked programs demoted)."""
    header = message.header
    count = len(message.account_keys)
    signed_writable = header.num_required_signatures - header.num_readonly_signed_accounts
    unsigned_writable_end = count - header.num_readonly_unsigned_accounts
    return [
        (i < signed_writable or header.num_required_signatures <= i < unsigned_writable_end)
        and not message.is_key_called_as_program(i)
        for i in range(count)
    ]


async def message_accounts(
    message: Message | MessageV0, *, rpc: RpcClient, commitment: str
) -> MessageAccounts:
    """Static keys plus the addresses a v0 message loads from lookup tables (one RPC call).

    A table that is missing or too short is skipped: the simulation reports the error.
    """
    static = list(message.account_keys)
    writable = [key for key, w in zip(static, static_writable(message), strict=True) if w]
    lookups = list(getattr(message, "address_table_lookups", None) or [])
    if not lookups:
        return MessageAccounts(static, writable)
    _, tables = await get_accounts(
        rpc, [lookup.account_key for lookup in lookups], commitment=commitment, encoding="base64"
    )
    loaded_writable: list[Pubkey] = []
    loaded_readonly: list[Pubkey] = []
    for lookup, table in zip(lookups, tables, strict=True):
        addresses = _lookup_table_addresses(table)
        loaded_writable += [addresses[i] for i in lookup.writable_indexes if i < len(addresses)]
        loaded_readonly += [addresses[i] for i in lookup.readonly_indexes if i < len(addresses)]
    return MessageAccounts(static + loaded_writable + loaded_readonly, writable + loaded_writable)


def _lookup_table_addresses(account: Any) -> list[Pubkey]:
    try:
        data = base64.b64decode(account["data"][0])
        return list(AddressLookupTable.deserialize(data).addresses)
    except (KeyError, IndexError, TypeError, ValueError, binascii.Error):
        return []


# ---- upstream calls --------------------------------------------------------------------


async def _all(*calls: Awaitable[Any]) -> list[Any]:
    """Run calls concurrently; every one finishes (each is bounded by its own timeout),
    then the first failure is raised as itself (not an ExceptionGroup)."""
    results = await asyncio.gather(*calls, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


async def get_accounts(
    rpc: RpcClient, addresses: Sequence[Pubkey], *, commitment: str, encoding: str
) -> tuple[int, list[Any]]:
    """(slot, UI accounts) for `addresses`, in getMultipleAccounts-sized chunks."""
    if not addresses:
        return 0, []
    chunks = [
        addresses[i : i + MAX_MULTIPLE_ACCOUNTS]
        for i in range(0, len(addresses), MAX_MULTIPLE_ACCOUNTS)
    ]
    answers = await _all(
        *(
            rpc.call(
                "getMultipleAccounts",
                [[str(a) for a in chunk], {"commitment": commitment, "encoding": encoding}],
            )
            for chunk in chunks
        )
    )
    slot = 0
    accounts: list[Any] = []
    for chunk, answer in zip(chunks, answers, strict=True):
        chunk_slot, value = context_value(answer, "getMultipleAccounts")
        if not isinstance(value, list) or len(value) != len(chunk):
            raise RpcUnavailable("malformed getMultipleAccounts answer from the upstream")
        slot = max(slot, chunk_slot)
        accounts += value
    return slot, accounts


async def _fee_for_message(
    rpc: RpcClient, message: Message | MessageV0, commitment: str
) -> int | None:
    """The fee in lamports, or None when the node does not know the blockhash (or refuses)."""
    encoded = base64.b64encode(to_bytes_versioned(message)).decode()
    try:
        answer = await rpc.call("getFeeForMessage", [encoded, {"commitment": commitment}])
    except RpcError:
        return None  # the fee is informative; a node that refuses it does not sink the answer
    _, fee = context_value(answer, "getFeeForMessage")
    return fee if isinstance(fee, int) and not isinstance(fee, bool) else None


def _with_blockhash(message: Message | MessageV0, text: str) -> Message | MessageV0 | None:
    try:
        blockhash = Hash.from_string(text)
    except ValueError:
        return None
    if isinstance(message, MessageV0):
        return MessageV0(
            message.header,
            message.account_keys,
            blockhash,
            message.instructions,
            message.address_table_lookups,
        )
    header = message.header
    return Message.new_with_compiled_instructions(
        header.num_required_signatures,
        header.num_readonly_signed_accounts,
        header.num_readonly_unsigned_accounts,
        message.account_keys,
        blockhash,
        message.instructions,
    )


# ---- amounts and account states ---------------------------------------------------------


@dataclass(frozen=True)
class TokenHolding:
    """A token account's balance, read from the node's jsonParsed account."""

    mint: str
    owner: str
    amount: int
    decimals: int
    program: str  # the token program id that owns the account


@dataclass(frozen=True)
class AccountSnapshot:
    lamports: int
    program_owner: str
    executable: bool
    space: int | None
    data_base64: str | None
    parsed: dict[str, Any] | None
    token: TokenHolding | None


def parse_account(ui: Any) -> AccountSnapshot | None:
    """A jsonParsed UI account (as getMultipleAccounts / simulateTransaction return it)."""
    if not isinstance(ui, dict):
        return None
    lamports = ui.get("lamports")
    if isinstance(lamports, bool) or not isinstance(lamports, int):
        return None
    data = ui.get("data")
    data_base64 = None
    parsed = None
    if isinstance(data, list) and len(data) == 2 and data[1] == "base64":
        data_base64 = data[0]
    elif isinstance(data, dict):
        parsed = data
    space = ui.get("space")
    return AccountSnapshot(
        lamports=lamports,
        program_owner=str(ui.get("owner", "")),
        executable=bool(ui.get("executable")),
        space=space if isinstance(space, int) else None,
        data_base64=data_base64,
        parsed=parsed,
        token=_token_holding(parsed, str(ui.get("owner", ""))),
    )


def _token_holding(parsed: dict[str, Any] | None, program: str) -> TokenHolding | None:
    if not parsed or parsed.get("program") not in TOKEN_PROGRAM_NAMES:
        return None
    body = parsed.get("parsed")
    if not isinstance(body, dict) or body.get("type") != "account":
        return None
    info = body.get("info") or {}
    try:
        amount = info["tokenAmount"]
        return TokenHolding(
            mint=str(info["mint"]),
            owner=str(info["owner"]),
            amount=int(amount["amount"]),
            decimals=int(amount["decimals"]),
            program=program,
        )
    except (KeyError, TypeError, ValueError):
        return None


# ---- balance changes --------------------------------------------------------------------


@dataclass(frozen=True)
class SolChange:
    account: str
    program_owner: str  # system program for a wallet, a token program for a token account...
    before: int
    after: int
    change: int
    change_ui: str


@dataclass(frozen=True)
class TokenChange:
    account: str
    owner: str
    mint: str
    program: str
    decimals: int
    before: str
    after: str
    change: str
    before_ui: str
    after_ui: str
    change_ui: str


@dataclass(frozen=True)
class OwnerTokenChange:
    mint: str
    program: str
    decimals: int
    change: str
    change_ui: str


@dataclass
class OwnerChange:
    """What one wallet (or program account) gains and loses: its own lamports and, summed per
    mint, the balances of the token accounts it owns."""

    owner: str
    sol_change: int = 0
    sol_change_ui: str = "0"
    tokens: list[OwnerTokenChange] = field(default_factory=list)


@dataclass(frozen=True)
class BalanceChanges:
    sol: list[SolChange]
    tokens: list[TokenChange]
    owners: list[OwnerChange]


def balance_changes(
    addresses: Sequence[Pubkey],
    pre: Sequence[AccountSnapshot | None],
    post: Sequence[AccountSnapshot | None],
    *,
    fee_payer: Pubkey,
) -> BalanceChanges:
    """Changes between the pre- and post-state of `addresses` (missing = 0); the fee payer's
    summary comes first."""
    sol: list[SolChange] = []
    tokens: list[TokenChange] = []
    for address, before_state, after_state in zip(addresses, pre, post, strict=True):
        before = before_state.lamports if before_state else 0
        after = after_state.lamports if after_state else 0
        if before != after:
            owner_program = (after_state or before_state).program_owner  # type: ignore[union-attr]
            sol.append(
                SolChange(
                    str(address),
                    owner_program,
                    before,
                    after,
                    after - before,
                    ui_amount(after - before, SOL_DECIMALS),
                )
            )
        before_token = before_state.token if before_state else None
        after_token = after_state.token if after_state else None
        holding = after_token or before_token
        if holding is None:
            continue
        raw_before = before_token.amount if before_token else 0
        raw_after = after_token.amount if after_token else 0
        if raw_before != raw_after:
            d = holding.decimals
            tokens.append(
                TokenChange(
                    account=str(address),
                    owner=holding.owner,
                    mint=holding.mint,
                    program=holding.program,
                    decimals=d,
                    before=str(raw_before),
                    after=str(raw_after),
                    change=str(raw_after - raw_before),
                    before_ui=ui_amount(raw_before, d),
                    after_ui=ui_amount(raw_after, d),
                    change_ui=ui_amount(raw_after - raw_before, d),
                )
            )
    token_accounts = {
        str(a)
        for a, b, c in zip(addresses, pre, post, strict=True)
        if (b and b.token) or (c and c.token)
    }
    return BalanceChanges(sol, tokens, _by_owner(sol, tokens, token_accounts, str(fee_payer)))


def _by_owner(
    sol: list[SolChange], tokens: list[TokenChange], token_accounts: set[str], fee_payer: str
) -> list[OwnerChange]:
    owners: dict[str, OwnerChange] = {}

    def entry(owner: str) -> OwnerChange:
        return owners.setdefault(owner, OwnerChange(owner))

    # A token account's lamports (rent, wrapped SOL) are not its owner's spendable SOL; the
    # wrapped SOL shows as a token change of the native mint instead.
    for change in sol:
        if change.account not in token_accounts:
            entry(change.account).sol_change += change.change
    per_mint: dict[tuple[str, str], tuple[TokenChange, int]] = {}
    for change in tokens:
        key = (change.owner, change.mint)
        previous = per_mint.get(key, (change, 0))[1]
        per_mint[key] = (change, previous + int(change.change))
    for (owner, mint), (sample, total) in per_mint.items():
        if total:
            entry(owner).tokens.append(
                OwnerTokenChange(
                    mint,
                    sample.program,
                    sample.decimals,
                    str(total),
                    ui_amount(total, sample.decimals),
                )
            )
    for summary in owners.values():
        summary.sol_change_ui = ui_amount(summary.sol_change, SOL_DECIMALS)
    ordered = sorted(owners.values(), key=lambda o: o.owner != fee_payer)
    return [o for o in ordered if o.sol_change or o.tokens]


# ---- decoding the error ------------------------------------------------------------------


def _idl_errors(idl: dict[str, Any]) -> dict[int, tuple[str, str]]:
    return {e["code"]: (e["name"], e.get("msg", e["name"])) for e in idl.get("errors", [])}


# Anchor programs whose IDLs we ship: their own errors (>= 6000) and the framework's.
ANCHOR_PROGRAM_ERRORS: dict[Pubkey, dict[int, tuple[str, str]]] = {
    PUMP_PROGRAM_ID: _idl_errors(PUMP.idl),
    PUMP_AMM_PROGRAM_ID: _idl_errors(PUMP_AMM.idl),
}

# TransactionError variants (the whole transaction was refused before or around execution).
TRANSACTION_ERROR_MESSAGES = {
    "AccountInUse": "an account is already being processed in another transaction",
    "AccountNotFound": "the fee payer account does not exist (it has never held SOL)",
    "ProgramAccountNotFound": "the transaction calls a program that does not exist",
    "InsufficientFundsForFee": "the fee payer cannot pay the transaction fee",
    "InvalidAccountForFee": "this account may not pay transaction fees",
    "AlreadyProcessed": "this transaction has already been processed",
    "BlockhashNotFound": (
        "the recent blockhash is expired or unknown: rebuild the transaction with a fresh "
        "blockhash (or simulate with replace_recent_blockhash)"
    ),
    "SignatureFailure": "a signature does not verify",
    "AddressLookupTableNotFound": "an address lookup table the transaction uses does not exist",
    "InvalidAddressLookupTableIndex": "an address lookup table index is out of range",
    "InsufficientFundsForRent": "an account would be left with less than its rent-exempt minimum",
    "DuplicateInstruction": "a compute-budget instruction appears more than once",
    "WouldExceedMaxBlockCostLimit": "the block is full",
    "WouldExceedMaxAccountCostLimit": "an account's write lock budget in the block is used up",
    "ProgramExecutionTemporarilyRestricted": "a program's execution is temporarily restricted",
}

# InstructionError variants the runtime raises on behalf of any program.
INSTRUCTION_ERROR_MESSAGES = {
    "GenericError": "generic instruction error",
    "InvalidArgument": "invalid program argument",
    "InvalidInstructionData": "invalid instruction data",
    "InvalidAccountData": "invalid account data for instruction",
    "AccountDataTooSmall": "account data too small for instruction",
    "InsufficientFunds": "insufficient funds for instruction",
    "IncorrectProgramId": "incorrect program id for instruction",
    "MissingRequiredSignature": "missing required signature for instruction",
    "AccountAlreadyInitialized": "instruction requires an uninitialized account",
    "UninitializedAccount": "instruction requires an initialized account",
    "NotEnoughAccountKeys": "insufficient account keys for instruction",
    "AccountNotExecutable": "instruction expected an executable account",
    "ExternalAccountLamportSpend": (
        "instruction spent from the balance of an account it does not own"
    ),
    "ReadonlyLamportChange": "instruction changed the balance of a read-only account",
    "ComputationalBudgetExceeded": "the transaction ran out of compute units",
    "ProgramFailedToComplete": "the program failed to complete",
    "PrivilegeEscalation": (
        "cross-program invocation with an unauthorized signer or writable account"
    ),
    "InvalidSeeds": "the provided seeds do not give a valid address",
    "UnsupportedProgramId": "unsupported program id",
}

_FAILED_LOG = re.compile(r"^Program (\w+) failed: ")
_ANCHOR_LOG = re.compile(r"Error Code: (\w+)\. Error Number: (\d+)\. Error Message: (.*)\.$")


@dataclass(frozen=True)
class SimulationError:
    raw: Any
    kind: str
    instruction_index: int | None = None
    program_id: str | None = None
    failed_program_id: str | None = None
    custom_code: int | None = None
    name: str | None = None
    message: str | None = None
    account: str | None = None


def decode_error(
    err: Any, *, keys: Sequence[Pubkey], message: Message | MessageV0, logs: Sequence[str]
) -> SimulationError:
    """The node's `err` with what a person needs: which instruction, which program, and the
    error's name and message (IDL errors for pump/PumpSwap, Anchor framework errors, System
    and Token errors, or the `AnchorError` log line of any other Anchor program)."""
    if isinstance(err, str):
        return SimulationError(err, err, name=err, message=TRANSACTION_ERROR_MESSAGES.get(err))
    if not isinstance(err, dict) or len(err) != 1:
        return SimulationError(err, "Unknown", message="the node reported an unrecognised error")
    kind, detail = next(iter(err.items()))
    if kind != "InstructionError":
        account = None
        index = detail.get("account_index") if isinstance(detail, dict) else None
        if isinstance(index, int) and 0 <= index < len(keys):
            account = str(keys[index])
        return SimulationError(
            err, kind, name=kind, message=TRANSACTION_ERROR_MESSAGES.get(kind), account=account
        )
    try:
        index, reason = detail
        if isinstance(index, bool) or not isinstance(index, int) or index < 0:
            raise ValueError(index)
        instruction = message.instructions[index]
        program = message.account_keys[instruction.program_id_index]
    except (TypeError, ValueError, IndexError):
        return SimulationError(err, kind, name=kind, message="the node reported a malformed error")
    failed = _failed_program(logs) or program
    decoded = SimulationError(
        err, kind, instruction_index=index, program_id=str(program), failed_program_id=str(failed)
    )
    if isinstance(reason, str):
        return _replace(decoded, name=reason, message=INSTRUCTION_ERROR_MESSAGES.get(reason))
    if isinstance(reason, dict) and isinstance(reason.get("Custom"), int):
        code = reason["Custom"]
        name, text = _custom_error(failed, code, logs)
        return _replace(decoded, custom_code=code, name=name, message=text)
    if isinstance(reason, dict) and len(reason) == 1:
        name, value = next(iter(reason.items()))
        return _replace(decoded, name=name, message=str(value))
    return decoded


def _replace(error: SimulationError, **changes: Any) -> SimulationError:
    return SimulationError(**{**error.__dict__, **changes})


def _failed_program(logs: Sequence[str]) -> Pubkey | None:
    """The innermost program that failed: the first `Program X failed:` line (each caller
    up the CPI stack logs its own failure after it)."""
    for line in logs:
        match = _FAILED_LOG.match(line)
        if match:
            try:
                return Pubkey.from_string(match.group(1))
            except ValueError:
                return None
    return None


def _custom_error(program: Pubkey, code: int, logs: Sequence[str]) -> tuple[str | None, str | None]:
    if program in ANCHOR_PROGRAM_ERRORS:
        table = (
            ANCHOR_PROGRAM_ERRORS[program] if code >= ERROR_CODE_OFFSET else ANCHOR_ERRORS_BY_CODE
        )
        return table.get(code, (None, None))
    if program in BUILTIN_PROGRAM_ERRORS:
        return BUILTIN_PROGRAM_ERRORS[program].get(code, (None, None))
    # Any other Anchor program logs its error by name before failing.
    for line in reversed(logs):
        match = _ANCHOR_LOG.search(line)
        if match and int(match.group(2)) == code:
            return match.group(1), match.group(3)
    return None, None


# ---- the simulation ----------------------------------------------------------------------


@dataclass(frozen=True)
class ReportedAccount:
    """An account the caller asked about, as it would be after the transaction."""

    pubkey: str
    exists: bool
    written: bool
    lamports: int | None = None
    owner: str | None = None
    executable: bool | None = None
    space: int | None = None
    data_base64: str | None = None
    parsed: dict[str, Any] | None = None


@dataclass(frozen=True)
class ReplacementBlockhash:
    blockhash: str
    last_valid_block_height: int


@dataclass(frozen=True)
class ReturnData:
    program_id: str
    data_base64: str


@dataclass(frozen=True)
class Simulation:
    success: bool
    slot: int
    version: str
    fee_payer: str
    error: SimulationError | None
    logs: list[str]
    units_consumed: int
    fee: int | None
    fee_ui: str | None
    balance_changes: BalanceChanges | None
    accounts: list[ReportedAccount]
    replacement_blockhash: ReplacementBlockhash | None
    return_data: ReturnData | None


async def simulate_transaction(
    *,
    rpc: RpcClient,
    transaction: str,
    encoding: str = "base64",
    sig_verify: bool = False,
    replace_recent_blockhash: bool = False,
    accounts: Sequence[str] = (),
    commitment: str = "processed",
) -> Simulation:
    """Simulate `transaction` and describe its outcome; see the module docstring.

    Raises InvalidTransaction (422) for bad input before any RPC call, RpcUnavailable when
    no upstream answers, RpcError when the upstream refuses for its own reasons.
    """
    tx = decode_transaction(transaction, encoding)
    if sig_verify and replace_recent_blockhash:
        raise InvalidTransaction(
            "sig_verify cannot be combined with replace_recent_blockhash (a replaced blockhash "
            "invalidates the signatures)",
            field="sig_verify",
            code="invalid_options",
        )
    if sig_verify and not all(tx.verify_with_results()):
        raise InvalidTransaction(
            "a signature does not verify against the message",
            field="transaction",
            code="signature_verification_failed",
        )
    message = tx.message
    fee_payer = message.account_keys[0]
    requested = list(dict.fromkeys(Pubkey.from_string(a) for a in accounts))

    resolved = await message_accounts(message, rpc=rpc, commitment=commitment)
    writable = list(dict.fromkeys(resolved.writable))
    written = set(writable)
    prefetch = writable + [a for a in requested if a not in written]
    config = {
        "encoding": "base64",
        "commitment": commitment,
        "sigVerify": sig_verify,
        "replaceRecentBlockhash": replace_recent_blockhash,
        "innerInstructions": True,
        "accounts": {"addresses": [str(a) for a in writable], "encoding": "jsonParsed"},
    }
    wire = base64.b64encode(bytes(tx)).decode()
    try:
        (_, pre_ui), answer, fee = await _all(
            get_accounts(rpc, prefetch, commitment=commitment, encoding="jsonParsed"),
            rpc.call("simulateTransaction", [wire, config]),
            _fee_for_message(rpc, message, commitment),
        )
    except RpcError as exc:
        if exc.code in (_INVALID_PARAMS, _SIGNATURE_VERIFICATION_FAILURE):
            # The node refused the transaction itself (e.g. a lookup table that does not exist).
            raise InvalidTransaction(exc.message, field="transaction") from None
        raise
    slot, value = context_value(answer, "simulateTransaction")
    if not isinstance(value, dict):
        raise RpcUnavailable("malformed simulateTransaction answer from the upstream")

    err = value.get("err")
    raw_logs = value.get("logs")
    logs = [str(line) for line in raw_logs] if isinstance(raw_logs, list) else []
    replacement = _replacement(value.get("replacementBlockhash"))
    if isinstance(value.get("fee"), int) and not isinstance(value["fee"], bool):
        fee = value["fee"]  # newer validators report the fee of the simulated transaction
    elif fee is None and replacement is not None:
        # The caller's blockhash is stale; the fee does not depend on it, the lookup does.
        fresh = _with_blockhash(message, replacement.blockhash)
        fee = await _fee_for_message(rpc, fresh, commitment) if fresh is not None else None

    pre = {address: parse_account(ui) for address, ui in zip(prefetch, pre_ui, strict=True)}
    post_ui = value.get("accounts")
    post: dict[Pubkey, AccountSnapshot | None] | None = None
    if err is None and isinstance(post_ui, list) and len(post_ui) == len(writable):
        post = {address: parse_account(ui) for address, ui in zip(writable, post_ui, strict=True)}

    changes = _changes(err, writable, pre, post, fee, fee_payer)
    reported = [
        _reported(a, a in written, post.get(a) if post and a in post else pre[a]) for a in requested
    ]
    return Simulation(
        success=err is None,
        slot=slot,
        version="legacy" if isinstance(message, Message) else "0",
        fee_payer=str(fee_payer),
        error=None
        if err is None
        else decode_error(err, keys=resolved.keys, message=message, logs=logs),
        logs=logs,
        units_consumed=_int(value.get("unitsConsumed")),
        fee=fee,
        fee_ui=None if fee is None else ui_amount(fee, SOL_DECIMALS),
        balance_changes=changes,
        accounts=reported,
        replacement_blockhash=replacement,
        return_data=_return_data(value.get("returnData")),
    )


def _changes(
    err: Any,
    writable: list[Pubkey],
    pre: dict[Pubkey, AccountSnapshot | None],
    post: dict[Pubkey, AccountSnapshot | None] | None,
    fee: int | None,
    fee_payer: Pubkey,
) -> BalanceChanges | None:
    if err is None:
        if post is None:
            return None  # the upstream did not return the simulated accounts
        return balance_changes(
            writable, [pre[a] for a in writable], [post[a] for a in writable], fee_payer=fee_payer
        )
    # A transaction that fails inside an instruction still lands and charges its fee; one
    # refused as a whole (stale blockhash, unfunded payer...) changes nothing.
    payer = pre.get(fee_payer)
    if not (isinstance(err, dict) and "InstructionError" in err) or fee is None or payer is None:
        return BalanceChanges([], [], [])
    charged = AccountSnapshot(
        payer.lamports - fee,
        payer.program_owner,
        payer.executable,
        payer.space,
        payer.data_base64,
        payer.parsed,
        payer.token,
    )
    return balance_changes([fee_payer], [payer], [charged], fee_payer=fee_payer)


def _reported(address: Pubkey, written: bool, state: AccountSnapshot | None) -> ReportedAccount:
    if state is None:
        return ReportedAccount(str(address), exists=False, written=written)
    return ReportedAccount(
        str(address),
        exists=True,
        written=written,
        lamports=state.lamports,
        owner=state.program_owner,
        executable=state.executable,
        space=state.space,
        data_base64=state.data_base64,
        parsed=state.parsed,
    )


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _replacement(value: Any) -> ReplacementBlockhash | None:
    if not isinstance(value, dict):
        return None
    try:
        return ReplacementBlockhash(str(value["blockhash"]), int(value["lastValidBlockHeight"]))
    except (KeyError, TypeError, ValueError):
        return None


def _return_data(value: Any) -> ReturnData | None:
    if not isinstance(value, dict):
        return None
    try:
        return ReturnData(str(value["programId"]), str(value["data"][0]))
    except (KeyError, IndexError, TypeError):
        return None
