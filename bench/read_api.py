"""What the Read API adds over its RPC upstream, and how it compares with FastAPI.

    python bench/read_api.py [--seconds 10] [--connections 64] [--samples 2000]

1. Record: a localnet with a wallet holding SOL and SPL / Token-2022 tokens, a pump.fun
   coin and a signed transfer; the platform (granian, 1 worker) reads them once through a
   recording proxy, which keeps every upstream answer and which calls each endpoint made.
2. Serve those answers from an instant upstream (bench/instant_rpc.py under granian).
3. Added latency per endpoint: sequential keep-alive requests to the platform, minus the
   same upstream calls made directly one after another (p50 and p99 of each).
4. Throughput of balance and token accounts: the platform against bench/fastapi_read.py
   (same upstream calls, same client), same load, same run.
5. The platform worker's resident memory once it has served 100,000+ requests.

Last line: {"bench": "read_api", "added_p50_ms", "added_p99_ms", "balance_rps", ...}.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import http.client
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import uvicorn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from bench.harness import (  # noqa: E402
    HOST,
    add_load_options,
    install_signal_handlers,
    load_generator,
    run_load,
    running_server,
    worker_rss_mb,
)
from bench.instant_rpc import request_key  # noqa: E402

SOL = 1_000_000_000
RSS_AFTER_REQUESTS = 100_000


# ---- recording ---------------------------------------------------------------------------


class RecordingProxy:
    """Forwards JSON-RPC to the localnet, keeping each answer and the order of calls."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.answers: dict[str, Any] = {}
        self.calls: list[tuple[str, Any]] = []

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if scope["method"] != "POST":
            payload = b'{"pong":true}'
        else:
            async with httpx.AsyncClient() as client:
                payload = (await client.post(self.upstream, content=body)).content
            request, answer = json.loads(body), json.loads(payload)
            # A batch records each of its calls, as if made one by one.
            calls = request if isinstance(request, list) else [request]
            replies = {r.get("id"): r for r in (answer if isinstance(answer, list) else [answer])}
            for call in calls:
                reply = replies.get(call.get("id"), {})
                if "result" in reply:
                    key = request_key(call["method"], call.get("params", []))
                    self.answers[key] = reply["result"]
                    self.calls.append((call["method"], call.get("params", [])))
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": payload})


@contextlib.contextmanager
def serve_in_thread(app: Any) -> Iterator[str]:
    from apps.chain.localnet.server import bind_socket

    sock = bind_socket(HOST, 0)
    config = uvicorn.Config(app, log_level="warning", lifespan="off", loop="asyncio")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield f"http://{HOST}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)


def chain_fixture(net: Any) -> dict[str, str]:
    """Real state to read: a wallet with SOL and tokens of both programs, a pump coin,
    and a signed transfer to simulate."""
    from solders.keypair import Keypair
    from solders.message import Message
    from solders.system_program import TransferParams, transfer
    from solders.transaction import VersionedTransaction

    from apps.chain.localnet import fixtures
    from apps.chain.localnet.records import TOKEN_2022_PROGRAM, TOKEN_PROGRAM
    from apps.chain.programs.pump import instructions as pump_ix

    wallet = Keypair()
    fixtures.airdrop(net, wallet.pubkey(), 50 * SOL)
    for program in (TOKEN_PROGRAM, TOKEN_2022_PROGRAM, TOKEN_PROGRAM):
        mint = fixtures.create_mint(net, wallet, decimals=6, program=program)
        account = fixtures.create_token_account(net, wallet, mint, wallet.pubkey())
        fixtures.mint_to(net, wallet, mint, account, 1_234_567)
    coin = Keypair()
    fixtures.send_instructions(
        net,
        wallet,
        [
            pump_ix.create(
                mint=coin.pubkey(),
                user=wallet.pubkey(),
                creator=wallet.pubkey(),
                name="Bench Coin",
                symbol="BNCH",
                uri="https://bench.invalid/c.json",
            )
        ],
        signers=[coin],
        what="create",
    )
    blockhash, _ = net.chain.latest_blockhash("processed")
    tx = VersionedTransaction(
        Message.new_with_blockhash(
            [
                transfer(
                    TransferParams(
                        from_pubkey=wallet.pubkey(), to_pubkey=Keypair().pubkey(), lamports=SOL
                    )
                )
            ],
            wallet.pubkey(),
            blockhash,
        ),
        [wallet],
    )
    net.chain.advance_slot(2)
    return {
        "wallet": str(wallet.pubkey()),
        "coin": str(coin.pubkey()),
        "transaction": base64.b64encode(bytes(tx)).decode(),
    }


