"""How fast the monitor turns Geyser updates into token state and Pulse events.

    python bench/monitor.py [--passes 5] [--steps 400] [--seconds 10] [--rate 1000] [--slot-ms 50]

Runs without REDIS_URL or DATABASE_URL: the processor's in-process hot store and event bus,
and SQLite (a throwaway file) for the durable writes.

1. Decode-and-categorize throughput. A fresh localnet runs the seeded market generator
   (tests/chain/localnet/test_market.py's busy config); one Yellowstone subscription records
   what it streamed (pump / PumpSwap accounts and transactions, slot statuses, at confirmed).
   The serialized updates are fed to a `TokenStateProcessor` on one core, pass after pass
   (fresh processor and empty tables each pass): every account / transaction update to
   `process()`, `flush(slot)` at each confirmed slot, each timed apart. The protobuf parse is
   counted in both. Reference in the same run: the protobuf parse plus the pump / PumpSwap
   decoders alone (what any consumer must pay), so the ratio is the processor's own cost.
2. Event latency. A localnet in a child process (so the chain does not share this process's
   core) gets coins launched by the market generator, then curve buys executed at the pace
   that streams `--rate` updates/s (straight into `chain.execute`); its
   transaction listener stamps when each transaction executed (CLOCK_MONOTONIC, which is
   system-wide). Here the real `GeyserSubscriber` (processed commitment, over gRPC) feeds a
   `TokenStateProcessor` whose publish function hands each event to the in-process bus and
   stamps it. Latency per transaction: its execution to the first event any of its updates
   published.

Last line: {"bench": "monitor", "updates_per_s", "event_p50_ms", "event_p99_ms", ...}.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import json
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import server_env  # noqa: E402

# One throwaway directory, shared with the spawned chain process (which re-imports this file).
_DB_DIR = os.environ.get("BENCH_MONITOR_DIR") or tempfile.mkdtemp(prefix="bench-monitor-")
os.environ["BENCH_MONITOR_DIR"] = _DB_DIR
os.environ.update(server_env())  # throwaway secrets, quiet logs, no DATABASE_URL / REDIS_URL
for _name in ("DATABASE_URL", "REDIS_URL"):
    os.environ.pop(_name, None)
os.environ["DATABASE_URL"] = f"sqlite:///{_DB_DIR}/monitor.sqlite3"

import django  # noqa: E402

django.setup()

import grpc  # noqa: E402
from django.core.management import call_command  # noqa: E402
from solders.message import Message  # noqa: E402
from solders.transaction import VersionedTransaction  # noqa: E402
from spl.token.instructions import create_idempotent_associated_token_account  # noqa: E402

from apps.chain.localnet import start_localnet_in_thread  # noqa: E402
from apps.chain.localnet.market import MarketConfig, MarketGenerator  # noqa: E402
from apps.chain.programs.anchor import EVENT_IX_TAG_LE  # noqa: E402
from apps.chain.programs.ids import TOKEN_PROGRAM_ID  # noqa: E402
from apps.chain.programs.pump import PUMP  # noqa: E402
from apps.chain.programs.pump import accounts as pump_accounts  # noqa: E402
from apps.chain.programs.pump import events as pump_events  # noqa: E402
from apps.chain.programs.pump import instructions as pump_ix  # noqa: E402
from apps.chain.programs.pump.constants import (  # noqa: E402
    BUYBACK_FEE_RECIPIENTS,
    FEE_RECIPIENTS,
)
from apps.chain.programs.pump_amm import PUMP_AMM  # noqa: E402
from apps.chain.programs.pump_amm import accounts as amm_accounts  # noqa: E402
from apps.chain.programs.pump_amm import events as amm_events  # noqa: E402
from apps.monitoring.models import MigrationEvent, Token, TokenHolding, TokenTrade  # noqa: E402
from apps.monitoring.services.geyser_checkpoint import FileCheckpoint  # noqa: E402
from apps.monitoring.services.geyser_stream import (  # noqa: E402
    GeyserSubscriber,
    StreamConfig,
    subscribe_request,
)
from apps.monitoring.services.token_processor import TokenStateProcessor, bus_publish  # noqa: E402
from apps.monitoring.services.token_state import InProcessHotStore  # noqa: E402
from protos.generated import geyser_pb2 as pb  # noqa: E402
from protos.generated import geyser_pb2_grpc as pb_grpc  # noqa: E402

# tests/chain/localnet/test_market.py's busy market: launches, rugs, graduations, migrations.
BUSY = MarketConfig(
    seed=11,
    launches_per_minute=30,
    trades_per_second=10,
    graduation_share=0.5,
    rug_share=0.25,
    graduate_buy_sol=12,
)
RECORD_SLOT_MS = 20
LATENCY_COINS = 10
SOL = 1_000_000_000
PUMP_ID = bytes(PUMP.program_id)
AMM_ID = bytes(PUMP_AMM.program_id)
SubscribeUpdate = pb.SubscribeUpdate


def pin_to_one_core() -> int | None:
    """Run this process on one CPU (the last), so the throughput is one core's."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpu = max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return cpu


