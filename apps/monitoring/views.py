"""Prometheus exposition at /metrics."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)


def prometheus_metrics(request: HttpRequest) -> HttpResponse:
    if settings.PROMETHEUS_MULTIPROC_DIR:
        # Several worker processes: aggregate their files, not this process's memory.
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


def pulse_board(request: HttpRequest) -> HttpResponse:
    """The live Pulse board: three columns fed by GET /api/pulse, then the `pulse` topic over
    the WebSocket (static/monitoring/pulse.js; no build step)."""
    from django.shortcuts import render

    return render(request, "monitoring/pulse.html")
