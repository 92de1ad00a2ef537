"""`python manage.py localnet`: run the LiteSVM localnet's JSON-RPC until Ctrl-C."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from apps.chain.localnet.__main__ import run


class Command(BaseCommand):
    help = "Run the localnet: a LiteSVM chain behind Solana JSON-RPC (default port 8899)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=getattr(settings, "LOCALNET_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=getattr(settings, "LOCALNET_PORT", 8899))
        parser.add_argument(
            "--slot-ms",
            type=int,
            default=getattr(settings, "LOCALNET_SLOT_MS", 400),
            help="slot length in milliseconds; 0 disables the clock",
        )
        parser.add_argument(
            "--fund",
            action="append",
            default=list(getattr(settings, "LOCALNET_FUND", [])),
            metavar="PUBKEY[:LAMPORTS]",
            help="account to fund at startup (repeatable)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        run(
            options["host"],
            options["port"],
            options["slot_ms"],
            options["fund"],
            verbose=options["verbosity"] >= 2,
        )
