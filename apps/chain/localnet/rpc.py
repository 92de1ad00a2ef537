"""The localnet's Solana JSON-RPC over HTTP, as a plain ASGI app (no Django).

POST / takes one request object or a batch (JSON array), answered with the
validator's JSON-RPC envelope (jsonrpc.py). GET /health answers "ok" like a
validator's health route.
"""

from __future__ import annotations

from typing import Any

from .asgi import Receive, Scope, Send, respond, serve_lifespan
from .chain import Chain
from .jsonrpc import answer, answer_request, dumps
from .methods import RpcMethods

MAX_BODY_BYTES = 50 * 1024  # the validator's MAX_REQUEST_BODY_SIZE


class JsonRpcApp:
    """ASGI callable serving the JSON-RPC methods of one Chain."""

    def __init__(self, chain: Chain) -> None:
        self.chain = chain
        self.methods = RpcMethods(chain)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await serve_lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        method, path = scope["method"], scope["path"]
        if method == "GET" and path == "/health":
            await respond(send, 200, b"ok", b"text/plain")
            return
        if method != "POST":
            await respond(
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
                await respond(send, 413, b"Payload Too Large", b"text/plain")
                return
            if not message.get("more_body"):
                break
        payload = self.handle(bytes(body))
        await respond(send, 200, payload, b"application/json")

    def handle(self, body: bytes) -> bytes:
        """Answer one HTTP body: a single request or a batch. Returns the JSON bytes."""
        reply = answer(body, self.methods.handlers, service="RPC")
        return dumps(reply).encode() if reply is not None else b""

    def call(self, request: Any) -> dict[str, Any] | None:
        """Answer one request object; None for a notification (no "id")."""
        return answer_request(request, self.methods.handlers, service="RPC")
