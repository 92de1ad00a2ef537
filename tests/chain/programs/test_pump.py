"""pump.fun: golden bytes for accounts, events and instructions; PDAs; bonding-curve math."""

from __future__ import annotations

import base64
import dataclasses
from decimal import Decimal

import pytest
from solders.hash import Hash
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey

from apps.chain.programs.anchor import EncodeError
from apps.chain.programs.fees import FeeConfig, Fees, FeeTier, select_fee_tier
from apps.chain.programs.pump import accounts, curve, events, instructions, pdas
from apps.chain.programs.pump.constants import (
    BUYBACK_FEE_RECIPIENTS,
    FEE_RECIPIENTS,
    GLOBAL_ADDRESS,
    PUMP_FEES_PROGRAM_ID,
    PUMP_PROGRAM_ID,
)
from apps.chain.programs.pump.program import PUMP, PUMP_FEES
from apps.chain.programs.spl import (
    SYSTEM_PROGRAM_ID,
    TOKEN_2022_PROGRAM_ID,
    TOKEN_PROGRAM_ID,
    WSOL_MINT,
)

from .golden import ata, boolean, disc, i64, keys, pda, pk, string, u16, u64, u128, vec

P = PUMP_PROGRAM_ID


# ----- typed views follow the IDL -----


@pytest.mark.parametrize(
    "cls",
    [accounts.Global, accounts.BondingCurve, accounts.GlobalVolumeAccumulator,
     accounts.UserVolumeAccumulator, accounts.Shareholder, events.CreateEvent, events.TradeEvent,
     events.CompleteEvent, events.CompletePumpAmmMigrationEvent, FeeConfig, FeeTier, Fees],
)  # fmt: skip
def test_dataclass_fields_are_the_idl_fields_in_order(cls: type) -> None:
    names = [f.name for f in dataclasses.fields(cls)]
    assert names == PUMP.struct_fields(cls.__name__)


# ----- PDAs against known mainnet addresses -----


def test_pdas_match_known_mainnet_addresses() -> None:
    assert pdas.global_pda() == GLOBAL_ADDRESS  # facts sheet §5.1
    # Community-known addresses (seen in many integrations, not in the official docs):
    assert str(pdas.event_authority_pda()) == "Ce6TQqeHC9p8KetsN6JsjHK7UTZk7nasjjnr7XxXp9F1"
    assert str(pdas.fee_config_pda()) == "8Wf5TiAheLUqBrKXeYg2JtAFFMWtKdG2BSFgqUcPVwTt"
    assert (
        str(pdas.global_volume_accumulator_pda()) == "Hq2wp8uJ9jCPsYgNHex8RtqdvMPfVGoYwjvF1ATiwn2Y"
    )
    mint = Pubkey.new_unique()
    assert pdas.bonding_curve_pda(mint) == pda([b"bonding-curve", pk(mint)], P)
    assert pdas.sharing_config_pda(mint) == pda([b"sharing-config", pk(mint)], PUMP_FEES_PROGRAM_ID)
    assert len(FEE_RECIPIENTS) == len(BUYBACK_FEE_RECIPIENTS) == 8


# ----- accounts: golden bytes -----


def test_bonding_curve_golden_bytes_and_legacy_lengths() -> None:
    creator, quote = keys(2)
    golden = (
        disc("account", "BondingCurve")
        + u64(1_000_000_000_000_000) + u64(35_000_000_000) + u64(720_000_000_000_000)
        + u64(5_000_000_000) + u64(1_000_000_000_000_000) + boolean(False) + pk(creator)
        + boolean(True) + boolean(False) + pk(quote) + u64(30) + boolean(True) + boolean(False)
    )  # fmt: skip
    bc = accounts.decode_bonding_curve(golden)
    assert (bc.virtual_token_reserves, bc.virtual_quote_reserves) == (10**15, 35 * 10**9)
    assert bc.creator == creator and bc.quote_mint == quote and bc.is_mayhem_mode
    assert bc.creator_fee_bps == 30 and bc.can_edit_creator_fee and not bc.is_holder_reward
    assert accounts.encode_account(bc) == golden

    # A pre-creator-fee curve is 8 + 41 = 49 bytes: creator and later fields read as zero.
    legacy = golden[:49]
    old = accounts.decode_bonding_curve(legacy)
    assert old.creator == Pubkey.default() and not old.has_creator and old.is_sol_paired
    assert old.real_token_reserves == 720_000_000_000_000
    assert accounts.encode_account(old, size=49) == legacy
    # Reallocated accounts carry zero padding; the size keeps it.
    padded = golden + bytes(26)
    assert accounts.encode_account(accounts.decode_bonding_curve(padded), size=151) == padded
    with pytest.raises(EncodeError, match="not zero"):
        accounts.encode_account(bc, size=49)  # would drop a real creator


