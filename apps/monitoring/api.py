"""Platform health and request metrics."""

from __future__ import annotations

import time
from dataclasses import asdict

from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from pydantic import Field

from apps.ingestion.auth import api_token_auth
from apps.monitoring.services.health import platform_health
from apps.monitoring.services.request_metrics import RouteStats, all_route_stats

router = Router(tags=["platform"])


class EndpointHealth(Schema):
    url: str
    status: str
    latency_ms: float | None
    error: str | None


class CheckOut(Schema):
    status: str
    latency_ms: float | None = None
    error: str | None = None
    endpoints: list[EndpointHealth] = []


class HealthError(Schema):
    code: str
    message: str


class HealthOut(Schema):
    status: str = Field(description='"ok" when every check is up, else "down"')
    down: list[str]
    checks: dict[str, CheckOut]
    error: HealthError | None = Field(None, description="present (the one error format) on 503")


@router.get("/health", response={200: HealthOut, 503: HealthOut}, auth=None)
async def health(request: HttpRequest):
    """Database, Redis (when configured) and chain RPC reachability with latency."""
    checks = await platform_health()
    down = [name for name, result in checks.items() if result.status != "up"]
    body = {
        "status": "down" if down else "ok",
        "down": down,
        "checks": {name: asdict(result) for name, result in checks.items()},
    }
    if down:
        body["error"] = {"code": "unavailable", "message": "down: " + ", ".join(down)}
    return Status(503 if down else 200, body)


class WindowQuery(Schema):
    window: int = Field(60, ge=1, le=3600, description="seconds to look back")


@router.get("/metrics/routes", response=list[RouteStats], auth=api_token_auth)
def route_metrics(request: HttpRequest, query: Query[WindowQuery]):
    """p50/p95/p99 latency and 5xx error rate per route and backend (this process)."""
    return all_route_stats(window_seconds=query.window)


class PingOut(Schema):
    pong: bool
    server_time_ms: int


@router.get("/ping", response=PingOut, auth=None)
async def ping(request: HttpRequest):
    """Liveness and clock: front ends use it to measure round-trip time and clock skew."""
    return {"pong": True, "server_time_ms": time.time_ns() // 1_000_000}
