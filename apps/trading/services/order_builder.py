"""Routing and building an order's transaction: venue from chain state, quote, bound, sign.

    plan = await plan_order(wallet=..., mint=..., side=Side.BUY, amount=..., slippage_bps=...,
                            compute_unit_price=..., compute_unit_limit=...)
    copies = [build_order(plan, signer=keypair, tip=Tip(lamports, engine_tip_account),
                          nonce=DurableNonce(account, value)) for each engine]

`plan_order` is the only part that touches the chain (one getMultipleAccounts through the RPC
pool, a second one for a PumpSwap pool's vaults when they are not where expected): it picks
the venue, quotes with the same curve and pool math the programs use, and sets the slippage
bound. Building and signing are pure, so one quote gives N copies (one per engine tip)
cheaply, and the copies differ only in their tip instruction.

Errors: bad input, no venue, or a wallet without the SOL (buy) or tokens (sell) it offers
raise `OrderBuildError` (a ValueError naming the field, with a stable `code`) before anything
is signed; an upstream that cannot be read raises `RpcUnavailable`.

Venue: the pump.fun bonding curve while it trades; the canonical PumpSwap pool once the
coin migrated; a complete curve with no pool yet has no venue ("migrating").

Instruction order of every copy: AdvanceNonceAccount (durable-nonce copies: it must come
first), compute-unit limit and price, the trade's setup (the user's token account created
idempotently; PumpSwap buys wrap SOL into the user's wrapped-SOL account), the trade, the
PumpSwap unwrap (closing the wrapped-SOL account returns what the swap did not spend, or
what a sell received, as lamports), then the engine's tip last, as Jito asks.

Bounds, as the IDLs define the instruction arguments:
- curve buy: `buy_exact_sol_in(spendable_sol_in=amount, min_tokens_out)`; never spends more
  than `amount` lamports (fees included);
- curve sell: `sell(amount, min_sol_output)`;
- PumpSwap buy: `buy(base_amount_out, max_quote_amount_in)` with the tokens `amount` buys
  and the exact cost raised by the slippage (pump-swap-sdk's rule; the localnet, like the
  IDL's fallback for older pools, has no `buy_exact_quote_in`), so a buy may spend up to
  `amount * (1 + slippage)`; the unspent part comes back when the wrapped-SOL account closes;
- PumpSwap sell: `sell(base_amount_in, min_quote_amount_out)`.
"""

from __future__ import annotations

import base64
import enum
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from solders.compute_budget import set_compute_unit_limit, set_compute_unit_price
from solders.hash import Hash
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.system_program import (
    AdvanceNonceAccountParams,
    TransferParams,
    advance_nonce_account,
    transfer,
)
from solders.transaction import VersionedTransaction
from spl.token.instructions import (
    close_account,
    create_idempotent_associated_token_account,
    sync_native,
)
from spl.token.models import CloseAccountParams, SyncNativeParams

from apps.chain.programs.fees import BPS_DENOMINATOR
from apps.chain.programs.ids import TOKEN_2022_PROGRAM_ID, TOKEN_PROGRAM_ID, WSOL_MINT
from apps.chain.programs.pump import accounts as pump_accounts
from apps.chain.programs.pump import curve as curve_math
from apps.chain.programs.pump import instructions as pump_ix
from apps.chain.programs.pump import pdas as pump_pdas
from apps.chain.programs.pump.constants import BUYBACK_FEE_RECIPIENTS, FEE_RECIPIENTS
from apps.chain.programs.pump_amm import accounts as amm_accounts
from apps.chain.programs.pump_amm import instructions as amm_ix
from apps.chain.programs.pump_amm import pdas as amm_pdas
from apps.chain.programs.pump_amm import quotes as pool_math
from apps.chain.programs.spl import associated_token_address
from apps.chain.rpc import RpcUnavailable
from apps.chain.rpc_pool import rpc_pool
from apps.chain.tokens import unpack_mint, unpack_token_account

TOKEN_PROGRAMS = (TOKEN_PROGRAM_ID, TOKEN_2022_PROGRAM_ID)
MAX_COMPUTE_UNIT_LIMIT = 1_400_000
MAX_U64 = 2**64 - 1
# Read at "processed": a sniper quotes against the freshest state it can see.
READ_COMMITMENT = "processed"


class Side(enum.StrEnum):
    BUY = "buy"
    SELL = "sell"


