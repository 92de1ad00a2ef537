"""The JSON-RPC 2.0 envelope shared by the HTTP RPC and the WebSocket pubsub.

Both are served by jsonrpc-core in Agave, so envelope faults read the same on either:
-32700 "Parse error", -32600 "Invalid request", -32601 "Method not found", and
"Invalid params" when `params` is not a list. A request without an "id" is a
notification: it runs but gets no answer, alone or in a batch.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from .errors import (
    INTERNAL_ERROR,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    RpcError,
    invalid_params,
)

log = logging.getLogger(__name__)

# A method handler: called as handler(*context, params) with the request's params list.
Handlers = Mapping[str, Callable[..., Any]]


def dumps(value: Any) -> str:
    """Compact JSON, as the validator writes it."""
    return json.dumps(value, separators=(",", ":"))


def answer(body: str | bytes, handlers: Handlers, *context: Any, service: str) -> Any:
    """Answer one HTTP body or text frame: a request or a batch.

    Returns the response object, the list of a batch's responses, or None when nothing
    is owed (notifications only). `context` goes before `params` in every handler call.
    """
    try:
        request = json.loads(body)
    except (ValueError, RecursionError):  # serde_json also refuses deep nesting
        return RpcError(PARSE_ERROR, "Parse error").response()
    if isinstance(request, list):
        if not request:
            return RpcError(INVALID_REQUEST, "Invalid request").response()
        replies = [answer_request(item, handlers, *context, service=service) for item in request]
        return [reply for reply in replies if reply is not None] or None
    return answer_request(request, handlers, *context, service=service)


def answer_request(
    request: Any, handlers: Handlers, *context: Any, service: str
) -> dict[str, Any] | None:
    """Answer one request object; None for a notification (no "id")."""
    if (
        not isinstance(request, dict)
        or request.get("jsonrpc") != "2.0"
        or not isinstance(request.get("method"), str)
        or not isinstance(request.get("id"), (str, int, type(None)))
        or isinstance(request.get("id"), bool)
    ):
        request_id = request.get("id") if isinstance(request, dict) else None
        if isinstance(request_id, (dict, list, bool, float)):
            request_id = None
        return RpcError(INVALID_REQUEST, "Invalid request").response(request_id)
    request_id = request.get("id")
    handler = handlers.get(request["method"])
    if handler is None:
        response = RpcError(METHOD_NOT_FOUND, "Method not found").response(request_id)
    else:
        try:
            params = request.get("params")
            if params is None:
                params = []
            if not isinstance(params, list):
                raise invalid_params("Invalid params: invalid type: map, expected a sequence.")
            result = handler(*context, params)
            response = {"jsonrpc": "2.0", "result": result, "id": request_id}
        except RpcError as exc:
            response = exc.response(request_id)
        except Exception:  # a bug must cost one request, never the server or the connection
            log.exception("localnet %s %s failed", service, request["method"])
            response = RpcError(INTERNAL_ERROR, "Internal error").response(request_id)
    return None if "id" not in request else response
