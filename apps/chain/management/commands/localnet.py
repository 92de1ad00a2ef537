"""`python manage.py localnet`: run the whole LiteSVM localnet until Ctrl-C."""

from __future__ import annotations

import argparse
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from apps.chain.localnet.__main__ import add_localnet_arguments, run


class Command(BaseCommand):
    help = (
        "Run the localnet: a LiteSVM chain behind Solana JSON-RPC (8899), its WebSocket "
        "pubsub (8900), Yellowstone gRPC (10000) and the block engines (8902)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        add_localnet_arguments(
            parser,
            {
                "host": settings.LOCALNET_HOST,
                "port": settings.LOCALNET_PORT,
                "ws_port": settings.LOCALNET_WS_PORT,
                "grpc_port": settings.LOCALNET_GRPC_PORT,
                "engines_port": settings.LOCALNET_ENGINES_PORT,
                "slot_ms": settings.LOCALNET_SLOT_MS,
                "geyser_x_token": settings.GEYSER_X_TOKEN or None,
                "fund": settings.LOCALNET_FUND,
            },
        )

    def handle(self, *args: Any, **options: Any) -> None:
        run(argparse.Namespace(**options, verbose=options["verbosity"] >= 2))