class Venue(enum.StrEnum):
    CURVE = "curve"
    PUMPSWAP = "pumpswap"


class OrderBuildError(ValueError):
    """The order cannot be built as asked. `field` names the input at fault (API layers turn
    it into a 4xx naming that field); `code` is a stable machine-readable reason."""

    def __init__(self, field: str, message: str, code: str = "invalid") -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.code = code
        self.message = message


# ---- inputs ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tip:
    """An engine's tip: a system transfer of `lamports` to one of its tip accounts."""

    lamports: int
    account: Pubkey


@dataclass(frozen=True)
class DurableNonce:
    """A System-program nonce account and the value it holds now (the copies' blockhash)."""

    account: Pubkey
    value: Hash
    authority: Pubkey | None = None  # the wallet when None


def _require_int(name: str, value: Any, *, low: int, high: int = MAX_U64) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise OrderBuildError(name, "must be an integer")
    if not low <= value <= high:
        raise OrderBuildError(name, f"must be between {low} and {high}", "out_of_range")
    return value


def _require_pubkey(name: str, value: Any) -> Pubkey:
    if isinstance(value, Pubkey):
        return value
    try:
        return Pubkey.from_string(str(value))
    except ValueError:
        raise OrderBuildError(name, "is not a valid base58 public key") from None


def resolve_sell_amount(holding: int, percent_bps: int) -> int:
    """Raw tokens to sell for `percent_bps` of `holding` (10_000 = everything), rounded down;
    selling 100 % sells exactly the holding, so nothing is left as dust."""
    holding = _require_int("holding", holding, low=0)
    percent_bps = _require_int("percent_bps", percent_bps, low=1, high=BPS_DENOMINATOR)
    amount = holding * percent_bps // BPS_DENOMINATOR
    if amount == 0:
        raise OrderBuildError("amount", "the holding is empty or too small for this percentage")
    return amount


