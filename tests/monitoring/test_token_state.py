"""Token state from a real market: the seeded generator trades on the localnet, our gRPC
subscription records what the chain streamed, and the processor turns it into token rows.

Everything is checked against the generator's ledger and the chain's own accounts.
"""

from __future__ import annotations

import base64
import logging
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connections
from solders.pubkey import Pubkey

from apps.chain.programs.anchor import EVENT_IX_TAG_LE
from apps.chain.programs.pump import PUMP
from apps.chain.programs.pump import curve as curve_math
from apps.chain.programs.pump_amm import PUMP_AMM
from apps.monitoring.models import MigrationEvent, Token, TokenHolding, TokenTrade
from apps.monitoring.services.token_processor import TokenStateProcessor
from apps.monitoring.services.token_state import (
    InProcessHotStore,
    RedisHotStore,
    hot_store_from_settings,
)
from protos.generated import geyser_pb2 as pb

from .market_stream import RecordingPublisher, feed, market_recording

pytestmark = pytest.mark.django_db(transaction=True)

PUMP_ID = bytes(PUMP.program_id)
AMM_ID = bytes(PUMP_AMM.program_id)
ROW_FIELDS = (
    "mint",
    "name",
    "symbol",
    "uri",
    "creator",
    "created_slot",
    "bonding_curve",
    "progress_pct",
    "price_sol",
    "market_cap_sol",
    "complete",
    "pool",
    "migrated_at",
    "holders",
    "dev_holding_pct",
    "top10_pct",
    "last_trade_at",
    "real_token_reserves",
)


async def forget_everything() -> None:
    """Empty the database tables and the Redis hot store (it outlives a test)."""
    store = hot_store_from_settings()
    if isinstance(store, RedisHotStore):
        keys = [k async for k in store._redis.scan_iter(match="monitor:*")]
        if keys:
            await store._redis.delete(*keys)
    else:
        store.clear()
    await store.close()
    for model in (Token, TokenTrade, TokenHolding, MigrationEvent):
        await model.objects.all().adelete()


@pytest.fixture(autouse=True)
async def clean_hot_store():
    await forget_everything()
    store = hot_store_from_settings()
    yield
    await store.close()
    # The async ORM's worker thread keeps its connection otherwise: the test database
    # could not be dropped at the end.
    await sync_to_async(connections.close_all)()


async def rows() -> dict[str, dict]:
    return {r["mint"]: r async for r in Token.objects.order_by("mint").values(*ROW_FIELDS)}


def differences(got: dict[str, dict], expected: dict[str, dict]) -> dict[str, dict]:
    """{mint: {field: (got, expected)}} for every field that differs."""
    out = {}
    for mint in sorted(set(got) | set(expected)):
        a, b = got.get(mint, {}), expected.get(mint, {})
        diff = {f: (a.get(f), b.get(f)) for f in ROW_FIELDS if a.get(f) != b.get(f)}
        if diff:
            out[mint] = diff
    return out


async def fed_processor(publisher: RecordingPublisher | None = None) -> TokenStateProcessor:
    recording = await market_recording()
    processor = TokenStateProcessor(publish=publisher or RecordingPublisher())
    await feed(processor, recording.updates)
    return processor


async def test_every_launch_becomes_a_token_with_the_chains_numbers() -> None:
    recording = await market_recording()
    publisher = RecordingPublisher()
    processor = await fed_processor(publisher)

    tokens = await rows()
    ledger = recording.ledger
    assert sorted(tokens) == sorted(mint for mint, _ in ledger.launches)
    for number, (mint, _) in enumerate(ledger.launches, start=1):
        row, chain = tokens[mint], recording.coins[mint]
        assert (row["name"], row["symbol"]) == (f"Localnet Coin {number}", f"LC{number}")
        assert row["uri"] == f"https://localnet.invalid/coins/{number}.json"
        assert row["creator"] == str(chain.curve.creator)
        assert row["complete"] == chain.curve.complete
        assert row["pool"] == chain.pool
        if chain.pool is None:  # still on its curve: the numbers are the curve's
            expected = curve_math.bonding_curve_progress(chain.curve).quantize(Decimal("1e-4"))
            assert row["progress_pct"] == expected
            assert row["real_token_reserves"] == chain.curve.real_token_reserves
            assert row["price_sol"] == curve_math.spot_price_sol(chain.curve).quantize(
                Decimal("1e-18")
            )
            assert row["market_cap_sol"] > 0
        else:
            assert row["progress_pct"] == 100 and row["migrated_at"] is not None
            assert row["price_sol"] > 0  # the pool's price took over
        # Holder books were followed from each coin's first token account.
        assert row["holders"] >= 1 and row["top10_pct"] > 0
        assert row["dev_holding_pct"] is not None
    for mint in ledger.rugs:
        assert tokens[mint]["dev_holding_pct"] == 0  # the creator sold out
    trades = await TokenTrade.objects.acount()
    assert trades == ledger.curve_trades + ledger.pool_trades
    assert processor.garbage == {}  # a real market streams no garbage
    created = [d["mint"] for t, d in publisher.on("pulse") if t == "token.created"]
    assert sorted(created) == sorted(tokens)


