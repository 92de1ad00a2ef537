"""GET /api/pulse: the Pulse board — New Pairs, Final Stretch, Migrated — with its filters.

The filters are the front end's filter panel; bad values (or parameters the board does not
know) are refused with a 422 naming the field, before any query runs.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema
from ninja.errors import ValidationError
from pydantic import model_validator

from apps.monitoring.services.pulse import Column, PulseFilters, pulse_board
from apps.trading.api.types import StrictQuery
from config.api_errors import ErrorOut

router = Router(tags=["pulse"])

MAX_AGE_S = 30 * 24 * 3600
MAX_SOL = Decimal(10**12)
PERCENT = {"ge": 0, "le": 100}


class PulseQuery(StrictQuery):
    category: Literal["new", "final", "migrated"] | None = Field(
        None, description="one column only; all three when omitted"
    )
    age_min_s: int | None = Field(None, ge=0, le=MAX_AGE_S, description="token age at least (s)")
    age_max_s: int | None = Field(None, ge=0, le=MAX_AGE_S, description="token age at most (s)")
    market_cap_min: Decimal | None = Field(None, ge=0, le=MAX_SOL, description="SOL")
    market_cap_max: Decimal | None = Field(None, ge=0, le=MAX_SOL, description="SOL")
    progress_min: Decimal | None = Field(None, **PERCENT, description="bonding progress %")
    progress_max: Decimal | None = Field(None, **PERCENT, description="bonding progress %")
    holders_min: int | None = Field(None, ge=0, le=10**9, description="holders at least")
    dev_holding_max: Decimal | None = Field(None, **PERCENT, description="creator holds at most %")
    top10_max: Decimal | None = Field(None, **PERCENT, description="top 10 holders hold at most %")
    has_socials: bool | None = Field(
        None, description="true: a twitter, telegram or website is known; false: none is"
    )
    limit: int | None = Field(
        None, ge=1, le=500, description="tokens per column (capped by the staff-set column size)"
    )

    @model_validator(mode="after")
    def _ranges_are_ordered(self) -> PulseQuery:
        for low, high in (
            ("age_min_s", "age_max_s"),
            ("market_cap_min", "market_cap_max"),
            ("progress_min", "progress_max"),
        ):
            lo, hi = getattr(self, low), getattr(self, high)
            if lo is not None and hi is not None and lo > hi:
                raise ValidationError(
                    [
                        {
                            "type": "range",
                            "loc": ("query", high),
                            "msg": f"must be at least {low} ({lo})",
                        }
                    ]
                )
        return self

    def filters(self) -> PulseFilters:
        fields = self.model_dump(exclude={"category"})
        return PulseFilters(**fields)


class Socials(Schema):
    twitter: str | None
    telegram: str | None
    website: str | None


class PulseToken(Schema):
    mint: str
    name: str
    symbol: str
    uri: str
    creator: str
    column: str
    created_at: datetime | None
    age_s: int | None
    bonding_curve: str
    progress_pct: Decimal = Field(description="bonding-curve progress, %")
    price_sol: Decimal = Field(description="SOL per whole token")
    market_cap_sol: Decimal
    complete: bool
    pool: str | None = Field(description="PumpSwap pool once migrated")
    migrated_at: datetime | None
    holders: int | None = Field(description="null while unknown")
    dev_holding_pct: Decimal | None
    top10_pct: Decimal | None
    socials: Socials
    last_trade_at: datetime | None


class PulseOut(Schema):
    columns: dict[str, list[PulseToken]] = Field(
        description='"new" (newest first), "final" (progress desc), "migrated" (newest '
        "migration first); only the requested one with ?category="
    )


@router.get("", response={200: PulseOut, 422: ErrorOut}, auth=None)
async def pulse(request: HttpRequest, query: Query[PulseQuery]) -> dict[str, Any]:
    """The live tokens of each Pulse column, sorted and filtered."""
    columns = [Column(query.category)] if query.category else None
    return {"columns": await pulse_board(query.filters(), columns)}
