"""Engine clients against the localnet's Jito, bloXroute and NextBlock, with real bundles:
three copies of one order at the same slot execute once; engine faults become receipts."""

from __future__ import annotations

import time

import pytest
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.system_program import TransferParams, create_nonce_account, transfer
from solders.transaction import VersionedTransaction

from apps.chain.block_engines import JITO_TIP_ACCOUNTS
from apps.chain.localnet import LocalnetHandle
from apps.chain.localnet.engines_core import EngineFaults
from apps.chain.programs.spl import associated_token_address
from apps.trading.services.engines import engine, submit_everywhere
from apps.trading.services.order_builder import DurableNonce, Side, Tip, build_copies
from tests.chain.localnet import result, transfer_tx
from tests.chain.localnet.test_pump_model import funded, launch, send, token_balance
from tests.trading.test_order_builder import blockhash, nonce_value, plan

SOL = 1_000_000_000
NAMES = ("jito", "bloxroute", "nextblock")


@pytest.fixture
def engines(net: LocalnetHandle, settings, platform_rpc):
    settings.JITO_URL = f"{net.engines_url}/jito"
    settings.BLOXROUTE_URL = f"{net.engines_url}/bloxroute"
    settings.NEXTBLOCK_URL = f"{net.engines_url}/nextblock"
    settings.JITO_UUID = settings.BLOXROUTE_AUTH = settings.NEXTBLOCK_AUTH = ""
    for name in NAMES:
        net.chain.airdrop(engine(name).tip_account(), SOL)  # tip accounts exist on mainnet
    yield net.engines
    for name in NAMES:
        net.engines.engine(name).faults = EngineFaults()
        net.engines.engine(name).auth = None


