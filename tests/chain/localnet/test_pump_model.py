"""pump.fun and PumpSwap on the localnet, driven by signed transactions over JSON-RPC.

Every expected figure comes from the curve and pool math in apps/chain/programs (itself
pinned by worked numbers in tests/chain/programs); these tests check that the modelled
programs move exactly those lamports and tokens, reject what the IDL rejects, and emit
the events a decoder reads on mainnet.
"""

from __future__ import annotations

import base64
from decimal import Decimal
from typing import Any

from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction
from spl.token.instructions import (
    create_idempotent_associated_token_account,
    get_associated_token_address,
)

from apps.chain.localnet import LocalnetHandle
from apps.chain.localnet.models import CURVE_FEES, PROTOCOL_FEE_RECIPIENTS
from apps.chain.programs.pump import accounts as pump_accounts
from apps.chain.programs.pump import curve as curve_math
from apps.chain.programs.pump import instructions as pump_ix
from apps.chain.programs.pump import pdas as pump_pdas
from apps.chain.programs.pump.constants import (
    BUYBACK_FEE_RECIPIENTS,
    FEE_RECIPIENTS,
    INITIAL_REAL_TOKEN_RESERVES,
    LEGACY_WITHDRAW_AUTHORITY,
    PUMP_PROGRAM_ID,
)
from apps.chain.programs.pump.program import PUMP
from tests.chain.localnet import SOL, result, rpc

TOKEN_PROGRAM = Pubkey.from_string("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA")
FEE_RECIPIENT = FEE_RECIPIENTS[0]
CURVE_FEE_RATES = curve_math.CurveFees(CURVE_FEES.protocol_fee_bps, CURVE_FEES.creator_fee_bps)