def test_global_round_trip_and_fields() -> None:
    recipients = tuple(keys(7))
    g = dataclasses.replace(
        PUMP._struct("Global").default(),
        initial_virtual_token_reserves=1_073_000_000_000_000,
        fee_basis_points=95,
        creator_fee_basis_points=30,
        fee_recipients=recipients,
        buyback_fee_recipients=tuple(BUYBACK_FEE_RECIPIENTS),
    )
    data = accounts.encode_account(g)
    assert data[:8] == disc("account", "Global")
    # initialized(1) authority(32) fee_recipient(32) then initial_virtual_token_reserves.
    assert data[8 + 65 : 8 + 73] == u64(1_073_000_000_000_000)
    assert accounts.decode_global(data) == g
    assert accounts.encode_account(accounts.decode_global(data)) == data


def test_fee_config_golden_bytes_with_u128_thresholds() -> None:
    admin = Pubkey.new_unique()
    golden = (
        disc("account", "FeeConfig") + bytes([254]) + pk(admin)
        + u64(0) + u64(95) + u64(30)
        + vec([u128(0) + u64(0) + u64(95) + u64(30),
               u128(420 * 10**9) + u64(0) + u64(90) + u64(25)])
        + vec([])
        + u64(1) + u64(2) + u64(3)
    )  # fmt: skip
    config = accounts.decode_fee_config(golden)
    assert config.fee_tiers[1] == FeeTier(420 * 10**9, Fees(0, 90, 25))
    assert PUMP_FEES.encode_account("FeeConfig", config) == golden
    assert select_fee_tier(config.fee_tiers, 10**9) == Fees(0, 95, 30)
    assert select_fee_tier(config.fee_tiers, 500 * 10**9) == Fees(0, 90, 25)
    assert select_fee_tier((), 1) is None


# ----- events: golden bytes, logs and emit_cpi -----


def test_create_event_golden_bytes() -> None:
    mint, curve_key, user, creator = keys(4)
    golden = (
        disc("event", "CreateEvent") + string("Doge Two") + string("DOGE2")
        + string("https://ipfs.io/ipfs/Qm") + pk(mint) + pk(curve_key) + pk(user) + pk(creator)
        + i64(1_750_000_000) + u64(1_073_000_000_000_000) + u64(30_000_000_000)
        + u64(793_100_000_000_000) + u64(10**15) + pk(TOKEN_2022_PROGRAM_ID)
        + boolean(False) + boolean(True) + pk(Pubkey.default()) + u64(30_000_000_000)
        + u64(0) + boolean(False)
    )  # fmt: skip
    event = events.decode_event(golden)
    assert isinstance(event, events.CreateEvent)
    assert (event.name, event.symbol, event.mint) == ("Doge Two", "DOGE2", mint)
    assert event.is_cashback_enabled and event.token_program == TOKEN_2022_PROGRAM_ID
    assert events.encode_event(event) == golden


