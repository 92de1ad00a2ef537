"""ASGI entry point: HTTP to Django (with the async fast path), WebSocket to Channels.

Run in production with granian (see README, "Production server"):
    granian --interface asgi config.asgi:application
"""

import gc
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from config.fast_asgi import get_platform_asgi_application  # noqa: E402

# Django must be set up before anything imports models (the consumers do).
django_http = get_platform_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

from apps.realtime.routing import websocket_urlpatterns  # noqa: E402

http_app = ASGIStaticFilesHandler(django_http) if settings.SERVE_STATIC else django_http


async def lifespan(scope, receive, send) -> None:
    """The server's lifespan protocol. The only startup state: the monitor, when it runs
    inside the web process (MONITOR_IN_WEB, the embedded default's in-process bus)."""
    monitor = None
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            if settings.MONITOR_IN_WEB:
                from apps.monitoring.services.monitor_runner import InWebMonitor

                try:
                    monitor = InWebMonitor()
                    monitor.start()
                except Exception as exc:  # a bad GEYSER_* setting: say so, do not serve
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            if monitor is not None:
                await monitor.stop()
            await send({"type": "lifespan.shutdown.complete"})
            return


application = ProtocolTypeRouter(
    {
        "http": http_app,
        "websocket": URLRouter(websocket_urlpatterns),
        "lifespan": lifespan,
    }
)

# Startup objects (Django, Ninja, pydantic: ~130k) never die; frozen, they leave the
# collector's reach, so a full collection no longer pauses the loop for tens of ms
# (p99 42 -> 11 ms in bench/http_baseline.py).
gc.collect()
gc.freeze()
