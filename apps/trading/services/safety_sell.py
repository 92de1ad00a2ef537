"""The sell check: can a real holder move their tokens to a brand-new buyer?

A holder's whole balance is sent, by TransferChecked, to the associated token account of a
fresh wallet created in the same transaction — exactly what any sale or transfer needs —
and the transaction is simulated (`sigVerify: false`, `replaceRecentBlockhash: true`, so
no key and no blockhash are needed). The destination's simulated state tells what would
arrive. Frozen accounts, non-transferable and paused mints, a missing hook program and a
fee that takes everything all show up here the way the token program enforces them.

The whole balance rather than a sliver: a transfer-fee cap makes a small transfer look
worse than a real sale, and the question is whether a holder can exit.

Which failures prove a honeypot: a failing transfer instruction is conclusive, except
when a live transfer-hook program refused it (this check does not resolve the hook's
extra accounts, so the refusal may be ours). Failures before the transfer (the holder
cannot pay the fee or the new account's rent) prove nothing; the next holder is tried.
"""

from __future__ import annotations

import base64
import struct
from typing import Any

from solders.hash import Hash
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import VersionedTransaction

from apps.chain.programs.ids import ASSOCIATED_TOKEN_PROGRAM_ID, SYSTEM_PROGRAM_ID
from apps.chain.programs.spl import associated_token_address
from apps.chain.rpc import RpcClient, RpcError
from apps.chain.tokens import MintExtensions, unpack_token_account

from .safety_checks import DANGER, OK, WARN, WEIGHTS, Check, Holder

MAX_ATTEMPTS = 2
# Enough for the fee and a Token-2022 account's rent; poorer owners are tried last.
MIN_PAYER_LAMPORTS = 3_000_000
_TRANSFER_CHECKED = 12
_CREATE_ATA_IDEMPOTENT = b"\x01"
_TRANSFER_IX = 1  # index of the transfer in the simulated transaction

# Token program errors (token-2022 `TokenError`, shared numbering with SPL Token) that a
# transfer to a new account can hit, as (reason, message).
TOKEN_ERRORS: dict[int, tuple[str, str]] = {
    1: ("insufficient_funds", "the holder's balance does not cover the transfer"),
    17: ("account_frozen", "a token account in the transfer is frozen"),
    37: ("non_transferable", "the mint is non-transferable"),
    67: ("paused", "the mint is paused"),
}


def _create_ata_ix(payer: Pubkey, wallet: Pubkey, mint: Pubkey, program: Pubkey) -> Instruction:
    ata = associated_token_address(wallet, mint, program)
    return Instruction(
        ASSOCIATED_TOKEN_PROGRAM_ID,
        _CREATE_ATA_IDEMPOTENT,
        [
            AccountMeta(payer, True, True),
            AccountMeta(ata, False, True),
            AccountMeta(wallet, False, False),
            AccountMeta(mint, False, False),
            AccountMeta(SYSTEM_PROGRAM_ID, False, False),
            AccountMeta(program, False, False),
        ],
    )


def sell_transaction(
    *,
    holder: Holder,
    mint: Pubkey,
    program: Pubkey,
    decimals: int,
    hook_program: Pubkey | None,
    buyer: Pubkey,
) -> tuple[VersionedTransaction, Pubkey]:
    """(unsigned transaction, destination token account): create the buyer's ATA, then
    TransferChecked the holder's whole balance into it, the holder's owner paying."""
    assert holder.owner is not None
    destination = associated_token_address(buyer, mint, program)
    metas = [
        AccountMeta(holder.address, False, True),
        AccountMeta(mint, False, False),
        AccountMeta(destination, False, True),
        AccountMeta(holder.owner, True, False),
    ]
    if hook_program is not None:
        # The hook program and its validation account; Token-2022 finds them by key.
        validation = Pubkey.find_program_address(
            [b"extra-account-metas", bytes(mint)], hook_program
        )[0]
        metas += [AccountMeta(hook_program, False, False), AccountMeta(validation, False, False)]
    transfer = Instruction(
        program, struct.pack("<BQB", _TRANSFER_CHECKED, holder.amount, decimals), metas
    )
    message = Message.new_with_blockhash(
        [_create_ata_ix(holder.owner, buyer, mint, program), transfer], holder.owner, Hash.default()
    )
    tx = VersionedTransaction.populate(message, [Signature.default()])
    return tx, destination


def _error_line(logs: list[str]) -> str | None:
    for line in reversed(logs):
        if "Error:" in line or "failed:" in line:
            return line.removeprefix("Program log: ")
    return None


def classify_failure(err: Any, logs: list[str]) -> tuple[bool, str, str]:
    """(conclusive, reason, message) for a failed simulation."""
    detail = _error_line(logs)
    if isinstance(err, dict) and "InstructionError" in err:
        index, inner = err["InstructionError"]
        if index != _TRANSFER_IX:
            return False, "setup_failed", f"creating the buyer's account failed: {detail or inner}"
        if isinstance(inner, dict) and "Custom" in inner and inner["Custom"] in TOKEN_ERRORS:
            reason, message = TOKEN_ERRORS[inner["Custom"]]
            return True, reason, message
        return True, "transfer_failed", f"the transfer fails: {detail or inner}"
    # Transaction-level errors (fee payer missing or too poor...) say nothing about the token.
    return False, "not_executed", f"the simulation did not run the transfer: {err}"


