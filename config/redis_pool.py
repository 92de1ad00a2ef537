"""One asyncio Redis client per event loop (redis.asyncio pools are loop-bound)."""

from __future__ import annotations

import asyncio
import weakref

import redis.asyncio as aioredis
from django.conf import settings

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
        client = aioredis.Redis.from_url(
            settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=5, health_check_interval=30
        )
        _clients[loop] = client
    return client
