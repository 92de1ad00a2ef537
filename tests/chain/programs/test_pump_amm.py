"""PumpSwap: golden bytes for Pool (i128), GlobalConfig, events and trade instructions; quotes."""

from __future__ import annotations

import dataclasses

import pytest
from solders.pubkey import Pubkey

from apps.chain.programs.fees import FeeConfig, Fees, FeeTier
from apps.chain.programs.pump.pdas import canonical_pool_pda as pump_canonical_pool
from apps.chain.programs.pump_amm import accounts, events, instructions, pdas, quotes
from apps.chain.programs.pump_amm.constants import GLOBAL_CONFIG_ADDRESS, PUMP_AMM_PROGRAM_ID
from apps.chain.programs.pump_amm.program import PUMP_AMM
from apps.chain.programs.spl import (
    ASSOCIATED_TOKEN_PROGRAM_ID,
    SYSTEM_PROGRAM_ID,
    TOKEN_2022_PROGRAM_ID,
    TOKEN_PROGRAM_ID,
    WSOL_MINT,
)

from .golden import ata, boolean, disc, i64, i128, keys, pda, pk, string, u8, u16, u64

A = PUMP_AMM_PROGRAM_ID
PUMP = Pubkey.from_string("6EF8rrecthR5Dkzon8Nwu78hRvfCKubJ14M5uBEwF6P")
FEES_PROGRAM = Pubkey.from_string("pfeeUxB6jkeY1Hxd7CsFCAjcbHA9rWtchMGdZ6VojVZ")


@pytest.mark.parametrize(
    "cls",
    [accounts.Pool, accounts.GlobalConfig, events.BuyEvent, events.SellEvent,
     events.CreatePoolEvent],
)  # fmt: skip
def test_dataclass_fields_are_the_idl_fields_in_order(cls: type) -> None:
    assert [f.name for f in dataclasses.fields(cls)] == PUMP_AMM.struct_fields(cls.__name__)


def test_pdas_match_known_addresses() -> None:
    assert pdas.global_config_pda() == GLOBAL_CONFIG_ADDRESS  # facts sheet §5.1
    # Community-known PumpSwap event authority.
    assert str(pdas.event_authority_pda()) == "GS4CU59F31iL7aR2Q8zVS8DRrcRnXX1yjQ66TqNVQnaR"
    assert pdas.fee_config_pda() == pda([b"fee_config", pk(A)], FEES_PROGRAM)
    mint = Pubkey.new_unique()
    authority = pda([b"pool-authority", pk(mint)], PUMP)
    expected = pda([b"pool", u16(0), pk(authority), pk(mint), pk(WSOL_MINT)], A)
    assert pdas.canonical_pool_pda(mint, WSOL_MINT) == expected
    assert pump_canonical_pool(mint, WSOL_MINT) == expected


def _pool_bytes(keys8: list[Pubkey], virtual_quote: int) -> bytes:
    creator, base, quote, lp, pool_base, pool_quote, coin_creator = keys8[:7]
    return (
        disc("account", "Pool") + u8(254) + u16(0) + pk(creator) + pk(base) + pk(quote) + pk(lp)
        + pk(pool_base) + pk(pool_quote) + u64(4_000_000_000) + pk(coin_creator)
        + boolean(False) + boolean(True) + i128(virtual_quote) + u64(30) + boolean(False)
        + boolean(True)
    )  # fmt: skip


def test_pool_golden_bytes_with_negative_i128_and_padding() -> None:
    ks = keys(7)
    golden = _pool_bytes(ks, -30_000_000)  # fees waiting to be swept make it negative
    pool = accounts.decode_pool(golden)
    assert pool.virtual_quote_reserves == -30_000_000
    assert pool.pool_quote_token_account == ks[5] and pool.coin_creator == ks[6]
    assert pool.is_cashback_coin and pool.is_holder_reward and pool.has_coin_creator
    assert accounts.encode_account(pool) == golden
    big = _pool_bytes(ks, 2**100)
    assert accounts.decode_pool(big).virtual_quote_reserves == 2**100
    # Live pools are reallocated to 300+ bytes with zero padding; size keeps the length.
    padded = golden + bytes(300 - len(golden))
    assert accounts.encode_account(accounts.decode_pool(padded), size=300) == padded


