"""Where the Geyser subscriber records the last fully processed slot.

The checkpoint is written after `processor.flush(slot)` returned, so everything up to and
including that slot is in the processor's durable state; a restart (or a standby taking
over) resumes the stream right after it. It only moves forward.

- `RedisCheckpoint` (REDIS_URL set): `geyser:<name>:checkpoint`, shared by the active
  instance and its standbys. With a lease, the write is fenced on the lease token in the
  same script: an instance that lost the lease cannot move the checkpoint any more.
- `FileCheckpoint` (no Redis): a small file under VAR_DIR, replaced atomically; one
  process only.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Protocol

from .geyser_lease import LeaseLost, RedisLease

# KEYS[1] checkpoint, KEYS[2] lease (may be absent); ARGV[1] slot, ARGV[2] token or ''.
# -1: fenced (the lease is not ours); otherwise the checkpoint now stored.
_SAVE = """
if ARGV[2] ~= '' and redis.call('GET', KEYS[2]) ~= ARGV[2] then
  return -1
end
local current = tonumber(redis.call('GET', KEYS[1]) or '-1')
local slot = tonumber(ARGV[1])
if slot > current then
  redis.call('SET', KEYS[1], ARGV[1])
  return slot
end
return current
"""


class CheckpointStore(Protocol):
    async def load(self) -> int | None: ...

    async def save(self, slot: int) -> None: ...


def checkpoint_key(name: str) -> str:
    return f"geyser:{name}:checkpoint"


class RedisCheckpoint:
    def __init__(self, redis: Any, name: str, *, lease: RedisLease | None = None) -> None:
        self.redis = redis
        self.key = checkpoint_key(name)
        self.lease = lease

    async def load(self) -> int | None:
        value = await self.redis.get(self.key)
        return int(value) if value is not None else None

    async def save(self, slot: int) -> None:
        lease_key = self.lease.key if self.lease else self.key
        token = self.lease.token if self.lease else ""
        stored = await self.redis.eval(_SAVE, 2, self.key, lease_key, slot, token)
        if int(stored) == -1:
            raise LeaseLost(f"checkpoint {slot} refused: {lease_key} is no longer ours")


class FileCheckpoint:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._last: int | None = None

    async def load(self) -> int | None:
        try:
            text = self.path.read_text().strip()
        except FileNotFoundError:
            return None
        self._last = int(text) if text else None
        return self._last

    async def save(self, slot: int) -> None:
        if self._last is not None and slot <= self._last:
            return
        # A few bytes a slot: written in place of blocking a thread hop. Replace, never
        # truncate, so a crash leaves the old checkpoint or the new one, not an empty file.
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(f"{slot}\n")
        os.replace(tmp, self.path)
        self._last = slot


__all__ = ["CheckpointStore", "FileCheckpoint", "RedisCheckpoint", "checkpoint_key"]
