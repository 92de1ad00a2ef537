"""The localnet's Solana JSON-RPC over HTTP, as a plain ASGI app (no Django).

POST / takes one request object or a batch (JSON array). Envelope faults get the
jsonrpc-core answers a validator gives: -32700 "Parse error", -32600 "Invalid request",
-32601 "Method not found". GET /health answers "ok" like a validator's health route.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from .chain import Chain
from .errors import (
    INTERNAL_ERROR,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    RpcError,
    invalid_params,
)
from .methods import RpcMethods

log = logging.getLogger(__name__)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
MAX_BODY_BYTES = 50 * 1024  # the validator's MAX_REQUEST_BODY_SIZE


def _error(code: int, message: str, request_id: Any = None, data: Any = None) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "error": RpcError(code, message, data).to_json(), "id": request_id}


class JsonRpcApp:
    """ASGI callable serving the JSON-RPC methods of one Chain."""

    def __init__(self, chain: Chain) -> None:
        self.chain = chain
        self.methods = RpcMethods(chain)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        method, path = scope["method"], scope["path"]
        if method == "GET" and path == "/health":
            await _respond(send, 200, b"ok", b"text/plain")
            return
        if method != "POST":
            await _respond(
                send,
                405,
                b"Used HTTP Method is not allowed. POST or OPTIONS is required",
                b"text/plain",
            )
            return
        body = bytearray()
        while True:
            message = await receive()
            body += message.get("body", b"")
            if len(body) > MAX_BODY_BYTES:
                await _respond(send, 413, b"Payload Too Large", b"text/plain")
                return
            if not message.get("more_body"):
                break
        payload = self.handle(bytes(body))
        await _respond(send, 200, payload, b"application/json")

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    def handle(self, body: bytes) -> bytes:
        """Answer one HTTP body: a single request or a batch. Returns the JSON bytes."""
        try:
            request = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return _dumps(_error(PARSE_ERROR, "Parse error"))
        if isinstance(request, list):
            if not request:
                return _dumps(_error(INVALID_REQUEST, "Invalid request"))
            responses = [r for r in (self.call(item) for item in request) if r is not None]
            return _dumps(responses) if responses else b""
        response = self.call(request)
        return _dumps(response) if response is not None else b""

    def call(self, request: Any) -> dict[str, Any] | None:
        """Answer one request object; None for a notification (no "id")."""
        if (
            not isinstance(request, dict)
            or request.get("jsonrpc") != "2.0"
            or not isinstance(request.get("method"), str)
            or not isinstance(request.get("id", None), (str, int, type(None)))
            or isinstance(request.get("id"), bool)
        ):
            request_id = request.get("id") if isinstance(request, dict) else None
            if isinstance(request_id, (dict, list, bool, float)):
                request_id = None
            return _error(INVALID_REQUEST, "Invalid request", request_id)
        request_id = request.get("id")
        notification = "id" not in request
        handler = self.methods.handlers.get(request["method"])
        if handler is None:
            response = _error(METHOD_NOT_FOUND, "Method not found", request_id)
        else:
            try:
                params = request.get("params", [])
                if params is None:
                    params = []
                if not isinstance(params, list):
                    raise invalid_params("Invalid params: invalid type: map, expected a sequence.")
                result = handler(params)
                response = {"jsonrpc": "2.0", "result": result, "id": request_id}
            except RpcError as exc:
                response = {"jsonrpc": "2.0", "error": exc.to_json(), "id": request_id}
            except Exception:  # a bug must cost one request, never the server
                log.exception("localnet RPC %s failed", request["method"])
                response = _error(INTERNAL_ERROR, "Internal error", request_id)
        return None if notification else response


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


async def _respond(send: Send, status: int, body: bytes, content_type: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