# ---- quote and plan -------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderQuote:
    """What the order expects. Amounts are raw: lamports for SOL, base units for tokens.

    `amount_in` is what the order offers (lamports for a buy, tokens for a sell),
    `expected_out` what it should receive at the quoted state, `bound` the instruction's
    slippage argument (`bound_kind` names it: min_tokens_out, max_quote_amount_in or
    min_sol_output), `price_impact_bps` how far the trade's average price is from the
    spot price before it."""

    venue: Venue
    side: Side
    amount_in: int
    expected_out: int
    bound: int
    bound_kind: str
    expected_in: int  # what the trade is quoted to cost (≤ amount_in on the curve)
    fee_lamports: int
    price_impact_bps: int
    slippage_bps: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (amounts as strings: u64 overflows JavaScript numbers)."""
        return {
            "venue": self.venue.value,
            "side": self.side.value,
            "amount_in": str(self.amount_in),
            "expected_in": str(self.expected_in),
            "expected_out": str(self.expected_out),
            "bound": str(self.bound),
            "bound_kind": self.bound_kind,
            "fee_lamports": str(self.fee_lamports),
            "price_impact_bps": self.price_impact_bps,
            "slippage_bps": self.slippage_bps,
        }


@dataclass(frozen=True)
class OrderPlan:
    """A quoted order, ready to build copies of: everything but nonce/blockhash and tip."""

    wallet: Pubkey
    mint: Pubkey
    venue: Venue
    quote: OrderQuote
    token_program: Pubkey
    compute_unit_price: int
    compute_unit_limit: int
    trade_instructions: tuple[Instruction, ...] = field(repr=False)


@dataclass(frozen=True)
class BuiltOrder:
    venue: Venue
    quote: OrderQuote
    tx_bytes: bytes
    signature: str
    tip: Tip | None
    blockhash: Hash
    nonce_account: Pubkey | None

    @property
    def tx_base64(self) -> str:
        return base64.b64encode(self.tx_bytes).decode()


@dataclass(frozen=True)
class _Accounts:
    """The raw accounts one read returns, by address (None: no such account)."""

    by_key: dict[Pubkey, tuple[Pubkey, bytes, int] | None]  # (owner, data, lamports)

    def lamports(self, key: Pubkey) -> int:
        found = self.by_key.get(key)
        return found[2] if found else 0

    def data(self, key: Pubkey) -> bytes | None:
        found = self.by_key.get(key)
        return found[1] if found else None

    def owner(self, key: Pubkey) -> Pubkey | None:
        found = self.by_key.get(key)
        return found[0] if found else None


async def _read_accounts(keys: Sequence[Pubkey]) -> _Accounts:
    answer = await rpc_pool().call(
        "getMultipleAccounts",
        [[str(k) for k in keys], {"encoding": "base64", "commitment": READ_COMMITMENT}],
    )
    values = answer["value"] if isinstance(answer, dict) else None
    if not isinstance(values, list) or len(values) != len(keys):
        raise RpcUnavailable("malformed getMultipleAccounts answer from the upstream")
    by_key: dict[Pubkey, tuple[Pubkey, bytes, int] | None] = {}
    for key, value in zip(keys, values, strict=True):
        by_key[key] = (
            (
                Pubkey.from_string(value["owner"]),
                base64.b64decode(value["data"][0]),
                int(value["lamports"]),
            )
            if value
            else None
        )
    return _Accounts(by_key)


def _impact_bps(spot_num: int, spot_den: int, paid: int, got: int) -> int:
    """|average price / spot price - 1| in bps; prices as quote per base unit."""
    if spot_num <= 0 or spot_den <= 0 or paid <= 0 or got <= 0:
        return 0
    ratio = (Decimal(paid) * spot_den) / (Decimal(got) * spot_num)
    return int(abs(ratio - 1) * BPS_DENOMINATOR)


def _real(keys: Sequence[Pubkey]) -> list[Pubkey]:
    return [k for k in keys if k != Pubkey.default()]


async def plan_order(
    *,
    wallet: Pubkey | str,
    mint: Pubkey | str,
    side: Side | str,
    amount: int,
    slippage_bps: int,
    compute_unit_price: int,
    compute_unit_limit: int,
) -> OrderPlan:
    """Validate, read the token's state, pick the venue, quote, and set the bound."""
    wallet = _require_pubkey("wallet", wallet)
    mint = _require_pubkey("mint", mint)
    try:
        side = Side(side)
    except ValueError:
        raise OrderBuildError("side", "must be 'buy' or 'sell'") from None
    amount = _require_int("amount", amount, low=1)
    slippage_bps = _require_int("slippage_bps", slippage_bps, low=0, high=BPS_DENOMINATOR)
    compute_unit_price = _require_int("compute_unit_price", compute_unit_price, low=0)
    compute_unit_limit = _require_int(
        "compute_unit_limit", compute_unit_limit, low=1, high=MAX_COMPUTE_UNIT_LIMIT
    )

    curve_key = pump_pdas.bonding_curve_pda(mint)
    pool_key = amm_pdas.canonical_pool_pda(mint, WSOL_MINT)
    # Everything either venue needs, in one round trip; the pool's vaults are guessed as the
    # associated accounts a migration creates (checked against the pool below).
    guessed_vaults = [
        associated_token_address(pool_key, mint, TOKEN_PROGRAM_ID),
        associated_token_address(pool_key, WSOL_MINT, TOKEN_PROGRAM_ID),
    ]
    keys = [
        mint,
        curve_key,
        pool_key,
        pump_pdas.global_pda(),
        pump_pdas.fee_config_pda(),
        amm_pdas.global_config_pda(),
        amm_pdas.fee_config_pda(),
        *guessed_vaults,
        wallet,
        *(associated_token_address(wallet, mint, program) for program in TOKEN_PROGRAMS),
    ]
    state = await _read_accounts(keys)

    mint_owner, mint_data = state.owner(mint), state.data(mint)
    if mint_owner is None or mint_data is None:
        raise OrderBuildError("mint", f"no account exists at {mint}", "unknown_mint")
    mint_state = unpack_mint(mint_data) if mint_owner in TOKEN_PROGRAMS else None
    if mint_state is None:
        raise OrderBuildError("mint", f"{mint} is not a token mint", "not_a_token")
    token_program = mint_owner
    # Refuse what cannot execute before anything is signed or sent (the chain would only
    # charge the fee for the failure).
    if side is Side.BUY and state.lamports(wallet) < amount:
        raise OrderBuildError(
            "amount",
            f"the wallet holds {state.lamports(wallet)} lamports, less than {amount}",
            "insufficient_sol",
        )
    if side is Side.SELL:
        holding_data = state.data(associated_token_address(wallet, mint, token_program))
        holding = unpack_token_account(holding_data) if holding_data else None
        held = holding.amount if holding else 0
        if held < amount:
            raise OrderBuildError(
                "amount",
                f"the wallet holds {held} of {mint}, less than {amount}",
                "insufficient_tokens",
            )

    common = dict(
        wallet=wallet,
        mint=mint,
        side=side,
        amount=amount,
        slippage_bps=slippage_bps,
        token_program=token_program,
    )
    pool_data = state.data(pool_key)
    if pool_data is not None and state.owner(pool_key) == amm_pdas.PUMP_AMM_PROGRAM_ID:
        quote, instructions = await _plan_pool(
            state, pool_key, pool_data, mint_supply=mint_state.supply, **common
        )
        venue = Venue.PUMPSWAP
    else:
        curve_data = state.data(curve_key)
        if curve_data is None or state.owner(curve_key) != pump_pdas.PUMP_PROGRAM_ID:
            raise OrderBuildError(
                "mint", f"{mint} has no pump.fun bonding curve or PumpSwap pool", "no_venue"
            )
        curve = pump_accounts.decode_bonding_curve(curve_data)
        if curve_math.is_complete(curve):
            raise OrderBuildError(
                "mint",
                f"{mint} completed its bonding curve and is migrating to PumpSwap; retry shortly",
                "migrating",
            )
        quote, instructions = _plan_curve(state, curve, **common)
        venue = Venue.CURVE
    return OrderPlan(
        wallet=wallet,
        mint=mint,
        venue=venue,
        quote=quote,
        token_program=token_program,
        compute_unit_price=compute_unit_price,
        compute_unit_limit=compute_unit_limit,
        trade_instructions=tuple(instructions),
    )


