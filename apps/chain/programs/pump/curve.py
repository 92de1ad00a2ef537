"""Bonding-curve math in integers, rounded the way the pump program rounds.

The curve is a constant product on VIRTUAL reserves (x = virtual quote lamports, y = virtual
tokens). A buy adds the net lamports to both virtual and real quote reserves and removes the
tokens from both token reserves; a sell does the reverse. Fees are charged on top of a buy's net
cost and taken out of a sell's gross proceeds.

Rounding (pump-public-docs bondingCurve.ts and the IDL's `buy_exact_sol_in` docs):
- buy exact tokens:  cost = floor(tokens * x / (y - tokens)) + 1
- buy exact SOL in:  net = floor(spend * 10_000 / (10_000 + total_bps)); trimmed so net + fees
                     <= spend; tokens = floor((net - 1) * y / (x + net - 1))
- sell tokens:       gross = floor(tokens * x / (y + tokens))
- each fee:          ceil(amount * bps / 10_000), protocol and creator separately
- tokens bought never exceed real_token_reserves (the last buy is capped and completes the curve)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal

from solders.pubkey import Pubkey

from ..fees import (
    BPS_DENOMINATOR,
    FeeConfig,
    ceil_fee,
    market_cap,
    require_amount,
    select_fee_tier,
)
from .accounts import BondingCurve, Global
from .constants import (
    INITIAL_REAL_TOKEN_RESERVES,
    INITIAL_VIRTUAL_SOL_RESERVES,
    INITIAL_VIRTUAL_TOKEN_RESERVES,
    LAMPORTS_PER_SOL,
    TOKEN_DECIMALS,
    TOKEN_TOTAL_SUPPLY,
)


@dataclass(frozen=True)
class CurveFees:
    """Fee rates a curve trade pays, in basis points."""

    protocol_fee_bps: int
    creator_fee_bps: int

    @property
    def total_bps(self) -> int:
        return self.protocol_fee_bps + self.creator_fee_bps


@dataclass(frozen=True)
class BuyQuote:
    tokens_out: int
    sol_cost: int  # lamports into the curve (moves the reserves)
    protocol_fee: int
    creator_fee: int

    @property
    def total_sol(self) -> int:
        """Lamports the buyer pays: net cost plus fees."""
        return self.sol_cost + self.protocol_fee + self.creator_fee


@dataclass(frozen=True)
class SellQuote:
    tokens_in: int
    sol_out: int  # gross lamports out of the curve (moves the reserves)
    protocol_fee: int
    creator_fee: int

    @property
    def sol_received(self) -> int:
        return max(self.sol_out - self.protocol_fee - self.creator_fee, 0)


def _require_bps(bps: int) -> None:
    if isinstance(bps, bool) or not isinstance(bps, int) or not 0 <= bps <= BPS_DENOMINATOR:
        raise ValueError("slippage must be between 0 and 10000 bps")


def fresh_curve(
    *, creator: Pubkey, global_: Global | None = None, quote_mint: Pubkey | None = None
) -> BondingCurve:
    """The state `create` gives a new curve (from Global, or the documented constants)."""
    vt = global_.initial_virtual_token_reserves if global_ else INITIAL_VIRTUAL_TOKEN_RESERVES
    vq = global_.initial_virtual_sol_reserves if global_ else INITIAL_VIRTUAL_SOL_RESERVES
    rt = global_.initial_real_token_reserves if global_ else INITIAL_REAL_TOKEN_RESERVES
    supply = global_.token_total_supply if global_ else TOKEN_TOTAL_SUPPLY
    return BondingCurve(
        virtual_token_reserves=vt,
        virtual_quote_reserves=vq,
        real_token_reserves=rt,
        real_quote_reserves=0,
        token_total_supply=supply,
        complete=False,
        creator=creator,
        is_mayhem_mode=False,
        is_cashback_coin=False,
        quote_mint=quote_mint or Pubkey.default(),
        creator_fee_bps=0,
        can_edit_creator_fee=False,
        is_holder_reward=False,
    )


def market_cap_lamports(curve: BondingCurve, mint_supply: int | None = None) -> int:
    """floor(virtual_quote * supply / virtual_token): the market cap pump uses for fee tiers."""
    supply = mint_supply if mint_supply is not None else curve.token_total_supply
    return market_cap(curve.virtual_quote_reserves, curve.virtual_token_reserves, supply)


def market_cap_sol(curve: BondingCurve, mint_supply: int | None = None) -> Decimal:
    return Decimal(market_cap_lamports(curve, mint_supply)) / LAMPORTS_PER_SOL


def spot_price_sol(curve: BondingCurve, token_decimals: int = TOKEN_DECIMALS) -> Decimal:
    """SOL per whole token: (virtual_quote / 1e9) / (virtual_token / 10^decimals)."""
    if curve.virtual_token_reserves == 0:
        return Decimal(0)
    num = Decimal(curve.virtual_quote_reserves) * (10**token_decimals)
    return num / (Decimal(curve.virtual_token_reserves) * LAMPORTS_PER_SOL)


def is_complete(curve: BondingCurve) -> bool:
    """A curve completes when its last real token is sold; then only migration is left."""
    return curve.complete or curve.real_token_reserves == 0


def bonding_curve_progress(
    curve: BondingCurve, initial_real_token_reserves: int = INITIAL_REAL_TOKEN_RESERVES
) -> Decimal:
    """Percent of the sellable tokens sold: 100 * (initial_real - real) / initial_real.

    0 on a fresh curve, 100 once real_token_reserves reaches 0 (or the curve is complete).
    """
    if is_complete(curve):
        return Decimal(100)
    if initial_real_token_reserves <= 0 or curve.real_token_reserves >= initial_real_token_reserves:
        return Decimal(0)
    sold = initial_real_token_reserves - curve.real_token_reserves
    return Decimal(100 * sold) / Decimal(initial_real_token_reserves)


def curve_fees(
    global_: Global, curve: BondingCurve, fee_config: FeeConfig | None = None
) -> CurveFees:
    """Fee rates for a trade on `curve`.

    With the fees program's FeeConfig (dynamic fees) the tier for the curve's market cap
    applies; without it, Global's flat fee_basis_points / creator_fee_basis_points. Curves
    without a creator pay no creator fee.
    """
    tier = None
    if fee_config is not None:
        tier = select_fee_tier(fee_config.fee_tiers, market_cap_lamports(curve))
    if tier is not None:
        protocol, creator = tier.protocol_fee_bps, tier.creator_fee_bps
    else:
        protocol, creator = global_.fee_basis_points, global_.creator_fee_basis_points
    return CurveFees(protocol, creator if curve.has_creator else 0)


def _fees_on(amount: int, fees: CurveFees) -> tuple[int, int]:
    """(protocol fee, creator fee) on `amount`, each rounded up separately as the program does."""
    return ceil_fee(amount, fees.protocol_fee_bps), ceil_fee(amount, fees.creator_fee_bps)


def _migrated(curve: BondingCurve) -> bool:
    return curve.virtual_token_reserves == 0 or is_complete(curve)


def quote_buy_tokens(curve: BondingCurve, tokens: int, fees: CurveFees) -> BuyQuote:
    """Cost of buying exactly `tokens` (legacy `buy`, `buy_v2`); capped at the real reserves."""
    require_amount(tokens, "tokens")
    tokens = min(tokens, curve.real_token_reserves)
    if tokens == 0 or _migrated(curve):
        return BuyQuote(0, 0, 0, 0)
    x, y = curve.virtual_quote_reserves, curve.virtual_token_reserves
    cost = tokens * x // (y - tokens) + 1
    return BuyQuote(tokens, cost, *_fees_on(cost, fees))


def quote_buy_sol_in(curve: BondingCurve, spendable_sol: int, fees: CurveFees) -> BuyQuote:
    """Tokens a budget of `spendable_sol` lamports buys, fees included (`buy_exact_sol_in`)."""
    require_amount(spendable_sol, "spendable_sol")
    if spendable_sol == 0 or _migrated(curve):
        return BuyQuote(0, 0, 0, 0)
    net = spendable_sol * BPS_DENOMINATOR // (BPS_DENOMINATOR + fees.total_bps)
    charged = sum(_fees_on(net, fees))
    if net + charged > spendable_sol:
        net -= net + charged - spendable_sol
    if net <= 1:
        return BuyQuote(0, 0, 0, 0)
    x, y = curve.virtual_quote_reserves, curve.virtual_token_reserves
    tokens = (net - 1) * y // (x + net - 1)
    if tokens >= curve.real_token_reserves:  # the last buy: only what is left, at its own price
        return quote_buy_tokens(curve, curve.real_token_reserves, fees)
    return BuyQuote(tokens, net, *_fees_on(net, fees))


def quote_sell(curve: BondingCurve, tokens: int, fees: CurveFees) -> SellQuote:
    """Lamports out for selling `tokens`; fees come out of the gross proceeds."""
    require_amount(tokens, "tokens")
    if tokens == 0 or curve.virtual_token_reserves == 0:
        return SellQuote(0, 0, 0, 0)
    x, y = curve.virtual_quote_reserves, curve.virtual_token_reserves
    gross = min(tokens * x // (y + tokens), curve.real_quote_reserves)
    return SellQuote(tokens, gross, *_fees_on(gross, fees))


def with_slippage_max(amount: int, slippage_bps: int) -> int:
    """Upper bound for what we pay (max_sol_cost): floor(amount * (10_000 + bps) / 10_000)."""
    require_amount(amount, "amount")
    _require_bps(slippage_bps)
    return amount * (BPS_DENOMINATOR + slippage_bps) // BPS_DENOMINATOR


def with_slippage_min(amount: int, slippage_bps: int) -> int:
    """Lower bound for what we get (min_sol_output, min_tokens_out), rounded down."""
    require_amount(amount, "amount")
    _require_bps(slippage_bps)
    return amount * (BPS_DENOMINATOR - slippage_bps) // BPS_DENOMINATOR


def apply_buy(curve: BondingCurve, quote: BuyQuote) -> BondingCurve:
    """The curve after a buy; it completes when the real token reserves reach zero."""
    real_tokens = curve.real_token_reserves - quote.tokens_out
    if real_tokens < 0:
        raise ValueError("buy exceeds the curve's real token reserves")
    return replace(
        curve,
        virtual_token_reserves=curve.virtual_token_reserves - quote.tokens_out,
        virtual_quote_reserves=curve.virtual_quote_reserves + quote.sol_cost,
        real_token_reserves=real_tokens,
        real_quote_reserves=curve.real_quote_reserves + quote.sol_cost,
        complete=curve.complete or real_tokens == 0,
    )


def apply_sell(curve: BondingCurve, quote: SellQuote) -> BondingCurve:
    if quote.sol_out > curve.real_quote_reserves:
        raise ValueError("sell exceeds the curve's real quote reserves")
    return replace(
        curve,
        virtual_token_reserves=curve.virtual_token_reserves + quote.tokens_in,
        virtual_quote_reserves=curve.virtual_quote_reserves - quote.sol_out,
        real_token_reserves=curve.real_token_reserves + quote.tokens_in,
        real_quote_reserves=curve.real_quote_reserves - quote.sol_out,
    )
