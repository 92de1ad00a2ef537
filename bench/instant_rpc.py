"""A Solana JSON-RPC upstream that answers instantly from recorded responses.

`bench/read_api.py` records real answers from a localnet (so every shape is a
validator's), writes them to a JSON file and serves this app under granian with
INSTANT_RPC_FILE pointing at it. A request is answered by the recorded result for its
method and its first parameter (or, for getTokenAccountsByOwner, its program filter);
anything unrecorded gets -32601, so a benchmark that asks for something new fails loudly.
"""

from __future__ import annotations

import json
import os
from typing import Any


def request_key(method: str, params: Any) -> str:
    """What identifies a recorded answer: the method and what the call is about."""
    first = params[0] if isinstance(params, list) and params else None
    if method in ("getTokenAccountsByOwner", "getTokenAccountsByDelegate") and len(params) > 1:
        return f"{method}:{first}:{json.dumps(params[1], sort_keys=True)}"
    if isinstance(first, list):  # getMultipleAccounts, getSignatureStatuses
        return f"{method}:{','.join(map(str, first))}"
    if isinstance(first, str) and len(first) <= 64:
        return f"{method}:{first}"
    return method  # a transaction or a message: one answer per method


def _load() -> dict[str, bytes]:
    path = os.environ.get("INSTANT_RPC_FILE")
    if not path:
        return {}
    with open(path) as handle:
        recorded = json.load(handle)
    # Pre-encode each result once; the id is spliced in per request.
    return {
        key: json.dumps(result, separators=(",", ":")).encode() for key, result in recorded.items()
    }


RESULTS = _load()
NOT_RECORDED = b'{"code":-32601,"message":"Method not found"}'


def _answer(request: Any) -> bytes:
    try:
        key = request_key(request.get("method", ""), request.get("params", []))
        request_id = json.dumps(request.get("id")).encode()
    except (AttributeError, TypeError):
        key, request_id = "", b"null"
    result = RESULTS.get(key)
    if result is None:
        return b'{"jsonrpc":"2.0","error":' + NOT_RECORDED + b',"id":' + request_id + b"}"
    return b'{"jsonrpc":"2.0","result":' + result + b',"id":' + request_id + b"}"


async def app(scope: dict, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    try:
        request = json.loads(body)
    except ValueError:
        request = None
    if isinstance(request, list):  # a JSON-RPC batch: one answer per call, same order
        payload = b"[" + b",".join(_answer(item) for item in request) + b"]"
    else:
        payload = _answer(request)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": payload})
