"""The shared async HTTP client: one aiohttp session per event loop, keep-alive.

aiohttp carries the JSON-RPC hot path: measured against an instant upstream it costs
~0.5 ms per call where httpx costs ~1.3 ms (bench/read_api.py).
"""

from __future__ import annotations

import asyncio
import weakref
from urllib.parse import urlsplit

import aiohttp

_sessions: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aiohttp.ClientSession] = (
    weakref.WeakKeyDictionary()
)


def http_session() -> aiohttp.ClientSession:
    loop = asyncio.get_running_loop()
    session = _sessions.get(loop)
    if session is None or session.closed:
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=200, ttl_dns_cache=300),
            # The caller's per-call timeout governs; none is imposed here.
            timeout=aiohttp.ClientTimeout(total=None),
        )
        _sessions[loop] = session
    return session


async def close_http_session() -> None:
    """Close this loop's session (a process about to exit, so nothing is left to warn)."""
    session = _sessions.pop(asyncio.get_running_loop(), None)
    if session is not None and not session.closed:
        await session.close()


def redact_url(url: str) -> str:
    """scheme://host[:port]/ only: RPC URLs often carry an API key in path or query."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}"
