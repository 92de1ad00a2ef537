"""pump.fun instruction builders (solders `Instruction`s) for the trade and create paths.

Account lists, signer/writable flags, PDAs and argument layouts all come from the IDL through
`AnchorProgram.build_instruction`; these functions only name the inputs a caller must know
(user, mint, creator, fee recipients, amounts) and fill the accounts the IDL leaves free
(users' associated token accounts).

Which to use: `buy_v2` / `sell_v2` / `buy_exact_quote_in_v2` have a fixed account list that the
IDL fully describes, for SOL- and non-SOL-paired coins alike. The legacy `buy` / `sell` /
`buy_exact_sol_in` need two remaining accounts the IDL does not list (see `_legacy_tail`).
"""

from __future__ import annotations

from solders.instruction import AccountMeta, Instruction
from solders.pubkey import Pubkey

from ..ids import (
    PUMP_AMM_PROGRAM_ID,
    PUMP_PROGRAM_ID,
    TOKEN_2022_PROGRAM_ID,
    TOKEN_PROGRAM_ID,
    WSOL_MINT,
)
from ..spl import associated_token_address
from .pdas import (
    bonding_curve_pda,
    bonding_curve_v2_pda,
    canonical_pool_pda,
    mayhem_sol_vault_pda,
    pool_authority_pda,
    user_volume_accumulator_pda,
)
from .program import PUMP

MAX_NAME_BYTES = 32  # Metaplex limits; the program rejects longer strings
MAX_SYMBOL_BYTES = 10
MAX_URI_BYTES = 200


def _legacy_tail(
    mint: Pubkey, buyback_fee_recipient: Pubkey, *, cashback_user: Pubkey | None = None
) -> list[AccountMeta]:
    """Remaining accounts of legacy buy/sell since the April-2026 upgrade (BREAKING_FEE_RECIPIENT):
    [bonding_curve_v2 (read), buyback_fee_recipient (write)]; cashback-coin sells put the user's
    volume accumulator (write) first, as the IDL's `sell` docs describe."""
    tail = []
    if cashback_user is not None:
        tail.append(AccountMeta(user_volume_accumulator_pda(cashback_user), False, True))
    tail.append(AccountMeta(bonding_curve_v2_pda(mint), False, False))
    tail.append(AccountMeta(buyback_fee_recipient, False, True))
    return tail


def _legacy_trade(
    name: str,
    args: dict[str, object],
    *,
    user: Pubkey,
    mint: Pubkey,
    creator: Pubkey,
    fee_recipient: Pubkey,
    buyback_fee_recipient: Pubkey,
    token_program: Pubkey,
    cashback_user: Pubkey | None = None,
) -> Instruction:
    """buy / buy_exact_sol_in / sell: the same accounts, only the arguments differ.
    `creator` is the curve's `creator` (it seeds the creator vault)."""
    return PUMP.build_instruction(
        name,
        args,
        {
            "user": user,
            "mint": mint,
            "fee_recipient": fee_recipient,
            "token_program": token_program,
            "associated_user": associated_token_address(user, mint, token_program),
        },
        account_fields={"bonding_curve.creator": creator},
        remaining_accounts=_legacy_tail(mint, buyback_fee_recipient, cashback_user=cashback_user),
    )


def buy(
    *,
    user: Pubkey,
    mint: Pubkey,
    creator: Pubkey,
    fee_recipient: Pubkey,
    buyback_fee_recipient: Pubkey,
    amount: int,
    max_sol_cost: int,
    track_volume: bool = True,
    token_program: Pubkey = TOKEN_PROGRAM_ID,
) -> Instruction:
    """Legacy buy of exactly `amount` token units paying at most `max_sol_cost` lamports (fees
    included). `creator` is the curve's `creator` (it seeds the creator vault)."""
    return _legacy_trade(
        "buy",
        {"amount": amount, "max_sol_cost": max_sol_cost, "track_volume": (track_volume,)},
        user=user,
        mint=mint,
        creator=creator,
        fee_recipient=fee_recipient,
        buyback_fee_recipient=buyback_fee_recipient,
        token_program=token_program,
    )


