"""The bits of ASGI the localnet's plain apps (HTTP RPC, WebSocket pubsub) have in common.

The localnet serves validator-shaped endpoints without a web framework, so each app
speaks raw ASGI; these helpers keep the message shapes in one place.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Hook = Callable[[], Awaitable[None]]


async def respond(send: Send, status: int, body: bytes, content_type: bytes) -> None:
    """One whole HTTP response with an explicit length (no chunking)."""
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


async def serve_lifespan(
    receive: Receive, send: Send, *, on_startup: Hook | None = None, on_shutdown: Hook | None = None
) -> None:
    """Answer the server's lifespan protocol, running the app's hooks at startup and shutdown."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            if on_startup is not None:
                await on_startup()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            if on_shutdown is not None:
                await on_shutdown()
            await send({"type": "lifespan.shutdown.complete"})
            return
