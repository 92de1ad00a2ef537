"""PumpSwap Anchor events (BuyEvent, SellEvent, CreatePoolEvent, ...), from logs or emit_cpi!."""

from __future__ import annotations

from dataclasses import dataclass

from solders.pubkey import Pubkey

from ..anchor import OtherEvent
from ..typed import TypedEvents, register_types
from .program import PUMP_AMM

__all__ = [
    "BuyEvent",
    "CreatePoolEvent",
    "OtherEvent",
    "SellEvent",
    "decode_event",
    "decode_event_instruction",
    "decode_log_events",
    "encode_event",
    "encode_event_instruction",
    "event_log_line",
]


@dataclass(frozen=True)
class BuyEvent:
    """A pool buy: reserves are the values BEFORE the trade (virtual_quote_reserves signed)."""

    timestamp: int
    base_amount_out: int
    max_quote_amount_in: int
    user_base_token_reserves: int
    user_quote_token_reserves: int
    pool_base_token_reserves: int
    pool_quote_token_reserves: int
    quote_amount_in: int
    lp_fee_basis_points: int
    lp_fee: int
    protocol_fee_basis_points: int
    protocol_fee: int
    quote_amount_in_with_lp_fee: int
    user_quote_amount_in: int
    pool: Pubkey
    user: Pubkey
    user_base_token_account: Pubkey
    user_quote_token_account: Pubkey
    protocol_fee_recipient: Pubkey
    protocol_fee_recipient_token_account: Pubkey
    coin_creator: Pubkey
    coin_creator_fee_basis_points: int
    coin_creator_fee: int
    track_volume: bool
    total_unclaimed_tokens: int
    total_claimed_tokens: int
    current_sol_volume: int
    last_update_timestamp: int
    min_base_amount_out: int
    ix_name: str
    cashback_fee_basis_points: int
    cashback: int
    buyback_fee_basis_points: int
    buyback_fee: int
    virtual_quote_reserves: int
    can_boost: bool
    base_supply: int
    holder_rewards_bps: int
    holder_rewards: int


@dataclass(frozen=True)
class SellEvent:
    """A pool sell: reserves are the values BEFORE the trade."""

    timestamp: int
    base_amount_in: int
    min_quote_amount_out: int
    user_base_token_reserves: int
    user_quote_token_reserves: int
    pool_base_token_reserves: int
    pool_quote_token_reserves: int
    quote_amount_out: int
    lp_fee_basis_points: int
    lp_fee: int
    protocol_fee_basis_points: int
    protocol_fee: int
    quote_amount_out_without_lp_fee: int
    user_quote_amount_out: int
    pool: Pubkey
    user: Pubkey
    user_base_token_account: Pubkey
    user_quote_token_account: Pubkey
    protocol_fee_recipient: Pubkey
    protocol_fee_recipient_token_account: Pubkey
    coin_creator: Pubkey
    coin_creator_fee_basis_points: int
    coin_creator_fee: int
    cashback_fee_basis_points: int
    cashback: int
    buyback_fee_basis_points: int
    buyback_fee: int
    virtual_quote_reserves: int
    can_boost: bool
    base_supply: int
    holder_rewards_bps: int
    holder_rewards: int


@dataclass(frozen=True)
class CreatePoolEvent:
    """A new pool (migrations create the canonical pool of a coin)."""

    timestamp: int
    index: int
    creator: Pubkey
    base_mint: Pubkey
    quote_mint: Pubkey
    base_mint_decimals: int
    quote_mint_decimals: int
    base_amount_in: int
    quote_amount_in: int
    pool_base_amount: int
    pool_quote_amount: int
    minimum_liquidity: int
    initial_liquidity: int
    lp_token_amount_out: int
    pool_bump: int
    pool: Pubkey
    lp_mint: Pubkey
    user_base_token_account: Pubkey
    user_quote_token_account: Pubkey
    coin_creator: Pubkey
    is_mayhem_mode: bool
    creator_fee_bps: int
    can_edit_creator_fee: bool
    is_holder_reward: bool


EVENT_TYPES = (BuyEvent, SellEvent, CreatePoolEvent)
register_types(PUMP_AMM, *EVENT_TYPES)

# The module-level API is the shared typed plumbing bound to this program.
_EVENTS = TypedEvents(PUMP_AMM)
decode_event = _EVENTS.decode_event
decode_event_instruction = _EVENTS.decode_event_instruction
decode_log_events = _EVENTS.decode_log_events
encode_event = _EVENTS.encode_event
encode_event_instruction = _EVENTS.encode_event_instruction
event_log_line = _EVENTS.event_log_line
