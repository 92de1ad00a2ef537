"""Running the monitor (Geyser subscriber + token-state processor) as a task.

`manage.py monitor` runs it as its own process. With the embedded defaults (no Redis) the
event bus is in process, so events published by a separate monitor process would never
reach the web server's WebSocket and SSE clients: there `MONITOR_IN_WEB` runs the same
task inside the (single) web worker, started and stopped by the ASGI lifespan.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from django.conf import settings

log = logging.getLogger(__name__)

DEFAULT_PROCESSOR = "apps.monitoring.services.token_processor.TokenStateProcessor"


def build_monitor(processor: str = DEFAULT_PROCESSOR, name: str | None = None) -> tuple[Any, Any]:
    """(subscriber, processor) as configured by settings. ValueError for a bad stream config,
    ImportError for a processor path that does not load."""
    from apps.monitoring.services.geyser_stream import (
        StreamConfig,
        build_subscriber,
        load_processor,
    )

    config = StreamConfig.from_settings(**({"name": name} if name else {}))
    instance = load_processor(processor)
    return build_subscriber(instance, config), instance


async def run_monitor(subscriber: Any, processor: Any) -> None:
    """Stream until cancelled; the processor's connections are released either way. The
    sniper (apps/trading/services/sniper.py) runs beside it when SNIPER_ENABLED: it acts on
    the events this process publishes, with no queue in between."""
    sniper = None
    if settings.SNIPER_ENABLED:
        from apps.trading.services.sniper import Sniper

        sniper = asyncio.get_running_loop().create_task(_run_sniper(Sniper()), name="sniper")
    try:
        with contextlib.suppress(asyncio.CancelledError):
            await subscriber.run()
    finally:
        if sniper is not None:
            sniper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sniper
        close = getattr(processor, "close", None)  # optional: release its connections
        if close is not None:
            await close()


async def _run_sniper(sniper: Any) -> None:
    """The sniper until cancelled; restarted after a failure (the bus down, say)."""
    while True:
        try:
            await sniper.run()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("sniper: stopped; restarting in 1 s")
            await asyncio.sleep(1.0)


class InWebMonitor:
    """The monitor as a background task of the web process (see the module docstring)."""

    def __init__(self) -> None:
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        subscriber, processor = build_monitor()
        log.info("monitor: streaming inside the web process (MONITOR_IN_WEB)")
        self._task = asyncio.get_running_loop().create_task(
            run_monitor(subscriber, processor), name="in-web-monitor"
        )

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
