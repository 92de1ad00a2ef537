"""pump.fun Anchor events: from `Program data:` log lines and from emit_cpi! instruction data.

Trades emit their TradeEvent through a self-CPI signed by the `__event_authority` PDA (the inner
instruction carries the event); `emit!` logs it as `Program data:`. Events written by older
program versions are shorter; missing tail fields decode as zero values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from solders.pubkey import Pubkey

from ..anchor import OtherEvent, event_value
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
for _cls in EVENT_TYPES:
    PUMP.register(_cls.__name__, _cls)


def _name(event: Any) -> str:
    return event.name if isinstance(event, OtherEvent) else type(event).__name__


def _fields(event: Any) -> Any:
    return event.fields if isinstance(event, OtherEvent) else event


def decode_event(data: bytes) -> Any | None:
    """`discriminator + borsh` bytes to an event; None for bytes that are no pump event."""
    found = PUMP.decode_event(data)
    return None if found is None else event_value(*found)


def decode_event_instruction(data: bytes) -> Any | None:
    """The event inside an emit_cpi! inner instruction's data; None if it is not one."""
    found = PUMP.decode_event_instruction(data)
    return None if found is None else event_value(*found)


def decode_log_events(logs: Sequence[str]) -> list[Any]:
    """Events the pump program logged in a transaction's log messages."""
    return [event_value(n, v) for n, v in PUMP.decode_log_events(logs)]


def encode_event(event: Any) -> bytes:
    return PUMP.encode_event(_name(event), _fields(event))


def encode_event_instruction(event: Any) -> bytes:
    """Instruction data of the emit_cpi! self-invocation that carries `event`."""
    return PUMP.encode_event_instruction(_name(event), _fields(event))


def event_log_line(event: Any) -> str:
    return PUMP.event_log_line(_name(event), _fields(event))
