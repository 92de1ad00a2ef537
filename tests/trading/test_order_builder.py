"""Routing and building orders (apps/trading/services/order_builder.py), proven by executing
the transactions it builds on the localnet: curve and PumpSwap buys and sells land within the
quote's bound, a moved price trips the program's slippage error with nothing moved, durable
nonce copies land once, and bad input is refused naming the field."""

from __future__ import annotations

import base64
import struct
from typing import Any

import pytest
from solders.hash import Hash
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.system_program import create_nonce_account
from solders.transaction import VersionedTransaction

from apps.chain.localnet import LocalnetHandle
from apps.chain.localnet.fixtures import create_mint
from apps.chain.programs.ids import WSOL_MINT
from apps.chain.programs.pump import curve as curve_math
from apps.chain.programs.pump import instructions as pump_ix
from apps.chain.programs.pump.constants import LEGACY_WITHDRAW_AUTHORITY
from apps.chain.programs.pump.program import PUMP
from apps.chain.programs.pump_amm.program import PUMP_AMM
from apps.chain.programs.spl import associated_token_address
from apps.trading.services.order_builder import (
    DurableNonce,
    OrderBuildError,
    Side,
    Tip,
    Venue,
    build_copies,
    build_order,
    plan_order,
    resolve_sell_amount,
)
from tests.chain.localnet import result, rpc
from tests.chain.localnet.test_pump_model import (
    CURVE_FEE_RATES,
    balance,
    buy_ix,
    funded,
    launch,
    read_curve,
    send,
    token_balance,
)

SOL = 1_000_000_000
OTHER_TIP_ACCOUNT = Pubkey.from_string("HFqU5x63VTqvQss8hp11i4wVV8bD44PvwucfZ2bU7gRe")
CU_LIMIT = 300_000
CU_PRICE = 10_000
TIP_ACCOUNT = Pubkey.from_string("96gYZGLnJYVFmbjzopPSU6QiEV5fGqZNyN9nmNhvrZU5")  # a Jito tip acct


def land(net: LocalnetHandle, tx_bytes: bytes) -> dict[str, Any]:
    """Send through JSON-RPC without preflight (so failures land), close the slot, and
    return the transaction as getTransaction reports it."""
    signature = result(
        net.rpc_url,
        "sendTransaction",
        [base64.b64encode(tx_bytes).decode(), {"encoding": "base64", "skipPreflight": True}],
    )
    net.chain.advance_slot()
    return result(
        net.rpc_url,
        "getTransaction",
        [
            signature,
            {"commitment": "confirmed", "encoding": "json", "maxSupportedTransactionVersion": 0},
        ],
    )


@pytest.fixture(autouse=True)
def tip_accounts(net: LocalnetHandle) -> None:
    """Engines' tip accounts exist (funded) on mainnet; a tip to an unfunded account below
    the rent-exempt minimum would fail."""
    net.chain.airdrop(TIP_ACCOUNT, SOL)
    net.chain.airdrop(OTHER_TIP_ACCOUNT, SOL)


def blockhash(net: LocalnetHandle) -> Hash:
    return net.chain.latest_blockhash("processed")[0]


async def plan(wallet: Keypair, mint: Pubkey, side: Side, amount: int, slippage_bps: int = 100):
    return await plan_order(
        wallet=wallet.pubkey(),
        mint=mint,
        side=side,
        amount=amount,
        slippage_bps=slippage_bps,
        compute_unit_price=CU_PRICE,
        compute_unit_limit=CU_LIMIT,
    )


