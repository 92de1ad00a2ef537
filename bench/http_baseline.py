"""One trivial async JSON endpoint (GET /api/ping) served three ways, in one run.

    .venv/bin/python bench/http_baseline.py [--seconds 10] [--connections 64]

1. platform:     config.asgi:application (the platform's ASGI path, fast path for async views)
2. stock_django: bench.stock_django_asgi:application (Django's stock ASGIHandler, same settings)
3. fastapi:      bench.fastapi_app:application (a minimal FastAPI app, same endpoint)

Each runs alone on the production server (granian, chosen by bench/asgi_servers.py),
one worker on a free loopback port, DEBUG=false with throwaway secrets and SQLite,
access logs off. Each is warmed up, then loaded for --seconds by wrk when it is on
PATH (else bench/loadgen.py), with --connections keep-alive connections, the load
generator in its own process. Prints requests/second and p99 latency for each and
the ratios; the last line is one JSON object.

Targets (issue 2): platform >= 3.5x stock Django and >= 0.8x FastAPI.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (  # noqa: E402
    APPS,
    PRODUCTION_SERVER,
    SERVERS,
    add_load_options,
    install_signal_handlers,
    load_generator,
    measure,
)

TARGET_VS_STOCK = 3.5
TARGET_VS_FASTAPI = 0.8


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per app")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds per app")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--server", choices=SERVERS, default=PRODUCTION_SERVER)
    parser.add_argument(
        "--platform-app",
        default=APPS["platform"],
        help="module:attr for the platform column (A/B runs against a candidate app)",
    )
    add_load_options(parser)
    args = parser.parse_args(argv)
    install_signal_handlers()
    if args.load_generator != "auto":
        os.environ["BENCH_LOADGEN"] = args.load_generator

    generator = load_generator()
    print(
        f"server={args.server} (1 worker)  load={generator} -c {args.connections}  "
        f"warmup={args.warmup:g}s  measure={args.seconds:g}s",
        flush=True,
    )
    results = {}
    try:
        apps = dict(APPS, platform=args.platform_app)
        for name, app in apps.items():
            result = measure(
                args.server,
                app,
                seconds=args.seconds,
                warmup=args.warmup,
                connections=args.connections,
                pin=args.pin,
            )
            results[name] = result
            note = f"  ({result.errors} errors)" if result.errors else ""
            print(
                f"{name:>13}: {result.rps:9.0f} req/s  p50 {result.p50_ms:7.2f} ms  "
                f"p99 {result.p99_ms:7.2f} ms  [{app}]{note}",
                flush=True,
            )
    except KeyboardInterrupt:
        print("interrupted; servers stopped", file=sys.stderr)
        return 130

    platform, stock, fastapi = results["platform"], results["stock_django"], results["fastapi"]
    vs_stock = platform.rps / stock.rps if stock.rps else float("inf")
    vs_fastapi = platform.rps / fastapi.rps if fastapi.rps else float("inf")
    ok_stock = "ok" if vs_stock >= TARGET_VS_STOCK else "MISSED"
    ok_fastapi = "ok" if vs_fastapi >= TARGET_VS_FASTAPI else "MISSED"
    print(f"platform / stock Django: {vs_stock:.2f}x  (target >= {TARGET_VS_STOCK}x: {ok_stock})")
    print(
        f"platform / FastAPI:      {vs_fastapi:.2f}x  "
        f"(target >= {TARGET_VS_FASTAPI}x: {ok_fastapi})"
    )
    summary = {
        "bench": "http_baseline",
        "platform_rps": round(platform.rps, 1),
        "stock_django_rps": round(stock.rps, 1),
        "fastapi_rps": round(fastapi.rps, 1),
        "platform_p99_ms": round(platform.p99_ms, 2),
        "stock_django_p99_ms": round(stock.p99_ms, 2),
        "fastapi_p99_ms": round(fastapi.p99_ms, 2),
        "platform_vs_stock": round(vs_stock, 2),
        "platform_vs_fastapi": round(vs_fastapi, 2),
        "server": args.server,
        "load_generator": generator,
    }
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
