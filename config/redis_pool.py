"""One asyncio Redis client per event loop (redis.asyncio pools are loop-bound)."""

from __future__ import annotations

import asyncio
import weakref

import redis.asyncio as aioredis
from django.conf import settings

MAX_CONNECTIONS = 64

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aioredis.Redis] = (
    weakref.WeakKeyDictionary()
)


def redis_configured() -> bool:
    return bool(settings.REDIS_URL)


def async_redis() -> aioredis.Redis:
    """The running loop's client for REDIS_URL. Raises if Redis is not configured."""
    if not settings.REDIS_URL:
        raise RuntimeError("REDIS_URL is not set")
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None:
        # A bounded pool that makes callers wait for a free connection: a burst (hundreds of
        # WebSocket/SSE clients subscribing at once) must not open hundreds of connections.
        pool = aioredis.BlockingConnectionPool.from_url(
            settings.REDIS_URL,
            max_connections=MAX_CONNECTIONS,
            timeout=10,
            socket_connect_timeout=2,
            socket_timeout=5,
            health_check_interval=30,
        )
        client = aioredis.Redis(connection_pool=pool)
        _clients[loop] = client
    return client
