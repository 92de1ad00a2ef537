"""The Jito block engine's JSON-RPC (`/api/v1/bundles`, `/api/v1/transactions`).

Shapes follow Jito's docs and answers seen from the live service: a rejected bundle is
HTTP 400 with a JSON-RPC error (code -32602, ``"data": null``), the rate limit is HTTP 429
with code -32097 "Network congested. Endpoint is globally rate limited.". Messages we
could not confirm word for word keep the phrases clients match on ("exceeded maximum
number of transactions", "could not be decoded", "must write lock at least one tip
account").
"""

from __future__ import annotations

import base64
import json
from typing import Any

from solders.transaction import VersionedTransaction

from apps.chain.block_engines import JITO_MIN_TIP_LAMPORTS, JITO_TIP_ACCOUNTS

from . import params as p
from .b58 import b58decode
from .engines_core import BlockEngine, Request, Response, Submission, json_response
from .errors import RpcError

MAX_BUNDLE_TRANSACTIONS = 5
MAX_STATUS_IDS = 5
RATE_LIMITED = -32097
_PARSE_ERROR, _INVALID_REQUEST, _METHOD_NOT_FOUND, _INVALID_PARAMS, _INTERNAL = (
    -32700,
    -32600,
    -32601,
    -32602,
    -32603,
)
# The newer docs also expose each bundle method under its own path.
_BUNDLE_METHODS = ("sendBundle", "getBundleStatuses", "getInflightBundleStatuses", "getTipAccounts")
_NO_TIP = "Bundles must write lock at least one tip account to be eligible for the auction."
_NO_TIP_TX = "Transaction must write lock at least one tip account"