def test_trade_event_from_logs_and_from_emit_cpi() -> None:
    mint, user, fee_recipient, creator, holder = keys(5)
    golden = (
        disc("event", "TradeEvent") + pk(mint) + u64(1_000_000_000) + u64(34_000_000_000_000)
        + boolean(True) + pk(user) + i64(1_750_000_001) + u64(31_000_000_000)
        + u64(1_039_000_000_000_000) + u64(1_000_000_000) + u64(759_100_000_000_000)
        + pk(fee_recipient) + u64(95) + u64(9_500_000) + pk(creator) + u64(30) + u64(3_000_000)
        + boolean(True) + u64(0) + u64(0) + u64(1_000_000_000) + i64(1_750_000_001)
        + string("buy_exact_sol_in") + boolean(False) + u64(0) + u64(0) + u64(5) + u64(500_000)
        + vec([pk(holder) + u16(10_000)]) + pk(WSOL_MINT) + u64(1_000_000_000)
        + u64(31_000_000_000) + u64(1_000_000_000) + u64(0) + u64(0)
    )  # fmt: skip
    event = events.decode_event(golden)
    assert isinstance(event, events.TradeEvent)
    assert event.is_buy and event.sol_amount == 1_000_000_000 and event.fee == 9_500_000
    assert event.ix_name == "buy_exact_sol_in"
    assert event.shareholders == (accounts.Shareholder(holder, 10_000),)
    assert events.encode_event(event) == golden

    cpi_data = bytes.fromhex("e445a52e51cb9a1d") + golden
    assert events.decode_event_instruction(cpi_data) == event
    assert events.encode_event_instruction(event) == cpi_data
    assert events.decode_event_instruction(golden) is None  # not a self-CPI event

    logs = [
        f"Program {P} invoke [1]",
        "Program data: " + base64.b64encode(golden).decode(),
        f"Program {P} success",
    ]
    assert events.decode_log_events(logs) == [event]
    # An older program version wrote a shorter TradeEvent: the tail reads as zero values.
    # mint, sol, token, is_buy, user, timestamp, 4 reserves, fee_recipient, fee bps, fee = 169.
    short = events.decode_event(golden[: 8 + 169])
    assert short.fee == 9_500_000 and short.creator == Pubkey.default() and short.ix_name == ""


def test_complete_and_migration_events_golden_bytes() -> None:
    user, mint, curve_key, pool = keys(4)
    complete = (
        disc("event", "CompleteEvent")
        + pk(user)
        + pk(mint)
        + pk(curve_key)
        + i64(7)
        + pk(Pubkey.default())
    )
    assert events.decode_event(complete) == events.CompleteEvent(
        user, mint, curve_key, 7, Pubkey.default()
    )
    migration = (
        disc("event", "CompletePumpAmmMigrationEvent") + pk(user) + pk(mint)
        + u64(206_900_000_000_000) + u64(84_990_000_000) + u64(15_000_001) + pk(curve_key)
        + i64(8) + pk(pool) + pk(WSOL_MINT)
    )  # fmt: skip
    event = events.decode_event(migration)
    assert isinstance(event, events.CompletePumpAmmMigrationEvent) and event.pool == pool
    assert events.encode_event(event) == migration


# ----- instructions: golden bytes and account lists -----


def test_legacy_buy_golden_instruction() -> None:
    user, mint, creator = keys(3)
    fee_recipient, buyback = FEE_RECIPIENTS[0], BUYBACK_FEE_RECIPIENTS[3]
    ix = instructions.buy(
        user=user, mint=mint, creator=creator, fee_recipient=fee_recipient,
        buyback_fee_recipient=buyback, amount=34_000_000_000_000, max_sol_cost=1_050_000_000,
        track_volume=True,
    )  # fmt: skip
    assert ix.program_id == P
    assert bytes(ix.data) == disc("global", "buy") + u64(34_000_000_000_000) + u64(
        1_050_000_000
    ) + boolean(True)
    curve_key = pda([b"bonding-curve", pk(mint)], P)
    expected = [
        (pda([b"global"], P), False, False),
        (fee_recipient, True, False),
        (mint, False, False),
        (curve_key, True, False),
        (ata(curve_key, mint), True, False),
        (ata(user, mint), True, False),
        (user, True, True),
        (SYSTEM_PROGRAM_ID, False, False),
        (TOKEN_PROGRAM_ID, False, False),
        (pda([b"creator-vault", pk(creator)], P), True, False),
        (pda([b"__event_authority"], P), False, False),
        (P, False, False),
        (pda([b"global_volume_accumulator"], P), False, False),
        (pda([b"user_volume_accumulator", pk(user)], P), True, False),
        (pda([b"fee_config", pk(P)], PUMP_FEES_PROGRAM_ID), False, False),
        (PUMP_FEES_PROGRAM_ID, False, False),
        (pda([b"bonding-curve-v2", pk(mint)], P), False, False),
        (buyback, True, False),
    ]
    assert [(m.pubkey, m.is_writable, m.is_signer) for m in ix.accounts] == expected
    # Decoding our own instruction data gives the arguments back.
    decoded = PUMP.decode_instruction_data(bytes(ix.data))
    assert decoded.name == "buy" and decoded.args["track_volume"] == (True,)
    # An older client that left track_volume out still decodes.
    assert PUMP.decode_instruction_data(bytes(ix.data)[:24]).args["track_volume"] == (False,)


