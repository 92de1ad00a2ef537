"""`python -m apps.chain.localnet [options]`: the whole localnet, without Django."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
from collections.abc import Sequence

from solders.pubkey import Pubkey

from .server import LocalnetOptions, LocalnetPorts, serve

DEFAULT_FUND_LAMPORTS = 1_000 * 1_000_000_000
ENGINES = ("jito", "bloxroute", "nextblock")


def parse_fund(values: Sequence[str]) -> list[tuple[Pubkey, int]]:
    """`PUBKEY` or `PUBKEY:LAMPORTS` entries to fund at startup."""
    out = []
    for value in values:
        key, _, lamports = value.partition(":")
        out.append((Pubkey.from_string(key), int(lamports) if lamports else DEFAULT_FUND_LAMPORTS))
    return out


def parse_engine_auth(values: Sequence[str]) -> dict[str, str]:
    """`ENGINE=VALUE` entries: the auth header value (or Jito uuid) each engine demands."""
    out = {}
    for value in values:
        name, sep, secret = value.partition("=")
        if not sep or name not in ENGINES or not secret:
            raise argparse.ArgumentTypeError(
                f"--engine-auth wants ENGINE=VALUE, ENGINE in {ENGINES}"
            )
        out[name] = secret
    return out


def add_localnet_arguments(
    parser: argparse.ArgumentParser, defaults: dict[str, object] | None = None
) -> None:
    """The localnet's options, shared by `python -m` and `manage.py localnet`."""
    d: dict[str, object] = {
        "host": "127.0.0.1",
        "port": 8899,
        "ws_port": None,
        "grpc_port": 10000,
        "engines_port": 8902,
        "slot_ms": 400,
        "history_slots": 5_000,
        "geyser_x_token": None,
        "fund": [],
        **(defaults or {}),
    }
    parser.add_argument("--host", default=d["host"])
    parser.add_argument("--port", type=int, default=d["port"], help="JSON-RPC (HTTP)")
    parser.add_argument("--ws-port", type=int, default=d["ws_port"], help="pubsub; default port+1")
    parser.add_argument("--grpc-port", type=int, default=d["grpc_port"], help="Yellowstone gRPC")
    parser.add_argument(
        "--engines-port", type=int, default=d["engines_port"], help="Jito/bloXroute/NextBlock"
    )
    parser.add_argument("--slot-ms", type=int, default=d["slot_ms"], help="0 disables the clock")
    parser.add_argument(
        "--history-slots", type=int, default=d["history_slots"], help="transaction history kept"
    )
    parser.add_argument("--geyser-x-token", default=d["geyser_x_token"])
    parser.add_argument("--engine-auth", action="append", default=[], metavar="ENGINE=VALUE")
    parser.add_argument(
        "--fund", action="append", default=list(d["fund"]), metavar="PUBKEY[:LAMPORTS]"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="localnet", description="Run the LiteSVM localnet.")
    add_localnet_arguments(parser)
    parser.add_argument("-v", "--verbose", action="store_true", help="log every slot")
    return parser


def options_from_args(args: argparse.Namespace) -> LocalnetOptions:
    return LocalnetOptions(
        host=args.host,
        ports=LocalnetPorts(
            rpc=args.port, ws=args.ws_port, grpc=args.grpc_port, engines=args.engines_port
        ),
        slot_ms=args.slot_ms,
        history_slots=args.history_slots,
        geyser_x_token=args.geyser_x_token or None,
        engine_auth=parse_engine_auth(args.engine_auth),
    )


def run(args: argparse.Namespace) -> None:
    """Serve until Ctrl-C."""
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(message)s"
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(options_from_args(args), fund=parse_fund(args.fund)))


def main(argv: Sequence[str] | None = None) -> None:
    run(build_parser().parse_args(argv))


if __name__ == "__main__":
    main()