def buy_exact_sol_in(
    *,
    user: Pubkey,
    mint: Pubkey,
    creator: Pubkey,
    fee_recipient: Pubkey,
    buyback_fee_recipient: Pubkey,
    spendable_sol_in: int,
    min_tokens_out: int,
    track_volume: bool = True,
    token_program: Pubkey = TOKEN_PROGRAM_ID,
) -> Instruction:
    """Spend at most `spendable_sol_in` lamports (fees included), receive >= `min_tokens_out`."""
    return _legacy_trade(
        "buy_exact_sol_in",
        {
            "spendable_sol_in": spendable_sol_in,
            "min_tokens_out": min_tokens_out,
            "track_volume": (track_volume,),
        },
        user=user,
        mint=mint,
        creator=creator,
        fee_recipient=fee_recipient,
        buyback_fee_recipient=buyback_fee_recipient,
        token_program=token_program,
    )


def sell(
    *,
    user: Pubkey,
    mint: Pubkey,
    creator: Pubkey,
    fee_recipient: Pubkey,
    buyback_fee_recipient: Pubkey,
    amount: int,
    min_sol_output: int,
    token_program: Pubkey = TOKEN_PROGRAM_ID,
    cashback_coin: bool = False,
) -> Instruction:
    """Legacy sell of `amount` token units for at least `min_sol_output` lamports after fees."""
    return _legacy_trade(
        "sell",
        {"amount": amount, "min_sol_output": min_sol_output},
        user=user,
        mint=mint,
        creator=creator,
        fee_recipient=fee_recipient,
        buyback_fee_recipient=buyback_fee_recipient,
        token_program=token_program,
        cashback_user=user if cashback_coin else None,
    )


def _v2_trade(
    name: str,
    args: dict[str, object],
    *,
    user: Pubkey,
    base_mint: Pubkey,
    creator: Pubkey,
    fee_recipient: Pubkey,
    buyback_fee_recipient: Pubkey,
    base_token_program: Pubkey,
    quote_mint: Pubkey,
    quote_token_program: Pubkey,
) -> Instruction:
    """buy_v2 / buy_exact_quote_in_v2 / sell_v2: the same accounts, only the arguments differ."""
    return PUMP.build_instruction(
        name,
        args,
        {
            "user": user,
            "base_mint": base_mint,
            "quote_mint": quote_mint,
            "base_token_program": base_token_program,
            "quote_token_program": quote_token_program,
            "fee_recipient": fee_recipient,
            "buyback_fee_recipient": buyback_fee_recipient,
            "associated_base_user": associated_token_address(user, base_mint, base_token_program),
            "associated_quote_user": associated_token_address(
                user, quote_mint, quote_token_program
            ),
        },
        account_fields={"bonding_curve.creator": creator},
    )


def buy_v2(
    *,
    user: Pubkey,
    base_mint: Pubkey,
    creator: Pubkey,
    fee_recipient: Pubkey,
    buyback_fee_recipient: Pubkey,
    amount: int,
    max_sol_cost: int,
    base_token_program: Pubkey = TOKEN_PROGRAM_ID,
    quote_mint: Pubkey = WSOL_MINT,
    quote_token_program: Pubkey = TOKEN_PROGRAM_ID,
) -> Instruction:
    """Buy exactly `amount` base units paying at most `max_sol_cost` quote units (fees included).
    For SOL-paired coins the quote mint is wrapped SOL but native lamports move."""
    return _v2_trade(
        "buy_v2",
        {"amount": amount, "max_sol_cost": max_sol_cost},
        user=user,
        base_mint=base_mint,
        creator=creator,
        fee_recipient=fee_recipient,
        buyback_fee_recipient=buyback_fee_recipient,
        base_token_program=base_token_program,
        quote_mint=quote_mint,
        quote_token_program=quote_token_program,
    )


def buy_exact_quote_in_v2(
    *,
    user: Pubkey,
    base_mint: Pubkey,
    creator: Pubkey,
    fee_recipient: Pubkey,
    buyback_fee_recipient: Pubkey,
    spendable_quote_in: int,
    min_tokens_out: int,
    base_token_program: Pubkey = TOKEN_PROGRAM_ID,
    quote_mint: Pubkey = WSOL_MINT,
    quote_token_program: Pubkey = TOKEN_PROGRAM_ID,
) -> Instruction:
    """Spend at most `spendable_quote_in` quote units (fees included), get >= `min_tokens_out`."""
    return _v2_trade(
        "buy_exact_quote_in_v2",
        {"spendable_quote_in": spendable_quote_in, "min_tokens_out": min_tokens_out},
        user=user,
        base_mint=base_mint,
        creator=creator,
        fee_recipient=fee_recipient,
        buyback_fee_recipient=buyback_fee_recipient,
        base_token_program=base_token_program,
        quote_mint=quote_mint,
        quote_token_program=quote_token_program,
    )