def test_legacy_sell_swaps_creator_vault_and_token_program() -> None:
    user, mint, creator = keys(3)
    ix = instructions.sell(
        user=user, mint=mint, creator=creator, fee_recipient=FEE_RECIPIENTS[1],
        buyback_fee_recipient=BUYBACK_FEE_RECIPIENTS[0], amount=10**12, min_sol_output=12_345,
        cashback_coin=True,
    )  # fmt: skip
    assert bytes(ix.data) == disc("global", "sell") + u64(10**12) + u64(12_345)
    metas = ix.accounts
    assert len(metas) == 17
    assert metas[8].pubkey == pda([b"creator-vault", pk(creator)], P) and metas[8].is_writable
    assert metas[9].pubkey == TOKEN_PROGRAM_ID and not metas[9].is_writable
    assert metas[12].pubkey == pda([b"fee_config", pk(P)], PUMP_FEES_PROGRAM_ID)
    assert metas[14].pubkey == pda([b"user_volume_accumulator", pk(user)], P)
    assert metas[14].is_writable
    assert metas[15].pubkey == pda([b"bonding-curve-v2", pk(mint)], P)


def test_buy_exact_sol_in_and_v2_instructions() -> None:
    user, mint, creator = keys(3)
    ix = instructions.buy_exact_sol_in(
        user=user, mint=mint, creator=creator, fee_recipient=FEE_RECIPIENTS[2],
        buyback_fee_recipient=BUYBACK_FEE_RECIPIENTS[1], spendable_sol_in=10**9,
        min_tokens_out=30 * 10**12, track_volume=False, token_program=TOKEN_2022_PROGRAM_ID,
    )  # fmt: skip
    assert bytes(ix.data) == disc("global", "buy_exact_sol_in") + u64(10**9) + u64(
        30 * 10**12
    ) + boolean(False)
    curve_key = pda([b"bonding-curve", pk(mint)], P)
    assert ix.accounts[4].pubkey == ata(curve_key, mint, TOKEN_2022_PROGRAM_ID)
    assert ix.accounts[5].pubkey == ata(user, mint, TOKEN_2022_PROGRAM_ID)

    v2 = instructions.buy_v2(
        user=user, base_mint=mint, creator=creator, fee_recipient=FEE_RECIPIENTS[0],
        buyback_fee_recipient=BUYBACK_FEE_RECIPIENTS[0], amount=5, max_sol_cost=6,
        base_token_program=TOKEN_2022_PROGRAM_ID,
    )  # fmt: skip
    assert bytes(v2.data) == disc("global", "buy_v2") + u64(5) + u64(6)
    assert len(v2.accounts) == 27  # the fixed list BUY.md documents
    by_index = {i: m for i, m in enumerate(v2.accounts)}
    assert by_index[2].pubkey == WSOL_MINT
    assert by_index[12].pubkey == ata(curve_key, WSOL_MINT)  # associated_quote_bonding_curve
    assert by_index[13].pubkey == user and by_index[13].is_signer
    assert by_index[17].pubkey == ata(pda([b"creator-vault", pk(creator)], P), WSOL_MINT)
    assert by_index[18].pubkey == pda([b"sharing-config", pk(mint)], PUMP_FEES_PROGRAM_ID)
    sell_v2 = instructions.sell_v2(
        user=user, base_mint=mint, creator=creator, fee_recipient=FEE_RECIPIENTS[0],
        buyback_fee_recipient=BUYBACK_FEE_RECIPIENTS[0], amount=5, min_sol_output=1,
    )  # fmt: skip
    assert len(sell_v2.accounts) == 26 and bytes(sell_v2.data)[:8] == disc("global", "sell_v2")


