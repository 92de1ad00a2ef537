"""Token safety checks for the Token-2022 mint extensions that decide whether holders can
trade: one function per extension, None when the mint does not carry it. Points and the
scoring rules are in safety_checks.py."""

from __future__ import annotations

from typing import Any

from apps.chain.tokens import (
    ACCOUNT_STATE_FROZEN,
    MAX_FEE_BASIS_POINTS,
    MintExtensions,
    MintState,
)

from .safety_checks import DANGER, OK, WARN, WEIGHTS, Check, key_text

HIGH_FEE_BPS = 2_500  # a fee from 25% up is a danger on its own


def transfer_fee_check(ext: MintExtensions, *, epoch: int, supply: int) -> Check | None:
    config = ext.transfer_fee
    if config is None:
        return None
    fee = config.in_force(epoch)
    evidence = {
        "basis_points": fee.basis_points,
        "percent": fee.basis_points / 100,
        "maximum_fee": str(fee.maximum_fee),
        "epoch": epoch,
        "older": {
            "epoch": config.older.epoch,
            "basis_points": config.older.basis_points,
            "maximum_fee": str(config.older.maximum_fee),
        },
        "newer": {
            "epoch": config.newer.epoch,
            "basis_points": config.newer.basis_points,
            "maximum_fee": str(config.newer.maximum_fee),
        },
        "config_authority": key_text(config.config_authority),
        "withdraw_withheld_authority": key_text(config.withdraw_withheld_authority),
        "withheld_amount": str(config.withheld_amount),
    }
    # A 100% fee whose cap covers a whole holding leaves the receiver nothing.
    if fee.basis_points >= MAX_FEE_BASIS_POINTS and fee.maximum_fee >= max(supply, 1):
        return Check(
            "transfer_fee",
            DANGER,
            "transfer fee is 100%: a transfer (and so a sale) delivers nothing",
            evidence,
            WEIGHTS["honeypot"],
            honeypot=True,
        )
    if fee.basis_points >= HIGH_FEE_BPS:
        return Check(
            "transfer_fee",
            DANGER,
            f"transfer fee is {fee.basis_points / 100}% (cap {fee.maximum_fee})",
            evidence,
            WEIGHTS["transfer_fee_high"],
        )
    if fee.basis_points > 0:
        return Check(
            "transfer_fee",
            WARN,
            f"transfer fee is {fee.basis_points / 100}% (cap {fee.maximum_fee})",
            evidence,
            WEIGHTS["transfer_fee"],
        )
    if config.config_authority is not None:
        return Check(
            "transfer_fee",
            WARN,
            "transfer fee is 0% but its authority can raise it (up to 100%)",
            evidence,
            WEIGHTS["transfer_fee_authority"],
        )
    return Check("transfer_fee", OK, "transfer fee is 0% and cannot be changed", evidence)


def transfer_hook_check(
    ext: MintExtensions, program_account: dict[str, Any] | None
) -> Check | None:
    """`program_account`: {"exists", "executable"} of the hook program, when one is set."""
    hook = ext.transfer_hook
    if hook is None:
        return None
    evidence: dict[str, Any] = {
        "program_id": key_text(hook.program_id),
        "authority": key_text(hook.authority),
    }
    if hook.program_id is not None:
        evidence.update(program_account or {"exists": None, "executable": None})
        if program_account is not None and not program_account.get("executable"):
            return Check(
                "transfer_hook",
                DANGER,
                "transfer hook program is missing or not executable: every transfer fails",
                evidence,
                WEIGHTS["honeypot"],
                honeypot=True,
            )
        return Check(
            "transfer_hook",
            DANGER,
            f"every transfer runs program {hook.program_id}, which can refuse it",
            evidence,
            WEIGHTS["transfer_hook"],
        )
    if hook.authority is not None:
        return Check(
            "transfer_hook",
            WARN,
            "no hook program yet, but its authority can set one",
            evidence,
            WEIGHTS["transfer_hook_authority"],
        )
    return Check(
        "transfer_hook", OK, "transfer hook extension present but empty and locked", evidence
    )


