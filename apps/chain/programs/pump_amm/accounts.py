"""PumpSwap accounts: `Pool` and `GlobalConfig`, typed views of the IDL structs.

Pools are reallocated larger than their IDL size (300+ bytes, zero padded) and older pools are
shorter; decoding accepts both, and `encode_account(..., size=len(original))` keeps the length.
"""

from __future__ import annotations

from dataclasses import dataclass

from solders.pubkey import Pubkey

from ..fees import FeeConfig
from ..typed import TypedAccounts, register_types
from .program import PUMP_AMM

__all__ = [
    "FeeConfig",
    "GlobalConfig",
    "Pool",
    "decode_account",
    "decode_fee_config",
    "decode_global_config",
    "decode_pool",
    "encode_account",
]


@dataclass(frozen=True)
class Pool:
    """A PumpSwap pool. Reserves are the balances of its token accounts, with virtual_quote_reserves
    (signed) added to the quote side: effective quote = vault balance + virtual_quote_reserves."""

    pool_bump: int
    index: int
    creator: Pubkey
    base_mint: Pubkey
    quote_mint: Pubkey
    lp_mint: Pubkey
    pool_base_token_account: Pubkey
    pool_quote_token_account: Pubkey
    lp_supply: int
    coin_creator: Pubkey
    is_mayhem_mode: bool
    is_cashback_coin: bool
    virtual_quote_reserves: int
    creator_fee_bps: int
    can_edit_creator_fee: bool
    is_holder_reward: bool

    @property
    def has_coin_creator(self) -> bool:
        return self.coin_creator != Pubkey.default()


@dataclass(frozen=True)
class GlobalConfig:
    """AMM-wide settings and fee rates (PDA ["global_config"])."""

    admin: Pubkey
    lp_fee_basis_points: int
    protocol_fee_basis_points: int
    disable_flags: int
    protocol_fee_recipients: tuple[Pubkey, ...]
    coin_creator_fee_basis_points: int
    admin_set_coin_creator_authority: Pubkey
    whitelist_pda: Pubkey
    reserved_fee_recipient: Pubkey
    mayhem_mode_enabled: bool
    reserved_fee_recipients: tuple[Pubkey, ...]
    is_cashback_enabled: bool
    buyback_fee_recipients: tuple[Pubkey, ...]
    buyback_basis_points: int
    boost_authority: Pubkey
    boost_enabled: bool
    creator_fee_configurable: bool
    max_configurable_creator_fee_bps: int


register_types(PUMP_AMM, Pool, GlobalConfig)

_ACCOUNTS = TypedAccounts(PUMP_AMM)
decode_account = _ACCOUNTS.decode_account
encode_account = _ACCOUNTS.encode_account


def decode_pool(data: bytes) -> Pool:
    return _ACCOUNTS.decode_as(Pool, data)


def decode_global_config(data: bytes) -> GlobalConfig:
    return _ACCOUNTS.decode_as(GlobalConfig, data)


def decode_fee_config(data: bytes) -> FeeConfig:
    """The fees program's FeeConfig for PumpSwap (PDA ["fee_config", amm program id])."""
    return PUMP_AMM.decode_account(data, "FeeConfig")
