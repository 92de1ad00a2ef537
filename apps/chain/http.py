"""Shared async HTTP client for Solana RPC and block engines: keep-alive, one per loop."""

from __future__ import annotations

import asyncio
import weakref
from urllib.parse import urlsplit

import httpx

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
    weakref.WeakKeyDictionary()
)


def http_client() -> httpx.AsyncClient:
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None:
        client = httpx.AsyncClient(
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
            headers={"Content-Type": "application/json"},
        )
        _clients[loop] = client
    return client


def redact_url(url: str) -> str:
    """scheme://host[:port]/ only: RPC URLs often carry an API key in path or query."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}"