def unpin() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, range(os.cpu_count() or 1))


async def reset_tables() -> None:
    for model in (TokenTrade, TokenHolding, MigrationEvent, Token):
        await model.objects.all().adelete()


# ---- 1. recording and throughput ------------------------------------------------------------


async def record_market(steps: int) -> tuple[list[bytes], dict[str, Any]]:
    """The busy market's stream at confirmed, serialized; and what the generator did."""
    with start_localnet_in_thread(slot_ms=RECORD_SLOT_MS) as net:
        raws: list[bytes] = []
        config = StreamConfig(url=net.grpc_target, commitment="confirmed")
        async with grpc.aio.insecure_channel(net.grpc_target) as channel:
            requests: asyncio.Queue = asyncio.Queue()
            requests.put_nowait(subscribe_request(config))

            async def outgoing():
                while True:
                    yield await requests.get()

            call = pb_grpc.GeyserStub(channel).Subscribe(outgoing())
            await asyncio.sleep(0.3)  # the subscription is in force before trading starts
            started = time.monotonic()
            ledger = await MarketGenerator(net.rpc_url, BUSY).run(steps=steps)
            generator_s = time.monotonic() - started
            last_slot = net.chain.slot
            async with asyncio.timeout(30):
                while True:
                    update = await call.read()
                    if update is grpc.aio.EOF:
                        raise RuntimeError("the localnet ended the stream")
                    kind = update.WhichOneof("update_oneof")
                    if kind in ("ping", "pong"):
                        continue
                    raws.append(update.SerializeToString())
                    if (
                        kind == "slot"
                        and update.slot.status == pb.SLOT_CONFIRMED
                        and update.slot.slot >= last_slot
                    ):
                        break
            call.cancel()
    market = {
        "steps": steps,
        "transactions": ledger.transactions,
        "launches": len(ledger.launches),
        "generator_tx_per_s": ledger.transactions / generator_s,
    }
    return raws, market


def decode_only(update: Any) -> int:
    """The reference: what decoding an update costs without any state (events decoded)."""
    kind = update.WhichOneof("update_oneof")
    if kind == "account":
        info = update.account.account
        data = info.data
        if info.owner == PUMP_ID:
            if PUMP.account_name(data) == "BondingCurve":
                pump_accounts.decode_bonding_curve(data)
                return 1
        elif info.owner == AMM_ID and PUMP_AMM.account_name(data) == "Pool":
            amm_accounts.decode_pool(data)
            return 1
        return 0
    if kind == "transaction":
        info = update.transaction.transaction
        meta = info.meta
        keys = list(info.transaction.message.account_keys)
        keys += meta.loaded_writable_addresses
        keys += meta.loaded_readonly_addresses
        decoded = 0
        for program_id, typed in ((PUMP_ID, pump_events), (AMM_ID, amm_events)):
            if program_id not in keys:
                continue
            decoded += len(typed.decode_log_events(meta.log_messages))
            for group in meta.inner_instructions:
                for ix in group.instructions:
                    if (
                        ix.program_id_index < len(keys)
                        and keys[ix.program_id_index] == program_id
                        and ix.data.startswith(EVENT_IX_TAG_LE)
                    ):
                        decoded += typed.decode_event_instruction(ix.data) is not None
        return decoded
    return 0


def decoder_pass(raws: list[bytes]) -> tuple[float, int]:
    """(seconds, account + transaction updates) of parse + decode over the recording."""
    parse = SubscribeUpdate.FromString
    count, elapsed = 0, 0.0
    clock = time.perf_counter
    for raw in raws:
        started = clock()
        update = parse(raw)
        if update.WhichOneof("update_oneof") in ("account", "transaction"):
            decode_only(update)
            elapsed += clock() - started
            count += 1
    return elapsed, count


