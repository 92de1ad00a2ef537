"""Request metrics: by route template and backend, exported to Prometheus and windowed."""

from __future__ import annotations

import pytest
from django.test import AsyncClient

from apps.monitoring.services.request_metrics import LatencyWindow
from config.fast_asgi import PlatformASGIHandler
from tests.asgi import asgi_request


def test_window__uniform_latencies__percentiles_within_bucket_precision():
    window = LatencyWindow(window_seconds=60)
    for ms in range(1, 1001):  # 1 ms .. 1000 ms, one each
        window.record(route="/api/x", backend="platform", seconds=ms / 1000, error=False, now=1000)

    stats = window.stats(route="/api/x", window_seconds=60, now=1000)

    assert stats.requests == 1000
    assert stats.p50_ms == pytest.approx(500, rel=0.05)
    assert stats.p95_ms == pytest.approx(950, rel=0.05)
    assert stats.p99_ms == pytest.approx(990, rel=0.05)


def test_window__errors_and_backends__error_rate_per_backend():
    window = LatencyWindow(window_seconds=60)
    for i in range(10):
        window.record(route="/api/x", backend="platform", seconds=0.01, error=i < 2, now=1000)
        window.record(route="/api/x", backend="legacy", seconds=0.01, error=i < 5, now=1000)

    assert window.stats(route="/api/x", backend="platform", now=1000).error_rate == 0.2
    assert window.stats(route="/api/x", backend="legacy", now=1000).error_rate == 0.5
    assert window.stats(route="/api/x", now=1000).error_rate == 0.35


def test_window__old_seconds__fall_out_of_the_window():
    window = LatencyWindow(window_seconds=600)
    window.record(route="/api/x", backend="platform", seconds=0.5, error=True, now=1000)
    window.record(route="/api/x", backend="platform", seconds=0.001, error=False, now=1100)

    recent = window.stats(route="/api/x", window_seconds=60, now=1100)
    everything = window.stats(route="/api/x", window_seconds=600, now=1100)

    assert (recent.requests, recent.errors) == (1, 0)
    assert (everything.requests, everything.errors) == (2, 1)


@pytest.mark.django_db(transaction=True)
async def test_metrics_endpoint__labels_by_route_template_not_raw_path():
    handler = PlatformASGIHandler()
    await asgi_request(handler, "GET", "/api/ping")
    await asgi_request(handler, "GET", "/api/does-not-exist-42")

    response = await AsyncClient().get("/metrics")
    text = response.content.decode()

    assert response.status_code == 200
    assert 'route="/api/ping"' in text
    assert "platform_http_request_duration_seconds_bucket" in text
    assert 'le="0.005"' in text
    assert "does-not-exist-42" not in text
    assert 'route="<unmatched>"' in text
    assert (
        'platform_http_requests_total{backend="platform",method="GET",'
        'route="/api/ping",status="200"}'
    ) in text


@pytest.mark.django_db(transaction=True)
async def test_route_stats_api__after_requests__reports_percentiles(api_token):
    handler = PlatformASGIHandler()
    for _ in range(20):
        await asgi_request(handler, "GET", "/api/ping")

    response = await asgi_request(
        handler, "GET", "/api/metrics/routes", headers={"authorization": f"Bearer {api_token}"}
    )

    rows = {(r["route"], r["backend"]): r for r in response.json()}
    ping = rows[("/api/ping", "platform")]
    assert response.status == 200
    assert ping["requests"] >= 20
    assert ping["errors"] == 0
    assert 0 < ping["p50_ms"] <= ping["p95_ms"] <= ping["p99_ms"]