def test_global_config_golden_bytes() -> None:
    admin, set_creator, whitelist, reserved, boost = keys(5)
    protocol_recipients, reserved_list, buyback_list = keys(8), keys(7), keys(8)
    golden = (
        disc("account", "GlobalConfig") + pk(admin) + u64(20) + u64(5) + u8(0)
        + b"".join(map(pk, protocol_recipients)) + u64(5) + pk(set_creator) + pk(whitelist)
        + pk(reserved) + boolean(True) + b"".join(map(pk, reserved_list)) + boolean(False)
        + b"".join(map(pk, buyback_list)) + u64(10) + pk(boost) + boolean(False)
        + boolean(True) + u64(100)
    )  # fmt: skip
    config = accounts.decode_global_config(golden)
    assert (config.lp_fee_basis_points, config.protocol_fee_basis_points) == (20, 5)
    assert config.protocol_fee_recipients == tuple(protocol_recipients)
    assert config.coin_creator_fee_basis_points == 5
    assert accounts.encode_account(config) == golden


def test_sell_event_golden_bytes_with_i128() -> None:
    pool, user, uba, uqa, pfr, pfra, cc = keys(7)
    golden = (
        disc("event", "SellEvent") + i64(1_750_000_000) + u64(10**12) + u64(1) + u64(5 * 10**12)
        + u64(0) + u64(200 * 10**12) + u64(90 * 10**9) + u64(446_000_000) + u64(20)
        + u64(892_001) + u64(5) + u64(223_001) + u64(445_107_999) + u64(444_884_998)
        + pk(pool) + pk(user) + pk(uba) + pk(uqa) + pk(pfr) + pk(pfra) + pk(cc) + u64(5)
        + u64(223_001) + u64(0) + u64(0) + u64(0) + u64(0) + i128(-446_002) + boolean(False)
        + u64(10**15) + u64(0) + u64(0)
    )  # fmt: skip
    event = events.decode_event(golden)
    assert isinstance(event, events.SellEvent)
    assert event.virtual_quote_reserves == -446_002 and event.coin_creator == cc
    assert events.encode_event(event) == golden
    assert events.decode_event_instruction(bytes.fromhex("e445a52e51cb9a1d") + golden) == event


def test_buy_and_create_pool_events_round_trip_through_logs() -> None:
    buy = dataclasses.replace(
        PUMP_AMM._struct("BuyEvent").default(),
        base_amount_out=123, virtual_quote_reserves=-7, ix_name="buy_exact_quote_in",
    )  # fmt: skip
    created = dataclasses.replace(
        PUMP_AMM._struct("CreatePoolEvent").default(), index=0, base_mint_decimals=6
    )
    logs = [
        f"Program {A} invoke [1]",
        events.event_log_line(created),
        f"Program {A} invoke [2]",  # the self-CPI carrying the event
        f"Program {A} success",
        events.event_log_line(buy),
        f"Program {A} success",
    ]
    assert events.decode_log_events(logs) == [created, buy]
    data = events.encode_event(buy)
    assert data[:8] == disc("event", "BuyEvent")
    assert data.find(string("buy_exact_quote_in")) > 0


def _pool() -> tuple[Pubkey, accounts.Pool]:
    ks = keys(7)
    pool = dataclasses.replace(
        accounts.decode_pool(_pool_bytes(ks, 0)), base_mint=ks[1], quote_mint=WSOL_MINT
    )
    return Pubkey.new_unique(), pool


def test_buy_instruction_golden() -> None:
    address, pool = _pool()
    user, recipient = keys(2)
    ix = instructions.buy(
        pool_address=address, pool=pool, user=user, protocol_fee_recipient=recipient,
        base_amount_out=10**12, max_quote_amount_in=5 * 10**8, track_volume=True,
        base_token_program=TOKEN_2022_PROGRAM_ID,
    )  # fmt: skip
    assert ix.program_id == A
    assert bytes(ix.data) == disc("global", "buy") + u64(10**12) + u64(5 * 10**8) + boolean(True)
    vault_authority = pda([b"creator_vault", pk(pool.coin_creator)], A)
    expected = [
        (address, True, False),
        (user, True, True),
        (GLOBAL_CONFIG_ADDRESS, False, False),
        (pool.base_mint, False, False),
        (WSOL_MINT, False, False),
        (ata(user, pool.base_mint, TOKEN_2022_PROGRAM_ID), True, False),
        (ata(user, WSOL_MINT), True, False),
        (pool.pool_base_token_account, True, False),
        (pool.pool_quote_token_account, True, False),
        (recipient, False, False),
        (ata(recipient, WSOL_MINT), True, False),
        (TOKEN_2022_PROGRAM_ID, False, False),
        (TOKEN_PROGRAM_ID, False, False),
        (SYSTEM_PROGRAM_ID, False, False),
        (ASSOCIATED_TOKEN_PROGRAM_ID, False, False),
        (pda([b"__event_authority"], A), False, False),
        (A, False, False),
        (ata(vault_authority, WSOL_MINT), True, False),
        (vault_authority, False, False),
        (pda([b"global_volume_accumulator"], A), False, False),
        (pda([b"user_volume_accumulator", pk(user)], A), True, False),
        (pda([b"fee_config", pk(A)], FEES_PROGRAM), False, False),
        (FEES_PROGRAM, False, False),
    ]
    assert [(m.pubkey, m.is_writable, m.is_signer) for m in ix.accounts] == expected


