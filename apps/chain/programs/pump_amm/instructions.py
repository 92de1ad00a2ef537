"""PumpSwap trade instruction builders (`buy`, `buy_exact_quote_in`, `sell`).

Accounts, flags, PDAs and argument layouts come from the IDL; callers pass the decoded `Pool`
(it names the mints, the pool's token accounts and the coin creator) and the protocol fee
recipient (one of GlobalConfig.protocol_fee_recipients).
"""

from __future__ import annotations

from collections.abc import Sequence

from solders.instruction import AccountMeta, Instruction
from solders.pubkey import Pubkey

from ..ids import TOKEN_PROGRAM_ID
from ..spl import associated_token_address
from .accounts import Pool
from .pdas import global_config_pda
from .program import PUMP_AMM


def _trade(
    name: str,
    args: dict[str, object],
    *,
    pool_address: Pubkey,
    pool: Pool,
    user: Pubkey,
    protocol_fee_recipient: Pubkey,
    base_token_program: Pubkey,
    quote_token_program: Pubkey,
    remaining_accounts: Sequence[AccountMeta],
) -> Instruction:
    """buy / buy_exact_quote_in / sell: the same accounts, only the arguments differ."""
    return PUMP_AMM.build_instruction(
        name,
        args,
        {
            "pool": pool_address,
            "user": user,
            "global_config": global_config_pda(),
            "base_mint": pool.base_mint,
            "quote_mint": pool.quote_mint,
            "user_base_token_account": associated_token_address(
                user, pool.base_mint, base_token_program
            ),
            "user_quote_token_account": associated_token_address(
                user, pool.quote_mint, quote_token_program
            ),
            "pool_base_token_account": pool.pool_base_token_account,
            "pool_quote_token_account": pool.pool_quote_token_account,
            "protocol_fee_recipient": protocol_fee_recipient,
            "base_token_program": base_token_program,
            "quote_token_program": quote_token_program,
        },
        account_fields={"pool.coin_creator": pool.coin_creator},
        remaining_accounts=remaining_accounts,
    )


def buy(
    *,
    pool_address: Pubkey,
    pool: Pool,
    user: Pubkey,
    protocol_fee_recipient: Pubkey,
    base_amount_out: int,
    max_quote_amount_in: int,
    track_volume: bool = True,
    base_token_program: Pubkey = TOKEN_PROGRAM_ID,
    quote_token_program: Pubkey = TOKEN_PROGRAM_ID,
    remaining_accounts: Sequence[AccountMeta] = (),
) -> Instruction:
    """Buy exactly `base_amount_out` base units for at most `max_quote_amount_in` (fees in)."""
    return _trade(
        "buy",
        {
            "base_amount_out": base_amount_out,
            "max_quote_amount_in": max_quote_amount_in,
            "track_volume": (track_volume,),
        },
        pool_address=pool_address,
        pool=pool,
        user=user,
        protocol_fee_recipient=protocol_fee_recipient,
        base_token_program=base_token_program,
        quote_token_program=quote_token_program,
        remaining_accounts=remaining_accounts,
    )


def buy_exact_quote_in(
    *,
    pool_address: Pubkey,
    pool: Pool,
    user: Pubkey,
    protocol_fee_recipient: Pubkey,
    spendable_quote_in: int,
    min_base_amount_out: int,
    track_volume: bool = True,
    base_token_program: Pubkey = TOKEN_PROGRAM_ID,
    quote_token_program: Pubkey = TOKEN_PROGRAM_ID,
    remaining_accounts: Sequence[AccountMeta] = (),
) -> Instruction:
    """Spend at most `spendable_quote_in` (fees in), receive >= `min_base_amount_out`."""
    return _trade(
        "buy_exact_quote_in",
        {
            "spendable_quote_in": spendable_quote_in,
            "min_base_amount_out": min_base_amount_out,
            "track_volume": (track_volume,),
        },
        pool_address=pool_address,
        pool=pool,
        user=user,
        protocol_fee_recipient=protocol_fee_recipient,
        base_token_program=base_token_program,
        quote_token_program=quote_token_program,
        remaining_accounts=remaining_accounts,
    )


def sell(
    *,
    pool_address: Pubkey,
    pool: Pool,
    user: Pubkey,
    protocol_fee_recipient: Pubkey,
    base_amount_in: int,
    min_quote_amount_out: int,
    base_token_program: Pubkey = TOKEN_PROGRAM_ID,
    quote_token_program: Pubkey = TOKEN_PROGRAM_ID,
    remaining_accounts: Sequence[AccountMeta] = (),
) -> Instruction:
    """Sell `base_amount_in` base units for at least `min_quote_amount_out` after fees."""
    return _trade(
        "sell",
        {"base_amount_in": base_amount_in, "min_quote_amount_out": min_quote_amount_out},
        pool_address=pool_address,
        pool=pool,
        user=user,
        protocol_fee_recipient=protocol_fee_recipient,
        base_token_program=base_token_program,
        quote_token_program=quote_token_program,
        remaining_accounts=remaining_accounts,
    )
