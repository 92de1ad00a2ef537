"""Pulse: which column a live token is in, and the board the front end reads.

Columns (solana-facts.md §6): New Pairs (fresh launches still early on their curve), Final
Stretch (bonding progress at or past the staff-set threshold, not yet migrated — a completed
curve waiting for `migrate` stays here), Migrated (only once the on-chain migration happened,
never by percentage). Each column lists a token for a staff-set time; every rule lives in
`PulseRules`, edited in the admin.

The processor calls `column_of` on each change; the board runs the same rules as SQL, so
the filters the front end passes are applied by the database.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.monitoring.models import PulseRules, Token

RULES_TTL_S = 5.0  # an admin edit takes effect within this long, without a query per update


class Column(StrEnum):
    NEW = "new"
    FINAL = "final"
    MIGRATED = "migrated"


def column_of(progress_pct: Decimal, migrated: bool, rules: PulseRules) -> Column:
    if migrated:
        return Column.MIGRATED
    if progress_pct >= rules.final_stretch_progress_pct:
        return Column.FINAL
    return Column.NEW


class RulesCache:
    """The rules in force, re-read at most every RULES_TTL_S (defaults when staff saved none)."""

    def __init__(self, ttl_s: float = RULES_TTL_S) -> None:
        self.ttl_s = ttl_s
        self._rules: PulseRules | None = None
        self._read_at = 0.0

    async def get(self) -> PulseRules:
        now = time.monotonic()
        if self._rules is None or now - self._read_at > self.ttl_s:
            self._rules = await PulseRules.objects.filter(pk=1).afirst() or PulseRules()
            self._read_at = now
        return self._rules

    def invalidate(self) -> None:
        self._rules = None


async def current_rules() -> PulseRules:
    return await PulseRules.objects.filter(pk=1).afirst() or PulseRules()


@dataclass(frozen=True)
class PulseFilters:
    """What the front end's filter panel sends; None = not filtered. Units: seconds, SOL, %."""

    age_min_s: int | None = None
    age_max_s: int | None = None
    market_cap_min: Decimal | None = None
    market_cap_max: Decimal | None = None
    progress_min: Decimal | None = None
    progress_max: Decimal | None = None
    holders_min: int | None = None
    dev_holding_max: Decimal | None = None
    top10_max: Decimal | None = None
    has_socials: bool | None = None
    limit: int | None = None


_HAS_SOCIALS = (
    (Q(twitter__isnull=False) & ~Q(twitter=""))
    | (Q(telegram__isnull=False) & ~Q(telegram=""))
    | (Q(website__isnull=False) & ~Q(website=""))
)


def _filtered(qs: QuerySet[Token], f: PulseFilters, now: datetime) -> QuerySet[Token]:
    if f.age_min_s is not None:
        qs = qs.filter(created_at__lte=now - timedelta(seconds=f.age_min_s))
    if f.age_max_s is not None:
        qs = qs.filter(created_at__gte=now - timedelta(seconds=f.age_max_s))
    if f.market_cap_min is not None:
        qs = qs.filter(market_cap_sol__gte=f.market_cap_min)
    if f.market_cap_max is not None:
        qs = qs.filter(market_cap_sol__lte=f.market_cap_max)
    if f.progress_min is not None:
        qs = qs.filter(progress_pct__gte=f.progress_min)
    if f.progress_max is not None:
        qs = qs.filter(progress_pct__lte=f.progress_max)
    # A metric the monitor does not know yet cannot pass a filter on it.
    if f.holders_min is not None:
        qs = qs.filter(holders__gte=f.holders_min)
    if f.dev_holding_max is not None:
        qs = qs.filter(dev_holding_pct__lte=f.dev_holding_max)
    if f.top10_max is not None:
        qs = qs.filter(top10_pct__lte=f.top10_max)
    if f.has_socials is True:
        qs = qs.filter(_HAS_SOCIALS)
    elif f.has_socials is False:
        qs = qs.exclude(_HAS_SOCIALS)
    return qs


def column_queryset(
    column: Column, rules: PulseRules, filters: PulseFilters, now: datetime
) -> QuerySet[Token]:
    """The tokens listed in `column` right now, sorted as the board shows them."""
    qs = Token.objects.filter(market_cap_sol__gte=rules.min_market_cap_sol)
    threshold = rules.final_stretch_progress_pct
    if column is Column.NEW:
        since = now - timedelta(minutes=rules.new_listing_minutes)
        qs = qs.filter(pool__isnull=True, progress_pct__lt=threshold, created_at__gte=since)
        order = ("-created_at", "-id")
    elif column is Column.FINAL:
        since = now - timedelta(minutes=rules.final_listing_minutes)
        active = Q(last_trade_at__gte=since) | Q(last_trade_at__isnull=True, created_at__gte=since)
        qs = qs.filter(active, pool__isnull=True, progress_pct__gte=threshold)
        order = ("-progress_pct", "-last_trade_at", "-id")
    else:
        since = now - timedelta(minutes=rules.migrated_listing_minutes)
        qs = qs.filter(pool__isnull=False, migrated_at__gte=since)
        order = ("-migrated_at", "-id")
    limit = min(filters.limit or rules.column_size, rules.column_size)
    return _filtered(qs, filters, now).order_by(*order)[:limit]


def token_view(token: Token, column: Column, now: datetime) -> dict[str, Any]:
    """One card on the board."""
    age = (now - token.created_at).total_seconds() if token.created_at else None
    return {
        "mint": token.mint,
        "name": token.name,
        "symbol": token.symbol,
        "uri": token.uri,
        "creator": token.creator,
        "column": column.value,
        "created_at": token.created_at,
        "age_s": None if age is None else max(0, int(age)),
        "bonding_curve": token.bonding_curve,
        "progress_pct": token.progress_pct,
        "price_sol": token.price_sol,
        "market_cap_sol": token.market_cap_sol,
        "complete": token.complete,
        "pool": token.pool,
        "migrated_at": token.migrated_at,
        "holders": token.holders,
        "dev_holding_pct": token.dev_holding_pct,
        "top10_pct": token.top10_pct,
        "socials": {"twitter": token.twitter, "telegram": token.telegram, "website": token.website},
        "last_trade_at": token.last_trade_at,
    }


async def pulse_board(
    filters: PulseFilters, columns: list[Column] | None = None, now: datetime | None = None
) -> dict[str, list[dict[str, Any]]]:
    """The listed tokens of each requested column (all three by default), sorted."""
    now = now or timezone.now()
    rules = await current_rules()
    board: dict[str, list[dict[str, Any]]] = {}
    for column in columns or list(Column):
        qs = column_queryset(column, rules, filters, now)
        board[column.value] = [token_view(t, column, now) async for t in qs]
    return board
