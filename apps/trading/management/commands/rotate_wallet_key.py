"""`manage.py rotate_wallet_key`: re-seal every wallet's secret under the current key.

Put the new key in WALLET_ENCRYPTION_KEY and the old one(s) in WALLET_ENCRYPTION_OLD_KEYS,
run this, then drop the old keys. Safe to run again; it reports what it did.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from apps.trading.services.wallets import rotate_wallet_keys


class Command(BaseCommand):
    help = "Re-encrypt every wallet secret under WALLET_ENCRYPTION_KEY."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--batch", type=int, default=200, help="rows per transaction")

    def handle(self, *args, batch: int, **options) -> None:
        report = rotate_wallet_keys(batch=batch)
        self.stdout.write(
            f"rotated {report.rotated}; already under the current key {report.already_current}"
        )
        if report.unreadable:
            raise CommandError(
                f"{len(report.unreadable)} wallet(s) open with no known key (add the key they "
                f"were sealed with to WALLET_ENCRYPTION_OLD_KEYS): {', '.join(report.unreadable)}"
            )
