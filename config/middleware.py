"""Project-wide middleware. Each works in both Django chains (sync and async)."""

from __future__ import annotations

import json

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponseBase

from config.api_errors import STATUS_CODES, error_response

API_PREFIX = "/api/"


class DualModeMiddleware:
    """Base for middleware without I/O: runs natively in either chain, no thread hop."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response) -> None:
        self.get_response = get_response
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest):
        if self.async_mode:
            return self._acall(request)
        self.start(request)
        return self.process(request, self.get_response(request))

    async def _acall(self, request: HttpRequest):
        self.start(request)
        return self.process(request, await self.get_response(request))

    def start(self, request: HttpRequest) -> None:
        """Before the view; no I/O here (it runs on the event loop)."""

    def process(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        raise NotImplementedError


class ApiErrorFormatMiddleware(DualModeMiddleware):
    """No HTML from /api/: any error that is not already in the one format is reshaped.

    Ninja's handlers format what happens inside the API; this catches what happens
    around it (unknown paths, 405s, DisallowedHost, a crashed middleware).
    """

    def process(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        status = response.status_code
        if status < 400 or not request.path.startswith(API_PREFIX):
            return response
        if response.get("Content-Type", "").startswith("application/json") and _is_error_body(
            response
        ):
            return response
        reshaped = error_response(status, _message_for(status, request))
        if "Allow" in response:
            reshaped["Allow"] = response["Allow"]
        if "Retry-After" in response:
            reshaped["Retry-After"] = response["Retry-After"]
        return reshaped


def _is_error_body(response: HttpResponseBase) -> bool:
    if getattr(response, "streaming", False):
        return False
    try:
        body = json.loads(response.content)
    except ValueError:
        return False
    return isinstance(body, dict) and isinstance(body.get("error"), dict)


def _message_for(status: int, request: HttpRequest) -> str:
    if status == 404:
        return f"no API endpoint at {request.path}"
    if status == 405:
        return f"method {request.method} is not allowed here"
    if status >= 500:
        return "internal error"
    return STATUS_CODES.get(status, "error").replace("_", " ")
