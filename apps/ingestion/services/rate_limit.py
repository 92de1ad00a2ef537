"""Fixed-window rate limits kept in Django's cache (Redis in every deployment).

A rate is "N/S": at most N hits per window of S seconds, windows aligned to the
epoch. One cache.add starts a window's counter and cache.incr counts, so concurrent
workers share the count. Fixed windows allow a burst of up to 2N across a window
boundary; for login throttling that is an accepted trade for two cache round trips.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass

from django.core.cache import cache

from config.api_errors import RateLimited


@dataclass(frozen=True)
class Rate:
    limit: int
    window_seconds: int


def rate_parse(*, rate: str) -> Rate:
    """'5/900' -> Rate(limit=5, window_seconds=900)."""
    try:
        limit, window = (int(part) for part in rate.split("/", 1))
    except ValueError as exc:
        raise ValueError(f"rate {rate!r} is not 'requests/seconds'") from exc
    if limit < 1 or window < 1:
        raise ValueError(f"rate {rate!r} must have positive requests and seconds")
    return Rate(limit=limit, window_seconds=window)


def rate_limit_hit(*, scope: str, key: str, rate: str) -> int | None:
    """Count one hit for key; None when allowed, else seconds until the window ends."""
    parsed = rate_parse(rate=rate)
    now = time.time()
    window_start = int(now // parsed.window_seconds) * parsed.window_seconds
    window_end = window_start + parsed.window_seconds
    # Hashed so that emails and addresses never sit in the cache's key space.
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    cache_key = f"ratelimit:{scope}:{digest}:{window_start}"
    ttl = math.ceil(window_end - now) + 1
    count = _increment(cache_key=cache_key, ttl=ttl)
    if count <= parsed.limit:
        return None
    return max(1, math.ceil(window_end - now))


def rate_limit_enforce(
    *, scope: str, key: str, rate: str, message: str, field: str | None = None
) -> None:
    """Count one hit; raise RateLimited (429, Retry-After) when over the rate."""
    retry_after = rate_limit_hit(scope=scope, key=key, rate=rate)
    if retry_after is not None:
        raise RateLimited(
            f"{message}; retry in {retry_after} seconds",
            field=field,
            headers={"Retry-After": str(retry_after)},
        )


def _increment(*, cache_key: str, ttl: int) -> int:
    for _ in range(3):
        cache.add(cache_key, 0, timeout=ttl)
        try:
            return cache.incr(cache_key)
        except ValueError:
            continue  # the key expired between add and incr: start the window again
    raise RuntimeError(f"rate limit counter {cache_key} could not be incremented")