async def no_publish(topic: str, type_: str, data: dict[str, Any]) -> str:
    return "0-0"


async def processor_pass(raws: list[bytes], publish: Any, profiler: Any = None) -> dict[str, Any]:
    """One pass of the recording through a fresh processor on empty tables (the profiler,
    if any, runs around process() only)."""
    await reset_tables()
    processor = TokenStateProcessor(publish=publish, hot_store=InProcessHotStore())
    await processor.start()  # learns the (empty) tables once; not part of the stream
    parse = SubscribeUpdate.FromString
    clock = time.perf_counter
    spent = {"account": 0.0, "transaction": 0.0, "flush": 0.0}
    counts = {"account": 0, "transaction": 0, "flush": 0}
    for raw in raws:
        started = clock()
        update = parse(raw)
        kind = update.WhichOneof("update_oneof")
        if kind in ("account", "transaction"):
            if profiler is not None:
                profiler.enable()
            await processor.process(update)
            if profiler is not None:
                profiler.disable()
            spent[kind] += clock() - started
            counts[kind] += 1
        elif kind == "slot" and update.slot.status == pb.SLOT_CONFIRMED:
            started = clock()
            await processor.flush(update.slot.slot)
            spent["flush"] += clock() - started
            counts["flush"] += 1
    return {"spent": spent, "counts": counts, "garbage": sum(processor.garbage.values())}


async def throughput(raws: list[bytes], passes: int, profile: bool) -> dict[str, Any]:
    await processor_pass(raws, bus_publish)  # warm-up: imports, caches, the SQLite file
    runs = [await processor_pass(raws, bus_publish) for _ in range(passes)]
    decoder_runs = [decoder_pass(raws) for _ in range(passes)]
    counts = runs[0]["counts"]
    updates = counts["account"] + counts["transaction"]

    def best(key: str) -> float:
        return min(run["spent"][key] for run in runs)

    process_s = min(run["spent"]["account"] + run["spent"]["transaction"] for run in runs)
    result = {
        "updates": updates,
        "account_updates": counts["account"],
        "transaction_updates": counts["transaction"],
        "flushes": counts["flush"],
        "updates_per_s": updates / process_s,
        "account_updates_per_s": counts["account"] / best("account"),
        "transaction_updates_per_s": counts["transaction"] / best("transaction"),
        "flush_ms": 1000 * best("flush") / max(counts["flush"], 1),
        "with_flush_updates_per_s": updates / min(sum(run["spent"].values()) for run in runs),
        "decoder_updates_per_s": decoder_runs[0][1] / min(s for s, _ in decoder_runs),
        "garbage": runs[0]["garbage"],
    }
    if profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        await processor_pass(raws, bus_publish, profiler)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
    return result


# ---- 2. latency from a chain write to the published event -----------------------------------


def chain_process(slot_ms: int, tx_per_s: float, seconds: float, conn: Any) -> None:
    """A localnet with coins the market generator launched, then curve buys executed on the
    chain at `tx_per_s` (straight into `chain.execute`: the generator's RPC round trips top
    out near 100 tx/s); stamps each transaction as it executes."""
    executed: dict[bytes, float] = {}
    with start_localnet_in_thread(slot_ms=slot_ms) as net:
        chain = net.chain

        def stamp(record: Any) -> None:
            executed[bytes(record.signature)] = time.monotonic()

        chain.transaction_listeners.insert(0, stamp)  # before the Geyser broadcast
        launcher = MarketGenerator(
            net.rpc_url,
            MarketConfig(seed=BUSY.seed, launches_per_minute=600, graduation_share=0.0),
        )
        asyncio.run(launcher.run(steps=2 * LATENCY_COINS))  # a launch every other step
        coins, traders = list(launcher.coins), launcher.traders
        conn.send(net.grpc_target)
        conn.recv()  # the monitor is subscribed
        executed.clear()  # launches and funding are not part of the measured run
        started = time.monotonic()
        sent = 0
        while (now := time.monotonic()) - started < seconds:
            due = started + sent / tx_per_s
            if due > now:
                time.sleep(due - now)
            coin, buyer = coins[sent % len(coins)], traders[sent % len(traders)]
            buy = pump_ix.buy(
                user=buyer.pubkey(),
                mint=coin.mint,
                creator=coin.creator.pubkey(),
                fee_recipient=FEE_RECIPIENTS[sent % len(FEE_RECIPIENTS)],
                buyback_fee_recipient=BUYBACK_FEE_RECIPIENTS[0],
                amount=1_000_000 + sent,  # a whole token or so: no curve completes
                max_sol_cost=SOL,
            )
            blockhash, _ = chain.latest_blockhash("processed")
            ata = create_idempotent_associated_token_account(
                buyer.pubkey(), buyer.pubkey(), coin.mint, TOKEN_PROGRAM_ID
            )
            message = Message.new_with_blockhash([ata, buy], buyer.pubkey(), blockhash)
            chain.execute(VersionedTransaction(message, [buyer]))
            sent += 1
        elapsed = time.monotonic() - started
        time.sleep(0.5)  # the last slots stream out before the chain stops
        conn.send((executed, sent, elapsed))
        conn.recv()


