"""A seeded pump.fun market on a fresh localnet, recorded over real gRPC (Yellowstone).

The recording is made once per test process (the market is deterministic for its seed) and
handed out as a list of SubscribeUpdates; tests feed it to a `TokenStateProcessor` the way
the stream does: every update to `process`, and `flush(slot)` once the slot is confirmed.
Our own small subscription: the stream layer (geyser_stream.py) is tested elsewhere.
"""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass
from typing import Any

import grpc
from solders.pubkey import Pubkey

from apps.chain.localnet import start_localnet_in_thread
from apps.chain.localnet.market import MarketConfig, MarketGenerator, MarketLedger
from apps.chain.programs.ids import PUMP_AMM_PROGRAM_ID, PUMP_PROGRAM_ID, WSOL_MINT
from apps.chain.programs.pump import accounts as pump_accounts
from apps.chain.programs.pump import pdas as pump_pdas
from protos.generated import geyser_pb2 as pb
from protos.generated import geyser_pb2_grpc as pb_grpc
from tests.chain.localnet import result

# tests/chain/localnet/test_market.py's busy market: every fate within a few hundred steps.
BUSY = MarketConfig(
    seed=11,
    launches_per_minute=30,
    trades_per_second=10,
    graduation_share=0.5,
    rug_share=0.25,
    graduate_buy_sol=12,
)
STEPS = 240
SLOT_MS = 20
READ_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class ChainCoin:
    """What the chain holds for one launched coin at the end of the run."""

    curve: pump_accounts.BondingCurve
    pool: str | None


@dataclass(frozen=True)
class MarketRecording:
    ledger: MarketLedger
    updates: list[Any]
    coins: dict[str, ChainCoin]
    last_slot: int


def subscription() -> pb.SubscribeRequest:
    programs = [str(PUMP_PROGRAM_ID), str(PUMP_AMM_PROGRAM_ID)]
    request = pb.SubscribeRequest(commitment=pb.CONFIRMED)
    request.accounts["launchpad"].owner.extend(programs)
    txs = request.transactions["launchpad"]
    txs.account_include.extend(programs)
    txs.vote = False
    txs.failed = False
    request.slots["slots"].SetInParent()
    return request


async def _record(steps: int) -> MarketRecording:
    with start_localnet_in_thread(slot_ms=SLOT_MS) as net:
        updates: list[Any] = []
        async with grpc.aio.insecure_channel(net.grpc_target) as channel:
            stub = pb_grpc.GeyserStub(channel)
            requests: asyncio.Queue = asyncio.Queue()
            await requests.put(subscription())

            async def outgoing():
                while True:
                    yield await requests.get()

            call = stub.Subscribe(outgoing())
            await asyncio.sleep(0.2)  # the subscription is in force before trading starts
            ledger = await MarketGenerator(net.rpc_url, BUSY).run(steps=steps)
            last_slot = net.chain.slot
            async with asyncio.timeout(READ_TIMEOUT_S):
                while True:
                    update = await call.read()
                    assert update is not grpc.aio.EOF, "the stream ended"
                    if update.WhichOneof("update_oneof") in ("ping", "pong"):
                        continue
                    updates.append(update)
                    if (
                        update.HasField("slot")
                        and update.slot.status == pb.SLOT_CONFIRMED
                        and update.slot.slot >= last_slot
                    ):
                        break
            call.cancel()
        coins = {}
        for mint, _ in ledger.launches:
            key = Pubkey.from_string(mint)
            info = result(
                net.rpc_url,
                "getAccountInfo",
                [str(pump_pdas.bonding_curve_pda(key)), {"encoding": "base64"}],
            )["value"]
            curve = pump_accounts.decode_bonding_curve(base64.b64decode(info["data"][0]))
            pool = pump_pdas.canonical_pool_pda(key, WSOL_MINT)
            pool_info = result(net.rpc_url, "getAccountInfo", [str(pool), {"encoding": "base64"}])
            coins[mint] = ChainCoin(curve, str(pool) if pool_info["value"] else None)
    return MarketRecording(ledger, updates, coins, last_slot)


_recording: MarketRecording | None = None


async def market_recording() -> MarketRecording:
    """The busy market's updates, recorded on first use and shared by every test after."""
    global _recording
    if _recording is None:
        _recording = await _record(STEPS)
    return _recording


async def feed(processor: Any, updates: list[Any]) -> None:
    """Deliver updates as the stream does: each one, then flush every confirmed slot."""
    for update in updates:
        if update.HasField("slot"):
            if update.slot.status == pb.SLOT_CONFIRMED:
                await processor.flush(update.slot.slot)
            continue
        await processor.process(update)


class RecordingPublisher:
    """Stands in for the bus where a test inspects exactly what was published."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, dict[str, Any]]] = []

    async def __call__(self, topic: str, type_: str, data: dict[str, Any]) -> str:
        self.events.append((topic, type_, data))
        return str(len(self.events))

    def on(self, topic: str) -> list[tuple[str, dict[str, Any]]]:
        return [(t, d) for top, t, d in self.events if top == topic]
