"""Graduation stages of a coin, each recorded and published exactly once.

`curve_complete` fires when a bonding curve sells its last token; `migrated` when its
canonical PumpSwap pool exists (with the pool, the migration's signature and slot). Both may
be seen several times — from an event and from an account write, from a replay after a
reconnect, from a standby instance — so the database decides: the insert that wins the
unique (mint, stage) constraint is the one that publishes. A crash between the insert and the
publish leaves `published_at` empty, and `publish_pending()` sends it at the next start.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.utils import timezone

from apps.monitoring.models import MigrationEvent

log = logging.getLogger(__name__)

Publisher = Callable[[str, str, dict[str, Any]], Awaitable[Any]]

MIGRATIONS_TOPIC = "migrations"
CURVE_COMPLETE = MigrationEvent.Stage.CURVE_COMPLETE.value
MIGRATED = MigrationEvent.Stage.MIGRATED.value


def token_topic(mint: str) -> str:
    return f"token:{mint}"


@dataclass(frozen=True)
class Stage:
    mint: str
    stage: str
    signature: str
    slot: int
    occurred_at: datetime
    pool: str | None = None

    def payload(self) -> dict[str, Any]:
        return {
            "mint": self.mint,
            "stage": self.stage,
            "pool": self.pool,
            "signature": self.signature,
            "slot": self.slot,
            "occurred_at": self.occurred_at.isoformat(),
        }


def _stage_of(row: MigrationEvent) -> Stage:
    return Stage(row.mint, row.stage, row.signature, row.slot, row.occurred_at, row.pool)


class MigrationDetector:
    """Records stages (insert-or-ignore on the unique constraint) and publishes the new ones."""

    def __init__(self, publish: Publisher) -> None:
        self._publish = publish
        self._known: set[tuple[str, str]] = set()  # recorded by anyone: no query next time
        self.published = 0

    async def record(self, stage: Stage) -> bool:
        """True when this call recorded (and published) the stage; False if it already was."""
        key = (stage.mint, stage.stage)
        if key in self._known:
            return False
        row, created = await MigrationEvent.objects.aget_or_create(
            mint=stage.mint,
            stage=stage.stage,
            defaults={
                "pool": stage.pool,
                "signature": stage.signature,
                "slot": stage.slot,
                "occurred_at": stage.occurred_at,
            },
        )
        self._known.add(key)
        if created:
            await self._send(row)
        return created

    async def publish_pending(self) -> int:
        """Publish stages recorded but never published (a crash in between); returns how many."""
        count = 0
        async for row in MigrationEvent.objects.filter(published_at__isnull=True).order_by("id"):
            await self._send(row)
            count += 1
        return count

    async def _send(self, row: MigrationEvent) -> None:
        stage = _stage_of(row)
        data = stage.payload()
        await self._publish(MIGRATIONS_TOPIC, stage.stage, data)
        await self._publish(token_topic(stage.mint), stage.stage, data)
        await MigrationEvent.objects.filter(pk=row.pk).aupdate(published_at=timezone.now())
        self.published += 1
        log.info("migration: %s %s (slot %s)", stage.stage, stage.mint, stage.slot)