async def migrated_coin(net: LocalnetHandle) -> Pubkey:
    """Launch a coin, buy out its curve (completing it) and migrate it to PumpSwap."""
    creator, whale = funded(net), funded(net, 500)
    mint = launch(net, creator)
    curve = read_curve(net, mint)
    everything = curve_math.quote_buy_tokens(curve, curve.real_token_reserves, CURVE_FEE_RATES)
    tx = send(
        net,
        whale,
        buy_ix(whale, mint, creator.pubkey(), curve.real_token_reserves, everything.total_sol),
    )
    assert tx["meta"]["err"] is None, tx["meta"]["logMessages"]
    migrate = pump_ix.migrate(
        user=whale.pubkey(), mint=mint, withdraw_authority=LEGACY_WITHDRAW_AUTHORITY
    )
    tx = send(net, whale, [migrate])
    assert tx["meta"]["err"] is None, tx["meta"]["logMessages"]
    # The pool's first trade creates the coin creator's fee vault (paid by that trader):
    # done here, so the tests' balance checks see only their own trade.
    first = await plan(whale, mint, Side.BUY, SOL // 100)
    tx = land(net, build_order(first, signer=whale, recent_blockhash=blockhash(net)).tx_bytes)
    assert tx["meta"]["err"] is None, tx["meta"]["logMessages"]
    return mint


def error_name(program, code: int) -> str:
    return next(e["name"] for e in program.idl["errors"] if e["code"] == code)


def custom_error(tx: dict[str, Any]) -> tuple[int, int]:
    index, detail = tx["meta"]["err"]["InstructionError"]
    return index, detail["Custom"]


# ---- bonding curve ----------------------------------------------------------------------------


async def test_curve_buy_then_sell__land_within_the_quoted_bounds(
    net: LocalnetHandle, platform_rpc
):
    creator, trader = funded(net), funded(net, 20)
    mint = launch(net, creator)
    ata = associated_token_address(trader.pubkey(), mint)

    buy = await plan(trader, mint, Side.BUY, SOL // 2, slippage_bps=100)
    assert buy.venue is Venue.CURVE and buy.quote.bound_kind == "min_tokens_out"
    assert buy.quote.bound == buy.quote.expected_out * 9_900 // 10_000
    assert buy.quote.expected_in <= SOL // 2 and buy.quote.price_impact_bps > 0
    built = build_order(
        buy, signer=trader, tip=Tip(10_000, TIP_ACCOUNT), recent_blockhash=blockhash(net)
    )
    tip_before, sol_before = balance(net, TIP_ACCOUNT), balance(net, trader.pubkey())
    tx = land(net, built.tx_bytes)
    assert tx["meta"]["err"] is None, tx["meta"]["logMessages"]
    assert tx["transaction"]["signatures"] == [built.signature]
    held = token_balance(net, ata)
    # Nothing else traded: exactly the quote, which is within the bound.
    assert held == buy.quote.expected_out >= buy.quote.bound
    assert balance(net, TIP_ACCOUNT) - tip_before == 10_000
    spent = sol_before - balance(net, trader.pubkey()) - tx["meta"]["fee"] - 10_000
    ata_rent = net.chain.minimum_balance_for_rent_exemption(165)
    assert spent - ata_rent == buy.quote.expected_in <= SOL // 2
    # The priority fee was paid: base fee + CU price * limit.
    assert tx["meta"]["fee"] == 5_000 + CU_PRICE * CU_LIMIT // 1_000_000

    sell = await plan(trader, mint, Side.SELL, resolve_sell_amount(held, 5_000))
    assert sell.quote.amount_in == held // 2 and sell.quote.bound_kind == "min_sol_output"
    built = build_order(sell, signer=trader, recent_blockhash=blockhash(net))
    sol_before = balance(net, trader.pubkey())
    tx = land(net, built.tx_bytes)
    assert tx["meta"]["err"] is None, tx["meta"]["logMessages"]
    assert token_balance(net, ata) == held - held // 2
    received = balance(net, trader.pubkey()) - sol_before + tx["meta"]["fee"]
    assert received == sell.quote.expected_out >= sell.quote.bound


async def test_curve_buy__price_moved_past_the_slippage__program_error_and_nothing_moved(
    net: LocalnetHandle, platform_rpc
):
    creator, trader, rival = funded(net), funded(net, 20), funded(net, 50)
    mint = launch(net, creator)
    order = await plan(trader, mint, Side.BUY, SOL, slippage_bps=50)
    built = build_order(order, signer=trader, recent_blockhash=blockhash(net))
    # Another trader buys first and moves the price well past 0.5 %.
    rival_plan = await plan(rival, mint, Side.BUY, 20 * SOL)
    assert (
        land(net, build_order(rival_plan, signer=rival, recent_blockhash=blockhash(net)).tx_bytes)[
            "meta"
        ]["err"]
        is None
    )
    curve_before = read_curve(net, mint)
    sol_before = balance(net, trader.pubkey())
    tx = land(net, built.tx_bytes)
    index, code = custom_error(tx)
    assert index == 3  # limit, price, create ATA, then the buy
    assert error_name(PUMP, code) == "BuySlippageBelowMinTokensOut"
    assert read_curve(net, mint) == curve_before
    assert token_balance(net, associated_token_address(trader.pubkey(), mint)) == 0
    assert balance(net, trader.pubkey()) == sol_before - tx["meta"]["fee"]


# ---- PumpSwap ---------------------------------------------------------------------------------


async def test_pumpswap_buy_then_sell__land_within_bounds_and_unwrap_sol(
    net: LocalnetHandle, platform_rpc
):
    mint = await migrated_coin(net)
    trader = funded(net, 20)
    ata = associated_token_address(trader.pubkey(), mint)
    wsol = associated_token_address(trader.pubkey(), WSOL_MINT)

    buy = await plan(trader, mint, Side.BUY, SOL, slippage_bps=200)
    assert buy.venue is Venue.PUMPSWAP and buy.quote.bound_kind == "max_quote_amount_in"
    assert buy.quote.bound == buy.quote.expected_in * 10_200 // 10_000
    sol_before = balance(net, trader.pubkey())
    tx = land(net, build_order(buy, signer=trader, recent_blockhash=blockhash(net)).tx_bytes)
    assert tx["meta"]["err"] is None, tx["meta"]["logMessages"]
    held = token_balance(net, ata)
    assert held == buy.quote.expected_out
    # Only the quoted cost left the wallet (plus the fee and the token account's rent):
    # the wrapped-SOL account was closed, returning the unspent slippage allowance.
    ata_rent = net.chain.minimum_balance_for_rent_exemption(165)
    spent = sol_before - balance(net, trader.pubkey()) - tx["meta"]["fee"] - ata_rent
    assert spent == buy.quote.expected_in <= buy.quote.bound
    assert net.chain.get_account(wsol) is None

    sell = await plan(trader, mint, Side.SELL, held)
    assert sell.quote.bound_kind == "min_quote_amount_out"
    sol_before = balance(net, trader.pubkey())
    tx = land(net, build_order(sell, signer=trader, recent_blockhash=blockhash(net)).tx_bytes)
    assert tx["meta"]["err"] is None, tx["meta"]["logMessages"]
    assert token_balance(net, ata) == 0
    received = balance(net, trader.pubkey()) - sol_before + tx["meta"]["fee"]
    assert received == sell.quote.expected_out >= sell.quote.bound
    assert net.chain.get_account(wsol) is None


async def test_pumpswap_sell__price_moved__exceeded_slippage_and_nothing_moved(
    net: LocalnetHandle, platform_rpc
):
    mint = await migrated_coin(net)
    trader, rival = funded(net, 20), funded(net, 20)
    for wallet in (trader, rival):
        bought = await plan(wallet, mint, Side.BUY, 2 * SOL)
        tx = land(net, build_order(bought, signer=wallet, recent_blockhash=blockhash(net)).tx_bytes)
        assert tx["meta"]["err"] is None
    held = token_balance(net, associated_token_address(trader.pubkey(), mint))
    order = await plan(trader, mint, Side.SELL, held, slippage_bps=10)
    built = build_order(order, signer=trader, recent_blockhash=blockhash(net))
    rival_sell = await plan(
        rival, mint, Side.SELL, token_balance(net, associated_token_address(rival.pubkey(), mint))
    )
    assert (
        land(net, build_order(rival_sell, signer=rival, recent_blockhash=blockhash(net)).tx_bytes)[
            "meta"
        ]["err"]
        is None
    )
    tx = land(net, built.tx_bytes)
    index, code = custom_error(tx)
    assert error_name(PUMP_AMM, code) == "ExceededSlippage"
    assert token_balance(net, associated_token_address(trader.pubkey(), mint)) == held


# ---- venues -----------------------------------------------------------------------------------


async def test_complete_curve_not_yet_migrated__no_venue_migrating(
    net: LocalnetHandle, platform_rpc
):
    creator, whale = funded(net), funded(net, 500)
    mint = launch(net, creator)
    curve = read_curve(net, mint)
    everything = curve_math.quote_buy_tokens(curve, curve.real_token_reserves, CURVE_FEE_RATES)
    send(
        net,
        whale,
        buy_ix(whale, mint, creator.pubkey(), curve.real_token_reserves, everything.total_sol),
    )
    with pytest.raises(OrderBuildError) as caught:
        await plan(funded(net), mint, Side.BUY, SOL)
    assert caught.value.field == "mint" and caught.value.code == "migrating"


async def test_unknown_mint_non_token_no_venue_or_no_funds__error_names_the_field(
    net: LocalnetHandle, platform_rpc
):
    trader = funded(net)
    nobody = Keypair().pubkey()
    with pytest.raises(OrderBuildError) as caught:
        await plan(trader, nobody, Side.BUY, SOL)
    assert caught.value.field == "mint" and str(nobody) in str(caught.value)
    # A wallet (system account) is no mint.
    with pytest.raises(OrderBuildError) as caught:
        await plan(trader, trader.pubkey(), Side.BUY, SOL)
    assert caught.value.field == "mint" and caught.value.code == "not_a_token"
    # Selling what the wallet does not hold, or buying with more SOL than it has.
    coin = launch(net, funded(net))
    with pytest.raises(OrderBuildError) as caught:
        await plan(trader, coin, Side.SELL, 1)
    assert caught.value.field == "amount" and caught.value.code == "insufficient_tokens"
    with pytest.raises(OrderBuildError) as caught:
        await plan(trader, coin, Side.BUY, 1_000 * SOL)
    assert caught.value.field == "amount" and caught.value.code == "insufficient_sol"
    # A real SPL mint that pump.fun never saw.
    plain = create_mint(net.chain, trader, decimals=6)
    with pytest.raises(OrderBuildError) as caught:
        await plan(trader, plain, Side.BUY, SOL)
    assert caught.value.code == "no_venue" and str(plain) in str(caught.value)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"slippage_bps": 10_001}, "slippage_bps"),
        ({"slippage_bps": -1}, "slippage_bps"),
        ({"amount": 0}, "amount"),
        ({"amount": -5}, "amount"),
        ({"amount": 1.5}, "amount"),
        ({"side": "hold"}, "side"),
        ({"mint": "not-a-key"}, "mint"),
        ({"compute_unit_limit": 0}, "compute_unit_limit"),
        ({"compute_unit_price": -1}, "compute_unit_price"),
    ],
)
async def test_bad_input__value_error_naming_the_field(changes, field):
    """Refused before any RPC call (no localnet here: a read would fail differently)."""
    args = dict(
        wallet=Keypair().pubkey(),
        mint=Keypair().pubkey(),
        side="buy",
        amount=SOL,
        slippage_bps=100,
        compute_unit_price=0,
        compute_unit_limit=CU_LIMIT,
    )
    args.update(changes)
    with pytest.raises(ValueError) as caught:
        await plan_order(**args)
    assert isinstance(caught.value, OrderBuildError) and caught.value.field == field
    assert str(caught.value).startswith(field)


