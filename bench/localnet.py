"""How fast the localnet serves, so later benchmarks know their upstream is not the bottleneck.

    python bench/localnet.py [--seconds 5] [--connections 32]

Starts `python -m apps.chain.localnet` on free ports in its own process, then:

1. getBalance requests/second over keep-alive HTTP (wrk, else bench/loadgen.py), beside
   the same server's bare `GET /health` as the reference measured in the same run;
2. geyser updates/second streamed to one Yellowstone subscriber (every account write
   and every transaction) while signed transfers are sent as fast as sendTransaction
   takes them; the reference is the transactions/second the chain executed meanwhile.

Last line: {"bench": "localnet", "rpc_get_balance_rps", "geyser_updates_per_s", ...}.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import multiprocessing
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
from solders.hash import Hash
from solders.keypair import Keypair
from solders.message import Message
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import free_port, load_generator, run_load  # noqa: E402
from protos import ensure_stubs  # noqa: E402

ensure_stubs()
from protos.generated import geyser_pb2 as pb2  # noqa: E402
from protos.generated import geyser_pb2_grpc as pb2_grpc  # noqa: E402

HOST = "127.0.0.1"
SOL = 1_000_000_000
BATCH = 50
IDLE_S = 1.5


@contextlib.contextmanager
def localnet_process(fund: list[str]) -> Iterator[dict[str, int]]:
    ports = {"rpc": free_port(), "ws": free_port(), "grpc": free_port(), "engines": free_port()}
    command = [
        sys.executable,
        "-m",
        "apps.chain.localnet",
        "--host",
        HOST,
        "--port",
        str(ports["rpc"]),
        "--ws-port",
        str(ports["ws"]),
        "--grpc-port",
        str(ports["grpc"]),
        "--engines-port",
        str(ports["engines"]),
        *[arg for key in fund for arg in ("--fund", key)],
    ]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"localnet exited: {proc.stderr.read().decode()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://{HOST}:{ports['rpc']}/health", timeout=1).text == "ok":
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("localnet did not become healthy in 30 s")
            time.sleep(0.1)
        yield ports
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def rpc_body(method: str, params: list) -> str:
    return json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})


def subscriber_process(grpc_target: str, from_slot: int | None, ready, results) -> None:
    """One Yellowstone subscriber (every account write, every transaction) in its own
    process, so the load generator does not slow it. It counts updates until the stream
    has been idle for IDLE_S after the first one, then reports (count, span, error)."""

    async def main() -> None:
        channel = grpc.aio.insecure_channel(grpc_target)
        stub = pb2_grpc.GeyserStub(channel)
        request = pb2.SubscribeRequest(
            accounts={"all": pb2.SubscribeRequestFilterAccounts()},
            transactions={"all": pb2.SubscribeRequestFilterTransactions()},
            commitment=pb2.CommitmentLevel.PROCESSED,
        )
        if from_slot is not None:
            request.from_slot = from_slot
        count, first, last, error = 0, 0.0, 0.0, None
        call = stub.Subscribe(iter([request]))

        async def stop_when_idle() -> None:
            while not first or time.monotonic() - last < IDLE_S:  # noqa: ASYNC110
                await asyncio.sleep(0.1)
            call.cancel()

        watchdog = asyncio.create_task(stop_when_idle())
        ready.set()
        try:
            async for update in call:
                if update.WhichOneof("update_oneof") in ("account", "transaction"):
                    last = time.monotonic()
                    first = first or last
                    count += 1
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.CANCELLED:
                error = f"{exc.code().name}: {exc.details()}"
        except asyncio.CancelledError:
            pass
        watchdog.cancel()
        await channel.close()
        results.put((count, last - first, error))

    asyncio.run(main())


def start_subscriber(grpc_target: str, from_slot: int | None = None):
    ctx = multiprocessing.get_context("spawn")
    ready, results = ctx.Event(), ctx.Queue()
    proc = ctx.Process(target=subscriber_process, args=(grpc_target, from_slot, ready, results))
    proc.start()
    ready.wait(30)
    return proc, results


def collect(proc, results) -> dict[str, object]:
    try:
        count, span, error = results.get(timeout=120)
    finally:
        proc.join(10)
        if proc.is_alive():
            proc.kill()
    return {"updates": count, "per_s": count / span if span else 0.0, "error": error}


async def send_transfers(
    rpc_url: str, payer: Keypair, seconds: float, senders: int
) -> tuple[float, int]:
    """(transactions/s landed, transactions landed) while `senders` post batches."""
    async with httpx.AsyncClient(
        base_url=rpc_url, limits=httpx.Limits(max_connections=senders), timeout=10
    ) as client:
        blockhash = Hash.from_string(
            (await client.post("", content=rpc_body("getLatestBlockhash", []))).json()["result"][
                "value"
            ]["blockhash"]
        )
        landed = 0
        counter = 0
        deadline = time.monotonic() + seconds
        started = time.monotonic()

        async def sender() -> None:
            # JSON-RPC batches of signed transfers: the HTTP layer is not what is measured.
            nonlocal landed, counter
            while time.monotonic() < deadline:
                batch = []
                for _ in range(BATCH):
                    counter += 1
                    pay = transfer(
                        TransferParams(
                            from_pubkey=payer.pubkey(),
                            to_pubkey=Keypair().pubkey(),
                            lamports=1_000_000 + counter,
                        )
                    )
                    message = Message.new_with_blockhash([pay], payer.pubkey(), blockhash)
                    tx = bytes(VersionedTransaction(message, [payer]))
                    batch.append(
                        {
                            "jsonrpc": "2.0",
                            "id": counter,
                            "method": "sendTransaction",
                            "params": [
                                base64.b64encode(tx).decode(),
                                {"encoding": "base64", "skipPreflight": True},
                            ],
                        }
                    )
                answers = (await client.post("", json=batch)).json()
                landed += sum(1 for answer in answers if "result" in answer)

        await asyncio.gather(*(sender() for _ in range(senders)))
        elapsed = time.monotonic() - started
    return landed / elapsed, landed


def geyser_run(
    rpc_url: str, grpc_target: str, payer: Keypair, seconds: float, senders: int
) -> dict[str, object]:
    """Live: one subscriber while transfers land. Replay: a second one asks for the same
    slots with from_slot afterwards, so it streams as fast as the server can send."""
    first_slot = httpx.post(rpc_url, content=rpc_body("getSlot", [{"commitment": "processed"}]))
    first_slot = first_slot.json()["result"]
    live = start_subscriber(grpc_target)
    time.sleep(0.5)  # the subscription is in place
    tps, landed = asyncio.run(send_transfers(rpc_url, payer, seconds, senders))
    live_result = collect(*live)
    replay_result = collect(*start_subscriber(grpc_target, from_slot=first_slot))
    return {"tps": tps, "landed": landed, "live": live_result, "replay": replay_result}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("BENCH_SECONDS", 5)))
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--senders", type=int, default=16)
    args = parser.parse_args(argv)

    payer = Keypair()
    with localnet_process([f"{payer.pubkey()}:{1_000_000 * SOL}"]) as ports:
        rpc_url = f"http://{HOST}:{ports['rpc']}"
        health = run_load(f"{rpc_url}/health", seconds=args.seconds, connections=args.connections)
        balance = run_load(
            rpc_url + "/",
            seconds=args.seconds,
            connections=args.connections,
            body=rpc_body("getBalance", [str(payer.pubkey())]),
        )
        stream = geyser_run(rpc_url, f"{HOST}:{ports['grpc']}", payer, args.seconds, args.senders)
    tps, live, replay = stream["tps"], stream["live"], stream["replay"]
    # A transfer writes two accounts (payer, receiver): 3 updates per landed transaction.
    expected = 3 * stream["landed"]
    print(f"load generator: {load_generator()}, {args.connections} connections, {args.seconds}s")
    print(f"GET /health (reference)   {health.rps:10.0f} req/s  p99 {health.p99_ms:.2f} ms")
    print(
        f"getBalance                {balance.rps:10.0f} req/s  p99 {balance.p99_ms:.2f} ms  "
        f"({balance.rps / health.rps:.2f}x of /health)"
    )
    print(f"transactions landed       {tps:10.0f} tx/s = {3 * tps:.0f} updates/s (reference)")
    print(
        f"geyser live, 1 client     {live['per_s']:10.0f} updates/s  "
        f"({live['updates']} of {expected} delivered, sharing 2 cores with the load)"
    )
    print(
        f"geyser replay, 1 client   {replay['per_s']:10.0f} updates/s  "
        f"({replay['updates']} of {expected} from from_slot)"
    )
    for name, result in (("live", live), ("replay", replay)):
        if result["error"]:
            print(f"geyser {name} stream error: {result['error']}")
    errors = balance.errors + health.errors + sum(1 for r in (live, replay) if r["error"])
    print(
        json.dumps(
            {
                "bench": "localnet",
                "rpc_get_balance_rps": round(balance.rps),
                "geyser_updates_per_s": round(replay["per_s"]),
                "reference_health_rps": round(health.rps),
                "get_balance_vs_health": round(balance.rps / health.rps, 3),
                "geyser_live_updates_per_s": round(live["per_s"]),
                "reference_landed_updates_per_s": round(3 * tps),
                "geyser_vs_landed_updates": round(replay["per_s"] / max(3 * tps, 1e-9), 2),
                "geyser_delivered_live": f"{live['updates']}/{expected}",
                "geyser_delivered_replay": f"{replay['updates']}/{expected}",
                "errors": errors,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