def endpoints(state: dict[str, str]) -> dict[str, tuple[str, str, bytes | None]]:
    """name -> (method, path, body) of each Read API endpoint."""
    simulate = json.dumps({"transaction": state["transaction"]}).encode()
    return {
        "balance": ("GET", f"/api/account/{state['wallet']}/balance", None),
        "tokens": ("GET", f"/api/account/{state['wallet']}/tokens", None),
        "priority_fees": ("GET", "/api/fees/priority", None),
        "token_safety": ("GET", f"/api/token/{state['coin']}/safety", None),
        "simulate": ("POST", "/api/transaction/simulate", simulate),
    }


# ---- measuring ---------------------------------------------------------------------------


def _request(conn: http.client.HTTPConnection, method: str, path: str, body: bytes | None) -> int:
    headers = {"Content-Type": "application/json"} if body is not None else {}
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    response.read()
    return response.status


def latencies(
    base: str, requests: list[tuple[str, str, bytes | None]], samples: int
) -> list[float]:
    """Milliseconds per sample; each sample sends `requests` one after another, keep-alive."""
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    out = []
    for i in range(samples + samples // 10):
        started = time.perf_counter()
        for method, path, body in requests:
            status = _request(conn, method, path, body)
            if status != 200:
                raise RuntimeError(f"{method} {path} answered {status}")
        if i >= samples // 10:  # the first tenth warms up
            out.append((time.perf_counter() - started) * 1000)
    conn.close()
    return out


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per load")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--samples", type=int, default=2000, help="latency samples per endpoint")
    add_load_options(parser)
    args = parser.parse_args(argv)
    install_signal_handlers()
    if args.load_generator != "auto":
        os.environ["BENCH_LOADGEN"] = args.load_generator

    import django

    django.setup()
    from apps.chain.localnet import start_localnet_in_thread

    # 1. Record real answers and which upstream calls each endpoint makes.
    calls_by_endpoint: dict[str, list[tuple[str, Any]]] = {}
    with start_localnet_in_thread(slot_ms=0) as net:
        state = chain_fixture(net)
        proxy = RecordingProxy(net.rpc_url)
        with (
            serve_in_thread(proxy) as proxy_url,
            running_server(
                "granian", "config.asgi:application", env={"SOLANA_RPC_URLS": proxy_url}
            ) as platform,
        ):
            for name, request in endpoints(state).items():
                latencies(platform.base(), [request], 1)  # cold path (caches fill)
                before = len(proxy.calls)
                latencies(platform.base(), [request], 1)
                calls_by_endpoint[name] = proxy.calls[before:]
    recorded = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
    json.dump(proxy.answers, recorded)
    recorded.close()

    results: dict[str, Any] = {}
    worst_p50 = worst_p99 = 0.0
    try:
        with running_server(
            "granian", "bench.instant_rpc:app", env={"INSTANT_RPC_FILE": recorded.name}
        ) as upstream:
            with running_server(
                "granian", "config.asgi:application", env={"SOLANA_RPC_URLS": upstream.base()}
            ) as platform:
                # 2. Added latency: the endpoint minus its upstream calls made directly.
                print(f"latency: {args.samples} sequential keep-alive samples per endpoint")
                for name, request in endpoints(state).items():
                    direct = [
                        (
                            "POST",
                            "/",
                            json.dumps(
                                {"jsonrpc": "2.0", "id": 1, "method": m, "params": p}
                            ).encode(),
                        )
                        for m, p in calls_by_endpoint[name]
                    ]
                    via_api = latencies(platform.base(), [request], args.samples)
                    via_rpc = latencies(upstream.base(), direct, args.samples) if direct else [0.0]
                    added_p50 = pct(via_api, 50) - pct(via_rpc, 50)
                    added_p99 = pct(via_api, 99) - pct(via_rpc, 99)
                    worst_p50, worst_p99 = max(worst_p50, added_p50), max(worst_p99, added_p99)
                    results[name] = {
                        "added_p50_ms": round(added_p50, 3),
                        "added_p99_ms": round(added_p99, 3),
                        "upstream_calls": len(direct),
                    }
                    print(
                        f"  {name:>14}: api p50 {pct(via_api, 50):6.3f} p99 "
                        f"{pct(via_api, 99):6.3f} ms | {len(direct)} upstream call(s) p50 "
                        f"{pct(via_rpc, 50):6.3f} p99 {pct(via_rpc, 99):6.3f} ms | added p50 "
                        f"{added_p50:6.3f} p99 {added_p99:6.3f} ms"
                    )
                # 3. Throughput of the two cheapest reads, then memory after 100k requests.
                served = 0
                for name in ("balance", "tokens"):
                    load = run_load(
                        platform.base() + endpoints(state)[name][1],
                        seconds=args.seconds,
                        connections=args.connections,
                    )
                    served += load.requests
                    results[f"{name}_rps"], results[f"{name}_errors"] = load.rps, load.errors
                while served < RSS_AFTER_REQUESTS:
                    load = run_load(
                        platform.base() + endpoints(state)["balance"][1],
                        seconds=args.seconds,
                        connections=args.connections,
                    )
                    served += load.requests
                results["worker_rss_mb"] = worker_rss_mb(platform.pid)
                results["served"] = served
            # 4. The reference: FastAPI making the same upstream calls with the same client.
            with running_server(
                "granian", "bench.fastapi_read:application", env={"BENCH_RPC_URL": upstream.base()}
            ) as reference:
                for name, path in (
                    ("balance", f"/balance/{state['wallet']}"),
                    ("tokens", f"/tokens/{state['wallet']}"),
                ):
                    load = run_load(
                        reference.base() + path, seconds=args.seconds, connections=args.connections
                    )
                    results[f"{name}_fastapi_rps"] = load.rps
                    results[f"{name}_fastapi_errors"] = load.errors
    finally:
        os.unlink(recorded.name)

    print(f"throughput: {load_generator()}, {args.connections} connections, {args.seconds:g}s")
    for name in ("balance", "tokens"):
        ratio = results[f"{name}_rps"] / max(results[f"{name}_fastapi_rps"], 1e-9)
        print(
            f"  {name:>8}: platform {results[f'{name}_rps']:8.0f} req/s | FastAPI "
            f"{results[f'{name}_fastapi_rps']:8.0f} req/s | {ratio:.2f}x"
        )
    print(f"worker RSS after {results['served']:,} requests: {results['worker_rss_mb']:.1f} MB")
    errors = sum(v for k, v in results.items() if k.endswith("_errors"))
    print(
        json.dumps(
            {
                "bench": "read_api",
                "added_p50_ms": round(worst_p50, 3),
                "added_p99_ms": round(worst_p99, 3),
                "balance_rps": round(results["balance_rps"]),
                "balance_fastapi_rps": round(results["balance_fastapi_rps"]),
                "tokens_rps": round(results["tokens_rps"]),
                "tokens_fastapi_rps": round(results["tokens_fastapi_rps"]),
                "worker_rss_mb": round(results["worker_rss_mb"], 1),
                "per_endpoint": {k: v for k, v in results.items() if isinstance(v, dict)},
                "errors": errors,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
