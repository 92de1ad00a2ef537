"""Block engines on the localnet: Jito, bloXroute and NextBlock on one HTTP port.

    app = BlockEnginesApp(chain, auth={"jito": "uuid-1"})
    # POST {base}/jito/api/v1/bundles, {base}/bloxroute/api/v2/submit-batch,
    #      {base}/nextblock/api/v2/submit ... in each service's own format.
    app.engine("jito").faults = EngineFaults(drop_share=1.0)

Each engine checks submissions as the real one does (tip to *its* accounts, size limits,
decoding) and lands accepted ones at the next slot boundary, all or nothing, through
`Chain.execute_bundle` (see engines_core for the landing model and the faults).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from .chain import Chain
from .engines_core import BlockEngine, EngineFaults, Request, Response, Submission
from .engines_jito import JitoEngine
from .engines_relay import BloxrouteEngine, NextBlockEngine
from .records import SlotRecord

log = logging.getLogger(__name__)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
MAX_BODY_BYTES = 1024 * 1024
ENGINE_TYPES: dict[str, type[BlockEngine]] = {
    "jito": JitoEngine,
    "bloxroute": BloxrouteEngine,
    "nextblock": NextBlockEngine,
}


class BlockEnginesApp:
    """ASGI app serving every engine under `/<name>`; lands their bundles on slot ticks."""

    def __init__(self, chain: Chain, *, auth: dict[str, str] | None = None) -> None:
        auth = auth or {}
        unknown = set(auth) - set(ENGINE_TYPES)
        if unknown:
            raise ValueError(f"unknown block engine(s): {sorted(unknown)}")
        self.chain = chain
        self.engines: dict[str, BlockEngine] = {
            name: cls(chain, auth=auth.get(name)) for name, cls in ENGINE_TYPES.items()
        }
        chain.slot_listeners.append(self._on_slot)

    def engine(self, name: str) -> BlockEngine:
        return self.engines[name]

    def close(self) -> None:
        """Stop landing on slot ticks (the chain outlives the app in some tests)."""
        if self._on_slot in self.chain.slot_listeners:
            self.chain.slot_listeners.remove(self._on_slot)

    def _on_slot(self, record: SlotRecord) -> None:
        # Runs right after the chain opened a new slot: what was accepted during the
        # previous slot lands as the first thing in this one.
        for engine in self.engines.values():
            engine.land_pending()

    # ---- ASGI ----------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        name, _, rest = scope["path"].lstrip("/").partition("/")
        engine = self.engines.get(name)
        if engine is None:
            await _send(send, Response(404, b"Not Found", "text/plain"))
            return
        faults = engine.faults
        if faults.down:
            # The closest a shared socket gets to a dead host: 503, then hang up.
            await _send(
                send, Response(503, b"Service Unavailable", "text/plain", [("connection", "close")])
            )
            return
        if faults.latency_ms > 0:
            await asyncio.sleep(faults.latency_ms / 1000)
        if faults.rate_limited:
            await _send(send, engine.rate_limited())
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > MAX_BODY_BYTES:
                await _send(send, Response(413, b"Payload Too Large", "text/plain"))
                return
            if not message.get("more_body"):
                break
        request = Request(
            method=scope["method"],
            path="/" + rest,
            query=dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"))),
            headers={k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]},
            body=bytes(body),
        )
        try:
            response = engine.handle(request)
        except Exception:  # a bug must cost one request, never the server
            log.exception("%s engine failed on %s", name, request.path)
            response = engine.internal_error()
        await _send(send, response)


async def _send(send: Send, response: Response) -> None:
    headers = [
        (b"content-type", response.content_type.encode()),
        (b"content-length", str(len(response.body)).encode()),
        *((k.encode(), v.encode()) for k, v in response.headers),
    ]
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})


__all__ = [
    "ENGINE_TYPES",
    "BlockEngine",
    "BlockEnginesApp",
    "BloxrouteEngine",
    "EngineFaults",
    "JitoEngine",
    "NextBlockEngine",
    "Submission",
]