def test_create_instructions_and_a_signed_message() -> None:
    mint, user = Keypair(), Keypair()
    ix = instructions.create(
        mint=mint.pubkey(), user=user.pubkey(), creator=user.pubkey(), name="Doge Two",
        symbol="DOGE2", uri="https://x.y/z",
    )  # fmt: skip
    assert bytes(ix.data) == disc("global", "create") + string("Doge Two") + string(
        "DOGE2"
    ) + string("https://x.y/z") + pk(user.pubkey())
    assert ix.accounts[1].pubkey == pda([b"mint-authority"], P)
    assert ix.accounts[6].pubkey == pdas.metadata_pda(mint.pubkey())
    signers = {m.pubkey for m in ix.accounts if m.is_signer}
    assert signers == {mint.pubkey(), user.pubkey()}
    v2 = instructions.create_v2(
        mint=mint.pubkey(), user=user.pubkey(), creator=user.pubkey(), name="A", symbol="B",
        uri="C", is_cashback_enabled=True, creator_fee_bps=50,
    )  # fmt: skip
    assert bytes(v2.data) == disc("global", "create_v2") + string("A") + string("B") + string(
        "C"
    ) + pk(user.pubkey()) + boolean(False) + boolean(True) + u64(50) + boolean(False)
    # The instruction compiles into a message both keys can sign.
    message = Message.new_with_blockhash([ix], user.pubkey(), Hash.default())
    assert message.header.num_required_signatures == 2
    with pytest.raises(ValueError, match="symbol is longer"):
        instructions.create(
            mint=mint.pubkey(), user=user.pubkey(), creator=user.pubkey(), name="n",
            symbol="S" * 11, uri="u",
        )  # fmt: skip


# ----- curve math -----

FEES = curve.CurveFees(protocol_fee_bps=95, creator_fee_bps=30)


