"""Reachability of what the platform needs: database, Redis (when set), chain RPC."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection

from apps.chain.http import redact_url
from apps.chain.rpc import RpcError, rpc_call
from config.redis_pool import async_redis, redis_configured


@dataclass
class CheckResult:
    status: str  # "up" | "down"
    latency_ms: float | None = None
    error: str | None = None
    endpoints: list[dict] = field(default_factory=list)


def _db_ping() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


async def _timed(coro, timeout: float) -> CheckResult:
    started = time.perf_counter()
    try:
        await asyncio.wait_for(coro, timeout)
    except TimeoutError:
        return CheckResult("down", error="timeout")
    except Exception as exc:  # noqa: BLE001 - any failure means down; name only the type
        return CheckResult("down", error=type(exc).__name__)
    return CheckResult("up", latency_ms=round((time.perf_counter() - started) * 1000, 2))


async def check_database(timeout: float) -> CheckResult:
    return await _timed(sync_to_async(_db_ping)(), timeout)


async def check_redis(timeout: float) -> CheckResult:
    return await _timed(async_redis().ping(), timeout)


async def _rpc_health(url: str, timeout: float) -> None:
    result = await rpc_call(url, "getHealth", timeout=timeout)
    if result != "ok":
        raise RpcError(-32005, f"node unhealthy: {result}")


async def check_chain_rpc(timeout: float) -> CheckResult:
    """Up when at least one endpoint answers getHealth "ok"; each endpoint reported."""
    urls = settings.SOLANA_RPC_URLS
    results = await asyncio.gather(*(_timed(_rpc_health(u, timeout), timeout) for u in urls))
    endpoints = [
        {"url": redact_url(url), "status": r.status, "latency_ms": r.latency_ms, "error": r.error}
        for url, r in zip(urls, results, strict=True)
    ]
    up = [r for r in results if r.status == "up"]
    if not up:
        return CheckResult("down", error="no RPC endpoint answered", endpoints=endpoints)
    return CheckResult("up", latency_ms=min(r.latency_ms or 0 for r in up), endpoints=endpoints)


async def platform_health() -> dict[str, CheckResult]:
    """Run every check concurrently; each is bounded by HEALTH_CHECK_TIMEOUT."""
    timeout = settings.HEALTH_CHECK_TIMEOUT
    names = ["database", "chain_rpc"]
    checks = [check_database(timeout), check_chain_rpc(timeout)]
    if redis_configured():
        names.append("redis")
        checks.append(check_redis(timeout))
    return dict(zip(names, await asyncio.gather(*checks), strict=True))