def _plan_curve(
    state: _Accounts,
    curve: pump_accounts.BondingCurve,
    *,
    wallet: Pubkey,
    mint: Pubkey,
    side: Side,
    amount: int,
    slippage_bps: int,
    token_program: Pubkey,
) -> tuple[OrderQuote, list[Instruction]]:
    global_data = state.data(pump_pdas.global_pda())
    if global_data is None:
        raise RpcUnavailable("pump.fun Global account not readable")
    global_ = pump_accounts.decode_global(global_data)
    fee_config_data = state.data(pump_pdas.fee_config_pda())
    fee_config = pump_accounts.decode_fee_config(fee_config_data) if fee_config_data else None
    fees = curve_math.curve_fees(global_, curve, fee_config)
    # Any listed recipient is accepted; a random one spreads write locks across trades.
    if curve.is_mayhem_mode:
        recipients = _real([global_.reserved_fee_recipient, *global_.reserved_fee_recipients])
    else:
        recipients = _real([global_.fee_recipient, *global_.fee_recipients])
    fee_recipient = random.choice(recipients or list(FEE_RECIPIENTS))
    buyback = random.choice(_real(global_.buyback_fee_recipients) or list(BUYBACK_FEE_RECIPIENTS))
    accounts = dict(
        user=wallet,
        mint=mint,
        creator=curve.creator,
        fee_recipient=fee_recipient,
        buyback_fee_recipient=buyback,
        token_program=token_program,
    )
    spot = (curve.virtual_quote_reserves, curve.virtual_token_reserves)
    if side is Side.BUY:
        bought = curve_math.quote_buy_sol_in(curve, amount, fees)
        if bought.tokens_out == 0:
            raise OrderBuildError("amount", "too small to buy any token", "amount_too_small")
        bound = curve_math.with_slippage_min(bought.tokens_out, slippage_bps)
        instructions = [
            create_idempotent_associated_token_account(wallet, wallet, mint, token_program),
            pump_ix.buy_exact_sol_in(
                spendable_sol_in=amount, min_tokens_out=max(bound, 1), **accounts
            ),
        ]
        quote = OrderQuote(
            venue=Venue.CURVE,
            side=side,
            amount_in=amount,
            expected_in=bought.total_sol,
            expected_out=bought.tokens_out,
            bound=max(bound, 1),
            bound_kind="min_tokens_out",
            fee_lamports=bought.protocol_fee + bought.creator_fee,
            price_impact_bps=_impact_bps(*spot, bought.sol_cost, bought.tokens_out),
            slippage_bps=slippage_bps,
        )
        return quote, instructions
    sold = curve_math.quote_sell(curve, amount, fees)
    if sold.sol_received == 0:
        raise OrderBuildError("amount", "too small to receive any SOL", "amount_too_small")
    bound = curve_math.with_slippage_min(sold.sol_received, slippage_bps)
    instructions = [
        pump_ix.sell(
            amount=amount,
            min_sol_output=bound,
            cashback_coin=curve.is_cashback_coin,
            **accounts,
        )
    ]
    quote = OrderQuote(
        venue=Venue.CURVE,
        side=side,
        amount_in=amount,
        expected_in=amount,
        expected_out=sold.sol_received,
        bound=bound,
        bound_kind="min_sol_output",
        fee_lamports=sold.protocol_fee + sold.creator_fee,
        price_impact_bps=_impact_bps(*spot, sold.sol_out, amount),
        slippage_bps=slippage_bps,
    )
    return quote, instructions


