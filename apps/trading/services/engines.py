"""Block-engine clients: Jito, bloXroute and NextBlock, each in its own request format.

    receipts = await submit_everywhere({"jito": [tx], "nextblock": [tx2]})

Every enabled engine gets its copy at the same moment; each has its own timeout, so a
slow or failing engine never delays the others' receipts. A receipt says whether the
engine accepted the submission (and its bundle id), or why not: `rate_limited` (429),
`unauthorized` (401), `rejected` (the engine refused the bundle: its message), `down`
(connection refused, 5xx) or `timeout`. Landing is not an engine's word: the execution
service watches signatures and records it here (`record_landing`).

Formats (see ../shared/reference and apps/chain/localnet/engines_*.py):
- Jito: JSON-RPC `sendBundle` at {JITO_URL}/api/v1/bundles, base64 transactions,
  `x-jito-auth` when JITO_UUID is set; the result is the bundle id. getBundleStatuses,
  getInflightBundleStatuses and getTipAccounts on the same endpoint (`Jito` methods).
- bloXroute: POST {BLOXROUTE_URL}/api/v2/submit {"transaction": {"content": b64}} (one) or
  /api/v2/submit-batch {"entries": [...], "useBundle": true}; `Authorization` header.
- NextBlock: POST {NEXTBLOCK_URL}/api/v2/submit {"transaction": {"content": b64}} (one) or
  /api/v2/submit-batch {"entries": [...]}; `Authorization` header.
"""

from __future__ import annotations

import asyncio
import base64
import time
from dataclasses import dataclass
from typing import Any, ClassVar

import aiohttp
from django.conf import settings
from prometheus_client import Counter, Histogram
from solders.pubkey import Pubkey

from apps.chain.block_engines import (
    BLOXROUTE_MIN_TIP_LAMPORTS,
    BLOXROUTE_TIP_ACCOUNTS,
    JITO_MIN_TIP_LAMPORTS,
    JITO_TIP_ACCOUNTS,
    NEXTBLOCK_MIN_TIP_LAMPORTS,
    NEXTBLOCK_TIP_ACCOUNTS,
)
from apps.chain.http import http_session

SUBMISSIONS = Counter(
    "engine_submissions_total", "Bundle submissions by engine and outcome", ["engine", "outcome"]
)
REQUEST_SECONDS = Histogram(
    "engine_request_seconds",
    "Time for an engine to answer a submission",
    ["engine"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5),
)
LANDED = Counter("engine_landed_total", "Orders whose copy from this engine landed", ["engine"])
LANDING_SECONDS = Histogram(
    "engine_landing_seconds",
    "From submission to landing, for the copy that landed",
    ["engine"],
    buckets=(0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32),
)


@dataclass(frozen=True)
class EngineReceipt:
    engine: str
    accepted: bool
    bundle_id: str | None = None
    error: str | None = None
    error_kind: str | None = None  # rate_limited | unauthorized | rejected | down | timeout
    latency_ms: float = 0.0


class EngineFailure(Exception):
    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind, self.message = kind, message


def _b64(tx: bytes) -> str:
    return base64.b64encode(tx).decode()


class Engine:
    name: ClassVar[str]
    tip_accounts: ClassVar[tuple[str, ...]]
    min_tip_lamports: ClassVar[int]

    def __init__(self, url: str, auth: str = "") -> None:
        self.url = url.rstrip("/")
        self.auth = auth

    def tip_account(self, index: int = 0) -> Pubkey:
        """One of the engine's tip accounts (spread by index: tips to one account contend
        for its write lock)."""
        return Pubkey.from_string(self.tip_accounts[index % len(self.tip_accounts)])

    async def submit(self, txs: list[bytes], timeout: float) -> EngineReceipt:
        started = time.perf_counter()
        try:
            bundle_id = await asyncio.wait_for(self._send(txs), timeout)
        except EngineFailure as failure:
            receipt = EngineReceipt(self.name, False, None, failure.message, failure.kind)
        except TimeoutError:
            receipt = EngineReceipt(
                self.name, False, None, f"no answer in {timeout:g} s", "timeout"
            )
        except (aiohttp.ClientError, OSError) as exc:
            receipt = EngineReceipt(self.name, False, None, f"unreachable: {exc}"[:300], "down")
        else:
            receipt = EngineReceipt(self.name, True, bundle_id)
        elapsed = time.perf_counter() - started
        REQUEST_SECONDS.labels(self.name).observe(elapsed)
        SUBMISSIONS.labels(self.name, "accepted" if receipt.accepted else receipt.error_kind).inc()
        return EngineReceipt(**{**receipt.__dict__, "latency_ms": elapsed * 1000})

    async def _post(self, path: str, body: dict[str, Any], headers: dict[str, str]) -> Any:
        async with http_session().post(self.url + path, json=body, headers=headers) as response:
            text = await response.text()
            if response.status == 429:
                raise EngineFailure("rate_limited", f"{self.name}: rate limited")
            if response.status == 401:
                raise EngineFailure("unauthorized", f"{self.name}: authorization refused")
            if response.status >= 500:
                raise EngineFailure("down", f"{self.name}: HTTP {response.status}")
            try:
                payload = await response.json(content_type=None) if text else None
            except ValueError:
                payload = None
            if response.status >= 400 or payload is None:
                raise EngineFailure("rejected", f"{self.name}: {self._message(payload, text)}")
            return payload

    @staticmethod
    def _message(payload: Any, text: str) -> str:
        if isinstance(payload, dict):
            error = payload.get("error")
            if isinstance(error, dict) and error.get("message"):
                return str(error["message"])[:300]
            if payload.get("message"):
                return str(payload["message"])[:300]
        return text[:300] or "empty answer"

    async def _send(self, txs: list[bytes]) -> str: ...