def test_sell_and_buy_exact_quote_in_instructions() -> None:
    address, pool = _pool()
    user, recipient = keys(2)
    sell = instructions.sell(
        pool_address=address, pool=pool, user=user, protocol_fee_recipient=recipient,
        base_amount_in=7, min_quote_amount_out=3,
    )  # fmt: skip
    assert bytes(sell.data) == disc("global", "sell") + u64(7) + u64(3)
    assert len(sell.accounts) == 21
    assert sell.accounts[19].pubkey == pda([b"fee_config", pk(A)], FEES_PROGRAM)
    exact = instructions.buy_exact_quote_in(
        pool_address=address, pool=pool, user=user, protocol_fee_recipient=recipient,
        spendable_quote_in=10**9, min_base_amount_out=1, track_volume=False,
    )  # fmt: skip
    assert bytes(exact.data) == disc("global", "buy_exact_quote_in") + u64(10**9) + u64(
        1
    ) + boolean(False)


# ----- quotes -----

FEES = Fees(lp_fee_bps=20, protocol_fee_bps=5, creator_fee_bps=5)


def test_effective_reserves_add_the_signed_virtual_quote() -> None:
    _, pool = _pool()
    pool = dataclasses.replace(pool, virtual_quote_reserves=-30_000_000)
    reserves = quotes.PoolReserves.effective(pool, 206_900_000_000_000, 85_030_000_000)
    assert reserves == quotes.PoolReserves(206_900_000_000_000, 85_000_000_000)
    with pytest.raises(ValueError, match="negative"):
        quotes.PoolReserves.effective(pool, 1, 10)


def test_buy_and_sell_quotes_worked_numbers() -> None:
    reserves = quotes.PoolReserves(base=206_900_000_000_000, quote=85_000_000_000)
    buy = quotes.quote_buy_base_out(reserves, 10**12, FEES)
    num, den = 85_000_000_000 * 10**12, 206_900_000_000_000 - 10**12
    assert buy.quote_amount == -(-num // den) == 412_821_759  # ceil (floor is ...758)
    assert (buy.lp_fee, buy.protocol_fee, buy.coin_creator_fee) == (825_644, 206_411, 206_411)
    assert buy.user_quote_in == 412_821_759 + 825_644 + 206_411 + 206_411

    sell = quotes.quote_sell_base_in(reserves, 10**12, FEES)
    assert sell.quote_amount == 85_000_000_000 * 10**12 // (206_900_000_000_000 + 10**12)
    assert sell.quote_amount == 408_850_408
    assert sell.user_quote_out == 408_850_408 - 817_701 - 204_426 - 204_426

    spend = quotes.quote_buy_quote_in(reserves, 10**9, FEES)
    effective = 10**9 * 10_000 // 10_030
    assert spend.quote_amount == effective == 997_008_973
    assert spend.base_amount == 206_900_000_000_000 * effective // (85_000_000_000 + effective)
    with pytest.raises(ValueError, match="whole base reserve"):
        quotes.quote_buy_base_out(reserves, reserves.base, FEES)


def test_pool_fees_from_global_config_or_tiers() -> None:
    _, pool = _pool()
    config = dataclasses.replace(
        PUMP_AMM._struct("GlobalConfig").default(),
        lp_fee_basis_points=20, protocol_fee_basis_points=5, coin_creator_fee_basis_points=5,
    )  # fmt: skip
    assert quotes.pool_fees(config, pool) == Fees(20, 5, 5)
    no_creator = dataclasses.replace(pool, coin_creator=Pubkey.default())
    assert quotes.pool_fees(config, no_creator) == Fees(20, 5, 0)
    tiers = (FeeTier(0, Fees(2, 93, 30)), FeeTier(500 * 10**9, Fees(20, 5, 5)))
    fee_config = FeeConfig(1, Pubkey.default(), Fees(25, 5, 0), tiers, (), Fees(0, 0, 0))
    reserves = quotes.PoolReserves(206_900_000_000_000, 85_000_000_000)
    # Market cap = 85e9 * 1e15 // 2.069e14 = 410.8 SOL: the first tier.
    assert quotes.market_cap_quote(reserves, 10**15) == 410_826_486_225
    assert quotes.pool_fees(
        config, pool, reserves=reserves, fee_config=fee_config, base_supply=10**15
    ) == Fees(2, 93, 30)
