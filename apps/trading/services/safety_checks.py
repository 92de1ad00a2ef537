"""Token safety checks: pure functions from decoded chain state to findings, and the score.
(The Token-2022 extension checks are in safety_extensions.py, the sell simulation in
safety_sell.py; all use the points below.)

Each check gives an `id`, a `status` (ok / warn / danger), a human `message`, the
`evidence` it read (pubkeys and raw amounts as strings, so no JSON client loses u64
precision), the risk points it adds and whether it alone makes the token a honeypot.

Scoring (documented here, applied by `score`):

- every finding carries risk points (`WEIGHTS`); the risk score is their sum, capped at 100;
- a honeypot finding (holders cannot sell, or selling returns nothing) forces 100;
- level: score < 20 is `safe`, 20..49 `caution`, 50 and up `danger`.

The weights follow what each power lets an insider do to a buyer:

| finding                                   | points | why                                        |
|-------------------------------------------|-------:|--------------------------------------------|
| mint authority kept                       |     30 | can dilute holders at will                 |
| freeze authority kept                     |     30 | can freeze any holder's account            |
| permanent delegate                        |     50 | can move or burn anyone's tokens           |
| transfer hook program set                 |     35 | arbitrary code decides every transfer      |
| transfer hook authority (no program yet)  |     10 | can add such code later                    |
| pausable (authority kept, not paused)     |     30 | can stop every transfer at once            |
| transfer fee >= 25%                       |     40 | selling loses a quarter or more            |
| transfer fee > 0 (below 25%)              |     10 | every transfer pays                        |
| transfer fee authority kept (fee 0 now)   |     10 | can raise the fee up to 100%               |
| mint close authority                      |     10 | can close the mint once supply is burnt    |
| confidential transfers                    |     15 | balances and flows can be hidden           |
| top-10 holders > 70% (or one > 50%)       |     25 | a few wallets can dump on the rest         |
| top-10 holders > 50% (or one > 20%)       |     10 |                                            |
| pump.fun curve complete but not migrated  |      5 | no market until someone migrates it        |
| sell simulation inconclusive / not run    |  10/5  | nothing proves holders can sell            |
| non-transferable, paused, 100% fee,       |    100 | honeypot                                   |
| default-frozen, missing hook program,     |        |                                            |
| every top holder frozen, failing sell     |        |                                            |
| simulation                                |        |                                            |
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from solders.pubkey import Pubkey

from apps.chain.programs.ids import TOKEN_2022_PROGRAM_ID
from apps.chain.programs.pump.accounts import BondingCurve
from apps.chain.programs.pump.curve import bonding_curve_progress, is_complete
from apps.chain.tokens import (
    MintExtensions,
    MintState,
    extension_name,
    ui_amount,
)

OK, WARN, DANGER = "ok", "warn", "danger"
SAFE, CAUTION = "safe", "caution"  # levels; DANGER doubles as the top level

SAFE_BELOW = 20
DANGER_FROM = 50

WEIGHTS = {
    "mint_authority": 30,
    "freeze_authority": 30,
    "permanent_delegate": 50,
    "transfer_hook": 35,
    "transfer_hook_authority": 10,
    "pausable": 30,
    "transfer_fee_high": 40,
    "transfer_fee": 10,
    "transfer_fee_authority": 10,
    "mint_close_authority": 10,
    "confidential_transfer": 15,
    "holders_danger": 25,
    "holders_warn": 10,
    "curve_not_migrated": 5,
    "sell_inconclusive": 10,
    "sell_not_run": 5,
    "honeypot": 100,
}
TOP_HOLDERS = 10
TOP10_DANGER_PCT = 70
TOP10_WARN_PCT = 50
SINGLE_DANGER_PCT = 50
SINGLE_WARN_PCT = 20


@dataclass(frozen=True)
class Check:
    id: str
    status: str
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)
    points: int = 0
    honeypot: bool = False

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "message": self.message,
            "evidence": self.evidence,
        }


@dataclass(frozen=True)
class Holder:
    """One of the largest token accounts, with its owner and what it is."""

    address: Pubkey
    owner: Pubkey | None
    amount: int
    frozen: bool
    vault: str | None = None  # "pump_bonding_curve" / "pumpswap_pool" for program vaults
    owner_is_wallet: bool = False  # a system-owned account that can pay fees
    owner_lamports: int = 0


def key_text(key: Pubkey | None) -> str | None:
    return None if key is None else str(key)


def _pct(part: int, whole: int) -> float:
    return round(100 * part / whole, 4) if whole else 0.0


# ---- mint ---------------------------------------------------------------------------


def mint_authority_check(mint: MintState) -> Check:
    if mint.mint_authority is None:
        return Check(
            "mint_authority", OK, "mint authority revoked: supply is fixed", {"authority": None}
        )
    return Check(
        "mint_authority",
        DANGER,
        "mint authority is kept: more tokens can be minted at any time",
        {"authority": str(mint.mint_authority)},
        WEIGHTS["mint_authority"],
    )


def freeze_authority_check(mint: MintState) -> Check:
    if mint.freeze_authority is None:
        return Check(
            "freeze_authority",
            OK,
            "freeze authority revoked: no account can be frozen",
            {"authority": None},
        )
    return Check(
        "freeze_authority",
        DANGER,
        "freeze authority is kept: any holder's account can be frozen",
        {"authority": str(mint.freeze_authority)},
        WEIGHTS["freeze_authority"],
    )


def supply_check(mint: MintState, program: Pubkey, extensions: MintExtensions) -> Check:
    evidence = {
        "supply": str(mint.supply),
        "decimals": mint.decimals,
        "ui_supply": ui_amount(mint.supply, mint.decimals),
        "token_program": "spl-token-2022" if program == TOKEN_2022_PROGRAM_ID else "spl-token",
        "extensions": [extension_name(t) for t in extensions.types],
    }
    if mint.supply == 0:
        return Check("supply", WARN, "supply is zero: nothing has been minted", evidence)
    return Check(
        "supply", OK, f"supply {evidence['ui_supply']} at {mint.decimals} decimals", evidence
    )


# ---- holders and the pump.fun curve -------------------------------------------------


def holder_concentration_check(holders: list[Holder], mint: MintState) -> Check:
    vaults = [h for h in holders if h.vault and h.amount > 0]  # a drained curve is no vault
    wallets = sorted((h for h in holders if not h.vault), key=lambda h: -h.amount)
    top = [h for h in wallets if h.amount > 0][:TOP_HOLDERS]
    top_sum = sum(h.amount for h in top)
    largest = top[0].amount if top else 0
    evidence = {
        "supply": str(mint.supply),
        "top10_pct": _pct(top_sum, mint.supply),
        "largest_holder_pct": _pct(largest, mint.supply),
        "vaults_pct": _pct(sum(h.amount for h in vaults), mint.supply),
        "holders": [
            {
                "address": str(h.address),
                "owner": key_text(h.owner),
                "amount": str(h.amount),
                "pct": _pct(h.amount, mint.supply),
                "frozen": h.frozen,
            }
            for h in top
        ],
        "vaults": [
            {
                "address": str(h.address),
                "owner": key_text(h.owner),
                "kind": h.vault,
                "amount": str(h.amount),
                "pct": _pct(h.amount, mint.supply),
            }
            for h in vaults
        ],
        "frozen_holders": sum(1 for h in top if h.frozen),
    }
    top10, single = evidence["top10_pct"], evidence["largest_holder_pct"]
    if mint.supply == 0:
        return Check("holder_concentration", OK, "no supply, no holders", evidence)
    if top10 > TOP10_DANGER_PCT or single > SINGLE_DANGER_PCT:
        return Check(
            "holder_concentration",
            DANGER,
            f"top {len(top)} holders own {top10:.2f}% (largest {single:.2f}%)",
            evidence,
            WEIGHTS["holders_danger"],
        )
    if top10 > TOP10_WARN_PCT or single > SINGLE_WARN_PCT:
        return Check(
            "holder_concentration",
            WARN,
            f"top {len(top)} holders own {top10:.2f}% (largest {single:.2f}%)",
            evidence,
            WEIGHTS["holders_warn"],
        )
    return Check(
        "holder_concentration",
        OK,
        f"top {len(top)} holders own {top10:.2f}% (largest {single:.2f}%)"
        + (", program vaults set apart" if vaults else ""),
        evidence,
    )


def holders_unavailable_check(reason: str) -> Check:
    return Check(
        "holder_concentration",
        WARN,
        f"holder data unavailable: {reason}",
        {"error": reason},
        WEIGHTS["holders_warn"],
    )


def bonding_curve_check(
    curve: BondingCurve, *, address: Pubkey, pool: Pubkey, pool_exists: bool
) -> Check:
    complete = is_complete(curve)
    evidence = {
        "bonding_curve": str(address),
        "complete": complete,
        "progress_pct": float(round(bonding_curve_progress(curve), 4)),
        "real_token_reserves": str(curve.real_token_reserves),
        "real_sol_reserves": str(curve.real_quote_reserves),
        "virtual_token_reserves": str(curve.virtual_token_reserves),
        "virtual_sol_reserves": str(curve.virtual_quote_reserves),
        "creator": str(curve.creator) if curve.has_creator else None,
        "migrated": pool_exists,
        "pool": str(pool) if pool_exists else None,
    }
    if pool_exists:
        return Check(
            "pump_curve", OK, f"pump.fun curve complete, migrated to PumpSwap pool {pool}", evidence
        )
    if complete:
        return Check(
            "pump_curve",
            WARN,
            "pump.fun curve complete but not migrated yet: no market until migration",
            evidence,
            WEIGHTS["curve_not_migrated"],
        )
    return Check(
        "pump_curve",
        OK,
        f"trading on the pump.fun curve, {evidence['progress_pct']:.2f}% sold",
        evidence,
    )


# ---- score --------------------------------------------------------------------------


def score(checks: list[Check]) -> tuple[int, str, bool]:
    """(risk_score 0..100, level, honeypot) from the findings; see the module docstring."""
    honeypot = any(c.honeypot for c in checks)
    risk = 100 if honeypot else min(100, sum(c.points for c in checks))
    if honeypot or risk >= DANGER_FROM:
        level = DANGER
    elif risk >= SAFE_BELOW:
        level = CAUTION
    else:
        level = SAFE
    return risk, level, honeypot
