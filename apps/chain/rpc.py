"""Solana JSON-RPC calls: one endpoint (`Endpoint`), and the contract every client meets.

Services take an `RpcClient` (the pool in rpc_pool.py in production, one `Endpoint` in a
test) and call `await rpc.call(method, params)`; they get the `result` or one of two
errors: `RpcError` (the node answered with a JSON-RPC error: bad params, preflight
failure...) or `RpcUnavailable` (no usable answer: refused, timed out, not JSON).
"""

from __future__ import annotations

import asyncio
import itertools
import json
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp

from apps.chain.http import http_session, redact_url

_ids = itertools.count(1)
DEFAULT_TIMEOUT = 2.0
JSON_HEADERS = {"Content-Type": "application/json"}


class RpcError(Exception):
    """The endpoint answered with a JSON-RPC error."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.data = data


class RpcUnavailable(Exception):
    """The endpoint did not answer (connection refused, timeout, non-JSON reply)."""


class RpcClient(Protocol):
    async def call(
        self, method: str, params: list[Any] | None = None, *, timeout: float | None = None
    ) -> Any: ...


async def _post(url: str, payload: Any, timeout: float) -> Any:
    """POST one JSON-RPC body (object or batch); the decoded reply, or RpcUnavailable."""
    try:
        async with http_session().post(
            url,
            data=json.dumps(payload),
            headers=JSON_HEADERS,
            timeout=aiohttp.ClientTimeout(total=timeout),
        ) as response:
            raw = await response.read()
        return json.loads(raw)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        name = "Timeout" if isinstance(exc, TimeoutError) else type(exc).__name__
        raise RpcUnavailable(f"{redact_url(url)}: {name}") from exc


def _result(url: str, body: Any) -> Any:
    """The `result` of one JSON-RPC response object, or the error it carries."""
    if not isinstance(body, dict):
        raise RpcUnavailable(f"{redact_url(url)}: not a JSON-RPC response")
    if "error" in body:
        err = body["error"] if isinstance(body["error"], dict) else {}
        raise RpcError(err.get("code", 0), err.get("message", ""), err.get("data"))
    return body.get("result")


async def rpc_call(
    url: str, method: str, params: list | None = None, *, timeout: float = DEFAULT_TIMEOUT
) -> Any:
    payload: dict[str, Any] = {"jsonrpc": "2.0", "id": next(_ids), "method": method}
    if params is not None:
        payload["params"] = params
    return _result(url, await _post(url, payload, timeout))


# Calls issued in the same event-loop turn (a service's asyncio.gather, concurrent API
# requests) travel as one JSON-RPC batch: one HTTP round trip and one parse instead of
# several. Writes always go alone, so a batch never mixes a send with reads.
MAX_BATCH = 20
UNBATCHED_METHODS = {"sendTransaction", "requestAirdrop"}


@dataclass
class _Pending:
    payload: dict[str, Any]
    timeout: float
    future: asyncio.Future[Any]


class Endpoint:
    """One upstream RPC URL as an RpcClient, batching concurrent reads."""

    def __init__(self, url: str, *, timeout: float = DEFAULT_TIMEOUT, batching: bool = True):
        self.url = url
        self.timeout = timeout
        self.batching = batching
        self.requests_sent = 0  # HTTP requests, for tests and the health view
        self._queued: dict[asyncio.AbstractEventLoop, list[_Pending]] = {}
        self._name = redact_url(url)  # read on every call by the pool's health and metrics

    @property
    def name(self) -> str:
        """The URL without path or query (where API keys live): safe to log and show."""
        return self._name

    async def call(
        self, method: str, params: list[Any] | None = None, *, timeout: float | None = None
    ) -> Any:
        timeout = timeout or self.timeout
        if not self.batching or method in UNBATCHED_METHODS:
            self.requests_sent += 1
            return await rpc_call(self.url, method, params, timeout=timeout)
        payload: dict[str, Any] = {"jsonrpc": "2.0", "id": next(_ids), "method": method}
        if params is not None:
            payload["params"] = params
        loop = asyncio.get_running_loop()
        queue = self._queued.get(loop)
        if queue is None:
            queue = self._queued[loop] = []
            loop.call_soon(self._flush, loop)
        pending = _Pending(payload, timeout, loop.create_future())
        queue.append(pending)
        return await pending.future

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        queue = self._queued.pop(loop, [])
        for start in range(0, len(queue), MAX_BATCH):
            loop.create_task(self._send(queue[start : start + MAX_BATCH]))

    async def _send(self, batch: list[_Pending]) -> None:
        self.requests_sent += 1
        timeout = max(p.timeout for p in batch)
        try:
            if len(batch) == 1:
                replies: dict[Any, Any] = {
                    batch[0].payload["id"]: await _post(self.url, batch[0].payload, timeout)
                }
            else:
                body = await _post(self.url, [p.payload for p in batch], timeout)
                if not isinstance(body, list):
                    # A node that refuses batches answers one error object: no usable answer.
                    raise RpcUnavailable(f"{self.name}: batch refused")
                replies = {r.get("id"): r for r in body if isinstance(r, dict)}
        except BaseException as exc:
            for pending in batch:
                if not pending.future.done():
                    pending.future.set_exception(exc)
            return
        for pending in batch:
            if pending.future.done():
                continue  # its caller gave up (cancelled)
            try:
                reply = replies.get(pending.payload["id"])
                if reply is None:
                    raise RpcUnavailable(f"{self.name}: no answer for a batched call")
                pending.future.set_result(_result(self.url, reply))
            except (RpcError, RpcUnavailable) as exc:
                pending.future.set_exception(exc)


def context_value(answer: Any, method: str) -> tuple[int, Any]:
    """(context.slot, value) of an RpcResponse-shaped answer; a malformed one is no usable
    answer (RpcUnavailable), so the pool's callers never index into garbage."""
    if (
        not isinstance(answer, dict)
        or not isinstance(answer.get("context"), dict)
        or not isinstance(answer["context"].get("slot"), int)
        or isinstance(answer["context"]["slot"], bool)
        or "value" not in answer
    ):
        raise RpcUnavailable(f"malformed {method} answer from the upstream")
    return answer["context"]["slot"], answer["value"]