class StampingProcessor:
    """The real processor, with each published event stamped and traced to the transaction
    whose update caused it."""

    def __init__(self) -> None:
        self.inner = TokenStateProcessor(publish=self.publish, hot_store=InProcessHotStore())
        self.cause: bytes | None = None
        self.delivered: dict[bytes, float] = {}  # signature -> first update handed to process
        self.first_event: dict[bytes, float] = {}  # signature -> first event published
        self.updates = 0
        self.events = 0
        self.first_update_at = self.last_update_at = 0.0

    async def process(self, update: Any) -> None:
        kind = update.WhichOneof("update_oneof")
        if kind == "account":
            self.cause = update.account.account.txn_signature or None
        elif kind == "transaction":
            self.cause = update.transaction.transaction.signature
        else:
            self.cause = None
        now = time.monotonic()
        if self.cause is not None:
            self.updates += 1
            self.first_update_at = self.first_update_at or now
            self.last_update_at = now
            self.delivered.setdefault(self.cause, now)
        try:
            await self.inner.process(update)
        finally:
            self.cause = None

    async def flush(self, slot: int) -> None:
        await self.inner.flush(slot)

    async def publish(self, topic: str, type_: str, data: dict[str, Any]) -> str:
        event_id = await bus_publish(topic, type_, data)
        self.events += 1
        if self.cause is not None and self.cause not in self.first_event:
            self.first_event[self.cause] = time.monotonic()
        return event_id


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


async def latency(rate: float, updates_per_tx: float, seconds: float, slot_ms: int) -> dict:
    await reset_tables()
    ctx = multiprocessing.get_context("spawn")
    here, there = ctx.Pipe()
    tx_per_s = rate / updates_per_tx
    child = ctx.Process(target=chain_process, args=(slot_ms, tx_per_s, seconds, there))
    child.start()
    try:
        loop = asyncio.get_running_loop()
        grpc_target = await loop.run_in_executor(None, here.recv)
        processor = StampingProcessor()
        await processor.inner.start()
        checkpoint = FileCheckpoint(Path(_DB_DIR) / "latency.checkpoint")
        config = StreamConfig(url=grpc_target, commitment="processed", name="bench")
        subscriber = GeyserSubscriber(processor, config, checkpoint=checkpoint)
        streaming = asyncio.create_task(subscriber.run())
        while subscriber.stats.streams == 0:  # noqa: ASYNC110 (the first message arrived)
            await asyncio.sleep(0.02)
        here.send("go")
        executed, transactions, elapsed = await loop.run_in_executor(None, here.recv)
        await asyncio.sleep(0.5)  # the queue drains
        streaming.cancel()
        await asyncio.gather(streaming, return_exceptions=True)
        here.send("done")
    finally:
        child.join(15)
        if child.is_alive():
            child.kill()
    lat = [
        1000 * (processor.first_event[sig] - at)
        for sig, at in executed.items()
        if sig in processor.first_event
    ]
    stream = [
        1000 * (processor.delivered[sig] - at)
        for sig, at in executed.items()
        if sig in processor.delivered
    ]
    span = processor.last_update_at - processor.first_update_at
    return {
        "rate_target": rate,
        "updates_per_s": processor.updates / span if span else 0.0,
        "updates": processor.updates,
        "events": processor.events,
        "transactions": transactions,
        "tx_per_s": transactions / elapsed,
        "matched": len(lat),
        "p50_ms": percentile(lat, 50),
        "p99_ms": percentile(lat, 99),
        "max_ms": max(lat, default=float("nan")),
        "stream_p50_ms": percentile(stream, 50),
        "stream_p99_ms": percentile(stream, 99),
        "stream_errors": len(subscriber.stats.errors),
    }


