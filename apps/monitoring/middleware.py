"""Records every API request's latency and status by route template and backend."""

from __future__ import annotations

import time

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase

from apps.monitoring.services.request_metrics import record_request
from config.middleware import DualModeMiddleware

UNMATCHED_ROUTE = "<unmatched>"


def route_template(request: HttpRequest) -> str:
    """The URL pattern, never the raw path: '/api/token/{mint}/safety', not the mint."""
    match = getattr(request, "resolver_match", None)
    if match is None or match.route is None:
        return UNMATCHED_ROUTE
    return "/" + match.route.replace("<", "{").replace(">", "}")


class RequestMetricsMiddleware(DualModeMiddleware):
    def __init__(self, get_response) -> None:
        super().__init__(get_response)
        self.backend = settings.BACKEND_NAME

    def start(self, request: HttpRequest) -> None:
        request.metrics_started = time.perf_counter()

    def process(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        if request.path.startswith("/api/"):
            record_request(
                route=route_template(request),
                method=request.method or "GET",
                backend=getattr(request, "backend_name", self.backend),
                status=response.status_code,
                seconds=time.perf_counter() - request.metrics_started,
            )
        return response