class Jito(Engine):
    name = "jito"
    tip_accounts = JITO_TIP_ACCOUNTS
    min_tip_lamports = JITO_MIN_TIP_LAMPORTS

    async def _rpc(self, method: str, params: list[Any]) -> Any:
        headers = {"x-jito-auth": self.auth} if self.auth else {}
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
        payload = await self._post("/api/v1/bundles", body, headers)
        if not isinstance(payload, dict) or "result" not in payload:
            raise EngineFailure("rejected", f"jito: {self._message(payload, '')}")
        return payload["result"]

    async def _send(self, txs: list[bytes]) -> str:
        return str(
            await self._rpc("sendBundle", [[_b64(tx) for tx in txs], {"encoding": "base64"}])
        )

    # Jito is the one engine that reports on bundles; these raise EngineFailure (or
    # TimeoutError) rather than answer a receipt: they are queries, not submissions.
    async def bundle_statuses(self, bundle_ids: list[str], timeout: float) -> dict[str, Any]:
        """getBundleStatuses: per id, {slot, transactions, confirmation_status, err} once
        landed, else None."""
        answer = await asyncio.wait_for(self._rpc("getBundleStatuses", [bundle_ids]), timeout)
        return dict(zip(bundle_ids, answer["value"], strict=True))

    async def inflight_bundle_statuses(self, bundle_ids: list[str], timeout: float) -> dict:
        """getInflightBundleStatuses: per id, Pending | Landed | Failed | Invalid (unknown
        or older than the engine's five-minute look-back)."""
        answer = await asyncio.wait_for(
            self._rpc("getInflightBundleStatuses", [bundle_ids]), timeout
        )
        return {entry["bundle_id"]: entry["status"] for entry in answer["value"]}

    async def fetch_tip_accounts(self, timeout: float) -> list[str]:
        """getTipAccounts: the engine's own list (mainnet's is fixed; a check at start-up)."""
        return [str(a) for a in await asyncio.wait_for(self._rpc("getTipAccounts", []), timeout)]


class _Relay(Engine):
    """bloXroute and NextBlock: grpc-gateway JSON, one transaction or an atomic batch."""

    batch_extra: ClassVar[dict[str, Any]] = {}

    async def _send(self, txs: list[bytes]) -> str:
        headers = {"Authorization": self.auth} if self.auth else {}
        if len(txs) == 1:
            payload = await self._post(
                "/api/v2/submit", {"transaction": {"content": _b64(txs[0])}}, headers
            )
            return str(payload.get("uuid") or payload.get("signature"))
        body = {
            "entries": [{"transaction": {"content": _b64(tx)}} for tx in txs],
            **self.batch_extra,
        }
        payload = await self._post("/api/v2/submit-batch", body, headers)
        if "transactions" in payload:
            failed = [t.get("error") for t in payload["transactions"] if not t.get("submitted")]
            if failed:
                raise EngineFailure("rejected", f"{self.name}: {failed[0]}")
            return str(payload["transactions"][0].get("signature"))
        return str(payload.get("signature"))


class Bloxroute(_Relay):
    name = "bloxroute"
    tip_accounts = BLOXROUTE_TIP_ACCOUNTS
    min_tip_lamports = BLOXROUTE_MIN_TIP_LAMPORTS
    batch_extra = {"useBundle": True}


class NextBlock(_Relay):
    name = "nextblock"
    tip_accounts = NEXTBLOCK_TIP_ACCOUNTS
    min_tip_lamports = NEXTBLOCK_MIN_TIP_LAMPORTS


ENGINE_NAMES = ("jito", "bloxroute", "nextblock")


def engine(name: str) -> Engine:
    """The configured client of one engine."""
    if name == "jito":
        return Jito(settings.JITO_URL, settings.JITO_UUID)
    if name == "bloxroute":
        return Bloxroute(settings.BLOXROUTE_URL, settings.BLOXROUTE_AUTH)
    if name == "nextblock":
        return NextBlock(settings.NEXTBLOCK_URL, settings.NEXTBLOCK_AUTH)
    raise ValueError(f"unknown engine {name!r}; one of {', '.join(ENGINE_NAMES)}")


def enabled_engines() -> list[str]:
    return [name for name in settings.ENGINES_ENABLED if name in ENGINE_NAMES]


async def submit_everywhere(copies: dict[str, list[bytes]]) -> dict[str, EngineReceipt]:
    """Each engine its own copy, all at once; a receipt per engine, whatever the others do."""
    timeout = settings.ENGINE_TIMEOUT_SECONDS
    names = list(copies)
    receipts = await asyncio.gather(*(engine(name).submit(copies[name], timeout) for name in names))
    return dict(zip(names, receipts, strict=True))


def record_landing(name: str, seconds: float) -> None:
    LANDED.labels(name).inc()
    LANDING_SECONDS.labels(name).observe(seconds)
