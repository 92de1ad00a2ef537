"""Drive an ASGI app in process: one HTTP request, the whole response back."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field


@dataclass
class AsgiResponse:
    status: int
    headers: dict[str, str]
    body: bytes = b""
    chunks: list[bytes] = field(default_factory=list)

    def json(self):
        return json.loads(self.body)


async def asgi_request(
    app,
    method: str,
    path: str,
    *,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    query_string: bytes = b"",
    chunk_size: int | None = None,
) -> AsgiResponse:
    raw_headers = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    if body and not any(k == b"content-length" for k, _ in raw_headers):
        raw_headers.append((b"content-length", str(len(body)).encode()))
    if not any(k == b"host" for k, _ in raw_headers):
        raw_headers.append((b"host", b"testserver"))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query_string,
        "root_path": "",
        "headers": raw_headers,
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    size = chunk_size or max(len(body), 1)
    parts = [body[i : i + size] for i in range(0, len(body), size)] or [b""]
    messages = [
        {"type": "http.request", "body": part, "more_body": i < len(parts) - 1}
        for i, part in enumerate(parts)
    ]

    response = AsgiResponse(status=0, headers={})
    finished = asyncio.Event()

    async def receive():
        if messages:
            return messages.pop(0)
        # Like a real server: the client stays until the response is complete.
        await finished.wait()
        return {"type": "http.disconnect"}

    async def send(message):
        if message["type"] == "http.response.start":
            response.status = message["status"]
            response.headers = {k.decode().lower(): v.decode() for k, v in message["headers"]}
        elif message["type"] == "http.response.body":
            response.chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                finished.set()

    await app(scope, receive, send)
    response.body = b"".join(response.chunks)
    return response