def permanent_delegate_check(ext: MintExtensions) -> Check | None:
    if not ext.has_permanent_delegate:
        return None
    if ext.permanent_delegate is None:
        return Check(
            "permanent_delegate",
            OK,
            "permanent delegate extension with no delegate",
            {"delegate": None},
        )
    return Check(
        "permanent_delegate",
        DANGER,
        f"permanent delegate {ext.permanent_delegate} can move or burn anyone's tokens",
        {"delegate": str(ext.permanent_delegate)},
        WEIGHTS["permanent_delegate"],
    )


def non_transferable_check(ext: MintExtensions) -> Check | None:
    if not ext.non_transferable:
        return None
    return Check(
        "non_transferable",
        DANGER,
        "the mint is non-transferable: holders can never sell or move tokens",
        {"non_transferable": True},
        WEIGHTS["honeypot"],
        honeypot=True,
    )


def default_account_state_check(ext: MintExtensions, mint: MintState) -> Check | None:
    state = ext.default_account_state
    if state is None:
        return None
    names = {0: "uninitialized", 1: "initialized", 2: "frozen"}
    evidence = {
        "state": names.get(state, str(state)),
        "freeze_authority": key_text(mint.freeze_authority),
    }
    if state != ACCOUNT_STATE_FROZEN:
        return Check("default_account_state", OK, "new token accounts start usable", evidence)
    # A buyer's new account is frozen until the freeze authority thaws it (or forever
    # once that authority is revoked): holders cannot sell on their own.
    return Check(
        "default_account_state",
        DANGER,
        "new token accounts start frozen: a buyer cannot sell unless the issuer thaws",
        evidence,
        WEIGHTS["honeypot"],
        honeypot=True,
    )


def pausable_check(ext: MintExtensions) -> Check | None:
    config = ext.pausable
    if config is None:
        return None
    evidence = {"authority": key_text(config.authority), "paused": config.paused}
    if config.paused:
        return Check(
            "pausable",
            DANGER,
            "the mint is paused: no transfer, mint or burn works",
            evidence,
            WEIGHTS["honeypot"],
            honeypot=True,
        )
    if config.authority is not None:
        return Check(
            "pausable",
            DANGER,
            f"{config.authority} can pause every transfer of the mint at any time",
            evidence,
            WEIGHTS["pausable"],
        )
    return Check("pausable", OK, "pausable extension without an authority", evidence)


def mint_close_authority_check(ext: MintExtensions) -> Check | None:
    if not ext.has_close_authority:
        return None
    if ext.close_authority is None:
        return Check("mint_close_authority", OK, "no mint close authority", {"authority": None})
    return Check(
        "mint_close_authority",
        WARN,
        "the mint can be closed (and its address reused) once supply is zero",
        {"authority": str(ext.close_authority)},
        WEIGHTS["mint_close_authority"],
    )


def confidential_transfer_check(ext: MintExtensions) -> Check | None:
    config = ext.confidential_transfer
    if config is None:
        return None
    return Check(
        "confidential_transfer",
        WARN,
        "confidential transfers: balances and flows can be hidden from holder analysis",
        {
            "authority": key_text(config.authority),
            "auto_approve_new_accounts": config.auto_approve_new_accounts,
            "auditor": config.has_auditor,
        },
        WEIGHTS["confidential_transfer"],
    )


def extension_checks(
    ext: MintExtensions,
    mint: MintState,
    *,
    epoch: int,
    hook_program_account: dict[str, Any] | None,
) -> list[Check]:
    found = [
        transfer_fee_check(ext, epoch=epoch, supply=mint.supply),
        transfer_hook_check(ext, hook_program_account),
        permanent_delegate_check(ext),
        non_transferable_check(ext),
        default_account_state_check(ext, mint),
        pausable_check(ext),
        mint_close_authority_check(ext),
        confidential_transfer_check(ext),
    ]
    return [c for c in found if c is not None]
