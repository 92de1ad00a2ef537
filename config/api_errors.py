"""The API's one error format, and the one place exceptions are mapped to it.

Every 4xx/5xx from /api/ has the body {"error": {"code", "message", "field"?}}.
Apps raise ApiError subclasses (or Ninja's errors); nothing else builds error bodies.
"""

from __future__ import annotations

import json
import logging
from http import HTTPStatus
from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError, ValidationError

from apps.chain.rpc import RpcError, RpcUnavailable

logger = logging.getLogger("api")

# A stable machine code per status, for errors that do not bring their own.
STATUS_CODES: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    502: "bad_gateway",
    503: "unavailable",
    504: "timeout",
}


class ErrorDetail(Schema):
    code: str
    message: str
    field: str | None = None


class ErrorOut(Schema):
    """The one error format, for OpenAPI `response={4xx: ErrorOut}` declarations."""

    error: ErrorDetail


class ApiError(Exception):
    """An error the client can act on. Subclass per app; raise from services."""

    status = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        code: str | None = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.code = code or self.code
        self.status = status or self.status
        self.headers = headers or {}


class RateLimited(ApiError):
    status = 429
    code = "rate_limited"


def error_body(code: str, message: str, field: str | None = None, **extra: Any) -> dict:
    error: dict[str, Any] = {"code": code, "message": message}
    if field:
        error["field"] = field
    error.update(extra)
    return {"error": error}


def error_response(
    status: int,
    message: str | None = None,
    *,
    code: str | None = None,
    field: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> HttpResponse:
    body = error_body(
        code or STATUS_CODES.get(status, f"http_{status}"),
        message or HTTPStatus(status).phrase,
        field,
        **extra,
    )
    response = HttpResponse(json.dumps(body), status=status, content_type="application/json")
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def _field_from_loc(loc: tuple | list) -> str | None:
    """('body', 'payload', 'email') -> 'email'; ('query', 'limit') -> 'limit'."""
    parts = [str(p) for p in loc]
    if parts and parts[0] in {"body", "query", "path", "header", "cookie", "form", "file"}:
        source, parts = parts[0], parts[1:]
        # A body schema is wrapped in its parameter name; the client never sees it.
        if source == "body":
            parts = parts[1:] or ["body"]
    return ".".join(parts) or None


def _validation_message(err: dict) -> str:
    msg = err.get("msg", "invalid value")
    field = _field_from_loc(err.get("loc", ()))
    return f"{field}: {msg}" if field else msg


def install_error_handlers(api: NinjaAPI) -> None:
    """Map every exception Ninja sees to the one error format."""

    def on_validation(request: HttpRequest, exc: ValidationError) -> HttpResponse:
        errors = exc.errors or [{}]
        first = errors[0]
        fields = [
            {"field": _field_from_loc(e.get("loc", ())), "message": e.get("msg")} for e in errors
        ]
        return error_response(
            422,
            _validation_message(first),
            field=_field_from_loc(first.get("loc", ())),
            errors=fields,
        )

    def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
        if isinstance(exc.__cause__, RequestDataTooBig):
            return error_response(413, "request body is too large", field="body")
        status = exc.status_code
        if status == 400 and str(exc).startswith("Cannot parse request body"):
            return error_response(
                400, "request body is not valid JSON", code="malformed_json", field="body"
            )
        return error_response(status, str(exc))

    def on_auth(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
        return error_response(
            401,
            "a valid bearer token is required",
            field="Authorization",
            headers={"WWW-Authenticate": "Bearer"},
        )

    def on_api_error(request: HttpRequest, exc: ApiError) -> HttpResponse:
        return error_response(
            exc.status, exc.message, code=exc.code, field=exc.field, headers=exc.headers
        )

    def on_rpc_unavailable(request: HttpRequest, exc: RpcUnavailable) -> HttpResponse:
        # Names only redacted endpoints (rpc.py never puts a URL path or key in it).
        return error_response(
            503, f"the Solana RPC upstream is unavailable: {exc}", code="upstream_unavailable"
        )

    def on_rpc_error(request: HttpRequest, exc: RpcError) -> HttpResponse:
        return error_response(
            502, f"the Solana RPC upstream refused the call: {exc.message}", code="upstream_error"
        )

    def on_404(request: HttpRequest, exc: Exception) -> HttpResponse:
        return error_response(404, "not found")

    def on_403(request: HttpRequest, exc: Exception) -> HttpResponse:
        return error_response(403, "forbidden")

    def on_too_big(request: HttpRequest, exc: Exception) -> HttpResponse:
        return error_response(413, "request body is too large", field="body")

    def on_unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
        # The message never carries exception text: it may hold a secret.
        logger.exception("unhandled error in %s %s", request.method, request.path)
        return error_response(500, "internal error")

    api.add_exception_handler(ValidationError, on_validation)
    api.add_exception_handler(HttpError, on_http_error)
    api.add_exception_handler(AuthenticationError, on_auth)
    api.add_exception_handler(ApiError, on_api_error)
    api.add_exception_handler(RpcUnavailable, on_rpc_unavailable)
    api.add_exception_handler(RpcError, on_rpc_error)
    api.add_exception_handler(Http404, on_404)
    api.add_exception_handler(PermissionDenied, on_403)
    api.add_exception_handler(RequestDataTooBig, on_too_big)
    api.add_exception_handler(Exception, on_unexpected)
