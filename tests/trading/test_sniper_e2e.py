"""The sniper end to end on the localnet: a launch streamed over real gRPC by the monitor,
a matching rule, and the buy landing through the engines within the next slot."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Iterator

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.db import connections
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction

from apps.chain.base58 import b58encode
from apps.chain.localnet import LocalnetHandle, start_localnet_in_thread
from apps.chain.programs.pump import instructions as pump_ix
from apps.chain.programs.spl import associated_token_address
from apps.monitoring.models import Token
from apps.monitoring.services.geyser_stream import StreamConfig, build_subscriber
from apps.monitoring.services.token_processor import TokenStateProcessor
from apps.trading.models import Order, SniperDecision, SniperRule, SniperTrigger
from apps.trading.services import nonce as nonces
from apps.trading.services.engines import ENGINE_NAMES, engine
from apps.trading.services.sniper import Sniper
from apps.trading.services.wallets import import_wallet, wallet_keypair
from tests.chain.localnet.test_pump_model import funded, token_balance

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

SOL = 1_000_000_000
SLOT_MS = 400  # mainnet's slot time


@pytest.fixture(scope="module")
def chain() -> Iterator[LocalnetHandle]:
    with start_localnet_in_thread(slot_ms=SLOT_MS) as handle:
        yield handle


@pytest.fixture
def platform(chain: LocalnetHandle, settings):
    settings.SOLANA_RPC_URLS = [chain.rpc_url]
    settings.JITO_URL = f"{chain.engines_url}/jito"
    settings.BLOXROUTE_URL = f"{chain.engines_url}/bloxroute"
    settings.NEXTBLOCK_URL = f"{chain.engines_url}/nextblock"
    settings.SLOT_SECONDS = SLOT_MS / 1000
    settings.ORDER_POLL_SECONDS = 0.05
    settings.SNIPER_REFRESH_SECONDS = 0.2
    for name in ENGINE_NAMES:
        for index in range(4):
            chain.chain.airdrop(engine(name).tip_account(index), SOL)
    return chain


def _launch_mid_slot(net: LocalnetHandle, creator: Keypair) -> Pubkey:
    """A pump.fun launch sent while the slot clock runs (nothing closes its slot early)."""
    mint = Keypair()
    blockhash, _ = net.chain.latest_blockhash("processed")
    create = pump_ix.create(
        mint=mint.pubkey(),
        user=creator.pubkey(),
        creator=creator.pubkey(),
        name="Localnet Dog",
        symbol="LDOG",
        uri="https://example.invalid/ldog.json",
    )
    message = Message.new_with_blockhash([create], creator.pubkey(), blockhash)
    tx = VersionedTransaction(message, [creator, mint])
    outcome = net.chain.execute(tx)
    assert outcome.err is None, outcome.err
    return mint.pubkey()


@sync_to_async
def _user():
    return get_user_model().objects.create_user("sniper-e2e", "sniper@example.com")


async def test_rule_buys_a_matching_launch_within_the_next_slot(platform):
    user = await _user()
    keypair = funded(platform, 30)
    wallet = await import_wallet(user_id=user.pk, secret_key=b58encode(bytes(keypair)))
    await nonces.ensure_nonce_account(wallet, wallet_keypair(wallet))  # a prepared wallet
    await SniperRule.objects.acreate(
        owner=user,
        wallet=wallet,
        name="dogs",
        trigger=SniperTrigger.NEW_TOKEN,
        name_pattern="localnet dog",
        min_safety="any",
        amount_lamports=SOL // 10,
        budget_lamports=SOL,
        slippage_bps=2_000,
        compute_unit_price=1_000,
        tip_lamports=1_000_000,
    )
    processor = TokenStateProcessor()
    subscriber = build_subscriber(
        processor,
        StreamConfig(
            url=platform.grpc_target, name=f"sniper-{uuid.uuid4().hex[:8]}", commitment="processed"
        ),
    )
    monitor = asyncio.create_task(subscriber.run())
    sniper = Sniper()
    sniping = asyncio.create_task(sniper.run())
    try:
        await asyncio.sleep(1.0)  # the stream and the sniper's subscription are up
        created = await asyncio.to_thread(_launch_mid_slot, platform, funded(platform))
        deadline = time.monotonic() + 20
        order = None
        while time.monotonic() < deadline:
            order = await Order.objects.filter(mint=str(created)).afirst()
            if order is not None and order.state in ("landed", "failed", "expired"):
                break
            await asyncio.sleep(0.05)
        decision = await SniperDecision.objects.aget(mint=str(created))
        # The same event again (a replay after a reconnect): decided already, no second buy.
        replayed = await sniper.on_event(
            "pulse",
            "token.created",
            "0-1",
            {"mint": str(created), "column": "new", "name": "Localnet Dog", "symbol": "LDOG"},
        )
        orders = await Order.objects.filter(mint=str(created)).acount()
        launch_slot = (await Token.objects.aget(mint=str(created))).created_slot
    finally:
        for task in (sniping, monitor):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, 10)  # bounded: a stuck task fails
        for task in list(sniper._tasks):
            with contextlib.suppress(Exception):
                await task
        await processor.close()
        await sync_to_async(connections.close_all)()

    assert decision.outcome == "bought", decision.reason
    assert replayed == [] and orders == 1
    assert order is not None and order.state == "landed", order and order.error_message
    held = token_balance(platform, associated_token_address(keypair.pubkey(), created))
    assert held == int(order.quote["expected_out"])
    # The launch's own slot or the next one.
    assert launch_slot <= order.landed_slot <= launch_slot + 1, (order.landed_slot, launch_slot)