class JitoError(Exception):
    def __init__(self, code: int, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def _error(code: int, message: str, request_id: Any = None, status: int = 400) -> Response:
    body = {
        "jsonrpc": "2.0",
        "error": {"code": code, "message": message, "data": None},
        "id": request_id,
    }
    return json_response(status, body)


class JitoEngine(BlockEngine):
    name = "jito"
    tip_accounts = JITO_TIP_ACCOUNTS
    min_tip_lamports = JITO_MIN_TIP_LAMPORTS

    def rate_limited(self) -> Response:
        return _error(
            RATE_LIMITED, "Network congested. Endpoint is globally rate limited.", None, 429
        )

    def internal_error(self) -> Response:
        return _error(_INTERNAL, "Internal error", None, 500)

    def handle(self, request: Request) -> Response:
        path = request.path.rstrip("/")
        if path == "/api/v1/transactions":
            kind = "transactions"
        elif path == "/api/v1/bundles":
            kind = "bundles"
        elif path.removeprefix("/api/v1/") in _BUNDLE_METHODS:
            kind = "bundles"
        else:
            return Response(404, b"Not Found", "text/plain")
        if request.method != "POST":
            return Response(405, b"Method Not Allowed", "text/plain")
        if self.auth is not None and self.auth not in (
            request.headers.get("x-jito-auth"),
            request.query.get("uuid"),
        ):
            return _error(_INVALID_REQUEST, "The supplied UUID is invalid", None, 401)
        if not request.headers.get("content-type", "").startswith("application/json"):
            return _error(_INVALID_REQUEST, "Invalid content type")
        try:
            call = json.loads(request.body)
        except (ValueError, UnicodeDecodeError):
            return _error(_PARSE_ERROR, "Parse error")
        if (
            not isinstance(call, dict)
            or call.get("jsonrpc") != "2.0"
            or not isinstance(call.get("method"), str)
        ):
            request_id = call.get("id") if isinstance(call, dict) else None
            return _error(_INVALID_REQUEST, "Invalid request", _plain_id(request_id))
        request_id = _plain_id(call.get("id"))
        method = call["method"]
        params = call.get("params", [])
        if params is None:
            params = []
        headers: list[tuple[str, str]] = []
        try:
            if not isinstance(params, list):
                raise JitoError(
                    _INVALID_PARAMS, "Invalid params: invalid type: map, expected a sequence."
                )
            result = self._dispatch(kind, method, params, request.query, headers)
        except JitoError as exc:
            return _error(exc.code, exc.message, request_id, exc.status)
        except RpcError as exc:  # the validator's own decoding errors, for sendTransaction
            return _error(exc.code, exc.message, request_id)
        return json_response(200, {"jsonrpc": "2.0", "result": result, "id": request_id}, headers)

    def _dispatch(
        self,
        kind: str,
        method: str,
        params: list[Any],
        query: dict[str, str],
        headers: list[tuple[str, str]],
    ) -> Any:
        if kind == "transactions":
            if method != "sendTransaction":
                raise JitoError(_METHOD_NOT_FOUND, "Method not found")
            return self._send_transaction(params, query, headers)
        if method == "sendBundle":
            return self._send_bundle(params).bundle_id
        if method == "getBundleStatuses":
            return self._bundle_statuses(params)
        if method == "getInflightBundleStatuses":
            return self._inflight_statuses(params)
        if method == "getTipAccounts":
            return list(self.tip_accounts)
        raise JitoError(_METHOD_NOT_FOUND, "Method not found")

    # ---- submitting ----------------------------------------------------------------

    def _send_bundle(self, params: list[Any]) -> Submission:
        if not params:
            raise JitoError(_INVALID_PARAMS, "`params` should have at least 1 argument(s)")
        raw = params[0]
        if not isinstance(raw, list):
            raise JitoError(
                _INVALID_PARAMS,
                f"Invalid params: invalid type: {p.describe(raw)}, expected a sequence.",
            )
        if not raw:
            raise JitoError(_INVALID_PARAMS, "bundle must contain at least one transaction")
        if len(raw) > MAX_BUNDLE_TRANSACTIONS:
            raise JitoError(
                _INVALID_PARAMS,
                f"exceeded maximum number of transactions: {len(raw)} > {MAX_BUNDLE_TRANSACTIONS}",
            )
        encoding = _encoding(params)
        txs = [_decode(item, encoding, index) for index, item in enumerate(raw)]
        self._check_bundle(txs)
        if not self.pays_tip(txs):
            raise JitoError(_INVALID_PARAMS, _NO_TIP)
        return self.accept(txs, atomic=True)

    def _check_bundle(self, txs: list[VersionedTransaction]) -> None:
        for tx in txs:
            if not all(tx.verify_with_results()):
                raise JitoError(_INVALID_PARAMS, f"transaction {tx.signatures[0]} is invalid")
        for tx in txs:
            if not self.chain.lifetime_ok(tx):  # a recent blockhash or a durable nonce
                raise JitoError(_INVALID_PARAMS, "bundle contains an expired blockhash")
        signatures = [tx.signatures[0] for tx in txs]
        if len(set(signatures)) != len(signatures) or any(
            self.chain.transaction(sig) is not None for sig in signatures
        ):
            raise JitoError(_INVALID_PARAMS, "bundle contains an already processed transaction")

    def _send_transaction(
        self, params: list[Any], query: dict[str, str], headers: list[tuple[str, str]]
    ) -> str:
        p.require(params, 1)
        cfg = p.config_arg(params, 1)
        tx = p.transaction(params[0], cfg.get("encoding"))  # the validator's decoding errors
        if not all(tx.verify_with_results()):
            raise JitoError(_INVALID_PARAMS, f"transaction {tx.signatures[0]} is invalid")
        if not self.pays_tip([tx]):
            raise JitoError(_INVALID_PARAMS, _NO_TIP_TX)
        # bundleOnly=true: revert protection, the transaction travels as a one-tx bundle.
        bundle_only = query.get("bundleOnly", "").lower() == "true"
        submission = self.accept([tx], atomic=bundle_only)
        headers.append(("x-bundle-id", submission.bundle_id))
        return str(tx.signatures[0])

    # ---- statuses ------------------------------------------------------------------

    def _bundle_ids(self, params: list[Any]) -> list[str]:
        if not params:
            raise JitoError(_INVALID_PARAMS, "`params` should have at least 1 argument(s)")
        ids = params[0]
        if not isinstance(ids, list):
            raise JitoError(
                _INVALID_PARAMS,
                f"Invalid params: invalid type: {p.describe(ids)}, expected a sequence.",
            )
        if len(ids) > MAX_STATUS_IDS:
            raise JitoError(_INVALID_PARAMS, f"too many bundle ids provided; max {MAX_STATUS_IDS}")
        for bundle_id in ids:
            if not isinstance(bundle_id, str):
                raise JitoError(
                    _INVALID_PARAMS,
                    f"Invalid params: invalid type: {p.describe(bundle_id)}, expected a string.",
                )
        return ids

    def _bundle_statuses(self, params: list[Any]) -> dict[str, Any]:
        ids = self._bundle_ids(params)
        value = []
        for bundle_id in ids:
            submission = self.submission(bundle_id)
            if submission is None or submission.state != "Landed" or submission.landed_slot is None:
                value.append(None)
                continue
            status, _ = self.chain.confirmation_status(submission.landed_slot)
            value.append(
                {
                    "bundle_id": bundle_id,
                    "transactions": [str(s) for s in submission.signatures],
                    "slot": submission.landed_slot,
                    "confirmation_status": status,
                    "err": {"Ok": None},
                }
            )
        return {"context": {"slot": self.chain.slot}, "value": value}

    def _inflight_statuses(self, params: list[Any]) -> dict[str, Any]:
        ids = self._bundle_ids(params)
        value = []
        for bundle_id in ids:
            submission = self.submission(bundle_id)
            if submission is None or not self.in_lookback(submission):
                value.append({"bundle_id": bundle_id, "status": "Invalid", "landed_slot": None})
                continue
            value.append(
                {
                    "bundle_id": bundle_id,
                    "status": submission.state,
                    "landed_slot": submission.landed_slot if submission.state == "Landed" else None,
                }
            )
        return {"context": {"slot": self.chain.slot}, "value": value}


def _plain_id(request_id: Any) -> Any:
    if isinstance(request_id, (dict, list, bool, float)):
        return None
    return request_id


def _encoding(params: list[Any]) -> str:
    cfg = params[1] if len(params) > 1 else None
    if cfg is None:
        return "base58"  # Jito's default (deprecated, but still the default)
    if not isinstance(cfg, dict):
        raise JitoError(
            _INVALID_PARAMS, f"Invalid params: invalid type: {p.describe(cfg)}, expected a map."
        )
    encoding = cfg.get("encoding") or "base58"
    if encoding not in ("base58", "base64"):
        raise JitoError(
            _INVALID_PARAMS,
            f"unsupported encoding: {encoding}. Supported encodings: base58, base64",
        )
    return encoding


def _decode(item: Any, encoding: str, index: int) -> VersionedTransaction:
    try:
        if not isinstance(item, str):
            raise ValueError("not a string")
        raw = b58decode(item) if encoding == "base58" else base64.b64decode(item, validate=True)
        if len(raw) > p.PACKET_DATA_SIZE:
            raise ValueError("too large")
        tx = VersionedTransaction.from_bytes(raw)
        tx.sanitize()
        if len(tx.signatures) != tx.message.header.num_required_signatures:
            raise ValueError("signature count")
    except Exception:  # solders raises its own types for bincode failures
        raise JitoError(_INVALID_PARAMS, f"transaction #{index} could not be decoded") from None
    return tx
