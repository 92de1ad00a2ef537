"""The Pump Fees program's `FeeConfig` and its market-cap fee tiers.

Both pump (bonding curve) and PumpSwap read a `FeeConfig` account owned by the fees program
(PDA `["fee_config", <trading program id>]`). Since the dynamic-fee upgrade the fee of a trade
depends on the coin's market cap in lamports: the highest tier whose threshold is <= the market
cap applies, and the first tier when the market cap is below every threshold.
"""

from __future__ import annotations

from dataclasses import dataclass

from solders.pubkey import Pubkey

from .anchor import AnchorProgram
from .typed import register_types

BPS_DENOMINATOR = 10_000


@dataclass(frozen=True)
class Fees:
    """Fee rates in basis points (1 bps = 0.01 %)."""

    lp_fee_bps: int
    protocol_fee_bps: int
    creator_fee_bps: int

    @property
    def total_bps(self) -> int:
        return self.lp_fee_bps + self.protocol_fee_bps + self.creator_fee_bps


@dataclass(frozen=True)
class FeeTier:
    market_cap_lamports_threshold: int
    fees: Fees


@dataclass(frozen=True)
class FeeConfig:
    bump: int
    admin: Pubkey
    flat_fees: Fees  # for pools that are not pump coins
    fee_tiers: tuple[FeeTier, ...]
    stable_fee_tiers: tuple[FeeTier, ...]  # coins paired with a stable quote mint
    exotic_flat_fees: Fees


FEE_TYPES = {"Fees": Fees, "FeeTier": FeeTier, "FeeConfig": FeeConfig}


def register_fee_types(program: AnchorProgram) -> None:
    register_types(program, *FEE_TYPES.values())


def select_fee_tier(tiers: tuple[FeeTier, ...], market_cap_lamports: int) -> Fees | None:
    """Fees of the highest tier whose threshold is <= market cap; the first tier if below all.

    None when there are no tiers (the caller falls back to the flat/global fees).
    """
    if not tiers:
        return None
    eligible = [t for t in tiers if t.market_cap_lamports_threshold <= market_cap_lamports]
    if not eligible:
        return tiers[0].fees
    return max(eligible, key=lambda t: t.market_cap_lamports_threshold).fees


def ceil_fee(amount: int, bps: int) -> int:
    """A fee the way the programs charge it: ceil(amount * bps / 10_000)."""
    return (amount * bps + BPS_DENOMINATOR - 1) // BPS_DENOMINATOR


def market_cap(quote_reserves: int, token_reserves: int, token_supply: int) -> int:
    """floor(quote_reserves * supply / token_reserves): the market cap fee tiers are chosen by
    (in quote units; 0 for an empty token side). Curve and pool quotes both price it this way."""
    return 0 if token_reserves == 0 else quote_reserves * token_supply // token_reserves


def require_amount(value: int, what: str) -> None:
    """Token and quote amounts are non-negative ints (bool is an int in Python: refused)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{what} must be a non-negative integer")
