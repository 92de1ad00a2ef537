"""Django's ASGI handler with a lean path for async views.

Stock ASGIHandler wraps every request in a ThreadSensitiveContext, sends
request_started/request_finished through sync receivers and runs MiddlewareMixin
middleware through sync_to_async: each of those starts or hops to a thread, and
together they cap a worker near 1,000 req/s (ARCHITECTURE.md, "Performance").

Here a request whose URL resolves to an async function view (every async Ninja
operation) is served on the event loop: the body is read with a size cap, the
async-native FAST_PATH_MIDDLEWARE chain runs, the view is awaited, the response
is sent. Nothing hops to a thread unless the view asks for one.

Everything else (sync views, the admin, static files, unknown URLs) goes through
the stock handler unchanged, with Django's own semantics.

Database connections keep Django's semantics too: a fast-path view that uses the
ORM does so through sync_to_async(thread_sensitive=True), on asgiref's one shared
sync thread; when such a request ends, close_old_connections runs on that thread,
as request_finished would have run it (CONN_MAX_AGE and health checks respected).
"""

from __future__ import annotations

import asyncio
import contextvars
import io
import logging
from collections.abc import Awaitable, Callable

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.handlers.asgi import ASGIHandler, ASGIRequest, get_script_prefix
from django.core.handlers.exception import response_for_exception
from django.db import close_old_connections
from django.db.backends.signals import connection_created
from django.http import HttpRequest, HttpResponseBase
from django.urls import Resolver404, ResolverMatch, get_resolver, set_script_prefix
from django.utils.module_loading import import_string

from config.api_errors import error_response

logger = logging.getLogger("django.request")

# Set per fast-path request; the DB execute wrapper flips it when a query runs.
_db_touched: contextvars.ContextVar[list[bool] | None] = contextvars.ContextVar(
    "fast_path_db_touched", default=None
)


def _mark_db_use(execute, sql, params, many, context):
    flag = _db_touched.get()
    if flag is not None:
        flag[0] = True
    return execute(sql, params, many, context)


def _track_connection(sender, connection, **kwargs) -> None:
    if _mark_db_use not in connection.execute_wrappers:
        connection.execute_wrappers.append(_mark_db_use)


connection_created.connect(_track_connection, dispatch_uid="fast_path_db_tracking")

View = Callable[[HttpRequest], Awaitable[HttpResponseBase]]


class PlatformASGIHandler(ASGIHandler):
    """ASGIHandler plus an event-loop-only path for async function views."""

    def __init__(self) -> None:
        super().__init__()
        self._resolver = get_resolver()
        self._fast_chain = self._load_fast_chain(settings.FAST_PATH_MIDDLEWARE)
        self._max_body = settings.DATA_UPLOAD_MAX_MEMORY_SIZE

    # -- routing -------------------------------------------------------------------
    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            match = self._fast_match(scope)
            if match is not None:
                await self._handle_fast(scope, receive, send, match)
                return
        await super().__call__(scope, receive, send)

    def _fast_match(self, scope) -> ResolverMatch | None:
        if scope.get("root_path"):
            return None  # mounted under a prefix: leave URL handling to Django
        try:
            match = self._resolver.resolve(scope["path"])
        except Resolver404:
            return None
        if not asyncio.iscoroutinefunction(match.func):
            return None
        return match

    def _load_fast_chain(self, dotted_paths: list[str]) -> View:
        handler: View = self._call_view
        for path in reversed(dotted_paths):
            middleware_cls = import_string(path)
            if not getattr(middleware_cls, "async_capable", False):
                raise ImproperlyConfigured(f"{path} is in FAST_PATH_MIDDLEWARE but not async")
            handler = middleware_cls(handler)
            if not asyncio.iscoroutinefunction(handler):
                raise ImproperlyConfigured(f"{path} did not adapt to async mode")
        return handler

    # -- the fast path -------------------------------------------------------------------
    async def _handle_fast(self, scope, receive, send, match: ResolverMatch) -> None:
        body = await self._read_capped_body(scope, receive)
        if body is None:
            return  # the client went away
        set_script_prefix(get_script_prefix(scope))
        touched = [False]
        token = _db_touched.set(touched)
        try:
            if body is _TOO_LARGE:
                response = error_response(413, "request body is too large", field="body")
                request = None
            else:
                request = ASGIRequest(scope, io.BytesIO(body))
                request.resolver_match = match
                response = await self._fast_chain(request)
            await self.send_response(response, send)
        finally:
            _db_touched.reset(token)
            if touched[0]:
                # What request_finished does for the stock path, on the thread
                # that holds the connection.
                await sync_to_async(close_old_connections)()

    async def _call_view(self, request: HttpRequest) -> HttpResponseBase:
        match = request.resolver_match
        try:
            return await match.func(request, *match.args, **match.kwargs)
        except Exception as exc:  # noqa: BLE001 - Django's own conversion, as the stock chain
            return response_for_exception(request, exc)

    async def _read_capped_body(self, scope, receive) -> bytes | object | None:
        declared = _content_length(scope)
        if declared is not None and declared > self._max_body:
            return _TOO_LARGE
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self._max_body:
                return _TOO_LARGE
            if chunk:
                chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


_TOO_LARGE = object()


def _content_length(scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def get_platform_asgi_application() -> PlatformASGIHandler:
    import django

    django.setup(set_prefix=False)
    return PlatformASGIHandler()


__all__ = ["PlatformASGIHandler", "get_platform_asgi_application"]
