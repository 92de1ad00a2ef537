"""`python manage.py market`: the self-trading pump.fun market on the localnet (see market.py)."""

from __future__ import annotations

import argparse
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from apps.chain.localnet.market import MarketConfig, add_market_arguments, run_market


class Command(BaseCommand):
    help = "Launch and trade pump.fun coins on the localnet with simulated creators and traders."

    def add_arguments(self, parser: CommandParser) -> None:
        add_market_arguments(
            parser,
            MarketConfig(
                seed=settings.MARKET_SEED,
                launches_per_minute=settings.MARKET_LAUNCHES_PER_MINUTE,
                trades_per_second=settings.MARKET_TRADES_PER_SECOND,
                traders=settings.MARKET_TRADERS,
                graduation_share=settings.MARKET_GRADUATION_SHARE,
                rug_share=settings.MARKET_RUG_SHARE,
            ),
        )
        parser.set_defaults(rpc_url=f"http://{settings.LOCALNET_HOST}:{settings.LOCALNET_PORT}")

    def handle(self, *args: Any, **options: Any) -> None:
        run_market(argparse.Namespace(**options))
