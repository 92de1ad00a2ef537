"""Records every API request's latency and status by route template and backend."""

from __future__ import annotations

import time

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.http import HttpRequest, HttpResponseBase

from apps.monitoring.services.request_metrics import record_request

UNMATCHED_ROUTE = "<unmatched>"


def route_template(request: HttpRequest) -> str:
    """The URL pattern, never the raw path: '/api/token/{mint}/safety', not the mint."""
    match = getattr(request, "resolver_match", None)
    if match is None or match.route is None:
        return UNMATCHED_ROUTE
    return "/" + match.route.replace("<", "{").replace(">", "}")


class RequestMetricsMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response) -> None:
        self.get_response = get_response
        self.backend = settings.BACKEND_NAME
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest):
        if self.async_mode:
            return self._acall(request)
        started = time.perf_counter()
        response = self.get_response(request)
        self._record(request, response, time.perf_counter() - started)
        return response

    async def _acall(self, request: HttpRequest):
        started = time.perf_counter()
        response = await self.get_response(request)
        self._record(request, response, time.perf_counter() - started)
        return response

    def _record(self, request: HttpRequest, response: HttpResponseBase, seconds: float) -> None:
        if not request.path.startswith("/api/"):
            return
        record_request(
            route=route_template(request),
            method=request.method or "GET",
            backend=getattr(request, "backend_name", self.backend),
            status=response.status_code,
            seconds=seconds,
        )