# ---- main -----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passes", type=int, default=5, help="throughput passes (best kept)")
    parser.add_argument("--steps", type=int, default=400, help="market steps recorded")
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("BENCH_SECONDS", 10)))
    parser.add_argument("--rate", type=float, default=1000, help="updates/s for the latency run")
    parser.add_argument("--slot-ms", type=int, default=50, help="slot time of the latency run")
    parser.add_argument("--profile", action="store_true", help="cProfile one throughput pass")
    args = parser.parse_args(argv)
    atexit.register(shutil.rmtree, _DB_DIR, ignore_errors=True)

    call_command("migrate", verbosity=0)
    raws, market = asyncio.run(record_market(args.steps))
    cpu = pin_to_one_core()
    thr = asyncio.run(throughput(raws, args.passes, args.profile))
    unpin()
    updates_per_tx = thr["updates"] / max(market["transactions"], 1)
    lat = asyncio.run(latency(args.rate, updates_per_tx, args.seconds, args.slot_ms))

    ratio = thr["updates_per_s"] / thr["decoder_updates_per_s"]
    print(
        f"recorded: {len(raws)} updates from {market['steps']} market steps "
        f"({market['transactions']} transactions, {market['launches']} launches); "
        f"hot store and bus in process, SQLite; pinned to CPU {cpu}"
    )
    print(
        f"parse + decoders only (reference) {thr['decoder_updates_per_s']:10.0f} updates/s  "
        f"({thr['updates']} account + transaction updates)"
    )
    print(
        f"parse + process()                 {thr['updates_per_s']:10.0f} updates/s  "
        f"({ratio:.2f}x of the decoders; target >= 20000)"
    )
    print(
        f"  account updates alone           {thr['account_updates_per_s']:10.0f} updates/s  "
        f"({thr['account_updates']} updates)"
    )
    print(
        f"  transaction updates alone       {thr['transaction_updates_per_s']:10.0f} updates/s  "
        f"({thr['transaction_updates']} updates)"
    )
    print(
        f"flush() per confirmed slot        {thr['flush_ms']:10.2f} ms  ({thr['flushes']} slots; "
        f"with flushes {thr['with_flush_updates_per_s']:.0f} updates/s)"
    )
    print(
        f"latency at {lat['rate_target']:.0f} updates/s target, {args.slot_ms} ms slots: achieved "
        f"{lat['updates_per_s']:.0f} updates/s ({lat['tx_per_s']:.0f} tx/s), "
        f"{lat['matched']} of {lat['transactions']} transactions traced"
    )
    print(
        f"  chain write -> published event  p50 {lat['p50_ms']:.2f} ms  p99 {lat['p99_ms']:.2f} ms"
        f"  max {lat['max_ms']:.2f} ms  (target p99 <= 10 ms)"
    )
    print(
        f"  chain write -> process() start  p50 {lat['stream_p50_ms']:.2f} ms  "
        f"p99 {lat['stream_p99_ms']:.2f} ms (reference: the stream alone)"
    )
    print(
        json.dumps(
            {
                "bench": "monitor",
                "updates_per_s": round(thr["updates_per_s"]),
                "event_p50_ms": round(lat["p50_ms"], 3),
                "event_p99_ms": round(lat["p99_ms"], 3),
                "account_updates_per_s": round(thr["account_updates_per_s"]),
                "transaction_updates_per_s": round(thr["transaction_updates_per_s"]),
                "reference_decoder_updates_per_s": round(thr["decoder_updates_per_s"]),
                "processor_vs_decoder": round(ratio, 3),
                "flush_ms_per_slot": round(thr["flush_ms"], 3),
                "with_flush_updates_per_s": round(thr["with_flush_updates_per_s"]),
                "recorded_updates": thr["updates"],
                "latency_updates_per_s": round(lat["updates_per_s"]),
                "latency_tx_per_s": round(lat["tx_per_s"]),
                "latency_traced": f"{lat['matched']}/{lat['transactions']}",
                "event_max_ms": round(lat["max_ms"], 3),
                "reference_stream_p50_ms": round(lat["stream_p50_ms"], 3),
                "reference_stream_p99_ms": round(lat["stream_p99_ms"], 3),
                "database": "sqlite",
                "hot_store": "in-process",
                "garbage": thr["garbage"],
                "errors": lat["stream_errors"],
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
