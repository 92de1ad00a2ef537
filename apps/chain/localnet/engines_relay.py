"""bloXroute's Trader API and NextBlock's submit API (`/api/v2/submit`, `/api/v2/submit-batch`).

Both are gRPC services behind grpc-gateway, so their HTTP errors are grpc-gateway's
`{"code": <gRPC code>, "message": ..., "details": []}` with the matching HTTP status
(InvalidArgument 3 -> 400, Unauthenticated 16 -> 401, ResourceExhausted 8 -> 429,
Internal 13 -> 500), and responses emit unpopulated fields (`"error": ""`). The message
texts are ours: neither service documents them.

bloXroute: every transaction must tip one of its accounts (>= 0.001 SOL); a batch holds at
most 25 entries, or 4 with `useBundle` (one atomic bundle, tip anywhere in it; the docs ask
for it in the last transaction). NextBlock: `submit` takes one tipped transaction and
answers `{signature, uuid}`; `submit-batch` is an atomic bundle (at most 5, like the Jito
bundles it relays) answering `{signature}` of its first transaction.
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

from solders.transaction import VersionedTransaction

from apps.chain.block_engines import (
    BLOXROUTE_MIN_TIP_LAMPORTS,
    BLOXROUTE_TIP_ACCOUNTS,
    NEXTBLOCK_MIN_TIP_LAMPORTS,
    NEXTBLOCK_TIP_ACCOUNTS,
)

from .engines_core import BlockEngine, Request, Response, json_response
from .params import PACKET_DATA_SIZE

INVALID_ARGUMENT, RESOURCE_EXHAUSTED, INTERNAL, UNAUTHENTICATED = 3, 8, 13, 16
_HTTP_STATUS = {INVALID_ARGUMENT: 400, RESOURCE_EXHAUSTED: 429, INTERNAL: 500, UNAUTHENTICATED: 401}


class GatewayError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def _error(code: int, message: str) -> Response:
    return json_response(_HTTP_STATUS[code], {"code": code, "message": message, "details": []})


class RelayEngine(BlockEngine):
    """The grpc-gateway plumbing both relays share."""

    max_batch = 25
    max_bundle = 4

    def rate_limited(self) -> Response:
        return _error(RESOURCE_EXHAUSTED, "rate limit exceeded")

    def internal_error(self) -> Response:
        return _error(INTERNAL, "internal error")

    def handle(self, request: Request) -> Response:
        path = request.path.rstrip("/")
        if path not in ("/api/v2/submit", "/api/v2/submit-batch"):
            return Response(404, b"Not Found", "text/plain")
        if request.method != "POST":
            return Response(405, b"Method Not Allowed", "text/plain")
        if self.auth is not None and request.headers.get("authorization") != self.auth:
            return _error(UNAUTHENTICATED, "invalid authorization header")
        try:
            body = _json_object(request.body)
            value = self.submit(body) if path == "/api/v2/submit" else self.submit_batch(body)
        except GatewayError as exc:
            return _error(exc.code, exc.message)
        return json_response(200, value)

    def submit(self, body: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def submit_batch(self, body: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    # ---- shared checks -------------------------------------------------------------

    def decode_entry(self, entry: Any, where: str) -> VersionedTransaction:
        if not isinstance(entry, dict):
            raise GatewayError(INVALID_ARGUMENT, f"{where}: expected an object")
        message = entry.get("transaction")
        if not isinstance(message, dict):
            raise GatewayError(INVALID_ARGUMENT, f"{where}.transaction: expected an object")
        content = message.get("content")
        if not isinstance(content, str) or not content:
            raise GatewayError(
                INVALID_ARGUMENT, f"{where}.transaction.content: required base64 string"
            )
        try:
            raw = base64.b64decode(content, validate=True)
            if len(raw) > PACKET_DATA_SIZE:
                raise ValueError("too large")
            tx = VersionedTransaction.from_bytes(raw)
            tx.sanitize()
            if len(tx.signatures) != tx.message.header.num_required_signatures:
                raise ValueError("signature count")
        except Exception:
            raise GatewayError(INVALID_ARGUMENT, f"{where}: failed to decode transaction") from None
        if not all(tx.verify_with_results()):
            raise GatewayError(
                INVALID_ARGUMENT, f"{where}: transaction signature verification failed"
            )
        return tx

    def check_tip(self, txs: list[VersionedTransaction], where: str) -> None:
        if not self.pays_tip(txs):
            raise GatewayError(
                INVALID_ARGUMENT,
                f"{where}: a transfer of at least {self.min_tip_lamports} lamports to a "
                f"{self.display_name} tip account is required",
            )

    def entries(self, body: dict[str, Any], limit: int) -> list[Any]:
        entries = body.get("entries")
        if not isinstance(entries, list) or not entries:
            raise GatewayError(INVALID_ARGUMENT, "entries: at least one transaction is required")
        if len(entries) > limit:
            raise GatewayError(
                INVALID_ARGUMENT, f"entries: too many transactions: {len(entries)} > {limit}"
            )
        return entries

    display_name = ""


class BloxrouteEngine(RelayEngine):
    name = "bloxroute"
    display_name = "bloXroute"
    tip_accounts = BLOXROUTE_TIP_ACCOUNTS
    min_tip_lamports = BLOXROUTE_MIN_TIP_LAMPORTS
    max_batch = 25
    max_bundle = 4

    def submit(self, body: dict[str, Any]) -> dict[str, Any]:
        tx = self.decode_entry(body, "request")
        self.check_tip([tx], "transaction")
        self.accept([tx], atomic=False)
        return {"signature": str(tx.signatures[0])}

    def submit_batch(self, body: dict[str, Any]) -> dict[str, Any]:
        use_bundle = body.get("useBundle")
        if use_bundle is not None and not isinstance(use_bundle, bool):
            raise GatewayError(INVALID_ARGUMENT, "useBundle: expected a boolean")
        entries = self.entries(body, self.max_bundle if use_bundle else self.max_batch)
        if use_bundle:
            txs = [self.decode_entry(e, f"entries[{i}]") for i, e in enumerate(entries)]
            self.check_tip(txs, "bundle")
            self.accept(txs, atomic=True)
            return {
                "transactions": [
                    {"signature": str(tx.signatures[0]), "error": "", "submitted": True}
                    for tx in txs
                ]
            }
        # Without a bundle each entry stands alone: one bad entry fails only itself.
        results = []
        for i, entry in enumerate(entries):
            try:
                tx = self.decode_entry(entry, f"entries[{i}]")
                self.check_tip([tx], f"entries[{i}]")
            except GatewayError as exc:
                results.append({"signature": "", "error": exc.message, "submitted": False})
                continue
            self.accept([tx], atomic=False)
            results.append({"signature": str(tx.signatures[0]), "error": "", "submitted": True})
        return {"transactions": results}


class NextBlockEngine(RelayEngine):
    name = "nextblock"
    display_name = "NextBlock"
    tip_accounts = NEXTBLOCK_TIP_ACCOUNTS
    min_tip_lamports = NEXTBLOCK_MIN_TIP_LAMPORTS
    max_bundle = 5

    def submit(self, body: dict[str, Any]) -> dict[str, Any]:
        tx = self.decode_entry(body, "request")
        self.check_tip([tx], "transaction")
        self.accept([tx], atomic=False)
        return {"signature": str(tx.signatures[0]), "uuid": str(uuid.uuid4())}

    def submit_batch(self, body: dict[str, Any]) -> dict[str, Any]:
        entries = self.entries(body, self.max_bundle)
        txs = [self.decode_entry(e, f"entries[{i}]") for i, e in enumerate(entries)]
        self.check_tip(txs, "bundle")
        self.accept(txs, atomic=True)
        return {"signature": str(txs[0].signatures[0])}


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise GatewayError(INVALID_ARGUMENT, "request body is not valid JSON") from None
    if not isinstance(value, dict):
        raise GatewayError(INVALID_ARGUMENT, "request body must be a JSON object")
    return value
