"""PumpSwap constant-product quotes on effective reserves, rounded as the program rounds.

Effective reserves: base = the pool base token account balance; quote = the pool quote token
account balance + Pool.virtual_quote_reserves (a signed i128: boost reserves minus fees waiting
to be swept; pump-public-docs VIRTUAL_QUOTE_RESERVES_FEE_ADJUSTMENT.md).

Rounding (pump-swap-sdk):
- buy exact base out:  quote_in = ceil(quote_reserve * base_out / (base_reserve - base_out))
- buy exact quote in:  effective = floor(spend * 10_000 / (10_000 + total_bps));
                       base_out = floor(base_reserve * effective / (quote_reserve + effective))
- sell base in:        quote_out = floor(quote_reserve * base_in / (base_reserve + base_in))
- each fee (lp, protocol, coin creator): ceil(amount * bps / 10_000); added to a buy's cost,
  taken from a sell's proceeds.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..fees import (
    BPS_DENOMINATOR,
    FeeConfig,
    Fees,
    ceil_fee,
    market_cap,
    require_amount,
    select_fee_tier,
)
from .accounts import GlobalConfig, Pool


@dataclass(frozen=True)
class PoolReserves:
    base: int
    quote: int

    @classmethod
    def effective(cls, pool: Pool, base_vault_amount: int, quote_vault_amount: int) -> PoolReserves:
        quote = quote_vault_amount + pool.virtual_quote_reserves
        if base_vault_amount < 0 or quote < 0:
            raise ValueError("pool reserves cannot be negative")
        return cls(base_vault_amount, quote)


@dataclass(frozen=True)
class SwapQuote:
    base_amount: int
    quote_amount: int  # before fees: into the pool on a buy, out of it on a sell
    lp_fee: int
    protocol_fee: int
    coin_creator_fee: int

    @property
    def fees(self) -> int:
        return self.lp_fee + self.protocol_fee + self.coin_creator_fee

    @property
    def user_quote_in(self) -> int:
        """A buy's total cost to the user."""
        return self.quote_amount + self.fees

    @property
    def user_quote_out(self) -> int:
        """A sell's proceeds to the user."""
        return max(self.quote_amount - self.fees, 0)


def market_cap_quote(reserves: PoolReserves, base_supply: int) -> int:
    """floor(quote_reserve * base_supply / base_reserve): the cap fee tiers are chosen by."""
    return market_cap(reserves.quote, reserves.base, base_supply)


def pool_fees(
    global_config: GlobalConfig,
    pool: Pool,
    *,
    reserves: PoolReserves | None = None,
    fee_config: FeeConfig | None = None,
    base_supply: int | None = None,
) -> Fees:
    """Fee rates of a trade in `pool`: the FeeConfig tier for the pool's market cap when the
    fee config, reserves and base mint supply are known, else GlobalConfig's flat rates.
    Pools without a coin creator pay no creator fee."""
    tier = None
    if fee_config is not None and reserves is not None and base_supply is not None:
        tier = select_fee_tier(fee_config.fee_tiers, market_cap_quote(reserves, base_supply))
    if tier is None:
        tier = Fees(
            global_config.lp_fee_basis_points,
            global_config.protocol_fee_basis_points,
            global_config.coin_creator_fee_basis_points,
        )
    creator = tier.creator_fee_bps if pool.has_coin_creator else 0
    return Fees(tier.lp_fee_bps, tier.protocol_fee_bps, creator)


def _quote(base: int, quote: int, fees: Fees) -> SwapQuote:
    return SwapQuote(
        base,
        quote,
        ceil_fee(quote, fees.lp_fee_bps),
        ceil_fee(quote, fees.protocol_fee_bps),
        ceil_fee(quote, fees.creator_fee_bps),
    )


def quote_buy_base_out(reserves: PoolReserves, base_out: int, fees: Fees) -> SwapQuote:
    """Quote cost (plus fees) of buying exactly `base_out` base units."""
    require_amount(base_out, "base_out")
    if base_out == 0:
        return _quote(0, 0, fees)
    if base_out >= reserves.base:
        raise ValueError("cannot buy the whole base reserve")
    num = reserves.quote * base_out
    den = reserves.base - base_out
    return _quote(base_out, (num + den - 1) // den, fees)


def quote_buy_quote_in(reserves: PoolReserves, spendable_quote: int, fees: Fees) -> SwapQuote:
    """Base units a budget of `spendable_quote` (fees included) buys."""
    require_amount(spendable_quote, "spendable_quote")
    effective = spendable_quote * BPS_DENOMINATOR // (BPS_DENOMINATOR + fees.total_bps)
    if effective == 0:
        return _quote(0, 0, fees)
    base_out = reserves.base * effective // (reserves.quote + effective)
    return _quote(base_out, effective, fees)


def quote_sell_base_in(reserves: PoolReserves, base_in: int, fees: Fees) -> SwapQuote:
    """Quote proceeds (before fees in quote_amount, after fees in user_quote_out)."""
    require_amount(base_in, "base_in")
    if base_in == 0:
        return _quote(0, 0, fees)
    quote_out = reserves.quote * base_in // (reserves.base + base_in)
    return _quote(base_in, quote_out, fees)