async def _order_copies(net: LocalnetHandle, routes=NAMES):
    """A curve buy of 0.1 SOL, one nonce copy per engine (each tipping its own account)."""
    creator, trader = funded(net), funded(net, 20)
    mint = launch(net, creator)
    nonce = Keypair()
    created = send(
        net,
        trader,
        list(create_nonce_account(trader.pubkey(), nonce.pubkey(), trader.pubkey(), SOL // 100)),
        nonce,
    )
    assert created["meta"]["err"] is None
    net.chain.advance_slot()
    value = nonce_value(net, nonce.pubkey())
    order = await plan(trader, mint, Side.BUY, SOL // 10)
    tips = {name: Tip(engine(name).min_tip_lamports, engine(name).tip_account()) for name in routes}
    copies = build_copies(
        order, signer=trader, tips=tips, nonce=DurableNonce(nonce.pubkey(), value)
    )
    return trader, mint, nonce.pubkey(), value, order, copies


def _tipped_transfer(
    net: LocalnetHandle, name: str, payer: Keypair, recipient: Pubkey, lamports: int
) -> bytes:
    """A plain transfer that also pays `name`'s minimum tip (every engine requires one)."""
    client = engine(name)
    instructions = [
        transfer(
            TransferParams(from_pubkey=payer.pubkey(), to_pubkey=recipient, lamports=lamports)
        ),
        transfer(
            TransferParams(
                from_pubkey=payer.pubkey(),
                to_pubkey=client.tip_account(),
                lamports=client.min_tip_lamports,
            )
        ),
    ]
    message = Message.new_with_blockhash(instructions, payer.pubkey(), blockhash(net))
    return bytes(VersionedTransaction(message, [payer]))


def _landed(net: LocalnetHandle, signatures: list[str]) -> list[bool]:
    statuses = result(net.rpc_url, "getSignatureStatuses", [signatures])["value"]
    return [bool(s) and s.get("err") is None for s in statuses]


async def test_three_copies_at_the_same_slot__exactly_one_executes(net, engines):
    trader, mint, nonce, value, order, copies = await _order_copies(net)

    receipts = await submit_everywhere({name: [copies[name].tx_bytes] for name in NAMES})
    net.chain.advance_slot()  # the engines land what they accepted at the slot boundary
    net.chain.advance_slot()
    landed = _landed(net, [copies[name].signature for name in NAMES])

    assert all(receipts[name].accepted for name in NAMES), receipts
    assert sum(landed) == 1
    assert token_balance(net, associated_token_address(trader.pubkey(), mint)) == (
        order.quote.expected_out
    )
    assert nonce_value(net, nonce) != value


async def test_jito_down_bloxroute_429_nextblock_ok__lands_through_nextblock(net, engines):
    engines.engine("jito").faults = EngineFaults(down=True)
    engines.engine("bloxroute").faults = EngineFaults(rate_limited=True)
    trader, mint, _, _, order, copies = await _order_copies(net)

    receipts = await submit_everywhere({name: [copies[name].tx_bytes] for name in NAMES})
    net.chain.advance_slot()
    net.chain.advance_slot()

    assert (receipts["jito"].accepted, receipts["jito"].error_kind) == (False, "down")
    assert (receipts["bloxroute"].accepted, receipts["bloxroute"].error_kind) == (
        False,
        "rate_limited",
    )
    assert receipts["nextblock"].accepted and receipts["nextblock"].bundle_id
    assert _landed(net, [copies[name].signature for name in NAMES]) == [False, False, True]
    assert token_balance(net, associated_token_address(trader.pubkey(), mint)) == (
        order.quote.expected_out
    )


AUTH_SETTING = {"jito": "JITO_UUID", "bloxroute": "BLOXROUTE_AUTH", "nextblock": "NEXTBLOCK_AUTH"}


@pytest.mark.parametrize("name", NAMES)
async def test_auth_header__right_key_accepted_wrong_key_unauthorized(net, engines, settings, name):
    engines.engine(name).auth = "the-right-key"
    payer, recipient = funded(net, 1), Keypair().pubkey()

    setattr(settings, AUTH_SETTING[name], "a-wrong-key")
    # engine() reads its key from settings each time, as every order does
    refused = await engine(name).submit(
        [_tipped_transfer(net, name, payer, recipient, 1_000_000)], 2.0
    )
    setattr(settings, AUTH_SETTING[name], "the-right-key")
    accepted = await engine(name).submit(
        [_tipped_transfer(net, name, payer, recipient, 2_000_000)], 2.0
    )
    net.chain.advance_slot()

    assert (refused.accepted, refused.error_kind) == (False, "unauthorized")
    assert name in refused.error
    assert accepted.accepted, accepted
    assert net.chain.get_balance(recipient) == 2_000_000  # only the authorised copy moved funds


@pytest.mark.parametrize("name", NAMES)
async def test_two_transaction_bundle__each_engines_batch_format_lands_atomically(
    net, engines, name
):
    payer, recipient = funded(net, 1), Keypair().pubkey()
    first = bytes(transfer_tx(payer, recipient, 1_000_000, blockhash(net)))
    second = _tipped_transfer(net, name, payer, recipient, 2_000_000)

    receipt = await engine(name).submit([first, second], 2.0)
    net.chain.advance_slot()

    assert receipt.accepted and receipt.bundle_id, receipt
    assert net.chain.get_balance(recipient) == 3_000_000


async def test_jito_bundle_queries__inflight_then_landed_and_its_tip_accounts(net, engines):
    payer, recipient = funded(net, 1), Keypair().pubkey()
    jito = engine("jito")
    slot = net.chain.slot
    receipt = await jito.submit([_tipped_transfer(net, "jito", payer, recipient, 1_000_000)], 2.0)
    unknown = "0" * 64

    pending = await jito.inflight_bundle_statuses([receipt.bundle_id, unknown], 2.0)
    net.chain.advance_slot()
    inflight = await jito.inflight_bundle_statuses([receipt.bundle_id], 2.0)
    statuses = await jito.bundle_statuses([receipt.bundle_id, unknown], 2.0)

    assert pending == {receipt.bundle_id: "Pending", unknown: "Invalid"}
    assert inflight == {receipt.bundle_id: "Landed"}
    landed = statuses[receipt.bundle_id]
    assert landed["slot"] == slot + 1 and landed["err"] == {"Ok": None}
    assert len(landed["transactions"]) == 1 and statuses[unknown] is None
    assert await jito.fetch_tip_accounts(2.0) == list(JITO_TIP_ACCOUNTS)


async def test_a_slow_engine_does_not_delay_the_others(net, engines, settings):
    settings.ENGINE_TIMEOUT_SECONDS = 0.5
    engines.engine("jito").faults = EngineFaults(latency_ms=2_000)
    _, _, _, _, _, copies = await _order_copies(net)

    started = time.monotonic()
    receipts = await submit_everywhere({name: [copies[name].tx_bytes] for name in NAMES})
    elapsed = time.monotonic() - started

    assert receipts["jito"].error_kind == "timeout"
    assert receipts["bloxroute"].accepted and receipts["nextblock"].accepted
    assert receipts["nextblock"].latency_ms < 400
    assert elapsed < 1.5


async def test_rejected_bundle__the_engines_own_message(net, engines):
    _, _, _, _, _, copies = await _order_copies(net, routes=("jito",))
    untipped = VersionedTransaction.from_bytes(copies["jito"].tx_bytes)
    # The Jito copy sent to NextBlock tips the wrong engine: NextBlock refuses it.
    receipts = await submit_everywhere({"nextblock": [bytes(untipped)]})

    assert receipts["nextblock"].error_kind == "rejected"
    assert "tip" in receipts["nextblock"].error


def test_engine__tip_accounts_are_real_pubkeys():
    for name in NAMES:
        client = engine(name)
        assert isinstance(client.tip_account(3), Pubkey)
        assert client.tip_account(0) != client.tip_account(1)
