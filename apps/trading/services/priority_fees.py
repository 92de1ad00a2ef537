"""Priority-fee levels from recent prioritization fees, and the Jito tip floor.

`getRecentPrioritizationFees` gives, per recent slot (the node keeps 150), the lowest
compute-unit price a transaction paid to land there; with accounts, the lowest price
paid by transactions write-locking them (never below the slot's lowest). The levels are
percentiles over the last `slots` of those values, with the conventions of Helius'
getPriorityFeeEstimate: min p0, low p25, medium p50, high p75, very_high p95,
unsafe_max p100, linearly interpolated between the two nearest ranks. Empty slots count
as 0, as the node reports them: a price that low did land there.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections.abc import Sequence
from decimal import ROUND_CEILING, Decimal, InvalidOperation
from typing import Any

import aiohttp

from apps.chain.http import http_session, redact_url
from apps.chain.rpc import RpcClient, RpcUnavailable
from apps.chain.rpc_pool import RpcPool

logger = logging.getLogger(__name__)

PRIORITY_LEVELS: tuple[tuple[str, int], ...] = (
    ("min", 0),
    ("low", 25),
    ("medium", 50),
    ("high", 75),
    ("very_high", 95),
    ("unsafe_max", 100),
)
MAX_LOOKBACK_SLOTS = 150  # the node's prioritization-fee cache holds 150 blocks
MAX_FEE_ACCOUNTS = 128  # getRecentPrioritizationFees takes at most 128 addresses
DEFAULT_COMPUTE_UNIT_LIMIT = 200_000  # the runtime's default per instruction
MAX_COMPUTE_UNIT_LIMIT = 1_400_000  # per transaction
MICRO_LAMPORTS_PER_LAMPORT = 1_000_000
# The fee window moves once a slot (~400 ms): answers that young are as good as new.
FEE_CACHE_SECONDS = 0.4

TIP_FLOOR_TIMEOUT = 1.0
# Jito's aggregate moves slowly and its REST API rate-limits per IP: ask rarely.
TIP_FLOOR_CACHE_SECONDS = 5.0
TIP_FLOOR_FIELDS = {
    "p25": "landed_tips_25th_percentile",
    "p50": "landed_tips_50th_percentile",
    "p75": "landed_tips_75th_percentile",
    "p95": "landed_tips_95th_percentile",
    "p99": "landed_tips_99th_percentile",
    "ema_p50": "ema_landed_tips_50th_percentile",
}
LAMPORTS_PER_SOL = Decimal(1_000_000_000)


# ---- percentiles ------------------------------------------------------------------------


def percentile(ordered: Sequence[int], pct: int) -> float:
    """The `pct`th percentile of ascending `ordered`, linear between the nearest ranks."""
    if not ordered:
        return 0.0
    rank = pct / 100 * (len(ordered) - 1)
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (rank - low) * (ordered[high] - ordered[low])


def fee_levels(per_slot_fees: Sequence[int]) -> dict[str, int]:
    """{level: compute-unit price in micro-lamports}, rounded up to a whole micro-lamport
    (the price a transaction can set, never below the percentile)."""
    ordered = sorted(per_slot_fees)
    # round() first so float noise in the interpolation (5000.000000001) does not round up.
    return {level: math.ceil(round(percentile(ordered, pct), 6)) for level, pct in PRIORITY_LEVELS}


def priority_fee_lamports(compute_unit_price: int, compute_unit_limit: int) -> int:
    """What the priority costs: the price times the requested limit, rounded up."""
    return -(-compute_unit_price * compute_unit_limit // MICRO_LAMPORTS_PER_LAMPORT)


def last_slots(entries: Any, slots: int) -> list[tuple[int, int]]:
    """(slot, fee) of the newest `slots` entries of a getRecentPrioritizationFees answer
    (the node does not promise any order)."""
    if not isinstance(entries, list):
        raise RpcUnavailable("malformed getRecentPrioritizationFees answer from the upstream")
    pairs = []
    for entry in entries:
        try:
            slot, fee = entry["slot"], entry["prioritizationFee"]
        except (KeyError, TypeError):
            raise RpcUnavailable(
                "malformed getRecentPrioritizationFees answer from the upstream"
            ) from None
        if not (isinstance(slot, int) and isinstance(fee, int)):
            raise RpcUnavailable("malformed getRecentPrioritizationFees answer from the upstream")
        pairs.append((slot, fee))
    pairs.sort()
    return pairs[-slots:]


async def _recent_fees(rpc: RpcClient, params: list[Any]) -> Any:
    # The RpcClient protocol has no cache; the pool's short cache makes repeats free.
    if isinstance(rpc, RpcPool):
        return await rpc.call("getRecentPrioritizationFees", params, cache_ttl=FEE_CACHE_SECONDS)
    return await rpc.call("getRecentPrioritizationFees", params)


# ---- Jito tip floor ---------------------------------------------------------------------


def parse_tip_floor(body: bytes) -> dict[str, Any]:
    """Jito's tip_floor answer (a one-element array of SOL figures) in whole lamports,
    rounded up: a tip at the percentile must not fall below it. ValueError when the
    body is not that shape."""
    try:
        data = json.loads(body, parse_float=Decimal)
    except ValueError as exc:
        raise ValueError("tip floor answer is not JSON") from exc
    if isinstance(data, list):
        data = data[0] if data else None
    if not isinstance(data, dict):
        raise ValueError("tip floor answer is not an array of one object")
    tips: dict[str, Any] = {"time": data.get("time") if isinstance(data.get("time"), str) else None}
    for name, field in TIP_FLOOR_FIELDS.items():
        value = data.get(field)
        if value is None:
            tips[name] = None
            continue
        if isinstance(value, bool) or not isinstance(value, int | Decimal):
            raise ValueError(f"tip floor {field} is not a number")
        try:
            # Quantize away float noise (6.001000000000001e-06 SOL) before rounding up.
            lamports = (Decimal(value) * LAMPORTS_PER_SOL).quantize(Decimal("0.000001"))
            tips[name] = int(lamports.to_integral_value(rounding=ROUND_CEILING))
        except InvalidOperation as exc:
            raise ValueError(f"tip floor {field} is not a finite number") from exc
        if tips[name] < 0:
            raise ValueError(f"tip floor {field} is negative")
    return tips


async def _fetch_tip_floor(url: str) -> dict[str, Any] | None:
    try:
        async with http_session().get(
            url, timeout=aiohttp.ClientTimeout(total=TIP_FLOOR_TIMEOUT)
        ) as response:
            response.raise_for_status()
            body = await response.read()
        return parse_tip_floor(body)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        # The tips are extra information: the fee levels still answer without them.
        logger.warning("Jito tip floor %s unavailable: %s", redact_url(url), exc)
        return None


# url -> (when fetched, the fetch): concurrent requests share one fetch, later ones its result.
_tip_floor_fetches: dict[str, tuple[float, asyncio.Task[dict[str, Any] | None]]] = {}


async def jito_tip_floor(url: str) -> dict[str, Any] | None:
    """The current Jito tip levels from `url` (cached a few seconds); None when unset or
    unavailable."""
    if not url:
        return None
    loop = asyncio.get_running_loop()
    cached = _tip_floor_fetches.get(url)
    if (
        cached is None
        or cached[1].get_loop() is not loop
        or time.monotonic() - cached[0] > TIP_FLOOR_CACHE_SECONDS
    ):
        cached = (time.monotonic(), loop.create_task(_fetch_tip_floor(url)))
        _tip_floor_fetches[url] = cached
    return await asyncio.shield(cached[1])


# ---- the estimate -----------------------------------------------------------------------


async def priority_fee_estimate(
    *,
    rpc: RpcClient,
    accounts: Sequence[str] = (),
    slots: int = MAX_LOOKBACK_SLOTS,
    compute_unit_limit: int = DEFAULT_COMPUTE_UNIT_LIMIT,
    tip_floor_url: str = "",
) -> dict[str, Any]:
    """Fee levels over the last `slots` slots, network-wide and for transactions that
    write-lock `accounts`, the recommended price per level (the higher of the two) with
    its cost at `compute_unit_limit`, and Jito's tip floor when `tip_floor_url` is set.

    `accounts` must be validated pubkeys (at most 128); order and repeats do not matter.
    """
    keys = sorted(set(accounts))  # one cache entry per set of accounts
    calls = [_recent_fees(rpc, []), jito_tip_floor(tip_floor_url)]
    if keys:
        calls.append(_recent_fees(rpc, [keys]))
    network_answer, tips, *account_answer = await asyncio.gather(*calls)

    network_window = last_slots(network_answer, slots)
    network = fee_levels([fee for _, fee in network_window])
    account_levels = None
    recommended = network
    if account_answer:
        account_window = last_slots(account_answer[0], slots)
        account_levels = fee_levels([fee for _, fee in account_window])
        # Helius' rule: the higher of the network's and the accounts' price per level.
        recommended = {level: max(network[level], account_levels[level]) for level in network}
    return {
        "slot": network_window[-1][0] if network_window else None,
        "slots": len(network_window),
        "accounts": keys,
        "compute_unit_limit": compute_unit_limit,
        "levels": {
            level: {
                "percentile": pct,
                "compute_unit_price": recommended[level],
                "priority_fee_lamports": priority_fee_lamports(
                    recommended[level], compute_unit_limit
                ),
            }
            for level, pct in PRIORITY_LEVELS
        },
        "network_levels": network,
        "account_levels": account_levels,
        "jito_tip": tips,
    }
