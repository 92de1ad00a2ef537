"""One active Geyser subscriber at a time: a Redis lease (SET NX PX with a token).

The active instance holds `geyser:<name>:lease` for `ttl` and renews it every ttl/3; a
standby polls at the same pace and takes the lease once it lapses (the active one
released it on shutdown, or died and let it expire). Renewal and release are
compare-and-set scripts on the token, so an instance can never extend or delete a lease
another one took over. The checkpoint write is fenced on the same token
(geyser_checkpoint.py), so a deposed instance that has not noticed yet cannot move the
checkpoint either.

When renewal keeps failing (Redis unreachable), the holder steps down before the lease
can have expired: two instances streaming at once would publish every event twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from typing import Any

from redis.exceptions import RedisError

log = logging.getLogger(__name__)

# KEYS[1] lease key; ARGV[1] token, ARGV[2] ttl ms. 1 renewed, 0 not ours (any more).
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class LeaseLost(Exception):
    """This instance no longer holds the lease: stop streaming and go back to standby."""


def lease_key(name: str) -> str:
    return f"geyser:{name}:lease"


class RedisLease:
    """The right to be the active subscriber of stream `name`; see the module docstring."""

    def __init__(self, redis: Any, name: str, *, ttl_s: float = 10.0) -> None:
        if ttl_s <= 0:
            raise ValueError("the lease TTL must be positive")
        self.redis = redis
        self.key = lease_key(name)
        self.ttl_ms = max(1, int(ttl_s * 1000))
        self.interval_s = ttl_s / 3  # renew (and poll, as a standby) well before expiry
        # Who holds it, readable in Redis by an operator: host, pid, then a random part.
        self.token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        self.held = False
        self._renewed_at = 0.0

    async def try_acquire(self) -> bool:
        try:
            taken = await self.redis.set(self.key, self.token, nx=True, px=self.ttl_ms)
        except RedisError as exc:
            log.warning("geyser lease %s: Redis unavailable (%s); staying standby", self.key, exc)
            return False
        if taken:
            self.held = True
            self._renewed_at = time.monotonic()
        return bool(taken)

    async def holder(self) -> str | None:
        value = await self.redis.get(self.key)
        return value.decode() if isinstance(value, bytes) else value

    async def acquire(self) -> None:
        """Wait as a standby until the lease is ours."""
        announced = False
        while not await self.try_acquire():
            if not announced:
                with contextlib.suppress(RedisError):
                    log.info("geyser standby: %s is held by %s", self.key, await self.holder())
                announced = True
            await asyncio.sleep(self.interval_s)
        log.info("geyser lease %s taken by %s: this instance is active", self.key, self.token)

    async def keep(self) -> None:
        """Renew until the lease is lost; then raise LeaseLost (never returns normally)."""
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                renewed = await self.redis.eval(_RENEW, 1, self.key, self.token, self.ttl_ms)
            except RedisError as exc:
                # Unknown whether it still is ours: hold on while it surely is, no longer.
                if time.monotonic() - self._renewed_at >= 2 * self.interval_s:
                    self.held = False
                    raise LeaseLost(f"cannot renew {self.key}: {exc}") from exc
                log.warning("geyser lease %s: renewal failed (%s); retrying", self.key, exc)
                continue
            if not renewed:
                self.held = False
                raise LeaseLost(f"{self.key} was taken over by another instance")
            self._renewed_at = time.monotonic()

    async def release(self) -> None:
        """Give the lease up at once (shutdown), so a standby need not wait for expiry."""
        if not self.held:
            return
        self.held = False
        try:
            await self.redis.eval(_RELEASE, 1, self.key, self.token)
        except RedisError as exc:
            log.warning("geyser lease %s: release failed (%s); it expires by itself", self.key, exc)


__all__ = ["LeaseLost", "RedisLease", "lease_key"]
