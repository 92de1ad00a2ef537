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


async def rpc_call(
    url: str, method: str, params: list | None = None, *, timeout: float = DEFAULT_TIMEOUT
) -> Any:
    payload: dict[str, Any] = {"jsonrpc": "2.0", "id": next(_ids), "method": method}
    if params is not None:
        payload["params"] = params
    try:
        async with http_session().post(
            url,
            data=json.dumps(payload),
            headers=JSON_HEADERS,
            timeout=aiohttp.ClientTimeout(total=timeout),
        ) as response:
            raw = await response.read()
        body = json.loads(raw)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        name = (
            "Timeout"
            if isinstance(exc, TimeoutError | asyncio.TimeoutError)
            else type(exc).__name__
        )
        raise RpcUnavailable(f"{redact_url(url)}: {name}") from exc
    if not isinstance(body, dict):
        raise RpcUnavailable(f"{redact_url(url)}: not a JSON-RPC response")
    if "error" in body:
        err = body["error"] if isinstance(body["error"], dict) else {}
        raise RpcError(err.get("code", 0), err.get("message", ""), err.get("data"))
    return body.get("result")


class Endpoint:
    """One upstream RPC URL as an RpcClient."""

    def __init__(self, url: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.url = url
        self.timeout = timeout

    @property
    def name(self) -> str:
        """The URL without path or query (where API keys live): safe to log and show."""
        return redact_url(self.url)

    async def call(
        self, method: str, params: list[Any] | None = None, *, timeout: float | None = None
    ) -> Any:
        return await rpc_call(self.url, method, params, timeout=timeout or self.timeout)


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
