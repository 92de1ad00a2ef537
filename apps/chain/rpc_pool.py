"""The RPC pool: several upstream endpoints behind one `RpcClient`.

- Endpoints are ranked by health: down ones (recent consecutive failures) last, then by
  slot lag behind the best endpoint, error rate and latency (EWMAs).
- A read is retried on the next endpoint when one does not answer or answers a
  node-side error (unhealthy, behind, rate limited); `sendTransaction` and other writes
  are never retried after a timeout (the first send may have landed).
- Identical reads in flight at the same moment share one upstream call; `cache_ttl`
  lets a caller accept an answer that young (keyed by method and params, which carry
  the commitment).
- Each endpoint's calls, errors, latency, slot and lag are Prometheus metrics, and
  `snapshot()` reports them for /api/health and the admin.
"""

from __future__ import annotations

import asyncio
import json
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from prometheus_client import Counter, Gauge, Histogram

from apps.chain.rpc import DEFAULT_TIMEOUT, Endpoint, RpcError, RpcUnavailable

# Node-side JSON-RPC errors: the node, not the request, is at fault; try another one.
NODE_SIDE_ERRORS = {
    -32005,  # node is unhealthy / behind
    -32004,  # block not available
    -32007,  # slot skipped / missing in long-term storage
    -32009,
    -32014,
    -32016,  # minimum context slot not reached
    -32603,  # internal error
    429,
}
WRITE_METHODS = {"sendTransaction", "requestAirdrop"}
DOWN_AFTER_FAILURES = 3
DOWN_FOR_SECONDS = 5.0
LAG_TOLERANCE_SLOTS = 10
PROBE_INTERVAL = 2.0
EWMA = 0.2

