"""`python -m apps.chain.localnet [--host H] [--port P] [--slot-ms MS]`, without Django."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
from collections.abc import Sequence

from solders.pubkey import Pubkey

from .server import serve

DEFAULT_FUND_LAMPORTS = 1_000 * 1_000_000_000


def parse_fund(values: Sequence[str]) -> list[tuple[Pubkey, int]]:
    """`PUBKEY` or `PUBKEY:LAMPORTS` entries to fund at startup."""
    out = []
    for value in values:
        key, _, lamports = value.partition(":")
        out.append((Pubkey.from_string(key), int(lamports) if lamports else DEFAULT_FUND_LAMPORTS))
    return out


def build_parser(
    host: str = "127.0.0.1", port: int = 8899, slot_ms: int = 400
) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="localnet", description="Run the LiteSVM localnet.")
    parser.add_argument("--host", default=host)
    parser.add_argument("--port", type=int, default=port)
    parser.add_argument("--slot-ms", type=int, default=slot_ms, help="0 disables the clock")
    parser.add_argument("--fund", action="append", default=[], metavar="PUBKEY[:LAMPORTS]")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every slot")
    return parser


def run(
    host: str, port: int, slot_ms: int, fund: Sequence[str] = (), verbose: bool = False
) -> None:
    """Serve until Ctrl-C."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO, format="%(asctime)s %(message)s"
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(host, port, slot_ms, fund=parse_fund(fund)))


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    run(args.host, args.port, args.slot_ms, args.fund, args.verbose)


if __name__ == "__main__":
    main()
