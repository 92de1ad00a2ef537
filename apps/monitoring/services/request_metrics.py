"""Request latency and errors per route template and backend.

Two views of the same measurements:
- Prometheus (`/metrics`): a latency histogram with buckets fine enough for
  p50/p95/p99, request and error counters; multi-process safe when
  PROMETHEUS_MULTIPROC_DIR is set.
- A rolling window in process (`route_stats`): p50/p95/p99 and error rate per
  route over the last N seconds, for rollout guards and dashboards. Latencies go
  into log-spaced buckets (about 4% wide), one histogram per route per second, so
  recording is O(1) and memory is bounded by the window.
"""

from __future__ import annotations

import math
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass

from prometheus_client import Counter, Histogram

# Fine at the low end where an API lives, coarse past a second.
LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0015, 0.002, 0.003, 0.004, 0.005, 0.0075, 0.01, 0.0125, 0.015, 0.02,
    0.025, 0.03, 0.04, 0.05, 0.075, 0.1, 0.125, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0,
    1.5, 2.0, 3.0, 5.0, 10.0,
)  # fmt: skip

REQUEST_LATENCY = Histogram(
    "platform_http_request_duration_seconds",
    "API request latency by route template, method and backend",
    ["route", "method", "backend"],
    buckets=LATENCY_BUCKETS,
)
REQUESTS = Counter(
    "platform_http_requests_total",
    "API requests by route template, method, backend and status",
    ["route", "method", "backend", "status"],
)
REQUEST_ERRORS = Counter(
    "platform_http_request_errors_total",
    "API requests answered with a 5xx, by route template, method and backend",
    ["route", "method", "backend"],
)

# Window histogram: bucket i holds latencies in [MIN * G**i, MIN * G**(i+1)).
_MIN_SECONDS = 0.00005
_GROWTH = 1.04
_LOG_GROWTH = math.log(_GROWTH)
_MAX_BUCKET = int(math.log(60 / _MIN_SECONDS) / _LOG_GROWTH) + 1


def _bucket_of(seconds: float) -> int:
    if seconds <= _MIN_SECONDS:
        return 0
    return min(int(math.log(seconds / _MIN_SECONDS) / _LOG_GROWTH) + 1, _MAX_BUCKET)


def _bucket_upper(index: int) -> float:
    return _MIN_SECONDS * _GROWTH**index


@dataclass(frozen=True)
class RouteStats:
    route: str
    backend: str | None
    window_seconds: int
    requests: int
    errors: int
    error_rate: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None


class _Second:
    __slots__ = ("second", "buckets", "count", "errors")

    def __init__(self, second: int) -> None:
        self.second = second
        self.buckets: dict[int, int] = defaultdict(int)
        self.count = 0
        self.errors = 0


class LatencyWindow:
    """Per-(route, backend) per-second latency histograms over a bounded window."""

    def __init__(self, window_seconds: int) -> None:
        self.window_seconds = window_seconds
        self._series: dict[tuple[str, str], deque[_Second]] = {}
        self._lock = threading.Lock()  # sync views record from worker threads

    def record(
        self, *, route: str, backend: str, seconds: float, error: bool, now: float | None = None
    ) -> None:
        second = int(now if now is not None else time.time())
        with self._lock:
            series = self._series.get((route, backend))
            if series is None:
                series = self._series[(route, backend)] = deque()
            if not series or series[-1].second != second:
                series.append(_Second(second))
                while series and series[0].second <= second - self.window_seconds:
                    series.popleft()
            slot = series[-1]
            slot.buckets[_bucket_of(seconds)] += 1
            slot.count += 1
            if error:
                slot.errors += 1

    def stats(
        self,
        *,
        route: str,
        backend: str | None = None,
        window_seconds: int = 60,
        now: float | None = None,
    ) -> RouteStats:
        window = min(window_seconds, self.window_seconds)
        since = int(now if now is not None else time.time()) - window
        merged: dict[int, int] = defaultdict(int)
        count = errors = 0
        with self._lock:
            for (series_route, series_backend), series in self._series.items():
                if series_route != route or (backend and series_backend != backend):
                    continue
                for slot in series:
                    if slot.second <= since:
                        continue
                    count += slot.count
                    errors += slot.errors
                    for bucket, n in slot.buckets.items():
                        merged[bucket] += n
        return RouteStats(
            route=route,
            backend=backend,
            window_seconds=window,
            requests=count,
            errors=errors,
            error_rate=(errors / count) if count else 0.0,
            p50_ms=_quantile_ms(merged, count, 0.50),
            p95_ms=_quantile_ms(merged, count, 0.95),
            p99_ms=_quantile_ms(merged, count, 0.99),
        )

    def routes(self) -> list[tuple[str, str]]:
        with self._lock:
            return sorted(self._series)


def _quantile_ms(buckets: dict[int, int], count: int, q: float) -> float | None:
    if not count:
        return None
    rank = math.ceil(q * count)
    seen = 0
    for index in sorted(buckets):
        seen += buckets[index]
        if seen >= rank:
            return round(_bucket_upper(index) * 1000, 3)
    return None


_window: LatencyWindow | None = None


def latency_window() -> LatencyWindow:
    global _window
    if _window is None:
        from django.conf import settings

        _window = LatencyWindow(settings.METRICS_WINDOW_SECONDS)
    return _window


# Label children per (route, method, backend, status): .labels() costs a few µs a call,
# and the key space is bounded by route templates, not raw paths.
_children: dict[tuple[str, str, str, int], tuple] = {}


def _metric_children(route: str, method: str, backend: str, status: int) -> tuple:
    key = (route, method, backend, status)
    children = _children.get(key)
    if children is None:
        children = _children[key] = (
            REQUEST_LATENCY.labels(route, method, backend),
            REQUESTS.labels(route, method, backend, str(status)),
            REQUEST_ERRORS.labels(route, method, backend) if status >= 500 else None,
        )
    return children


def record_request(*, route: str, method: str, backend: str, status: int, seconds: float) -> None:
    """Record one API request in Prometheus and in the rolling window."""
    latency, requests, errors = _metric_children(route, method, backend, status)
    latency.observe(seconds)
    requests.inc()
    if errors is not None:
        errors.inc()
    latency_window().record(route=route, backend=backend, seconds=seconds, error=errors is not None)


def route_stats(*, route: str, backend: str | None = None, window_seconds: int = 60) -> RouteStats:
    """p50/p95/p99 and error rate for one route (all backends unless one is named)."""
    return latency_window().stats(route=route, backend=backend, window_seconds=window_seconds)


def all_route_stats(*, window_seconds: int = 60) -> list[RouteStats]:
    return [
        latency_window().stats(route=route, backend=backend, window_seconds=window_seconds)
        for route, backend in latency_window().routes()
    ]
