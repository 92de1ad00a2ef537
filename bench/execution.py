"""Execution latency: sniper event → engine requests, and API call → first submission.

    python bench/execution.py [--snipes 41] [--orders 41]

A localnet runs in a child process (its engines on loopback, 400 ms slots); this process
runs the platform on its embedded defaults (SQLite, in-process bus, orders executed in
process) with a funded custodial wallet whose nonce account already exists.

1. Sniper: a coin is launched, then the monitor's `token.created` event for it is handed
   to the sniper (`Sniper.on_event`); the clock stops when the last engine request of the
   buy has been started (the moment `Engine._send` is entered for the last engine). The
   buy is awaited to its landing before the next launch (the wallet's nonce is taken by
   one order at a time).
2. Ordinary order: `POST /api/orders` through the ASGI application; the clock stops when
   the first engine request starts.

Reference in the same run: the irreducible part of the same buy, with no database and no
decision: quote (`plan_order`, which reads the chain), build and sign the four copies,
and start the engine requests.

Last line: {"bench": "execution", "sniper_p50_ms", "sniper_p99_ms", "order_p99_ms", ...}.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import free_port, server_env  # noqa: E402

_DIR = tempfile.mkdtemp(prefix="bench-execution-")
os.environ.update(server_env())
for _name in ("DATABASE_URL", "REDIS_URL"):
    os.environ.pop(_name, None)
os.environ["DATABASE_URL"] = f"sqlite:///{_DIR}/execution.sqlite3"
os.environ["VAR_DIR"] = _DIR
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

SOL = 1_000_000_000


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))] if ordered else 0.0


class RequestClock:
    """Stamps when each engine request starts (wraps Engine._send)."""

    def __init__(self) -> None:
        from apps.trading.services import engines

        self.stamps: list[float] = []
        self.wanted = 0
        self.reached: asyncio.Event | None = None
        original = engines.Engine.submit

        async def submit(engine_self, txs, timeout):
            self.stamps.append(time.perf_counter())
            if self.reached is not None and len(self.stamps) >= self.wanted:
                self.reached.set()
            return await original(engine_self, txs, timeout)

        engines.Engine.submit = submit

    def reset(self, wanted: int) -> None:
        self.stamps.clear()
        self.wanted = wanted
        self.reached = asyncio.Event()

    async def wait(self) -> None:
        await asyncio.wait_for(self.reached.wait(), 30)


def _rpc(url: str, method: str, params: list) -> object:
    import httpx

    answer = httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
    body = answer.json()
    if "error" in body:
        raise RuntimeError(body["error"])
    return body["result"]


def _launch(rpc_url: str, creator) -> str:
    from solders.hash import Hash
    from solders.keypair import Keypair
    from solders.message import Message
    from solders.transaction import VersionedTransaction

    from apps.chain.programs.pump import instructions as pump_ix

    mint = Keypair()
    blockhash = _rpc(rpc_url, "getLatestBlockhash", [{"commitment": "processed"}])
    create = pump_ix.create(
        mint=mint.pubkey(),
        user=creator.pubkey(),
        creator=creator.pubkey(),
        name="Bench Dog",
        symbol="BDOG",
        uri="https://example.invalid/bdog.json",
    )
    message = Message.new_with_blockhash(
        [create], creator.pubkey(), Hash.from_string(blockhash["value"]["blockhash"])
    )
    tx = VersionedTransaction(message, [creator, mint])
    signature = _rpc(
        rpc_url, "sendTransaction", [base64.b64encode(bytes(tx)).decode(), {"encoding": "base64"}]
    )
    for _ in range(200):
        status = _rpc(rpc_url, "getSignatureStatuses", [[signature]])["value"][0]
        if status:
            return str(mint.pubkey())
        time.sleep(0.01)
    raise RuntimeError("the launch did not land")


async def _until_final(order_id: int) -> str:
    from apps.trading.models import TERMINAL_ORDER_STATES, Order

    for _ in range(600):
        state = await Order.objects.filter(pk=order_id).values_list("state", flat=True).aget()
        if state in TERMINAL_ORDER_STATES:
            return state
        await asyncio.sleep(0.05)
    raise RuntimeError(f"order {order_id} did not finish")


async def run(args, rpc_url: str) -> dict:
    from asgiref.sync import sync_to_async
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from solders.keypair import Keypair

    from apps.chain.base58 import b58encode
    from apps.ingestion.services.api_tokens import api_token_issue
    from apps.trading.models import Order, SniperRule
    from apps.trading.services import nonce as nonces
    from apps.trading.services import order_builder
    from apps.trading.services.engines import ENGINE_NAMES, engine, submit_everywhere
    from apps.trading.services.sniper import Sniper
    from apps.trading.services.wallets import import_wallet, wallet_keypair

    await sync_to_async(call_command)("migrate", verbosity=0)
    user = await sync_to_async(get_user_model().objects.create_user)("bench", "b@example.com")
    token = await sync_to_async(api_token_issue)(user=user)
    trader, creator = Keypair(), Keypair()
    for key in (trader, creator):
        _rpc(rpc_url, "requestAirdrop", [str(key.pubkey()), 200 * SOL])
    for name in ENGINE_NAMES:
        for index in range(8):
            _rpc(rpc_url, "requestAirdrop", [str(engine(name).tip_account(index)), SOL])
    await asyncio.sleep(1.0)
    wallet = await import_wallet(user_id=user.pk, secret_key=b58encode(bytes(trader)))
    await nonces.ensure_nonce_account(wallet, wallet_keypair(wallet))
    rule = await SniperRule.objects.acreate(
        owner=user,
        wallet=wallet,
        name="bench",
        trigger="new_token",
        min_safety="any",
        amount_lamports=SOL // 100,
        budget_lamports=1_000 * SOL,
        slippage_bps=2_000,
        compute_unit_price=1_000,
        tip_lamports=1_000_000,
    )
    clock = RequestClock()
    sniper = Sniper()
    await sniper.load()

    sniper_ms, reference_ms = [], []
    for n in range(args.snipes):
        mint = await asyncio.to_thread(_launch, rpc_url, creator)
        event = {
            "mint": mint,
            "column": "new",
            "name": "Bench Dog",
            "symbol": "BDOG",
            "creator": str(creator.pubkey()),
        }
        clock.reset(len(ENGINE_NAMES))
        started = time.perf_counter()
        decisions = await sniper.on_event("pulse", "token.created", f"{n}-0", event)
        await clock.wait()
        if n:  # the first buy warms up (imports, connections, the wallet's signer)
            sniper_ms.append((clock.stamps[-1] - started) * 1000)
        assert decisions and decisions[0].outcome == "bought", decisions
        state = await _until_final(decisions[0].order_id)
        if state != "landed":
            order = await Order.objects.aget(pk=decisions[0].order_id)
            raise RuntimeError(f"snipe {n}: {state} {order.error_code} {order.error_message}")
        # Reference: quote, build and sign four copies, start the engine requests.
        blockhash = _rpc(rpc_url, "getLatestBlockhash", [{"commitment": "processed"}])
        clock.reset(len(ENGINE_NAMES))
        started = time.perf_counter()
        plan = await order_builder.plan_order(
            wallet=trader.pubkey(),
            mint=mint,
            side="buy",
            amount=SOL // 100,
            slippage_bps=2_000,
            compute_unit_price=1_000,
            compute_unit_limit=300_000,
        )
        from solders.hash import Hash

        copies = order_builder.build_copies(
            plan,
            signer=trader,
            tips={
                name: order_builder.Tip(engine(name).min_tip_lamports, engine(name).tip_account(n))
                for name in ENGINE_NAMES
            }
            | {"rpc": None},
            recent_blockhash=Hash.from_string(blockhash["value"]["blockhash"]),
        )
        submitting = asyncio.ensure_future(
            submit_everywhere({name: [copies[name].tx_bytes] for name in ENGINE_NAMES})
        )
        await clock.wait()
        if n:
            reference_ms.append((clock.stamps[-1] - started) * 1000)
        await submitting
    del rule

    import httpx

    from config.asgi import application

    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=application), base_url="http://bench", timeout=30
    )
    order_ms = []
    for n in range(args.orders):
        mint = await asyncio.to_thread(_launch, rpc_url, creator)
        clock.reset(1)
        started = time.perf_counter()
        response = await client.post(
            "/api/orders",
            json={
                "idempotency_key": f"bench-{n}",
                "wallet": str(trader.pubkey()),
                "mint": mint,
                "side": "buy",
                "amount": "0.01",
                "slippage_bps": 2_000,
                "compute_unit_price": 1_000,
            },
            headers={"Authorization": f"Bearer {token.raw}"},
        )
        assert response.status_code == 201, response.text
        await clock.wait()
        if n:
            order_ms.append((clock.stamps[0] - started) * 1000)
        assert await _until_final(response.json()["id"]) == "landed"
    landed = await Order.objects.filter(state="landed").acount()
    return {"sniper": sniper_ms, "reference": reference_ms, "order": order_ms, "landed": landed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--snipes", type=int, default=41, help="the first one warms up")
    parser.add_argument("--orders", type=int, default=41, help="the first one warms up")
    args = parser.parse_args()
    ports = [free_port() for _ in range(4)]
    chain = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "apps.chain.localnet",
            "--port",
            str(ports[0]),
            "--ws-port",
            str(ports[1]),
            "--grpc-port",
            str(ports[2]),
            "--engines-port",
            str(ports[3]),
        ],
        cwd=ROOT,
        env=os.environ.copy(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    rpc_url = f"http://127.0.0.1:{ports[0]}"
    engines_url = f"http://127.0.0.1:{ports[3]}"
    from django.conf import settings

    settings.SOLANA_RPC_URLS = [rpc_url]
    settings.JITO_URL, settings.BLOXROUTE_URL, settings.NEXTBLOCK_URL = (
        f"{engines_url}/jito",
        f"{engines_url}/bloxroute",
        f"{engines_url}/nextblock",
    )
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.ORDER_POLL_SECONDS = 0.05
    try:
        for _ in range(100):
            try:
                _rpc(rpc_url, "getHealth", [])
                break
            except Exception:
                time.sleep(0.1)
        figures = asyncio.run(run(args, rpc_url))
    finally:
        chain.terminate()
        chain.wait(10)
    s, r, o = figures["sniper"], figures["reference"], figures["order"]
    print(
        f"sniper: event -> last engine request, {len(s)} buys: p50 {percentile(s, 50):.2f} ms, "
        f"p99 {percentile(s, 99):.2f} ms"
    )
    print(
        f"reference: quote + build + sign 4 copies + engine requests: p50 "
        f"{percentile(r, 50):.2f} ms, p99 {percentile(r, 99):.2f} ms"
    )
    print(
        f"order: POST /api/orders -> first engine request, {len(o)} orders: p50 "
        f"{percentile(o, 50):.2f} ms, p99 {percentile(o, 99):.2f} ms"
    )
    print(f"landed: {figures['landed']} of {args.snipes + args.orders} (warm-ups included)")
    print(
        json.dumps(
            {
                "bench": "execution",
                "sniper_p50_ms": round(percentile(s, 50), 2),
                "sniper_p99_ms": round(percentile(s, 99), 2),
                "order_p50_ms": round(percentile(o, 50), 2),
                "order_p99_ms": round(percentile(o, 99), 2),
                "reference_p50_ms": round(percentile(r, 50), 2),
                "reference_p99_ms": round(percentile(r, 99), 2),
                "landed": figures["landed"],
            }
        )
    )


if __name__ == "__main__":
    main()