RPC_CALLS = Counter(
    "solana_rpc_calls_total", "Upstream RPC calls", ["endpoint", "method", "outcome"]
)
RPC_LATENCY = Histogram(
    "solana_rpc_latency_seconds",
    "Upstream RPC call latency",
    ["endpoint"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
RPC_SLOT = Gauge("solana_rpc_slot", "Last processed slot an endpoint reported", ["endpoint"])
RPC_SLOT_LAG = Gauge("solana_rpc_slot_lag", "Slots behind the best endpoint", ["endpoint"])
RPC_UP = Gauge("solana_rpc_endpoint_up", "1 when the endpoint is in rotation", ["endpoint"])


@dataclass
class EndpointHealth:
    latency_ms: float = 0.0
    error_rate: float = 0.0
    consecutive_failures: int = 0
    down_until: float = 0.0
    slot: int | None = None  # None until the endpoint reported one
    calls: int = 0
    errors: int = 0
    last_error: str | None = None

    def is_down(self, now: float) -> bool:
        return now < self.down_until


class RpcPool:
    """An RpcClient over several endpoints; see the module docstring."""

    def __init__(
        self,
        urls: Sequence[str],
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retries: int | None = None,
    ) -> None:
        if not urls:
            raise ValueError("an RPC pool needs at least one endpoint")
        self.endpoints = [Endpoint(url, timeout=timeout) for url in urls]
        self.health = {ep.name: EndpointHealth() for ep in self.endpoints}
        self.timeout = timeout
        self.retries = len(self.endpoints) - 1 if retries is None else retries
        self._in_flight: dict[str, asyncio.Future[Any]] = {}
        self._cache: dict[str, tuple[float, Any]] = {}
        self._last_probe = time.monotonic()
        self._probe: asyncio.Task[None] | None = None
        # Labelled metric children, looked up once: labels() costs ~2 us and every call
        # records five of them.
        self._metric_children: dict[tuple[Any, ...], Any] = {}

    # ---- health ------------------------------------------------------------------------

    def _metric(self, metric: Any, *labels: str) -> Any:
        key = (metric, *labels)
        child = self._metric_children.get(key)
        if child is None:
            child = self._metric_children[key] = metric.labels(*labels)
        return child

    def best_slot(self) -> int:
        return max((h.slot for h in self.health.values() if h.slot is not None), default=0)

    def slot_lag(self, endpoint: Endpoint) -> int:
        slot = self.health[endpoint.name].slot
        return 0 if slot is None else max(0, self.best_slot() - slot)

    def ranked(self) -> list[Endpoint]:
        """Endpoints in the order to try them."""
        if len(self.endpoints) == 1:
            return self.endpoints
        now = time.monotonic()

        def score(endpoint: Endpoint) -> tuple[bool, bool, float]:
            health = self.health[endpoint.name]
            lagging = self.slot_lag(endpoint) > LAG_TOLERANCE_SLOTS
            return (
                health.is_down(now),
                lagging,
                health.error_rate * 1000 + health.latency_ms,
            )

        return sorted(self.endpoints, key=score)

    def _record(
        self,
        endpoint: Endpoint,
        method: str,
        started: float,
        error: str | None,
        *,
        unreachable: bool = False,
    ) -> None:
        health = self.health[endpoint.name]
        elapsed = time.perf_counter() - started
        health.calls += 1
        health.latency_ms += EWMA * (elapsed * 1000 - health.latency_ms)
        health.error_rate += EWMA * ((1.0 if error else 0.0) - health.error_rate)
        self._metric(RPC_LATENCY, endpoint.name).observe(elapsed)
        self._metric(RPC_CALLS, endpoint.name, method, "error" if error else "ok").inc()
        if error:
            health.errors += 1
            health.last_error = error
            health.consecutive_failures += 1
            # Unreachable (refused, timed out) is out of rotation at once; a node that
            # answers errors gets a few chances.
            if unreachable or health.consecutive_failures >= DOWN_AFTER_FAILURES:
                health.down_until = time.monotonic() + DOWN_FOR_SECONDS
        else:
            health.consecutive_failures = 0
            health.down_until = 0.0
        self._metric(RPC_UP, endpoint.name).set(0 if health.is_down(time.monotonic()) else 1)

    def observe_slot(self, endpoint: Endpoint, slot: int) -> None:
        health = self.health[endpoint.name]
        health.slot = slot if health.slot is None else max(health.slot, slot)
        self._metric(RPC_SLOT, endpoint.name).set(slot)
        for ep in self.endpoints:
            self._metric(RPC_SLOT_LAG, ep.name).set(self.slot_lag(ep))

    async def refresh_slots(self) -> None:
        """Ask every endpoint for its processed slot (health probe and lag measurement)."""

        async def probe(endpoint: Endpoint) -> None:
            started = time.perf_counter()
            try:
                slot = await endpoint.call("getSlot", [{"commitment": "processed"}])
            except RpcUnavailable as exc:
                self._record(endpoint, "getSlot", started, str(exc), unreachable=True)
                return
            except RpcError as exc:
                self._record(endpoint, "getSlot", started, f"{exc.code}: {exc.message}")
                return
            self._record(endpoint, "getSlot", started, None)
            if isinstance(slot, int):
                self.observe_slot(endpoint, slot)

        await asyncio.gather(*(probe(ep) for ep in self.endpoints))

    def snapshot(self) -> list[dict[str, Any]]:
        now = time.monotonic()
        return [
            {
                "endpoint": ep.name,
                "up": not self.health[ep.name].is_down(now),
                "latency_ms": round(self.health[ep.name].latency_ms, 3),
                "error_rate": round(self.health[ep.name].error_rate, 3),
                "slot": self.health[ep.name].slot,
                "slot_lag": self.slot_lag(ep),
                "calls": self.health[ep.name].calls,
                "errors": self.health[ep.name].errors,
                "last_error": self.health[ep.name].last_error,
            }
            for ep in self.endpoints
        ]

    # ---- calls -------------------------------------------------------------------------

    def _maybe_probe(self) -> None:
        """Traffic-driven health probe: every PROBE_INTERVAL, ask every endpoint its slot in
        the background, so lag is measured and a recovered endpoint comes back."""
        now = time.monotonic()
        if len(self.endpoints) < 2 or now - self._last_probe < PROBE_INTERVAL:
            return
        if self._probe is not None and not self._probe.done():
            return
        self._last_probe = now
        self._probe = asyncio.get_running_loop().create_task(self.refresh_slots())

    async def call(
        self,
        method: str,
        params: list[Any] | None = None,
        *,
        timeout: float | None = None,
        cache_ttl: float = 0.0,
    ) -> Any:
        self._maybe_probe()
        if method in WRITE_METHODS:
            return await self._call_upstream(method, params, timeout, retry=False)
        key = method + json.dumps(params, separators=(",", ":"), sort_keys=True)
        if cache_ttl > 0:
            cached = self._cache.get(key)
            if cached is not None and time.monotonic() - cached[0] < cache_ttl:
                return cached[1]
        shared = self._in_flight.get(key)
        if shared is not None:
            return await asyncio.shield(shared)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._in_flight[key] = future
        try:
            result = await self._call_upstream(method, params, timeout, retry=True)
        except BaseException as exc:
            if not future.done():
                future.set_exception(exc)
                future.exception()  # retrieved here: waiters re-raise it themselves
            raise
        else:
            future.set_result(result)
            if cache_ttl > 0:
                self._cache[key] = (time.monotonic(), result)
                if len(self._cache) > 10_000:
                    self._cache.clear()  # a burst of distinct keys; start over
            return result
        finally:
            self._in_flight.pop(key, None)

    async def _call_upstream(
        self, method: str, params: list[Any] | None, timeout: float | None, *, retry: bool
    ) -> Any:
        attempts = self.ranked()[: 1 + (self.retries if retry else 0)]
        failures: list[str] = []
        for endpoint in attempts:
            started = time.perf_counter()
            try:
                result = await endpoint.call(method, params, timeout=timeout or self.timeout)
            except RpcUnavailable as exc:
                self._record(endpoint, method, started, str(exc), unreachable=True)
                failures.append(str(exc))
                if not retry:
                    break
                continue
            except RpcError as exc:
                if exc.code in NODE_SIDE_ERRORS and retry:
                    self._record(endpoint, method, started, f"{exc.code}: {exc.message}")
                    failures.append(f"{endpoint.name}: {exc.code} {exc.message}")
                    continue
                self._record(endpoint, method, started, None)  # the node worked; the call failed
                raise
            self._record(endpoint, method, started, None)
            if isinstance(result, dict) and isinstance(result.get("context"), dict):
                slot = result["context"].get("slot")
                if isinstance(slot, int):
                    self.observe_slot(endpoint, slot)
            return result
        tried = len(failures)
        raise RpcUnavailable(
            f"no RPC endpoint answered {method} ({tried} tried: {'; '.join(failures)})"
        )


_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, RpcPool] = weakref.WeakKeyDictionary()


def rpc_pool() -> RpcPool:
    """The process's pool over SOLANA_RPC_URLS, one per event loop (futures are loop-bound)."""
    loop = asyncio.get_running_loop()
    pool = _pools.get(loop)
    if pool is None or [ep.url for ep in pool.endpoints] != list(settings.SOLANA_RPC_URLS):
        pool = RpcPool(settings.SOLANA_RPC_URLS, timeout=settings.SOLANA_RPC_TIMEOUT)
        _pools[loop] = pool
    return pool
