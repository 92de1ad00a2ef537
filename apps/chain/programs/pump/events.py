"""pump.fun Anchor events: from `Program data:` log lines and from emit_cpi! instruction data.

Trades emit their TradeEvent through a self-CPI signed by the `__event_authority` PDA (the inner
instruction carries the event); `emit!` logs it as `Program data:`. Events written by older
program versions are shorter; missing tail fields decode as zero values.
"""

from __future__ import annotations

from dataclasses import dataclass

from solders.pubkey import Pubkey

from ..anchor import OtherEvent
from ..typed import TypedEvents, register_types
from .accounts import Shareholder
from .program import PUMP

__all__ = [
    "CompleteEvent",
    "CompletePumpAmmMigrationEvent",
    "CreateEvent",
    "OtherEvent",
    "TradeEvent",
    "decode_event",
    "decode_event_instruction",
    "decode_log_events",
    "encode_event",
    "encode_event_instruction",
    "event_log_line",
]


@dataclass(frozen=True)
class CreateEvent:
    """A new coin and its fresh curve."""

    name: str
    symbol: str
    uri: str
    mint: Pubkey
    bonding_curve: Pubkey
    user: Pubkey
    creator: Pubkey
    timestamp: int
    virtual_token_reserves: int
    virtual_sol_reserves: int
    real_token_reserves: int
    token_total_supply: int
    token_program: Pubkey
    is_mayhem_mode: bool
    is_cashback_enabled: bool
    quote_mint: Pubkey
    virtual_quote_reserves: int
    creator_fee_bps: int
    is_holder_reward: bool


@dataclass(frozen=True)
class TradeEvent:
    """A buy or sell on a curve; reserves are the values after the trade.

    ix_name is the instruction that traded: "buy", "sell", "buy_exact_sol_in", ...
    """

    mint: Pubkey
    sol_amount: int
    token_amount: int
    is_buy: bool
    user: Pubkey
    timestamp: int
    virtual_sol_reserves: int
    virtual_token_reserves: int
    real_sol_reserves: int
    real_token_reserves: int
    fee_recipient: Pubkey
    fee_basis_points: int
    fee: int
    creator: Pubkey
    creator_fee_basis_points: int
    creator_fee: int
    track_volume: bool
    total_unclaimed_tokens: int
    total_claimed_tokens: int
    current_sol_volume: int
    last_update_timestamp: int
    ix_name: str
    mayhem_mode: bool
    cashback_fee_basis_points: int
    cashback: int
    buyback_fee_basis_points: int
    buyback_fee: int
    shareholders: tuple[Shareholder, ...]
    quote_mint: Pubkey
    quote_amount: int
    virtual_quote_reserves: int
    real_quote_reserves: int
    holder_rewards_bps: int
    holder_rewards: int


@dataclass(frozen=True)
class CompleteEvent:
    """The curve sold its last token (real_token_reserves == 0)."""

    user: Pubkey
    mint: Pubkey
    bonding_curve: Pubkey
    timestamp: int
    quote_mint: Pubkey


@dataclass(frozen=True)
class CompletePumpAmmMigrationEvent:
    """Liquidity moved to the canonical PumpSwap pool."""

    user: Pubkey
    mint: Pubkey
    mint_amount: int
    sol_amount: int
    pool_migration_fee: int
    bonding_curve: Pubkey
    timestamp: int
    pool: Pubkey
    quote_mint: Pubkey


EVENT_TYPES = (CreateEvent, TradeEvent, CompleteEvent, CompletePumpAmmMigrationEvent)
register_types(PUMP, *EVENT_TYPES)

# The module-level API is the shared typed plumbing bound to this program.
_EVENTS = TypedEvents(PUMP)
decode_event = _EVENTS.decode_event
decode_event_instruction = _EVENTS.decode_event_instruction
decode_log_events = _EVENTS.decode_log_events
encode_event = _EVENTS.encode_event
encode_event_instruction = _EVENTS.encode_event_instruction
event_log_line = _EVENTS.event_log_line
