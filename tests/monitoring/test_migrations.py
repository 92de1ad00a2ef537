"""Migration stages from the real market: each graduation's `curve_complete` and `migrated`,
recorded and published exactly once — across replays, restarts, racing instances and a crash
between the insert and the publish — and delivered through the real event bus."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from solders.pubkey import Pubkey

from apps.chain.programs.ids import WSOL_MINT
from apps.chain.programs.pump import pdas as pump_pdas
from apps.monitoring.models import MigrationEvent
from apps.monitoring.services.migration_detector import MigrationDetector, Stage
from apps.monitoring.services.token_processor import TokenStateProcessor
from apps.realtime import bus

from .market_stream import RecordingPublisher, feed, market_recording
from .test_token_state import clean_hot_store, forget_everything  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db(transaction=True)

MINT = str(Pubkey.new_unique())


def stage(name: str = "curve_complete", mint: str = MINT) -> Stage:
    return Stage(mint, name, "5" * 87, 42, datetime(2026, 1, 2, tzinfo=UTC))


async def test_each_graduation_fires_both_stages_once_with_its_pool() -> None:
    recording = await market_recording()
    publisher = RecordingPublisher()
    processor = TokenStateProcessor(publish=publisher)
    await feed(processor, recording.updates)
    await feed(processor, recording.updates)  # a replay after a reconnect

    graduated = recording.ledger.graduations
    rows = [r async for r in MigrationEvent.objects.order_by("slot", "id")]
    assert sorted((r.mint, r.stage) for r in rows) == sorted(
        (mint, s) for mint in graduated for s in ("curve_complete", "migrated")
    )
    for row in rows:
        assert row.published_at is not None and row.signature and row.slot > 0
        if row.stage == "migrated":
            canonical = pump_pdas.canonical_pool_pda(Pubkey.from_string(row.mint), WSOL_MINT)
            assert row.pool == str(canonical) == recording.coins[row.mint].pool
    published = publisher.on("migrations")
    assert len(published) == 2 * len(graduated)  # once each, the replay added none
    for mint in graduated:
        stages = [t for t, d in published if d["mint"] == mint]
        assert stages == ["curve_complete", "migrated"]  # in the order they happened
        on_token = [t for t, _ in publisher.on(f"token:{mint}") if t in stages]
        assert on_token == stages
        moved = [
            d for t, d in publisher.on("pulse:migrated") if t == "token.moved" and d["mint"] == mint
        ]
        assert [d["from"] for d in moved] == ["final"]  # a completed curve waits in Final


async def test_two_instances_racing_record_a_stage_once() -> None:
    publishers = [RecordingPublisher(), RecordingPublisher()]
    detectors = [MigrationDetector(p) for p in publishers]
    results = await asyncio.gather(*(d.record(stage()) for d in detectors))
    assert sorted(results) == [False, True]
    assert sum(len(p.on("migrations")) for p in publishers) == 1
    assert await MigrationEvent.objects.acount() == 1


async def test_a_crash_between_insert_and_publish_is_published_at_the_next_start() -> None:
    async def bus_down(topic: str, type_: str, data: dict) -> str:
        raise ConnectionError("bus unavailable")

    with pytest.raises(ConnectionError):
        await MigrationDetector(bus_down).record(stage("migrated"))
    row = await MigrationEvent.objects.aget()
    assert row.published_at is None

    publisher = RecordingPublisher()
    restarted = MigrationDetector(publisher)
    assert await restarted.publish_pending() == 1
    assert [t for t, _ in publisher.on("migrations")] == ["migrated"]
    assert await restarted.publish_pending() == 0  # marked published
    assert await restarted.record(stage("migrated")) is False


async def test_stages_reach_subscribers_through_the_real_bus() -> None:
    recording = await market_recording()
    graduated = recording.ledger.graduations
    async with bus.subscribe(["migrations"]) as subscription:
        processor = TokenStateProcessor()  # publishes through apps.realtime.bus
        await feed(processor, recording.updates)
        received = []
        async with asyncio.timeout(10):
            async for event in subscription:
                received.append((event.data["mint"], event.type))
                if len(received) == 2 * len(graduated):
                    break
        await processor.close()
    assert sorted(received) == sorted(
        (mint, s) for mint in graduated for s in ("curve_complete", "migrated")
    )
