"""The monitor end to end: the real Geyser subscriber, over real gRPC from the localnet,
feeding the real token processor while the seeded market generator trades, with the
checkpoint and lease in real Redis and the state in real PostgreSQL.

Oracles: the generator's ledger (what it launched and graduated), the chain's own accounts
(curves and pools), and for the disrupted runs an undisturbed run of the same seed on the
same slot schedule — everything but wall-clock times must come out identical.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from django.conf import settings
from solders.pubkey import Pubkey

from apps.chain.localnet import LocalnetHandle, start_localnet_in_thread
from apps.chain.localnet.market import MarketGenerator
from apps.chain.programs.ids import WSOL_MINT
from apps.chain.programs.pump import accounts as pump_accounts
from apps.chain.programs.pump import curve as curve_math
from apps.chain.programs.pump import pdas as pump_pdas
from apps.monitoring.models import MigrationEvent, PulseRules, Token, TokenHolding, TokenTrade
from apps.monitoring.services.geyser_checkpoint import checkpoint_key
from apps.monitoring.services.geyser_lease import lease_key
from apps.monitoring.services.geyser_stream import GeyserSubscriber, StreamConfig, build_subscriber
from apps.monitoring.services.pulse import column_of
from apps.monitoring.services.token_processor import TokenStateProcessor
from config.asgi import application
from tests.chain.localnet import result
from tests.servers import serve_asgi

from .geyser_helpers import BUSY, CuttableProxy, restart_geyser, until
from .market_stream import RecordingPublisher
from .test_token_state import clean_hot_store, forget_everything  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db(transaction=True)

STEPS = 160  # 8 launches, 4 of them graduated (seed 11), a rug and a fizzle
SLOT_EVERY = 4  # market steps per slot: the same schedule in every run
LEASE_TTL = 1.0
WAIT_S = 15.0
# Every Token column that the chain determines; wall-clock times (created_at, last_trade_at,
# migrated_at, updated_at) differ between two runs of the same seed.
STATE_FIELDS = (
    "mint",
    "name",
    "symbol",
    "uri",
    "creator",
    "created_slot",
    "bonding_curve",
    "virtual_sol_reserves",
    "virtual_token_reserves",
    "real_sol_reserves",
    "real_token_reserves",
    "token_total_supply",
    "progress_pct",
    "price_sol",
    "market_cap_sol",
    "complete",
    "pool",
    "holders",
    "dev_holding_pct",
    "top10_pct",
    "state_slot",
)


class WatchedProcessor(TokenStateProcessor):
    """The real processor; keeps the slots it flushed, in order. With `freeze_after_stage`
    it hangs in the first flush after it published a migration stage: the process dies with
    the slot processed and published but not written, as in a crash."""

    def __init__(self, publish: RecordingPublisher, *, freeze_after_stage: bool = False) -> None:
        super().__init__(publish=publish)
        self.flushes: list[int] = []
        self.freeze_after_stage = freeze_after_stage
        self.frozen_at: int | None = None

    async def flush(self, slot: int) -> None:
        if self.freeze_after_stage and self.detector.published:
            self.frozen_at = slot
            await asyncio.Event().wait()  # until the instance is killed
        await super().flush(slot)
        self.flushes.append(slot)


@dataclass
class Outcome:
    """What a watched run left behind, minus wall-clock times."""

    tokens: dict[str, dict[str, Any]]
    holdings: list[tuple[Any, ...]]
    trades: list[tuple[Any, ...]]
    migrations: list[tuple[Any, ...]]  # the MigrationEvent rows
    published: list[tuple[Any, ...]]  # what went out on the `migrations` topic
    pulse: list[tuple[str, str, str]]  # (topic, type, mint) of every Pulse / token event


class WatchedMarket:
    """A fresh localnet with the seeded market (its own chain: the same mints every run),
    stepped on a fixed slot schedule so that runs of the same seed are comparable."""

    def __init__(self, net: LocalnetHandle, redis: aioredis.Redis, name: str) -> None:
        self.net = net
        self.redis = redis
        self.name = name
        self.generator = MarketGenerator(net.rpc_url, BUSY)
        self.publisher = RecordingPublisher()  # shared by every processor of the run
        self.processors: list[WatchedProcessor] = []
        self.step = 0
        self.start = 0

    async def setup(self) -> None:
        await self.generator.setup()
        self.net.chain.advance_slot()
        # The stream starts right after the last confirmed slot (no replay of the funding).
        self.start = self.net.chain.slot - 1
        await self.redis.set(checkpoint_key(self.name), self.start)

    def subscriber(
        self, target: str | None = None, *, freeze_after_stage: bool = False
    ) -> GeyserSubscriber:
        processor = WatchedProcessor(self.publisher, freeze_after_stage=freeze_after_stage)
        self.processors.append(processor)
        config = StreamConfig(
            url=target or self.net.grpc_target,
            name=self.name,
            ping_s=0.5,
            reconnect_base_s=0.05,
            reconnect_max_s=0.4,
        )
        return build_subscriber(processor, config, redis=self.redis, lease_ttl_s=LEASE_TTL)

    async def drive(
        self, steps: int, at_slot: Callable[[int], Awaitable[None]] | None = None
    ) -> None:
        """`steps` market steps, a new slot every SLOT_EVERY; `at_slot(step)` right after
        each new slot opens (while the server streams the one just confirmed)."""
        for _ in range(steps):
            await self.generator.step()
            self.step += 1
            if self.step % SLOT_EVERY == 0:
                self.net.chain.advance_slot()
                if at_slot is not None:
                    await at_slot(self.step)

    def confirm(self) -> int:
        """Close the open slot; the last confirmed slot."""
        self.net.chain.advance_slot()
        return self.confirmed

    @property
    def confirmed(self) -> int:
        return self.net.chain.slot - 1

    async def close(self) -> None:
        for processor in self.processors:
            await processor.close()

    async def outcome(self) -> Outcome:
        tokens = {
            row["mint"]: row async for row in Token.objects.order_by("mint").values(*STATE_FIELDS)
        }
        holdings = [
            row
            async for row in TokenHolding.objects.order_by("mint", "account").values_list(
                "mint", "account", "owner", "amount"
            )
        ]
        trades = sorted(
            [
                row
                async for row in TokenTrade.objects.values_list(
                    "mint", "slot", "index", "venue", "side", "sol_amount", "token_amount", "user"
                )
            ]
        )
        migrations = [
            row
            async for row in MigrationEvent.objects.order_by("slot", "id").values_list(
                "mint", "stage", "slot", "pool"
            )
        ]
        published = [
            (type_, d["mint"], d["stage"], d["slot"], d["pool"])
            for type_, d in self.publisher.on("migrations")
        ]
        pulse = [
            (topic, type_, data["mint"])
            for topic, type_, data in self.publisher.events
            if topic.startswith(("pulse", "token:"))
        ]
        return Outcome(tokens, holdings, trades, migrations, published, pulse)


@pytest.fixture
async def redis() -> AsyncIterator[aioredis.Redis]:
    assert settings.REDIS_URL, "make test runs the suite with REDIS_URL set"
    client = aioredis.from_url(settings.REDIS_URL)
    yield client
    await client.aclose()


@contextlib.asynccontextmanager
async def watched_market(redis: aioredis.Redis) -> AsyncIterator[WatchedMarket]:
    """A fresh localnet and stream name, and empty tables and hot store."""
    await forget_everything()
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    with start_localnet_in_thread(slot_ms=0) as net:
        net.server.geyser.ping_interval = 0.2  # a resubscribed stream hears at once
        watched = WatchedMarket(net, redis, name)
        try:
            await watched.setup()
            yield watched
        finally:
            await watched.close()
            await redis.delete(checkpoint_key(name), lease_key(name))


@contextlib.asynccontextmanager
async def running(sub: GeyserSubscriber) -> AsyncIterator[asyncio.Task]:
    task = asyncio.create_task(sub.run())
    try:
        yield task
    finally:
        await stop(task)


async def stop(task: asyncio.Task) -> None:
    """Cancel a subscriber; one that crashed (a processor error, say) fails the test."""
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        return
    raise AssertionError(f"the subscriber ended by itself: {task}")


def flushed(sub: GeyserSubscriber, slot: int) -> bool:
    return sub.stats.flushed_slot is not None and sub.stats.flushed_slot >= slot


async def caught_up(sub: GeyserSubscriber, slot: int) -> None:
    await until(lambda: flushed(sub, slot), timeout=WAIT_S, what=f"slot {slot} flushed")


# ---- the undisturbed run: the reference for the others ------------------------------------

_reference: tuple[Outcome, list[tuple[str, str]], list[str]] | None = None


async def undisturbed_run(
    redis: aioredis.Redis, check: Callable[[WatchedMarket], Awaitable[None]] | None = None
) -> tuple[Outcome, list[tuple[str, str]], list[str]]:
    """One subscriber, never cut, for the whole market: (outcome, launches, graduations)."""
    global _reference
    async with watched_market(redis) as market:
        sub = market.subscriber()
        async with running(sub):
            await market.drive(STEPS)
            last = market.confirm()
            await caught_up(sub, last)
        assert sub.stats.reconnects == 0
        assert market.processors[0].flushes == list(range(market.start + 1, last + 1))
        if check is not None:
            await check(market)
        _reference = (
            await market.outcome(),
            list(market.generator.ledger.launches),
            list(market.generator.ledger.graduations),
        )
    return _reference


async def reference(redis: aioredis.Redis) -> tuple[Outcome, list[tuple[str, str]], list[str]]:
    return _reference or await undisturbed_run(redis)


def assert_same_state(got: Outcome, expected: Outcome) -> None:
    diff = {
        mint: {
            f: (got.tokens.get(mint, {}).get(f), expected.tokens.get(mint, {}).get(f))
            for f in STATE_FIELDS
            if got.tokens.get(mint, {}).get(f) != expected.tokens.get(mint, {}).get(f)
        }
        for mint in set(got.tokens) | set(expected.tokens)
    }
    assert {m: d for m, d in diff.items() if d} == {}
    assert got.holdings == expected.holdings
    assert got.trades == expected.trades
    assert got.migrations == expected.migrations


def assert_each_graduation_once(outcome: Outcome, graduations: list[str]) -> None:
    """Exactly one curve_complete then one migrated per graduated mint: rows and events."""
    expected = sorted((m, s) for m in graduations for s in ("curve_complete", "migrated"))
    assert sorted((m, s) for m, s, *_ in outcome.migrations) == expected
    assert sorted((m, s) for _, m, s, *_ in outcome.published) == expected
    for mint in graduations:
        assert [s for _, m, s, *_ in outcome.published if m == mint] == [
            "curve_complete",
            "migrated",
        ]
    # what was published is what was stored (slot and pool included)
    assert sorted(p[1:] for p in outcome.published) == sorted(outcome.migrations)


# ---- 1. the whole monitor against the market ------------------------------------------------


@pytest.fixture
def base_url(transactional_db) -> Iterator[str]:
    with serve_asgi(application) as url:
        yield url


async def test_monitor_follows_the_market_launches_pulse_and_migrations(redis, base_url) -> None:
    async def check(market: WatchedMarket) -> None:
        ledger = market.generator.ledger
        rpc_url = market.net.rpc_url
        tokens = {t.mint: t async for t in Token.objects.all()}
        assert sorted(tokens) == sorted(mint for mint, _ in ledger.launches)
        assert len(ledger.launches) == STEPS // BUSY.steps_per_launch
        assert ledger.graduations and len(ledger.graduations) < len(ledger.launches)

        # Each token as the chain holds it, and its Pulse column by the default rules.
        rules, expected_columns = PulseRules(), {"new": set(), "final": set(), "migrated": set()}
        for number, (mint, _) in enumerate(ledger.launches, start=1):
            key = Pubkey.from_string(mint)
            curve_info = result(
                rpc_url,
                "getAccountInfo",
                [str(pump_pdas.bonding_curve_pda(key)), {"encoding": "base64"}],
            )["value"]
            curve = pump_accounts.decode_bonding_curve(base64.b64decode(curve_info["data"][0]))
            pool = pump_pdas.canonical_pool_pda(key, WSOL_MINT)
            has_pool = result(rpc_url, "getAccountInfo", [str(pool), {"encoding": "base64"}])
            token = tokens[mint]
            assert (token.name, token.symbol) == (f"Localnet Coin {number}", f"LC{number}")
            assert token.creator == str(curve.creator)
            assert token.complete == curve.complete
            assert token.pool == (str(pool) if has_pool["value"] else None)
            assert (token.pool is not None) == (mint in ledger.graduations)
            if token.pool is None:
                progress = curve_math.bonding_curve_progress(curve)
                assert token.progress_pct == progress.quantize(Decimal("1e-4"))
                assert token.real_token_reserves == curve.real_token_reserves
            else:
                assert token.progress_pct == 100 and token.migrated_at is not None
            column = column_of(curve_math.bonding_curve_progress(curve), bool(token.pool), rules)
            expected_columns[column.value].add(mint)
        assert expected_columns["migrated"] == set(ledger.graduations)
        assert expected_columns["new"]  # the market leaves early coins behind

        async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
            response = await client.get("/api/pulse")
            assert response.status_code == 200, response.text
            board = response.json()["columns"]
            assert {c: {t["mint"] for t in board[c]} for c in board} == expected_columns
            only = (await client.get("/api/pulse?category=migrated")).json()["columns"]
            assert list(only) == ["migrated"]
            assert [t["mint"] for t in only["migrated"]] == [t["mint"] for t in board["migrated"]]

        # The last event each token published names the column the board shows.
        last_column = {
            d["mint"]: d["column"]
            for topic, _, d in market.publisher.events
            if topic == "pulse" and "column" in d
        }
        assert {c: {m for m, col in last_column.items() if col == c} for c in board} == (
            expected_columns
        )
        assert trades_of(ledger) == await TokenTrade.objects.acount()
        assert all(p.garbage == {} for p in market.processors)

    outcome, _, graduations = await undisturbed_run(redis, check)
    assert_each_graduation_once(outcome, graduations)
    for mint in graduations:  # curve_complete strictly before migrated, each with a slot
        stages = [(s, slot) for m, s, slot, _ in outcome.migrations if m == mint]
        assert [s for s, _ in stages] == ["curve_complete", "migrated"]
        assert stages[0][1] <= stages[1][1]


def trades_of(ledger: Any) -> int:
    return ledger.curve_trades + ledger.pool_trades


# ---- 2. the stream killed mid-run --------------------------------------------------------------


async def test_cut_connections_and_server_restarts_lose_and_duplicate_nothing(redis) -> None:
    expected, _, graduations = await reference(redis)
    async with watched_market(redis) as market:
        proxy = await CuttableProxy(market.net.grpc_target).start()
        sub = market.subscriber(proxy.address)
        disruptions = 0

        async def disrupt(step: int) -> None:
            # Every 5th slot the network drops the stream as the server writes the slot
            # out; twice the server itself goes away and comes back (its history is the
            # chain's). Each time the market goes on while the subscriber is away.
            nonlocal disruptions
            if step % (5 * SLOT_EVERY):
                return
            disruptions += 1
            if disruptions in (3, 6):
                await asyncio.to_thread(restart_geyser, market.net)
            else:
                proxy.cut()
            await until(lambda: sub.stats.streams > disruptions, what="resubscribed")

        try:
            async with running(sub):
                await until(lambda: sub.stats.streams == 1, what="the first stream")
                await market.drive(STEPS, disrupt)
                last = market.confirm()
                await caught_up(sub, last)
        finally:
            await proxy.close()
        got = await market.outcome()

    assert disruptions == STEPS // (5 * SLOT_EVERY)
    assert sub.stats.reconnects >= disruptions  # each one really ended the stream
    assert market.processors[0].flushes == list(range(market.start + 1, last + 1))
    assert_each_graduation_once(got, graduations)
    assert got.published == expected.published
    assert_same_state(got, expected)
    # The processor saw exactly the uncut stream: the same Pulse events, in the same order.
    assert got.pulse == expected.pulse


# ---- 3. restart from the checkpoint, and a standby taking over -------------------------------


async def test_restart_resumes_from_the_checkpoint_and_a_standby_takes_over(redis) -> None:
    expected, _, graduations = await reference(redis)
    async with watched_market(redis) as market:
        # The first instance runs a while and is stopped (a deploy, say).
        first = market.subscriber()
        async with running(first):
            await market.drive(60)
            await caught_up(first, market.confirmed)
        checkpoint = int(await market.redis.get(checkpoint_key(market.name)))
        assert checkpoint == first.stats.flushed_slot == market.confirmed
        await market.drive(20)  # trading goes on while nothing watches

        # A new process (new subscriber, new processor) with a standby beside it. The new
        # one dies right after publishing a migration stage, before writing its slot.
        restarted = market.subscriber(freeze_after_stage=True)
        standby = market.subscriber()
        frozen = market.processors[1]
        async with running(restarted) as restarted_task:
            await until(lambda: restarted.stats.active, what="the restarted instance active")
            async with running(standby):
                while frozen.frozen_at is None:
                    assert market.step < STEPS, "no migration stage for the restarted instance"
                    await market.drive(SLOT_EVERY)
                    slot = market.confirmed
                    await until(
                        lambda s=slot: frozen.frozen_at is not None or flushed(restarted, s),
                        what=f"slot {slot} flushed or the instance frozen",
                    )
                assert not standby.stats.active and market.processors[2].flushes == []
                await stop(restarted_task)
                await until(lambda: standby.stats.active, timeout=3 * LEASE_TTL, what="takeover")
                await market.drive(STEPS - market.step)
                last = market.confirm()
                await caught_up(standby, last)
        got = await market.outcome()

    first_flushes, restarted_flushes, standby_flushes = (p.flushes for p in market.processors)
    assert first_flushes == list(range(market.start + 1, checkpoint + 1))
    # resumed right after the checkpoint; the standby replays the slot left unwritten
    assert restarted_flushes == list(range(checkpoint + 1, frozen.frozen_at))
    assert standby_flushes == list(range(frozen.frozen_at, last + 1))
    assert frozen.detector.published >= 1  # the stage the standby replays went out once
    assert_each_graduation_once(got, graduations)
    assert got.published == expected.published
    assert_same_state(got, expected)
