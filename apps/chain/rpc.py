"""Minimal Solana JSON-RPC call over the shared client (the pool grows on this)."""

from __future__ import annotations

import itertools
from typing import Any

import httpx

from apps.chain.http import http_client

_ids = itertools.count(1)


class RpcError(Exception):
    """The endpoint answered with a JSON-RPC error."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.data = data


class RpcUnavailable(Exception):
    """The endpoint did not answer (connection refused, timeout, non-JSON reply)."""


async def rpc_call(url: str, method: str, params: list | None = None, *,
                   timeout: float = 2.0) -> Any:
    payload = {"jsonrpc": "2.0", "id": next(_ids), "method": method}
    if params is not None:
        payload["params"] = params
    try:
        response = await http_client().post(url, json=payload, timeout=timeout)
        body = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise RpcUnavailable(type(exc).__name__) from exc
    if "error" in body:
        err = body["error"]
        raise RpcError(err.get("code", 0), err.get("message", ""), err.get("data"))
    return body.get("result")