async def test_hot_state_is_readable_at_once_before_any_flush() -> None:
    recording = await market_recording()
    store = hot_store_from_settings()
    assert isinstance(store, RedisHotStore if settings.REDIS_URL else InProcessHotStore)
    processor = TokenStateProcessor(publish=RecordingPublisher(), hot_store=store)
    for update in recording.updates:
        if not update.HasField("slot"):
            await processor.process(update)  # never flushed
    assert await Token.objects.acount() == 0
    first_mint = recording.ledger.launches[0][0]
    hot = await store.token(first_mint)
    assert hot["name"] == "Localnet Coin 1"
    assert hot["pool"] == recording.coins[first_mint].pool
    await processor.close()


async def test_replaying_the_stream_changes_nothing_and_publishes_nothing_new() -> None:
    recording = await market_recording()
    publisher = RecordingPublisher()
    processor = await fed_processor(publisher)
    before, trades, events = await rows(), await TokenTrade.objects.acount(), len(publisher.events)

    # A reconnect that resumes from an earlier slot: the same updates again.
    await feed(processor, recording.updates)
    assert differences(await rows(), before) == {}
    assert await TokenTrade.objects.acount() == trades
    assert len(publisher.events) == events

    # A restart: a new processor, state from the database, the whole stream replayed.
    restarted_publisher = RecordingPublisher()
    restarted = TokenStateProcessor(publish=restarted_publisher)
    await feed(restarted, recording.updates)
    assert differences(await rows(), before) == {}
    assert await TokenTrade.objects.acount() == trades
    assert restarted_publisher.events == []
    assert await MigrationEvent.objects.acount() == 2 * len(recording.ledger.graduations)


async def test_a_replay_of_half_the_stream_then_the_rest_ends_in_the_same_state() -> None:
    """A cut mid-run: the second connection re-sends some of what the first delivered."""
    recording = await market_recording()
    reference = await fed_processor()
    expected = await rows()
    await reference.close()
    await forget_everything()

    updates = recording.updates
    cut, resume = len(updates) // 2, len(updates) // 3
    processor = TokenStateProcessor(publish=RecordingPublisher())
    await feed(processor, updates[:cut])
    restarted = TokenStateProcessor(publish=RecordingPublisher())  # state from the database
    await feed(restarted, updates[resume:])
    assert differences(await rows(), expected) == {}


# ---- garbage -------------------------------------------------------------------------------


def account_update(owner: bytes, data: bytes, pubkey: bytes | None = None) -> pb.SubscribeUpdate:
    update = pb.SubscribeUpdate()
    info = update.account.account
    info.pubkey = pubkey if pubkey is not None else bytes(Pubkey.new_unique())
    info.owner, info.data, info.write_version = owner, data, 1
    update.account.slot = 10**9
    return update


def transaction_update(*, logs: list[str], inner: list[bytes]) -> pb.SubscribeUpdate:
    update = pb.SubscribeUpdate()
    tx = update.transaction.transaction
    tx.signature = bytes(64)
    tx.transaction.message.account_keys.extend([bytes(Pubkey.new_unique()), PUMP_ID])
    tx.meta.log_messages.extend(logs)
    group = tx.meta.inner_instructions.add(index=0)
    for data in inner:
        group.instructions.add(program_id_index=1, data=data)
    update.transaction.slot = 10**9
    return update


def garbage_updates() -> list[pb.SubscribeUpdate]:
    curve_disc = PUMP.account_discriminators["BondingCurve"]
    pool_disc = PUMP_AMM.account_discriminators["Pool"]
    trade_disc = PUMP.event_discriminators["TradeEvent"]
    truncated_trade = trade_disc + bytes(36)  # the mint, then half an amount
    pump = str(PUMP.program_id)
    return [
        account_update(PUMP_ID, bytes(8) + bytes(100)),  # no pump account starts like this
        account_update(PUMP_ID, curve_disc + bytes(20)),  # a curve cut short
        account_update(AMM_ID, pool_disc + bytes(50)),  # a pool cut short
        account_update(AMM_ID, b"\x01" * 300),
        account_update(PUMP_ID, bytes(3), pubkey=bytes(5)),  # not even a 32-byte address
        transaction_update(logs=[], inner=[EVENT_IX_TAG_LE + truncated_trade]),
        transaction_update(
            logs=[
                f"Program {pump} invoke [1]",
                "Program data: " + base64.b64encode(truncated_trade).decode(),
                f"Program {pump} success",
            ],
            inner=[],
        ),
        transaction_update(logs=[], inner=[EVENT_IX_TAG_LE + bytes(8) + bytes(30)]),
    ]


async def test_garbage_is_counted_by_kind_logged_once_and_never_fatal(caplog) -> None:
    processor = TokenStateProcessor(publish=RecordingPublisher(), hot_store=InProcessHotStore())
    caplog.set_level(logging.WARNING, logger="apps.monitoring.services.token_processor")
    for _ in range(2):
        for update in garbage_updates():
            await processor.process(update)

    assert processor.garbage == {
        "account_discriminator": 6,
        "account_size": 4,
        "event_undecodable": 4,
        "event_discriminator": 2,
    }
    warnings = [r for r in caplog.records if "garbage" in r.getMessage()]
    assert len(warnings) == 4  # once per kind, however often it comes

    # The processor still works: the real market after the garbage.
    recording = await market_recording()
    await feed(processor, recording.updates)
    assert await Token.objects.acount() == len(recording.ledger.launches)