def send(
    net: LocalnetHandle, payer: Keypair, instructions: list[Instruction], *signers: Keypair
) -> dict[str, Any]:
    """Sign, send through JSON-RPC (skipping preflight so failures land), close the slot,
    and return the transaction as getTransaction reports it."""
    blockhash, _ = net.chain.latest_blockhash("processed")
    message = Message.new_with_blockhash(instructions, payer.pubkey(), blockhash)
    tx = VersionedTransaction(message, [payer, *signers])
    encoded = base64.b64encode(bytes(tx)).decode()
    signature = result(
        net.rpc_url, "sendTransaction", [encoded, {"encoding": "base64", "skipPreflight": True}]
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


def balance(net: LocalnetHandle, pubkey: Pubkey) -> int:
    return result(net.rpc_url, "getBalance", [str(pubkey), {"commitment": "processed"}])["value"]


def token_balance(net: LocalnetHandle, account: Pubkey) -> int:
    answer = rpc(net.rpc_url, "getTokenAccountBalance", [str(account), {"commitment": "processed"}])
    return int(answer["result"]["value"]["amount"]) if "result" in answer else 0


def read_curve(net: LocalnetHandle, mint: Pubkey) -> pump_accounts.BondingCurve:
    info = result(
        net.rpc_url,
        "getAccountInfo",
        [str(pump_pdas.bonding_curve_pda(mint)), {"encoding": "base64", "commitment": "processed"}],
    )
    return pump_accounts.decode_bonding_curve(base64.b64decode(info["value"]["data"][0]))


def funded(net: LocalnetHandle, sol: int = 100) -> Keypair:
    keypair = Keypair()
    net.chain.airdrop(keypair.pubkey(), sol * SOL)
    return keypair


def launch(net: LocalnetHandle, creator: Keypair) -> Pubkey:
    mint = Keypair()
    tx = send(
        net,
        creator,
        [
            pump_ix.create(
                mint=mint.pubkey(),
                user=creator.pubkey(),
                creator=creator.pubkey(),
                name="Localnet Dog",
                symbol="LDOG",
                uri="https://example.invalid/ldog.json",
            )
        ],
        mint,
    )
    assert tx["meta"]["err"] is None, tx["meta"]["logMessages"]
    return mint.pubkey()


def buy_ix(
    trader: Keypair, mint: Pubkey, creator: Pubkey, amount: int, max_sol_cost: int
) -> list[Instruction]:
    return [
        create_idempotent_associated_token_account(trader.pubkey(), trader.pubkey(), mint),
        pump_ix.buy(
            user=trader.pubkey(),
            mint=mint,
            creator=creator,
            fee_recipient=FEE_RECIPIENT,
            buyback_fee_recipient=BUYBACK_FEE_RECIPIENTS[0],
            amount=amount,
            max_sol_cost=max_sol_cost,
        ),
    ]


def sell_ix(
    trader: Keypair, mint: Pubkey, creator: Pubkey, amount: int, min_sol_output: int
) -> list[Instruction]:
    return [
        pump_ix.sell(
            user=trader.pubkey(),
            mint=mint,
            creator=creator,
            fee_recipient=FEE_RECIPIENT,
            buyback_fee_recipient=BUYBACK_FEE_RECIPIENTS[0],
            amount=amount,
            min_sol_output=min_sol_output,
        )
    ]


def events(tx: dict[str, Any]) -> list[tuple[str, Any]]:
    return PUMP.decode_log_events(tx["meta"]["logMessages"])


def test_create__makes_mint_curve_and_emits_create_event(net: LocalnetHandle) -> None:
    creator = funded(net)
    mint = launch(net, creator)
    curve = read_curve(net, mint)
    assert curve == curve_math.fresh_curve(creator=creator.pubkey(), global_=None)
    curve_tokens = pump_pdas.associated_bonding_curve(mint)
    assert token_balance(net, curve_tokens) == curve.token_total_supply
    supply = result(net.rpc_url, "getTokenSupply", [str(mint)])["value"]
    assert supply["decimals"] == 6 and int(supply["amount"]) == curve.token_total_supply
    assert curve_math.bonding_curve_progress(curve) == 0


def test_buy_with_too_low_max_sol_cost__fails_with_idl_error_and_changes_nothing(
    net: LocalnetHandle,
) -> None:
    creator, trader = funded(net), funded(net)
    mint = launch(net, creator)
    quote = curve_math.quote_buy_tokens(read_curve(net, mint), 10**12, CURVE_FEE_RATES)
    before = balance(net, trader.pubkey())
    tx = send(net, trader, buy_ix(trader, mint, creator.pubkey(), 10**12, quote.total_sol - 1))
    assert tx["meta"]["err"] == {"InstructionError": [1, {"Custom": 6002}]}  # TooMuchSolRequired
    assert any("Error Code: TooMuchSolRequired" in line for line in tx["meta"]["logMessages"])
    assert read_curve(net, mint) == curve_math.fresh_curve(creator=creator.pubkey(), global_=None)
    # Only the fee left; the ATA its first instruction created was rolled back with the rest.
    assert balance(net, trader.pubkey()) == before - tx["meta"]["fee"]
    ata = get_associated_token_address(trader.pubkey(), mint)
    assert (
        result(net.rpc_url, "getAccountInfo", [str(ata), {"commitment": "processed"}])["value"]
        is None
    )


def test_wrong_signer_and_wrong_pda__fail_with_anchor_errors(net: LocalnetHandle) -> None:
    creator, trader = funded(net), funded(net)
    mint = launch(net, creator)
    good = pump_ix.buy(
        user=trader.pubkey(),
        mint=mint,
        creator=creator.pubkey(),
        fee_recipient=FEE_RECIPIENT,
        buyback_fee_recipient=BUYBACK_FEE_RECIPIENTS[0],
        amount=10**9,
        max_sol_cost=SOL,
    )
    wrong_vault = list(good.accounts)
    wrong_vault[9] = type(wrong_vault[9])(Pubkey.new_unique(), False, True)  # creator_vault
    tx = send(
        net,
        trader,
        [
            create_idempotent_associated_token_account(trader.pubkey(), trader.pubkey(), mint),
            Instruction(PUMP_PROGRAM_ID, good.data, wrong_vault),
        ],
    )
    assert tx["meta"]["err"] == {"InstructionError": [1, {"Custom": 2006}]}  # ConstraintSeeds
    unsigned = list(good.accounts)
    unsigned[6] = type(unsigned[6])(trader.pubkey(), False, True)  # user, not a signer here
    other = funded(net)
    tx = send(net, other, [Instruction(PUMP_PROGRAM_ID, good.data, unsigned)])
    assert tx["meta"]["err"] == {"InstructionError": [0, {"Custom": 2002}]}  # ConstraintSigner


def test_curve_lifecycle__buys_sells_completion_migration_and_pumpswap(net: LocalnetHandle) -> None:
    creator = funded(net)
    traders = [funded(net, 200) for _ in range(20)]
    mint = launch(net, creator)
    bonding_curve = pump_pdas.bonding_curve_pda(mint)
    creator_vault = pump_pdas.creator_vault_pda(creator.pubkey())
    expected = read_curve(net, mint)
    vault_before, recipient_before = balance(net, creator_vault), balance(net, FEE_RECIPIENT)
    protocol_total = creator_total = 0
    # 20 buys of 30 M tokens each: 600 M of the 793.1 M sellable.
    for trader in traders:
        quote = curve_math.quote_buy_tokens(expected, 30_000_000 * 10**6, CURVE_FEE_RATES)
        before = balance(net, trader.pubkey())
        tx = send(
            net,
            trader,
            buy_ix(
                trader,
                mint,
                creator.pubkey(),
                quote.tokens_out,
                curve_math.with_slippage_max(quote.total_sol, 100),
            ),
        )
        assert tx["meta"]["err"] is None, tx["meta"]["logMessages"]
        ata_rent = (
            tx["meta"]["preBalances"][0]
            - tx["meta"]["postBalances"][0]
            - tx["meta"]["fee"]
            - quote.total_sol
        )
        assert ata_rent == net.chain.minimum_balance_for_rent_exemption(165)
        assert (
            balance(net, trader.pubkey()) == before - tx["meta"]["fee"] - quote.total_sol - ata_rent
        )
        expected = curve_math.apply_buy(expected, quote)
        protocol_total += quote.protocol_fee
        creator_total += quote.creator_fee
        ((name, trade),) = [e for e in events(tx) if e[0] == "TradeEvent"]
        assert (
            trade.is_buy
            and trade.token_amount == quote.tokens_out
            and trade.sol_amount == quote.sol_cost
        )
        assert trade.fee == quote.protocol_fee and trade.creator_fee == quote.creator_fee
        assert trade.real_token_reserves == expected.real_token_reserves
        # The same event rides in the self-CPI inner instruction, as emit_cpi! sends it.
        inner = [ix for group in tx["meta"]["innerInstructions"] for ix in group["instructions"]]
        keys = tx["transaction"]["message"]["accountKeys"]
        cpi_events = [ix for ix in inner if keys[ix["programIdIndex"]] == str(PUMP_PROGRAM_ID)]
        assert len(cpi_events) == 1
    assert read_curve(net, mint) == expected
    assert (
        balance(net, bonding_curve)
        == net.chain.minimum_balance_for_rent_exemption(len(pump_accounts.encode_account(expected)))
        + expected.real_quote_reserves
    )
    assert balance(net, creator_vault) - vault_before == creator_total
    assert balance(net, FEE_RECIPIENT) - recipient_before == protocol_total
    progress = curve_math.bonding_curve_progress(expected)
    assert progress == Decimal(100 * 600_000_000 * 10**6) / Decimal(INITIAL_REAL_TOKEN_RESERVES)

    # Five traders sell half their bag; a slippage bound one lamport too high fails alone.
    seller = traders[0]
    seller_tokens = token_balance(net, get_associated_token_address(seller.pubkey(), mint))
    quote = curve_math.quote_sell(expected, seller_tokens // 2, CURVE_FEE_RATES)
    tx = send(
        net,
        seller,
        sell_ix(seller, mint, creator.pubkey(), seller_tokens // 2, quote.sol_received + 1),
    )
    assert tx["meta"]["err"] == {"InstructionError": [0, {"Custom": 6003}]}  # TooLittleSolReceived
    assert read_curve(net, mint) == expected
    for trader in traders[:5]:
        held = token_balance(net, get_associated_token_address(trader.pubkey(), mint))
        quote = curve_math.quote_sell(expected, held // 2, CURVE_FEE_RATES)
        before = balance(net, trader.pubkey())
        tx = send(
            net, trader, sell_ix(trader, mint, creator.pubkey(), held // 2, quote.sol_received)
        )
        assert tx["meta"]["err"] is None, tx["meta"]["logMessages"]
        assert balance(net, trader.pubkey()) == before - tx["meta"]["fee"] + quote.sol_received
        expected = curve_math.apply_sell(expected, quote)
    assert read_curve(net, mint) == expected

    # A whale buys everything left: the capped last buy completes the curve.
    whale = funded(net, 500)
    quote = curve_math.quote_buy_tokens(expected, expected.real_token_reserves, CURVE_FEE_RATES)
    tx = send(
        net,
        whale,
        buy_ix(whale, mint, creator.pubkey(), expected.real_token_reserves, quote.total_sol),
    )
    assert tx["meta"]["err"] is None, tx["meta"]["logMessages"]
    expected = curve_math.apply_buy(expected, quote)
    assert expected.complete and read_curve(net, mint) == expected
    assert [name for name, _ in events(tx)] == ["TradeEvent", "CompleteEvent"]
    assert curve_math.bonding_curve_progress(expected) == 100
    # A complete curve takes no more trades.
    tx = send(net, traders[1], buy_ix(traders[1], mint, creator.pubkey(), 10**6, SOL))
    assert tx["meta"]["err"] == {"InstructionError": [1, {"Custom": 6005}]}  # BondingCurveComplete

    # Migration moves the curve's tokens and SOL (less the fee) into the canonical pool.
    curve_tokens = token_balance(net, pump_pdas.associated_bonding_curve(mint))
    migrator = funded(net)
    withdraw_before = balance(net, LEGACY_WITHDRAW_AUTHORITY)
    tx = send(
        net,
        migrator,
        [
            pump_ix.migrate(
                user=migrator.pubkey(), mint=mint, withdraw_authority=LEGACY_WITHDRAW_AUTHORITY
            )
        ],
    )
    assert tx["meta"]["err"] is None, tx["meta"]["logMessages"]
    ((_, migration),) = [e for e in events(tx) if e[0] == "CompletePumpAmmMigrationEvent"]
    assert migration.mint_amount == curve_tokens
    assert migration.sol_amount == expected.real_quote_reserves - migration.pool_migration_fee
    assert balance(net, LEGACY_WITHDRAW_AUTHORITY) - withdraw_before == migration.pool_migration_fee
    from apps.chain.programs.pump_amm import accounts as amm_accounts
    from apps.chain.programs.pump_amm import instructions as amm_ix
    from apps.chain.programs.pump_amm import quotes

    pool_info = result(net.rpc_url, "getAccountInfo", [str(migration.pool), {"encoding": "base64"}])
    pool = amm_accounts.decode_pool(base64.b64decode(pool_info["value"]["data"][0]))
    assert token_balance(net, pool.pool_base_token_account) == curve_tokens
    assert token_balance(net, pool.pool_quote_token_account) == migration.sol_amount
    assert pool.coin_creator == creator.pubkey()

    # A PumpSwap buy: wrap SOL, buy 1 M tokens, pay LP, protocol and creator fees.
    from solders.system_program import TransferParams, transfer
    from spl.token.instructions import sync_native
    from spl.token.models import SyncNativeParams

    from apps.chain.localnet.models import POOL_FEES

    buyer = funded(net)
    wsol = get_associated_token_address(buyer.pubkey(), pool.quote_mint)
    reserves = quotes.PoolReserves.effective(pool, curve_tokens, migration.sol_amount)
    swap = quotes.quote_buy_base_out(reserves, 10**12, POOL_FEES)
    tx = send(
        net,
        buyer,
        [
            create_idempotent_associated_token_account(buyer.pubkey(), buyer.pubkey(), mint),
            create_idempotent_associated_token_account(
                buyer.pubkey(), buyer.pubkey(), pool.quote_mint
            ),
            transfer(
                TransferParams(
                    from_pubkey=buyer.pubkey(), to_pubkey=wsol, lamports=swap.user_quote_in
                )
            ),
            sync_native(SyncNativeParams(program_id=TOKEN_PROGRAM, account=wsol)),
            amm_ix.buy(
                pool_address=migration.pool,
                pool=pool,
                user=buyer.pubkey(),
                protocol_fee_recipient=PROTOCOL_FEE_RECIPIENTS[0],
                base_amount_out=10**12,
                max_quote_amount_in=swap.user_quote_in,
            ),
        ],
    )
    assert tx["meta"]["err"] is None, tx["meta"]["logMessages"]
    assert token_balance(net, get_associated_token_address(buyer.pubkey(), mint)) == 10**12
    assert token_balance(net, wsol) == 0
    assert (
        token_balance(net, pool.pool_quote_token_account)
        == migration.sol_amount + swap.quote_amount + swap.lp_fee
    )
    assert token_balance(net, pool.pool_base_token_account) == curve_tokens - 10**12
    from apps.chain.programs.pump_amm.program import PUMP_AMM

    ((name, buy_event),) = PUMP_AMM.decode_log_events(tx["meta"]["logMessages"])
    assert name == "BuyEvent" and buy_event.protocol_fee == swap.protocol_fee
    assert buy_event.coin_creator_fee == swap.coin_creator_fee


async def test_geyser_stream__carries_curve_progress_and_migration(net: LocalnetHandle) -> None:
    """A Yellowstone subscriber sees the curve account fill and the migration land, as it
    would on mainnet: account writes owned by pump, and pump transactions."""
    import asyncio

    import grpc

    from protos.generated import geyser_pb2 as pb2
    from protos.generated import geyser_pb2_grpc as pb2_grpc

    creator, whale = funded(net), funded(net, 500)
    request = pb2.SubscribeRequest(
        accounts={"curves": pb2.SubscribeRequestFilterAccounts(owner=[str(PUMP_PROGRAM_ID)])},
        transactions={
            "pump": pb2.SubscribeRequestFilterTransactions(account_include=[str(PUMP_PROGRAM_ID)])
        },
        commitment=pb2.CommitmentLevel.CONFIRMED,
        from_slot=net.chain.slot,
    )
    async with grpc.aio.insecure_channel(net.grpc_target) as channel:
        stream = pb2_grpc.GeyserStub(channel).Subscribe(iter([request]))
        mint = launch(net, creator)
        curve = read_curve(net, mint)
        half = curve_math.quote_buy_tokens(curve, curve.real_token_reserves // 2, CURVE_FEE_RATES)
        send(net, whale, buy_ix(whale, mint, creator.pubkey(), half.tokens_out, half.total_sol))
        curve = curve_math.apply_buy(curve, half)
        rest = curve_math.quote_buy_tokens(curve, curve.real_token_reserves, CURVE_FEE_RATES)
        send(net, whale, buy_ix(whale, mint, creator.pubkey(), rest.tokens_out, rest.total_sol))
        migrator = funded(net)
        migration = send(
            net,
            migrator,
            [
                pump_ix.migrate(
                    user=migrator.pubkey(), mint=mint, withdraw_authority=LEGACY_WITHDRAW_AUTHORITY
                )
            ],
        )
        net.chain.advance_slot()  # confirm the last slot
        progress: list[Decimal] = []
        pump_signatures: list[str] = []
        bonding_curve = bytes(pump_pdas.bonding_curve_pda(mint))
        while len(pump_signatures) < 4:
            update = await asyncio.wait_for(stream.read(), 5)
            kind = update.WhichOneof("update_oneof")
            if kind == "account" and update.account.account.pubkey == bonding_curve:
                state = pump_accounts.decode_bonding_curve(update.account.account.data)
                progress.append(curve_math.bonding_curve_progress(state))
            elif kind == "transaction":
                from apps.chain.localnet.b58 import b58encode

                pump_signatures.append(b58encode(update.transaction.transaction.signature))
        stream.cancel()
    # Created at 0 %, half-way, complete; migration drains it (a complete curve reads 100 %).
    assert progress == [0, 50, 100, 100]
    assert pump_signatures[-1] == migration["transaction"]["signatures"][0]
