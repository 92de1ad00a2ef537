"""SPL token program ids (defined in `ids`) and associated token account (ATA) addresses."""

from __future__ import annotations

from functools import lru_cache

from solders.pubkey import Pubkey

from .ids import (  # re-exported: callers know these as spl.*
    ASSOCIATED_TOKEN_PROGRAM_ID,
    METADATA_PROGRAM_ID,
    RENT_SYSVAR_ID,
    SYSTEM_PROGRAM_ID,
    TOKEN_2022_PROGRAM_ID,
    TOKEN_PROGRAM_ID,
    WSOL_MINT,
)

__all__ = [
    "ASSOCIATED_TOKEN_PROGRAM_ID",
    "METADATA_PROGRAM_ID",
    "RENT_SYSVAR_ID",
    "SYSTEM_PROGRAM_ID",
    "TOKEN_2022_PROGRAM_ID",
    "TOKEN_PROGRAM_ID",
    "WSOL_MINT",
    "associated_token_address",
]


@lru_cache(maxsize=65536)
def associated_token_address(
    owner: Pubkey, mint: Pubkey, token_program: Pubkey = TOKEN_PROGRAM_ID
) -> Pubkey:
    """The ATA PDA: seeds [owner, token_program, mint] under the associated token program."""
    return Pubkey.find_program_address(
        [bytes(owner), bytes(token_program), bytes(mint)], ASSOCIATED_TOKEN_PROGRAM_ID
    )[0]