async def _plan_pool(
    state: _Accounts,
    pool_key: Pubkey,
    pool_data: bytes,
    *,
    mint_supply: int,
    wallet: Pubkey,
    mint: Pubkey,
    side: Side,
    amount: int,
    slippage_bps: int,
    token_program: Pubkey,
) -> tuple[OrderQuote, list[Instruction]]:
    pool = amm_accounts.decode_pool(pool_data)
    if pool.quote_mint != WSOL_MINT:
        raise OrderBuildError("mint", f"{mint} trades against {pool.quote_mint}, not SOL")
    vaults = [pool.pool_base_token_account, pool.pool_quote_token_account]
    if any(v not in state.by_key for v in vaults):  # not where a migration puts them
        state = await _read_accounts(vaults)
    balances = []
    for vault in vaults:
        data = state.data(vault)
        unpacked = unpack_token_account(data) if data else None
        if unpacked is None:
            raise RpcUnavailable(f"PumpSwap pool vault {vault} not readable")
        balances.append(unpacked.amount)
    config_data = state.data(amm_pdas.global_config_pda())
    if config_data is None:
        raise RpcUnavailable("PumpSwap GlobalConfig account not readable")
    config = amm_accounts.decode_global_config(config_data)
    fee_config_data = state.data(amm_pdas.fee_config_pda())
    fee_config = amm_accounts.decode_fee_config(fee_config_data) if fee_config_data else None
    reserves = pool_math.PoolReserves.effective(pool, *balances)
    fees = pool_math.pool_fees(
        config, pool, reserves=reserves, fee_config=fee_config, base_supply=mint_supply
    )
    if pool.is_mayhem_mode:
        recipients = _real([config.reserved_fee_recipient, *config.reserved_fee_recipients])
    else:
        recipients = _real(config.protocol_fee_recipients)
    if not recipients:
        raise RpcUnavailable("PumpSwap GlobalConfig lists no protocol fee recipient")
    accounts = dict(
        pool_address=pool_key,
        pool=pool,
        user=wallet,
        protocol_fee_recipient=random.choice(recipients),
        base_token_program=token_program,
        quote_token_program=TOKEN_PROGRAM_ID,
    )
    wsol_account = associated_token_address(wallet, WSOL_MINT, TOKEN_PROGRAM_ID)
    setup = [
        create_idempotent_associated_token_account(wallet, wallet, WSOL_MINT, TOKEN_PROGRAM_ID),
    ]
    # Closing the wrapped-SOL account turns what it holds back into lamports for the wallet.
    unwrap = close_account(
        CloseAccountParams(
            program_id=TOKEN_PROGRAM_ID, account=wsol_account, dest=wallet, owner=wallet
        )
    )
    spot = (reserves.quote, reserves.base)
    if side is Side.BUY:
        budget = pool_math.quote_buy_quote_in(reserves, amount, fees)
        if budget.base_amount == 0:
            raise OrderBuildError("amount", "too small to buy any token", "amount_too_small")
        if budget.base_amount >= reserves.base:
            raise OrderBuildError("amount", "exceeds what the pool holds", "amount_too_large")
        exact = pool_math.quote_buy_base_out(reserves, budget.base_amount, fees)
        max_in = curve_math.with_slippage_max(exact.user_quote_in, slippage_bps)
        instructions = [
            create_idempotent_associated_token_account(wallet, wallet, mint, token_program),
            *setup,
            transfer(TransferParams(from_pubkey=wallet, to_pubkey=wsol_account, lamports=max_in)),
            sync_native(SyncNativeParams(program_id=TOKEN_PROGRAM_ID, account=wsol_account)),
            amm_ix.buy(base_amount_out=exact.base_amount, max_quote_amount_in=max_in, **accounts),
            unwrap,
        ]
        quote = OrderQuote(
            venue=Venue.PUMPSWAP,
            side=side,
            amount_in=amount,
            expected_in=exact.user_quote_in,
            expected_out=exact.base_amount,
            bound=max_in,
            bound_kind="max_quote_amount_in",
            fee_lamports=exact.fees,
            price_impact_bps=_impact_bps(*spot, exact.quote_amount, exact.base_amount),
            slippage_bps=slippage_bps,
        )
        return quote, instructions
    sold = pool_math.quote_sell_base_in(reserves, amount, fees)
    if sold.user_quote_out == 0:
        raise OrderBuildError("amount", "too small to receive any SOL", "amount_too_small")
    bound = curve_math.with_slippage_min(sold.user_quote_out, slippage_bps)
    instructions = [
        *setup,
        amm_ix.sell(base_amount_in=amount, min_quote_amount_out=bound, **accounts),
        unwrap,
    ]
    quote = OrderQuote(
        venue=Venue.PUMPSWAP,
        side=side,
        amount_in=amount,
        expected_in=amount,
        expected_out=sold.user_quote_out,
        bound=bound,
        bound_kind="min_quote_amount_out",
        fee_lamports=sold.fees,
        price_impact_bps=_impact_bps(*spot, sold.quote_amount, amount),
        slippage_bps=slippage_bps,
    )
    return quote, instructions