def test_first_buy_of_one_sol_on_a_fresh_curve() -> None:
    fresh = curve.fresh_curve(creator=Pubkey.new_unique())
    quote = curve.quote_buy_sol_in(fresh, 1_000_000_000, FEES)
    # By hand, following the IDL's buy_exact_sol_in formula:
    net = 1_000_000_000 * 10_000 // 10_125  # 987_654_320
    protocol = -(-net * 95 // 10_000)  # ceil: 9_382_717
    creator = -(-net * 30 // 10_000)  # ceil: 2_962_963
    assert (net, protocol, creator) == (987_654_320, 9_382_717, 2_962_963)
    assert net + protocol + creator == 1_000_000_000  # no trim needed
    tokens = (net - 1) * 1_073_000_000_000_000 // (30_000_000_000 + net - 1)
    assert quote == curve.BuyQuote(tokens, net, protocol, creator)
    assert tokens == 34_199_203_120_618  # ~34.2 M tokens for ~0.988 SOL net
    assert quote.total_sol == 1_000_000_000

    # Buying those exact tokens costs floor(t*x/(y-t)) + 1 (a lamport under the budget).
    exact = curve.quote_buy_tokens(fresh, tokens, FEES)
    assert exact.sol_cost == tokens * 30_000_000_000 // (1_073_000_000_000_000 - tokens) + 1
    assert exact.sol_cost == 987_654_319

    after = curve.apply_buy(fresh, exact)
    assert after.virtual_quote_reserves == 30_000_000_000 + 987_654_319
    assert after.real_token_reserves == 793_100_000_000_000 - tokens
    # Selling straight back returns less than paid: floor rounding plus both fees.
    sold = curve.quote_sell(after, tokens, FEES)
    assert sold.sol_out == tokens * after.virtual_quote_reserves // (
        after.virtual_token_reserves + tokens
    )
    assert sold.sol_out <= exact.sol_cost
    assert sold.sol_received == sold.sol_out - -(-sold.sol_out * 95 // 10_000) - -(
        -sold.sol_out * 30 // 10_000
    )


def test_no_creator_pays_no_creator_fee_and_tiers_by_market_cap() -> None:
    g = dataclasses.replace(
        PUMP._struct("Global").default(), fee_basis_points=100, creator_fee_basis_points=5
    )
    legacy = dataclasses.replace(curve.fresh_curve(creator=Pubkey.default()))
    assert curve.curve_fees(g, legacy) == curve.CurveFees(100, 0)
    with_creator = curve.fresh_curve(creator=Pubkey.new_unique())
    assert curve.curve_fees(g, with_creator) == curve.CurveFees(100, 5)
    tiers = (FeeTier(0, Fees(0, 95, 30)), FeeTier(30 * 10**9, Fees(0, 90, 20)))
    config = FeeConfig(255, Pubkey.default(), Fees(0, 0, 0), tiers, (), Fees(0, 0, 0))
    # Fresh market cap = 30e9 * 1e15 // 1.073e15 = 27.96 SOL: below the 30 SOL tier.
    assert curve.market_cap_lamports(with_creator) == 27_958_993_476
    assert curve.curve_fees(g, with_creator, config) == curve.CurveFees(95, 30)
    richer = dataclasses.replace(with_creator, virtual_quote_reserves=40 * 10**9)
    assert curve.curve_fees(g, richer, config) == curve.CurveFees(90, 20)


def test_price_market_cap_progress_and_completion() -> None:
    fresh = curve.fresh_curve(creator=Pubkey.new_unique())
    # (30e9 / 1e9 SOL) / (1.073e15 / 1e6 tokens) = 2.796e-8 SOL per token.
    assert curve.spot_price_sol(fresh) == Decimal(30) / Decimal(1_073_000_000)
    assert curve.market_cap_sol(fresh) == Decimal("27.958993476")
    assert curve.bonding_curve_progress(fresh) == 0
    half = dataclasses.replace(fresh, real_token_reserves=793_100_000_000_000 // 2)
    assert curve.bonding_curve_progress(half) == 50

    # Asking for more than is left buys exactly the rest and completes the curve.
    last = curve.quote_buy_tokens(fresh, 10**18, FEES)
    assert last.tokens_out == 793_100_000_000_000
    assert last.sol_cost == 793_100_000_000_000 * 30_000_000_000 // 279_900_000_000_000 + 1
    assert last.sol_cost == 85_005_359_057  # ≈ 85.005 SOL real at completion (facts §5.4)
    done = curve.apply_buy(fresh, last)
    assert done.real_token_reserves == 0 and done.complete and curve.is_complete(done)
    assert curve.bonding_curve_progress(done) == 100
    assert curve.quote_buy_sol_in(done, 10**9, FEES) == curve.BuyQuote(0, 0, 0, 0)
    big = curve.quote_buy_sol_in(fresh, 500 * 10**9, FEES)  # a budget beyond completion
    assert big.tokens_out == 793_100_000_000_000 and big.sol_cost == last.sol_cost


def test_slippage_bounds() -> None:
    assert curve.with_slippage_max(1_000_000_000, 500) == 1_050_000_000
    assert curve.with_slippage_min(1_000_000_001, 100) == 990_000_000  # rounded down
    assert curve.with_slippage_max(7, 0) == 7
    with pytest.raises(ValueError, match="between 0 and 10000"):
        curve.with_slippage_min(10, 10_001)
    with pytest.raises(ValueError, match="non-negative"):
        curve.quote_sell(curve.fresh_curve(creator=Pubkey.default()), -5, FEES)