def sell_v2(
    *,
    user: Pubkey,
    base_mint: Pubkey,
    creator: Pubkey,
    fee_recipient: Pubkey,
    buyback_fee_recipient: Pubkey,
    amount: int,
    min_sol_output: int,
    base_token_program: Pubkey = TOKEN_PROGRAM_ID,
    quote_mint: Pubkey = WSOL_MINT,
    quote_token_program: Pubkey = TOKEN_PROGRAM_ID,
) -> Instruction:
    """Sell `amount` base units for at least `min_sol_output` quote units after fees."""
    return _v2_trade(
        "sell_v2",
        {"amount": amount, "min_sol_output": min_sol_output},
        user=user,
        base_mint=base_mint,
        creator=creator,
        fee_recipient=fee_recipient,
        buyback_fee_recipient=buyback_fee_recipient,
        base_token_program=base_token_program,
        quote_mint=quote_mint,
        quote_token_program=quote_token_program,
    )


def _check_metadata(name: str, symbol: str, uri: str) -> None:
    for label, value, limit in (
        ("name", name, MAX_NAME_BYTES),
        ("symbol", symbol, MAX_SYMBOL_BYTES),
        ("uri", uri, MAX_URI_BYTES),
    ):
        if len(value.encode()) > limit:
            raise ValueError(f"{label} is longer than {limit} bytes")


def create(
    *, mint: Pubkey, user: Pubkey, creator: Pubkey, name: str, symbol: str, uri: str
) -> Instruction:
    """Legacy create: SPL-Token mint with Metaplex metadata. `mint` and `user` sign."""
    _check_metadata(name, symbol, uri)
    return PUMP.build_instruction(
        "create",
        {"name": name, "symbol": symbol, "uri": uri, "creator": creator},
        {"mint": mint, "user": user, "program": PUMP_PROGRAM_ID},
    )


def create_v2(
    *,
    mint: Pubkey,
    user: Pubkey,
    creator: Pubkey,
    name: str,
    symbol: str,
    uri: str,
    is_mayhem_mode: bool = False,
    is_cashback_enabled: bool = False,
    creator_fee_bps: int = 0,
    is_holder_reward: bool = False,
    mayhem_token_vault: Pubkey | None = None,
) -> Instruction:
    """Token-2022 create. `mayhem_token_vault` defaults to the mayhem sol vault's Token-2022 ATA
    of the mint (not given by the IDL; pass it explicitly if the mayhem program says otherwise)."""
    _check_metadata(name, symbol, uri)
    vault = mayhem_token_vault or associated_token_address(
        mayhem_sol_vault_pda(), mint, TOKEN_2022_PROGRAM_ID
    )
    return PUMP.build_instruction(
        "create_v2",
        {
            "name": name,
            "symbol": symbol,
            "uri": uri,
            "creator": creator,
            "is_mayhem_mode": is_mayhem_mode,
            "is_cashback_enabled": (is_cashback_enabled,),
            "creator_fee_bps": (creator_fee_bps,),
            "is_holder_reward": (is_holder_reward,),
        },
        {"mint": mint, "user": user, "program": PUMP_PROGRAM_ID, "mayhem_token_vault": vault},
    )


def migrate(*, user: Pubkey, mint: Pubkey, withdraw_authority: Pubkey) -> Instruction:
    """Move a complete curve's liquidity into its canonical PumpSwap pool (permissionless).

    The token accounts are named explicitly as the associated token accounts they are: the
    IDL's seeds for some of them do not spell out the token program.
    """
    pool_authority = pool_authority_pda(mint)
    pool = canonical_pool_pda(mint, WSOL_MINT)
    lp_mint = Pubkey.find_program_address([b"pool_lp_mint", bytes(pool)], PUMP_AMM_PROGRAM_ID)[0]
    return PUMP.build_instruction(
        "migrate",
        {},
        {
            "user": user,
            "mint": mint,
            "withdraw_authority": withdraw_authority,
            "associated_bonding_curve": associated_token_address(bonding_curve_pda(mint), mint),
            "pool_authority_mint_account": associated_token_address(pool_authority, mint),
            "pool_authority_wsol_account": associated_token_address(pool_authority, WSOL_MINT),
            "pool_base_token_account": associated_token_address(pool, mint),
            "pool_quote_token_account": associated_token_address(pool, WSOL_MINT),
            "user_pool_token_account": associated_token_address(
                pool_authority, lp_mint, TOKEN_2022_PROGRAM_ID
            ),
        },
    )