def test_resolve_sell_amount__percent_of_holding_rounded_down():
    assert resolve_sell_amount(1_000_001, 10_000) == 1_000_001
    assert resolve_sell_amount(1_000_001, 5_000) == 500_000
    with pytest.raises(OrderBuildError, match="percent_bps"):
        resolve_sell_amount(1_000, 10_001)
    with pytest.raises(OrderBuildError, match="amount"):
        resolve_sell_amount(0, 5_000)


# ---- durable nonce ----------------------------------------------------------------------------


def nonce_value(net: LocalnetHandle, account: Pubkey) -> Hash:
    """Versions::Current(State::Initialized(Data { authority, durable_nonce, .. }))."""
    info = result(net.rpc_url, "getAccountInfo", [str(account), {"encoding": "base64"}])
    data = base64.b64decode(info["value"]["data"][0])
    version, state = struct.unpack_from("<II", data)
    assert (version, state) == (1, 1)
    return Hash(data[40:72])


async def test_durable_nonce_copies__one_lands_the_nonce_advances_the_rest_fail(
    net: LocalnetHandle, platform_rpc
):
    creator, trader = funded(net), funded(net, 20)
    mint = launch(net, creator)
    nonce = Keypair()
    tx = send(
        net,
        trader,
        list(create_nonce_account(trader.pubkey(), nonce.pubkey(), trader.pubkey(), SOL // 100)),
        nonce,
    )
    assert tx["meta"]["err"] is None, tx["meta"]["logMessages"]
    net.chain.advance_slot()
    value = nonce_value(net, nonce.pubkey())

    order = await plan(trader, mint, Side.BUY, SOL // 10)
    tips = {
        "jito": Tip(1_000, TIP_ACCOUNT),
        "nextblock": Tip(2_000, OTHER_TIP_ACCOUNT),
        "rpc": None,
    }
    copies = build_copies(
        order, signer=trader, tips=tips, nonce=DurableNonce(nonce.pubkey(), value)
    )
    assert len({c.signature for c in copies.values()}) == 3
    message = VersionedTransaction.from_bytes(copies["jito"].tx_bytes).message
    assert message.recent_blockhash == value
    assert message.account_keys[message.instructions[0].program_id_index] == Pubkey.default()

    # A copy whose blockhash is not the nonce's stored value is refused before it runs.
    forged = build_copies(
        order,
        signer=trader,
        tips={"rpc": None},
        nonce=DurableNonce(nonce.pubkey(), Hash.new_unique()),
    )["rpc"]
    refused = net.chain.execute(VersionedTransaction.from_bytes(forged.tx_bytes))
    assert (refused.err, refused.record) == ("BlockhashNotFound", None)

    outcome = net.chain.execute(VersionedTransaction.from_bytes(copies["jito"].tx_bytes))
    assert outcome.err is None, outcome.record and outcome.record.logs
    net.chain.advance_slot()
    assert nonce_value(net, nonce.pubkey()) != value
    held = token_balance(net, associated_token_address(trader.pubkey(), mint))
    assert held == order.quote.expected_out
    # The other copies carry a spent nonce: refused, and the token balance shows one buy.
    # The other copies carry a spent nonce, even slots later and without preflight: none
    # executes, and the token balance shows exactly one buy.
    net.chain.advance_slot(3)
    for route in ("nextblock", "rpc"):
        rpc(
            net.rpc_url,
            "sendTransaction",
            [copies[route].tx_base64, {"encoding": "base64", "skipPreflight": True}],
        )
        net.chain.advance_slot()
        status = result(net.rpc_url, "getSignatureStatuses", [[copies[route].signature]])
        assert status["value"][0] is None or status["value"][0]["err"] is not None
    assert token_balance(net, associated_token_address(trader.pubkey(), mint)) == held
