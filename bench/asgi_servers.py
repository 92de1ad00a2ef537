"""The platform's ASGI app under granian, uvicorn and daphne: pick the server by measurement.

    .venv/bin/python bench/asgi_servers.py [--seconds 10] [--connections 64]

Same conditions as bench/http_baseline.py: config.asgi:application, GET /api/ping,
one worker on a free loopback port, DEBUG=false, access logs off, warm-up, then
--seconds of keep-alive load from wrk (else bench/loadgen.py). uvicorn runs with
uvloop and httptools. Prints req/s and p99 for each; the last line is one JSON object.
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
    SERVERS,
    add_load_options,
    install_signal_handlers,
    load_generator,
    measure,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per server")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds per server")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument(
        "--app", default="platform", help=f"one of {sorted(APPS)} or a module:attr ASGI app"
    )
    parser.add_argument("--servers", default=",".join(SERVERS), help="comma-separated subset")
    add_load_options(parser)
    args = parser.parse_args(argv)
    servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    unknown = set(servers) - set(SERVERS)
    if unknown:
        parser.error(f"unknown servers: {sorted(unknown)}")
    install_signal_handlers()
    if args.load_generator != "auto":
        os.environ["BENCH_LOADGEN"] = args.load_generator

    app = APPS.get(args.app, args.app)
    if ":" not in app:
        parser.error(f"--app: {args.app!r} is neither one of {sorted(APPS)} nor module:attr")
    generator = load_generator()
    print(
        f"app={app} (1 worker)  load={generator} -c {args.connections}  "
        f"warmup={args.warmup:g}s  measure={args.seconds:g}s",
        flush=True,
    )
    summary: dict[str, object] = {"bench": "asgi_servers"}
    best = None
    try:
        for server in servers:
            result = measure(
                server,
                app,
                seconds=args.seconds,
                warmup=args.warmup,
                connections=args.connections,
                pin=args.pin,
            )
            note = f"  ({result.errors} errors)" if result.errors else ""
            print(
                f"{server:>8}: {result.rps:9.0f} req/s  p50 {result.p50_ms:7.2f} ms  "
                f"p99 {result.p99_ms:7.2f} ms{note}",
                flush=True,
            )
            summary[f"{server}_rps"] = round(result.rps, 1)
            summary[f"{server}_p99_ms"] = round(result.p99_ms, 2)
            if best is None or result.rps > best[1]:
                best = (server, result.rps)
    except KeyboardInterrupt:
        print("interrupted; servers stopped", file=sys.stderr)
        return 130
    if best is not None:
        print(f"fastest: {best[0]}")
        summary["fastest"] = best[0]
    summary.update(app=args.app, load_generator=generator)
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