# ---- build and sign -------------------------------------------------------------------------


def build_message(
    plan: OrderPlan,
    *,
    tip: Tip | None = None,
    nonce: DurableNonce | None = None,
    recent_blockhash: Hash | None = None,
) -> MessageV0:
    """The unsigned message of one copy. Exactly one of `nonce` (production: every copy
    advances the same nonce, so at most one copy executes) or `recent_blockhash`."""
    if (nonce is None) == (recent_blockhash is None):
        raise OrderBuildError("nonce", "give exactly one of nonce or recent_blockhash")
    instructions: list[Instruction] = []
    if nonce is not None:
        # AdvanceNonceAccount must be the first instruction of a durable-nonce transaction.
        instructions.append(
            advance_nonce_account(
                AdvanceNonceAccountParams(
                    nonce_pubkey=nonce.account, authorized_pubkey=nonce.authority or plan.wallet
                )
            )
        )
        blockhash = nonce.value
    else:
        assert recent_blockhash is not None
        blockhash = recent_blockhash
    instructions.append(set_compute_unit_limit(plan.compute_unit_limit))
    if plan.compute_unit_price:
        instructions.append(set_compute_unit_price(plan.compute_unit_price))
    instructions.extend(plan.trade_instructions)
    if tip is not None and tip.lamports:
        _require_int("tip", tip.lamports, low=0)
        instructions.append(
            transfer(
                TransferParams(
                    from_pubkey=plan.wallet, to_pubkey=tip.account, lamports=tip.lamports
                )
            )
        )
    return MessageV0.try_compile(plan.wallet, instructions, [], blockhash)


def sign_message(message: MessageV0, signer: Keypair) -> VersionedTransaction:
    if signer.pubkey() != message.account_keys[0]:
        raise OrderBuildError("wallet", "the signer is not the order's wallet")
    return VersionedTransaction(message, [signer])


def build_order(
    plan: OrderPlan,
    *,
    signer: Keypair,
    tip: Tip | None = None,
    nonce: DurableNonce | None = None,
    recent_blockhash: Hash | None = None,
) -> BuiltOrder:
    """One signed copy of `plan`."""
    message = build_message(plan, tip=tip, nonce=nonce, recent_blockhash=recent_blockhash)
    tx = sign_message(message, signer)
    return BuiltOrder(
        venue=plan.venue,
        quote=plan.quote,
        tx_bytes=bytes(tx),
        signature=str(tx.signatures[0]),
        tip=tip,
        blockhash=message.recent_blockhash,
        nonce_account=nonce.account if nonce else None,
    )


def build_copies(
    plan: OrderPlan,
    *,
    signer: Keypair,
    tips: dict[str, Tip | None],
    nonce: DurableNonce | None = None,
    recent_blockhash: Hash | None = None,
) -> dict[str, BuiltOrder]:
    """One signed copy per route (engine name → its tip; None for the untipped RPC copy)."""
    return {
        route: build_order(
            plan, signer=signer, tip=tip, nonce=nonce, recent_blockhash=recent_blockhash
        )
        for route, tip in tips.items()
    }
