"""pump.fun program-derived addresses (seeds from the IDL's `pda.seeds`)."""

from __future__ import annotations

from functools import lru_cache

from solders.pubkey import Pubkey

from ..ids import (
    MAYHEM_PROGRAM_ID,
    METADATA_PROGRAM_ID,
    PUMP_AMM_PROGRAM_ID,
    PUMP_FEES_PROGRAM_ID,
    PUMP_PROGRAM_ID,
    TOKEN_PROGRAM_ID,
)
from ..spl import associated_token_address


def _pda(seeds: list[bytes], program: Pubkey = PUMP_PROGRAM_ID) -> Pubkey:
    return Pubkey.find_program_address(seeds, program)[0]


@lru_cache(maxsize=1)
def global_pda() -> Pubkey:
    return _pda([b"global"])


@lru_cache(maxsize=1)
def event_authority_pda() -> Pubkey:
    """Signs the emit_cpi! self-invocations that carry events."""
    return _pda([b"__event_authority"])


@lru_cache(maxsize=1)
def mint_authority_pda() -> Pubkey:
    return _pda([b"mint-authority"])


@lru_cache(maxsize=1)
def global_volume_accumulator_pda() -> Pubkey:
    return _pda([b"global_volume_accumulator"])


@lru_cache(maxsize=1)
def fee_config_pda() -> Pubkey:
    """The fees program's FeeConfig for pump: ["fee_config", pump program id] under fees."""
    return _pda([b"fee_config", bytes(PUMP_PROGRAM_ID)], PUMP_FEES_PROGRAM_ID)


@lru_cache(maxsize=65536)
def bonding_curve_pda(mint: Pubkey) -> Pubkey:
    return _pda([b"bonding-curve", bytes(mint)])


@lru_cache(maxsize=65536)
def bonding_curve_v2_pda(mint: Pubkey) -> Pubkey:
    """Extra read-only account legacy buy/sell need since the April-2026 fee-recipient upgrade.

    Not in the IDL; seeds ["bonding-curve-v2", mint] as community integrations derive them.
    """
    return _pda([b"bonding-curve-v2", bytes(mint)])


def associated_bonding_curve(
    mint: Pubkey, token_program: Pubkey = TOKEN_PROGRAM_ID, quote_mint: Pubkey | None = None
) -> Pubkey:
    """The curve's token account: the ordinary ATA of (bonding curve, mint) — or of the quote
    mint when `quote_mint` is given (v2 trades' associated_quote_bonding_curve)."""
    return associated_token_address(bonding_curve_pda(mint), quote_mint or mint, token_program)


@lru_cache(maxsize=65536)
def creator_vault_pda(creator: Pubkey) -> Pubkey:
    """Where creator fees accrue: ["creator-vault", bonding_curve.creator]."""
    return _pda([b"creator-vault", bytes(creator)])


@lru_cache(maxsize=65536)
def user_volume_accumulator_pda(user: Pubkey) -> Pubkey:
    return _pda([b"user_volume_accumulator", bytes(user)])


@lru_cache(maxsize=65536)
def sharing_config_pda(mint: Pubkey) -> Pubkey:
    """Creator-fee sharing config of a coin, under the fees program."""
    return _pda([b"sharing-config", bytes(mint)], PUMP_FEES_PROGRAM_ID)


@lru_cache(maxsize=65536)
def pool_authority_pda(mint: Pubkey) -> Pubkey:
    """Creator of the coin's canonical PumpSwap pool (index 0) after migration."""
    return _pda([b"pool-authority", bytes(mint)])


@lru_cache(maxsize=65536)
def canonical_pool_pda(mint: Pubkey, quote_mint: Pubkey) -> Pubkey:
    """The PumpSwap pool `migrate` creates: ["pool", 0u16, pool authority, mint, quote]."""
    seeds = [b"pool", (0).to_bytes(2, "little"), bytes(pool_authority_pda(mint))]
    return _pda(seeds + [bytes(mint), bytes(quote_mint)], PUMP_AMM_PROGRAM_ID)


@lru_cache(maxsize=65536)
def metadata_pda(mint: Pubkey) -> Pubkey:
    """Metaplex metadata of a legacy `create` coin."""
    return _pda([b"metadata", bytes(METADATA_PROGRAM_ID), bytes(mint)], METADATA_PROGRAM_ID)


@lru_cache(maxsize=1)
def mayhem_sol_vault_pda() -> Pubkey:
    return _pda([b"sol-vault"], MAYHEM_PROGRAM_ID)
