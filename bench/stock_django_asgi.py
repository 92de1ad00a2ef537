"""Stock Django ASGI handler, same project settings and URLs: the baseline to beat.

    granian --interface asgi bench.stock_django_asgi:application

Every request goes through django.core.handlers.asgi.ASGIHandler unchanged (its
per-request ThreadSensitiveContext, request_started/finished signals and the full
MIDDLEWARE chain), serving the same async Ninja endpoint, GET /api/ping.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

application = get_asgi_application()
