"""`python manage.py monitor`: the Yellowstone Geyser subscriber feeding the token-state
processor (token state, migrations, Pulse).

With REDIS_URL the checkpoint and a lease live in Redis: start several and one streams
while the others stand by to take over. Without Redis it streams at once, checkpointing
to a file under VAR_DIR. SIGINT/SIGTERM stop it cleanly (the lease is released, so a
standby takes over at once).
"""

from __future__ import annotations

import asyncio
import signal

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.monitoring.services.monitor_runner import DEFAULT_PROCESSOR


class Command(BaseCommand):
    help = "Stream pump.fun / PumpSwap updates from Yellowstone Geyser into the processor."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--processor",
            default=DEFAULT_PROCESSOR,
            help="dotted path of the StreamProcessor class (default: %(default)s)",
        )
        parser.add_argument("--name", default=None, help="stream name (GEYSER_STREAM_NAME)")
        parser.add_argument(
            "--metrics-port",
            type=int,
            default=settings.GEYSER_METRICS_PORT,
            help="serve Prometheus metrics on this port (0: off)",
        )

    def handle(self, *args, processor: str, name: str | None, metrics_port: int, **opts) -> None:
        from apps.monitoring.services.monitor_runner import build_monitor

        try:
            subscriber, instance = build_monitor(processor, name)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        except ImportError as exc:
            raise CommandError(f"cannot load the processor {processor!r}: {exc}") from None
        if metrics_port:
            from prometheus_client import start_http_server

            start_http_server(metrics_port, addr="127.0.0.1")
        mode = "Redis lease + checkpoint" if settings.REDIS_URL else "file checkpoint"
        self.stdout.write(
            f"monitor: {subscriber.config.url} at {subscriber.config.commitment} -> "
            f"{processor} ({mode}, stream {subscriber.config.name!r})"
        )
        asyncio.run(self._run(subscriber, instance))

    async def _run(self, subscriber, processor) -> None:
        from apps.monitoring.services.monitor_runner import run_monitor

        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):  # Ctrl-C, honcho, systemd
            loop.add_signal_handler(sig, task.cancel)
        await run_monitor(subscriber, processor)
