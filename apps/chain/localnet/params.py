"""Reading JSON-RPC params the way the validator does, with its error texts.

Agave parses params with serde through jsonrpc-core, so a wrong type reads
"Invalid params: invalid type: integer `5`, expected a string." and a bad key reads
"Invalid param: Invalid". Clients and our tests match on those strings.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from solders.hash import Hash
from solders.message import Message, MessageV0, from_bytes_versioned
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import VersionedTransaction

from .b58 import b58decode
from .chain import COMMITMENTS, Chain
from .errors import invalid_params, min_context_slot_not_reached

PACKET_DATA_SIZE = 1232
MAX_BASE58_SIZE = 1683
MAX_BASE64_SIZE = 1644
_TX_TYPE = "solana_transaction::versioned::VersionedTransaction"
_COMMITMENT_ALIASES = {
    "processed": "processed",
    "recent": "processed",
    "confirmed": "confirmed",
    "single": "confirmed",
    "singleGossip": "confirmed",
    "finalized": "finalized",
    "root": "finalized",
    "max": "finalized",
}


def describe(value: Any) -> str:
    """serde's `Unexpected` rendering of a JSON value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean `{str(value).lower()}`"
    if isinstance(value, int):
        return f"integer `{value}`"
    if isinstance(value, float):
        return f"floating point `{value}`"
    if isinstance(value, str):
        return f'string "{value}"'
    if isinstance(value, list):
        return "sequence"
    return "map"


def type_error(value: Any, expected: str) -> Exception:
    return invalid_params(f"Invalid params: invalid type: {describe(value)}, expected {expected}.")


def require(params: list[Any], count: int) -> None:
    if len(params) < count:
        raise invalid_params(f"`params` should have at least {count} argument(s)")


def string_arg(params: list[Any], index: int) -> str:
    value = params[index]
    if not isinstance(value, str):
        raise type_error(value, "a string")
    return value


def u64_arg(params: list[Any], index: int) -> int:
    value = params[index]
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**64:
        raise type_error(value, "u64")
    return value


def list_arg(params: list[Any], index: int, *, max_len: int | None = None) -> list[Any]:
    value = params[index] if index < len(params) else None
    if not isinstance(value, list):
        raise type_error(value, "a sequence")
    if max_len is not None and len(value) > max_len:
        raise invalid_params(f"Too many inputs provided; max {max_len}")
    return value


def config_arg(params: list[Any], index: int) -> dict[str, Any]:
    value = params[index] if index < len(params) else None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise type_error(value, "a map")
    return value


def _decode_fixed(value: Any, size: int, max_chars: int) -> bytes:
    # Same order as solana's FromStr impls: too long -> WrongSize, bad char -> Invalid,
    # wrong decoded length -> WrongSize.
    if not isinstance(value, str):
        raise type_error(value, "a string")
    if len(value) > max_chars:
        raise invalid_params("Invalid param: WrongSize")
    try:
        raw = b58decode(value)
    except ValueError:
        raise invalid_params("Invalid param: Invalid") from None
    if len(raw) != size:
        raise invalid_params("Invalid param: WrongSize")
    return raw


def pubkey(value: Any) -> Pubkey:
    return Pubkey.from_bytes(_decode_fixed(value, 32, 44))


def signature(value: Any) -> Signature:
    return Signature.from_bytes(_decode_fixed(value, 64, 88))


def blockhash(value: Any) -> Hash:
    return Hash.from_bytes(_decode_fixed(value, 32, 44))


def commitment(cfg: dict[str, Any], default: str = "finalized") -> str:
    value = cfg.get("commitment")
    if value is None:
        return default
    if value not in _COMMITMENT_ALIASES:
        raise invalid_params(
            f"Invalid params: unknown variant `{value}`, expected one of "
            "`processed`, `confirmed`, `finalized`."
        )
    return _COMMITMENT_ALIASES[value]


def context_slot(chain: Chain, cfg: dict[str, Any], default: str = "finalized") -> int:
    """The slot a read at the config's commitment sees, enforcing minContextSlot."""
    slot = chain.commitment_slot(commitment(cfg, default))
    min_slot = cfg.get("minContextSlot")
    if min_slot is not None:
        if isinstance(min_slot, bool) or not isinstance(min_slot, int):
            raise type_error(min_slot, "u64")
        if slot < min_slot:
            raise min_context_slot_not_reached(slot)
    return slot


def at_least_confirmed(cfg: dict[str, Any]) -> str:
    level = commitment(cfg)
    if COMMITMENTS.index(level) < COMMITMENTS.index("confirmed"):
        raise invalid_params("Method does not support commitment below `confirmed`")
    return level


def decode_binary(data: Any, encoding: str, max_size: dict[str, int], what: str) -> bytes:
    if not isinstance(data, str):
        raise type_error(data, "a string")
    if encoding == "base58":
        if len(data) > max_size["base58"]:
            raise invalid_params(
                f"base58 encoded {what} too large: {len(data)} bytes "
                f"(max: encoded/raw {max_size['base58']}/{PACKET_DATA_SIZE})"
            )
        try:
            raw = b58decode(data)
        except ValueError as exc:
            raise invalid_params(f"invalid base58 encoding: {exc}") from None
    elif encoding == "base64":
        if len(data) > max_size["base64"]:
            raise invalid_params(
                f"base64 encoded {what} too large: {len(data)} bytes "
                f"(max: encoded/raw {max_size['base64']}/{PACKET_DATA_SIZE})"
            )
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise invalid_params(f"invalid base64 encoding: {exc}") from None
    else:
        raise invalid_params(
            f"unsupported encoding: {encoding}. Supported encodings: base58, base64"
        )
    if len(raw) > PACKET_DATA_SIZE:
        raise invalid_params(
            f"decoded {what} too large: {len(raw)} bytes (max: {PACKET_DATA_SIZE} bytes)"
        )
    return raw


_TX_LIMITS = {"base58": MAX_BASE58_SIZE, "base64": MAX_BASE64_SIZE}


def transaction(data: Any, encoding: Any) -> VersionedTransaction:
    """Decode, deserialize and sanitize a wire transaction as sendTransaction does."""
    enc = "base58" if encoding is None else encoding
    if not isinstance(enc, str):
        raise type_error(enc, "a string")
    raw = decode_binary(data, enc, _TX_LIMITS, _TX_TYPE)
    try:
        tx = VersionedTransaction.from_bytes(raw)
    except Exception as exc:  # solders raises its own error types for bincode failures
        raise invalid_params(f"failed to deserialize {_TX_TYPE}: {exc}") from None
    try:
        tx.sanitize()
    except Exception:
        raise invalid_params(
            "invalid transaction: Transaction failed to sanitize accounts offsets correctly"
        ) from None
    if len(tx.signatures) != tx.message.header.num_required_signatures:
        raise invalid_params(
            "invalid transaction: Transaction failed to sanitize accounts offsets correctly"
        )
    return tx


def message(data: Any) -> Message | MessageV0:
    raw = decode_binary(data, "base64", _TX_LIMITS, "solana_message::versions::VersionedMessage")
    try:
        return from_bytes_versioned(raw)
    except Exception as exc:
        raise invalid_params(
            f"failed to deserialize solana_message::versions::VersionedMessage: {exc}"
        ) from None
