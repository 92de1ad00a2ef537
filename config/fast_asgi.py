"""Django's ASGI handler with a lean path for async views.

Stock ASGIHandler wraps every request in a ThreadSensitiveContext, sends
request_started/request_finished through sync receivers and runs MiddlewareMixin
middleware through sync_to_async: each of those starts or hops to a thread, and
together they cap a worker near 1,000 req/s (ARCHITECTURE.md, "Performance").

Here a request whose URL resolves to an async function view (every async Ninja
operation) is served on the event loop: the body is read with a size cap, the
FAST_PATH_MIDDLEWARE (I/O-free DualModeMiddleware) run flat around the awaited
view, the response goes out in two ASGI messages. Nothing hops to a thread unless
the view asks for one. Each step was measured (bench/RESULTS.md): resolved URLs
are cached, a bodiless HTTP/1 request is not made to wait on receive(), and the
security headers are appended as constant bytes.

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

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.handlers.asgi import ASGIHandler, ASGIRequest
from django.core.handlers.exception import response_for_exception
from django.db import close_old_connections
from django.db.backends.signals import connection_created
from django.http import HttpRequest, HttpResponseBase
from django.urls import Resolver404, ResolverMatch, get_resolver, set_script_prefix
from django.utils.module_loading import import_string

from config.api_errors import error_response
from config.middleware import DualModeMiddleware

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

# What SecurityMiddleware would add, as bytes appended when the view did not set them.
_SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
)
_ROUTE_CACHE_SIZE = 4096
_NOT_FAST = object()


class PlatformASGIHandler(ASGIHandler):
    """ASGIHandler plus an event-loop-only path for async function views."""

    def __init__(self) -> None:
        super().__init__()
        self._resolver = get_resolver()
        self._fast_middleware = self._load_fast_middleware(settings.FAST_PATH_MIDDLEWARE)
        self._max_body = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        # The fast path only takes requests with an empty root_path, so the prefix is fixed.
        self._script_prefix = settings.FORCE_SCRIPT_NAME or "/"
        # path -> ResolverMatch (read-only, shared) or _NOT_FAST; bounded, reset when full.
        self._routes: dict[str, object] = {}

    # -- routing -------------------------------------------------------------------
    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and not scope.get("root_path"):
            match = self._fast_match(scope["path"])
            if match is not None:
                await self._handle_fast(scope, receive, send, match)
                return
        await super().__call__(scope, receive, send)

    def _fast_match(self, path: str) -> ResolverMatch | None:
        match = self._routes.get(path)
        if match is None:
            match = self._resolve_fast(path)
            if len(self._routes) >= _ROUTE_CACHE_SIZE:
                self._routes.clear()  # unbounded paths (ids in URLs) must not grow memory
            self._routes[path] = match
        return None if match is _NOT_FAST else match

    def _resolve_fast(self, path: str) -> object:
        try:
            match = self._resolver.resolve(path)
        except Resolver404:
            return _NOT_FAST
        return match if asyncio.iscoroutinefunction(match.func) else _NOT_FAST

    def _load_fast_middleware(self, dotted_paths: list[str]) -> list[DualModeMiddleware]:
        loaded = []
        for path in dotted_paths:
            middleware_cls = import_string(path)
            if not issubclass(middleware_cls, DualModeMiddleware):
                raise ImproperlyConfigured(
                    f"{path} is in FAST_PATH_MIDDLEWARE but is not a DualModeMiddleware"
                )
            loaded.append(middleware_cls(self._call_view))
        return loaded

    # -- the fast path -------------------------------------------------------------------
    async def _handle_fast(self, scope, receive, send, match: ResolverMatch) -> None:
        body = await self._read_capped_body(scope, receive)
        if body is None:
            return  # the client went away
        if self._script_prefix != "/":
            set_script_prefix(self._script_prefix)  # "/" is already the default
        touched = [False]
        token = _db_touched.set(touched)
        try:
            if body is _TOO_LARGE:
                response = error_response(413, "request body is too large", field="body")
            else:
                request = ASGIRequest(scope, io.BytesIO(body))
                request.resolver_match = match
                response = await self._run_middleware_and_view(request)
            await self._send(response, send, receive)
        finally:
            _db_touched.reset(token)
            if touched[0]:
                # What request_finished does for the stock path, on the thread
                # that holds the connection.
                await sync_to_async(close_old_connections)()

    async def _run_middleware_and_view(self, request: HttpRequest) -> HttpResponseBase:
        # Flat, not nested: one coroutine per request instead of one per middleware.
        for middleware in self._fast_middleware:
            middleware.start(request)
        response = await self._call_view(request)
        for middleware in reversed(self._fast_middleware):
            response = middleware.process(request, response)
        return response

    async def _call_view(self, request: HttpRequest) -> HttpResponseBase:
        match = request.resolver_match
        try:
            return await match.func(request, *match.args, **match.kwargs)
        except Exception as exc:  # noqa: BLE001 - Django's own conversion, as the stock chain
            return response_for_exception(request, exc)

    async def _send(self, response: HttpResponseBase, send, receive) -> None:
        if response.streaming:
            await self._stream(response, send, receive)
            return
        headers = [
            (name.encode("latin-1"), value.encode("latin-1")) for name, value in response.items()
        ]
        present = {name.lower() for name, _ in headers}
        headers.extend(h for h in _SECURITY_HEADERS if h[0] not in present)
        for cookie in response.cookies.values():
            headers.append((b"set-cookie", cookie.output(header="").strip().encode("ascii")))
        await send(
            {"type": "http.response.start", "status": response.status_code, "headers": headers}
        )
        await send({"type": "http.response.body", "body": response.content})
        for closer in response._resource_closers:
            closer()

    async def _stream(self, response: HttpResponseBase, send, receive) -> None:
        """A streaming response (SSE) until it ends or the client goes away, whichever is
        first, as the stock handler does: a disconnect cancels the stream at once instead
        of at its next write."""
        streaming = asyncio.ensure_future(self._send_streaming(response, send))
        disconnect = asyncio.ensure_future(self._until_disconnect(receive))
        try:
            await asyncio.wait({streaming, disconnect}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (streaming, disconnect):
                task.cancel()
            for task in (streaming, disconnect):
                try:
                    await task
                except (asyncio.CancelledError, OSError):
                    pass  # the client is gone: nothing to report
                except Exception:
                    logger.exception("streaming response failed")

    async def _send_streaming(self, response: HttpResponseBase, send) -> None:
        if not response.is_async:
            await self.send_response(response, send)
            return
        # Async content (SSE): each part as one body message, as it comes; Django's own
        # send_response would also re-chunk every part, a cost paid per event per stream.
        headers = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in response.items()]
        await send(
            {"type": "http.response.start", "status": response.status_code, "headers": headers}
        )
        content = response.streaming_content
        try:
            async for part in content:
                await send({"type": "http.response.body", "body": part, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        finally:
            await content.aclose()

    @staticmethod
    async def _until_disconnect(receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    async def _read_capped_body(self, scope, receive) -> bytes | object | None:
        declared = _content_length(scope)
        if declared is None and scope.get("http_version", "1.1") in ("1.0", "1.1"):
            if not _has_header(scope, b"transfer-encoding"):
                return b""  # RFC 9112 6.3: no length, no chunking -> no body to wait for
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


def _has_header(scope, wanted: bytes) -> bool:
    return any(name == wanted for name, _ in scope.get("headers", ()))


def get_platform_asgi_application() -> PlatformASGIHandler:
    import django

    django.setup(set_prefix=False)
    return PlatformASGIHandler()
