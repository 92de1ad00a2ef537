"""PumpSwap program-derived addresses."""

from __future__ import annotations

from functools import lru_cache

from solders.pubkey import Pubkey

from ..ids import PUMP_AMM_PROGRAM_ID, PUMP_FEES_PROGRAM_ID
from ..pump.pdas import pool_authority_pda
from .constants import CANONICAL_POOL_INDEX


def _pda(seeds: list[bytes], program: Pubkey = PUMP_AMM_PROGRAM_ID) -> Pubkey:
    return Pubkey.find_program_address(seeds, program)[0]


@lru_cache(maxsize=1)
def global_config_pda() -> Pubkey:
    return _pda([b"global_config"])


@lru_cache(maxsize=1)
def event_authority_pda() -> Pubkey:
    return _pda([b"__event_authority"])


@lru_cache(maxsize=1)
def global_volume_accumulator_pda() -> Pubkey:
    return _pda([b"global_volume_accumulator"])


@lru_cache(maxsize=1)
def fee_config_pda() -> Pubkey:
    """The fees program's FeeConfig for PumpSwap: ["fee_config", amm program id] under fees."""
    return _pda([b"fee_config", bytes(PUMP_AMM_PROGRAM_ID)], PUMP_FEES_PROGRAM_ID)


@lru_cache(maxsize=65536)
def user_volume_accumulator_pda(user: Pubkey) -> Pubkey:
    return _pda([b"user_volume_accumulator", bytes(user)])


@lru_cache(maxsize=65536)
def coin_creator_vault_authority_pda(coin_creator: Pubkey) -> Pubkey:
    """Owner of the creator-fee token account: ["creator_vault", pool.coin_creator]."""
    return _pda([b"creator_vault", bytes(coin_creator)])


@lru_cache(maxsize=65536)
def pool_pda(index: int, creator: Pubkey, base_mint: Pubkey, quote_mint: Pubkey) -> Pubkey:
    """["pool", index u16 LE, creator, base_mint, quote_mint]."""
    seeds = [b"pool", index.to_bytes(2, "little"), bytes(creator), bytes(base_mint)]
    return _pda(seeds + [bytes(quote_mint)])


def canonical_pool_pda(mint: Pubkey, quote_mint: Pubkey) -> Pubkey:
    """The pool a migrated pump coin trades in: index 0, created by the pool-authority PDA."""
    return pool_pda(CANONICAL_POOL_INDEX, pool_authority_pda(mint), mint, quote_mint)


@lru_cache(maxsize=65536)
def lp_mint_pda(pool: Pubkey) -> Pubkey:
    return _pda([b"pool_lp_mint", bytes(pool)])
