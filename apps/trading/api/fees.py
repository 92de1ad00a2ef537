"""GET /api/fees/priority: compute-unit price levels and Jito tips, for building a trade.

A thin async view: the query is validated by Ninja (422 naming the field) before the
service makes any RPC call; RPC failures map to 503/502 in config/api_errors.
"""

from __future__ import annotations

from typing import Annotated, Any

from django.conf import settings
from django.http import HttpRequest
from ninja import Field, Query, Router, Schema
from pydantic import BeforeValidator

from apps.chain.rpc_pool import rpc_pool
from apps.trading.services.priority_fees import (
    DEFAULT_COMPUTE_UNIT_LIMIT,
    MAX_COMPUTE_UNIT_LIMIT,
    MAX_FEE_ACCOUNTS,
    MAX_LOOKBACK_SLOTS,
    priority_fee_estimate,
)
from config.api_errors import ErrorOut

from .types import StrictQuery, check_pubkey

router = Router(tags=["fees"])


def _account_list(value: Any) -> list[str]:
    """`a,b` or `accounts=a&accounts=b` (or both) -> validated pubkeys, at most 128."""
    parts = value if isinstance(value, list) else [value]
    keys = [key.strip() for part in parts for key in str(part).split(",") if key.strip()]
    if len(keys) > MAX_FEE_ACCOUNTS:
        raise ValueError(f"at most {MAX_FEE_ACCOUNTS} accounts, got {len(keys)}")
    for position, key in enumerate(keys):
        try:
            check_pubkey(key)
        except ValueError as exc:
            raise ValueError(f"account {position} ({key[:50]!r}): {exc}") from None
    return keys


class PriorityFeeQuery(StrictQuery):
    accounts: Annotated[list[str], BeforeValidator(_account_list)] = Field(
        default_factory=list,
        description="Accounts the transaction will write-lock (comma-separated pubkeys, "
        f"at most {MAX_FEE_ACCOUNTS}): their fee market is often far busier than the "
        "network's.",
    )
    slots: int = Field(
        MAX_LOOKBACK_SLOTS,
        ge=1,
        le=MAX_LOOKBACK_SLOTS,
        description="How many of the most recent slots to take percentiles over "
        f"(1-{MAX_LOOKBACK_SLOTS}; the node keeps {MAX_LOOKBACK_SLOTS}).",
    )
    compute_unit_limit: int = Field(
        DEFAULT_COMPUTE_UNIT_LIMIT,
        ge=1,
        le=MAX_COMPUTE_UNIT_LIMIT,
        description="The compute-unit limit the transaction will request; the priority fee "
        "in lamports is charged on it (default 200,000, the runtime's per-instruction "
        "default).",
    )


def _levels_description(what: str) -> str:
    return (
        f"{what}: compute-unit price in micro-lamports per level — min (p0), low (p25), "
        "medium (p50), high (p75), very_high (p95), unsafe_max (p100)."
    )


class FeeLevelsOut(Schema):
    min: int = Field(description="0th percentile (micro-lamports per CU).")
    low: int = Field(description="25th percentile (micro-lamports per CU).")
    medium: int = Field(description="50th percentile (micro-lamports per CU).")
    high: int = Field(description="75th percentile (micro-lamports per CU).")
    very_high: int = Field(description="95th percentile (micro-lamports per CU).")
    unsafe_max: int = Field(description="100th percentile, the highest (micro-lamports per CU).")


class FeeLevelOut(Schema):
    percentile: int = Field(description="The percentile of recent slots' fees this level is.")
    compute_unit_price: int = Field(
        description="Recommended SetComputeUnitPrice in micro-lamports per CU: the higher of "
        "the network's and the accounts' percentile, rounded up."
    )
    priority_fee_lamports: int = Field(
        description="What that price costs at compute_unit_limit: "
        "ceil(limit × price / 1,000,000) lamports, on top of 5,000 per signature."
    )


class RecommendedLevelsOut(Schema):
    min: FeeLevelOut
    low: FeeLevelOut
    medium: FeeLevelOut
    high: FeeLevelOut
    very_high: FeeLevelOut
    unsafe_max: FeeLevelOut


class JitoTipOut(Schema):
    time: str | None = Field(description="When Jito computed these figures (ISO 8601).")
    p25: int | None = Field(description="25th percentile of landed bundle tips, lamports.")
    p50: int | None = Field(description="50th percentile of landed bundle tips, lamports.")
    p75: int | None = Field(description="75th percentile of landed bundle tips, lamports.")
    p95: int | None = Field(description="95th percentile of landed bundle tips, lamports.")
    p99: int | None = Field(description="99th percentile of landed bundle tips, lamports.")
    ema_p50: int | None = Field(
        description="Exponential moving average of the 50th percentile, lamports."
    )


class PriorityFeeOut(Schema):
    slot: int | None = Field(description="Newest slot sampled (null when the node had none).")
    slots: int = Field(description="How many slots the percentiles are over.")
    accounts: list[str] = Field(description="The write-locked accounts considered, sorted.")
    compute_unit_limit: int = Field(description="The CU limit priority_fee_lamports is for.")
    levels: RecommendedLevelsOut = Field(
        description="What to pay per level: the recommended compute-unit price and its cost."
    )
    network_levels: FeeLevelsOut = Field(
        description=_levels_description(
            "Over every transaction (getRecentPrioritizationFees per slot minimum)"
        )
    )
    account_levels: FeeLevelsOut | None = Field(
        description=_levels_description(
            "Over transactions write-locking the given accounts (null without accounts)"
        )
    )
    jito_tip: JitoTipOut | None = Field(
        description="Jito's tip floor (landed bundle tips) in lamports; null when no tip "
        "source is configured (JITO_TIP_FLOOR_URL) or it did not answer."
    )


@router.get(
    "/priority",
    response={200: PriorityFeeOut, 422: ErrorOut, 502: ErrorOut, 503: ErrorOut},
    auth=None,
    summary="Priority-fee levels and Jito tips",
    description="Percentiles of the compute-unit prices that landed in the last `slots` "
    "slots (getRecentPrioritizationFees: each slot's lowest landed price), network-wide and "
    "for the write-locked `accounts`, in the shape of Helius' getPriorityFeeEstimate "
    "levels (linear interpolation between ranks; empty slots count as 0). Cached for about "
    "a slot.",
)
async def priority(request: HttpRequest, query: Query[PriorityFeeQuery]):
    return await priority_fee_estimate(
        rpc=rpc_pool(),
        accounts=query.accounts,
        slots=query.slots,
        compute_unit_limit=query.compute_unit_limit,
        tip_floor_url=settings.JITO_TIP_FLOOR_URL,
    )
