"""PumpSwap Anchor events (BuyEvent, SellEvent, CreatePoolEvent, ...), from logs or emit_cpi!."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from solders.pubkey import Pubkey

from ..anchor import OtherEvent, event_value
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
for _cls in EVENT_TYPES:
    PUMP_AMM.register(_cls.__name__, _cls)


def _name(event: Any) -> str:
    return event.name if isinstance(event, OtherEvent) else type(event).__name__


def _fields(event: Any) -> Any:
    return event.fields if isinstance(event, OtherEvent) else event


def decode_event(data: bytes) -> Any | None:
    found = PUMP_AMM.decode_event(data)
    return None if found is None else event_value(*found)


def decode_event_instruction(data: bytes) -> Any | None:
    found = PUMP_AMM.decode_event_instruction(data)
    return None if found is None else event_value(*found)


def decode_log_events(logs: Sequence[str]) -> list[Any]:
    return [event_value(n, v) for n, v in PUMP_AMM.decode_log_events(logs)]


def encode_event(event: Any) -> bytes:
    return PUMP_AMM.encode_event(_name(event), _fields(event))


def encode_event_instruction(event: Any) -> bytes:
    return PUMP_AMM.encode_event_instruction(_name(event), _fields(event))


def event_log_line(event: Any) -> str:
    return PUMP_AMM.event_log_line(_name(event), _fields(event))