async def _simulate(
    rpc: RpcClient, tx: VersionedTransaction, destination: Pubkey
) -> tuple[Any, list[str], int | None]:
    """(err, logs, amount the destination would hold)."""
    encoded = base64.b64encode(bytes(tx)).decode()
    config = {
        "encoding": "base64",
        "sigVerify": False,
        "replaceRecentBlockhash": True,
        "commitment": "confirmed",
        "accounts": {"addresses": [str(destination)], "encoding": "base64"},
    }
    result = await rpc.call("simulateTransaction", [encoded, config])
    value = (result or {}).get("value") or {}
    received = None
    accounts = value.get("accounts") or []
    if accounts and accounts[0]:
        state = unpack_token_account(base64.b64decode(accounts[0]["data"][0]))
        received = state.amount if state is not None else None
    return value.get("err"), list(value.get("logs") or []), received


def _candidates(holders: list[Holder]) -> list[Holder]:
    usable = [h for h in holders if not h.vault and not h.frozen and h.amount > 0 and h.owner]
    # Owners that can pay the fee and the rent first, then by size.
    usable.sort(
        key=lambda h: (
            not (h.owner_is_wallet and h.owner_lamports >= MIN_PAYER_LAMPORTS),
            -h.amount,
        )
    )
    return usable[:MAX_ATTEMPTS]


async def sell_check(
    *,
    rpc: RpcClient,
    mint: Pubkey,
    program: Pubkey,
    decimals: int,
    holders: list[Holder],
    extensions: MintExtensions,
    hook_program_live: bool,
) -> Check:
    wallets = [h for h in holders if not h.vault and h.amount > 0]
    candidates = _candidates(holders)
    if not candidates:
        if wallets:  # every holder's account is frozen
            return Check(
                "sell_simulation",
                DANGER,
                "every top holder's token account is frozen: none of them can sell",
                {"frozen_holders": [str(h.address) for h in wallets]},
                WEIGHTS["honeypot"],
                honeypot=True,
            )
        return Check(
            "sell_simulation",
            WARN,
            "no holder outside program vaults to simulate",
            {"simulated": False},
            WEIGHTS["sell_not_run"],
        )
    hook = extensions.transfer_hook.program_id if extensions.transfer_hook else None
    attempts: list[dict[str, Any]] = []
    for holder in candidates:
        buyer = Keypair().pubkey()
        tx, destination = sell_transaction(
            holder=holder,
            mint=mint,
            program=program,
            decimals=decimals,
            hook_program=hook,
            buyer=buyer,
        )
        try:
            err, logs, received = await _simulate(rpc, tx, destination)
        except RpcError as exc:
            attempts.append({"holder": str(holder.address), "error": exc.message})
            continue
        evidence = {
            "holder": str(holder.address),
            "owner": str(holder.owner),
            "amount": str(holder.amount),
            "destination": str(destination),
        }
        if err is None:
            evidence["received"] = str(received) if received is not None else None
            if received == 0:
                return Check(
                    "sell_simulation",
                    DANGER,
                    "a holder's transfer succeeds but the buyer receives nothing",
                    evidence,
                    WEIGHTS["honeypot"],
                    honeypot=True,
                )
            evidence["fee_taken"] = str(holder.amount - received) if received is not None else None
            return Check(
                "sell_simulation",
                OK,
                "a top holder can transfer their whole balance to a new buyer",
                evidence,
            )
        conclusive, reason, message = classify_failure(err, logs)
        evidence.update({"error": err, "reason": reason, "log": _error_line(logs)})
        if conclusive and reason == "transfer_failed" and hook_program_live:
            # The live hook may only want extra accounts this check does not resolve.
            return Check(
                "sell_simulation",
                DANGER,
                f"{message} (the transfer hook refused it; its extra accounts were "
                "not resolved, so a full client may still succeed)",
                evidence | {"conclusive": False},
                WEIGHTS["transfer_hook"],
            )
        if conclusive and reason == "transfer_failed" and hook is not None:
            reason = evidence["reason"] = "hook_program_missing"
            message = f"the transfer hook program {hook} is missing or not executable"
        if conclusive:
            if reason == "account_frozen" and extensions.default_account_state == 2:
                message = "the buyer's new token account starts frozen, so the transfer fails"
            return Check(
                "sell_simulation",
                DANGER,
                f"a holder cannot sell: {message}",
                evidence | {"conclusive": True},
                WEIGHTS["honeypot"],
                honeypot=True,
            )
        attempts.append(evidence | {"message": message})
    return Check(
        "sell_simulation",
        WARN,
        "the sell simulation was inconclusive",
        {"attempts": attempts},
        WEIGHTS["sell_inconclusive"],
    )
