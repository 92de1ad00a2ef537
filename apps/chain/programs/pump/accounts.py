"""pump.fun accounts: typed views of the IDL structs, decoded and encoded in the real layout.

Field names are the IDL's (the program renamed `virtual_sol_reserves` to `virtual_quote_reserves`;
for SOL-paired coins the quote is lamports). Accounts written by older program versions are
shorter: the missing tail decodes as zero values (e.g. a 49-byte curve has no creator). Pass
`size=len(original)` when encoding to keep an account's on-chain length.
"""

from __future__ import annotations

from dataclasses import dataclass

from solders.pubkey import Pubkey

from ..fees import FeeConfig
from ..typed import TypedAccounts, register_types
from .program import PUMP, PUMP_FEES

__all__ = [
    "BondingCurve",
    "FeeConfig",
    "Global",
    "GlobalVolumeAccumulator",
    "Shareholder",
    "UserVolumeAccumulator",
    "decode_account",
    "decode_bonding_curve",
    "decode_fee_config",
    "decode_global",
    "encode_account",
]


@dataclass(frozen=True)
class Global:
    """Program-wide settings (PDA ["global"])."""

    initialized: bool
    authority: Pubkey
    fee_recipient: Pubkey
    initial_virtual_token_reserves: int
    initial_virtual_sol_reserves: int
    initial_real_token_reserves: int
    token_total_supply: int
    fee_basis_points: int
    withdraw_authority: Pubkey
    enable_migrate: bool
    pool_migration_fee: int
    creator_fee_basis_points: int
    fee_recipients: tuple[Pubkey, ...]
    set_creator_authority: Pubkey
    admin_set_creator_authority: Pubkey
    create_v2_enabled: bool
    whitelist_pda: Pubkey
    reserved_fee_recipient: Pubkey
    mayhem_mode_enabled: bool
    reserved_fee_recipients: tuple[Pubkey, ...]
    is_cashback_enabled: bool
    buyback_fee_recipients: tuple[Pubkey, ...]
    buyback_basis_points: int
    initial_virtual_quote_reserves: int
    whitelisted_quote_mints: tuple[Pubkey, ...]
    creator_fee_configurable: bool
    max_configurable_creator_fee_bps: int
    holder_reward_claim_authority: Pubkey
    is_holder_reward_enabled: bool


@dataclass(frozen=True)
class BondingCurve:
    """The curve of one coin (PDA ["bonding-curve", mint])."""

    virtual_token_reserves: int
    virtual_quote_reserves: int
    real_token_reserves: int
    real_quote_reserves: int
    token_total_supply: int
    complete: bool
    creator: Pubkey
    is_mayhem_mode: bool
    is_cashback_coin: bool
    quote_mint: Pubkey
    creator_fee_bps: int
    can_edit_creator_fee: bool
    is_holder_reward: bool

    @property
    def has_creator(self) -> bool:
        """Curves from before creator fees have no creator and pay no creator fee."""
        return self.creator != Pubkey.default()

    @property
    def is_sol_paired(self) -> bool:
        """SOL-paired coins store the default pubkey as quote mint."""
        return self.quote_mint == Pubkey.default()


@dataclass(frozen=True)
class GlobalVolumeAccumulator:
    """Daily volume totals for token incentives (PDA ["global_volume_accumulator"])."""

    start_time: int
    end_time: int
    seconds_in_a_day: int
    mint: Pubkey
    total_token_supply: tuple[int, ...]
    sol_volumes: tuple[int, ...]


@dataclass(frozen=True)
class UserVolumeAccumulator:
    """Volume and cashback of one trader (PDA ["user_volume_accumulator", user])."""

    user: Pubkey
    needs_claim: bool
    total_unclaimed_tokens: int
    total_claimed_tokens: int
    current_sol_volume: int
    last_update_timestamp: int
    has_total_claimed_tokens: bool
    cashback_earned: int
    total_cashback_claimed: int
    stable_cashback_earned: int
    total_stable_cashback_claimed: int


@dataclass(frozen=True)
class Shareholder:
    """A creator-fee share (in SharingConfig and TradeEvent)."""

    address: Pubkey
    share_bps: int


register_types(
    PUMP, Global, BondingCurve, GlobalVolumeAccumulator, UserVolumeAccumulator, Shareholder
)
register_types(PUMP_FEES, Shareholder)

_ACCOUNTS = TypedAccounts(PUMP)
decode_account = _ACCOUNTS.decode_account
encode_account = _ACCOUNTS.encode_account


def decode_global(data: bytes) -> Global:
    return _ACCOUNTS.decode_as(Global, data)


def decode_bonding_curve(data: bytes) -> BondingCurve:
    """A bonding curve; legacy 49/81/115-byte accounts decode with zeroed newer fields."""
    return _ACCOUNTS.decode_as(BondingCurve, data)


def decode_fee_config(data: bytes) -> FeeConfig:
    """The fees program's FeeConfig for pump (PDA ["fee_config", pump program id])."""
    return PUMP_FEES.decode_account(data, "FeeConfig")
