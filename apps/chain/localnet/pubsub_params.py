"""Reading the pubsub *Subscribe params the way Agave's pubsub does, with its error texts.

The generic readers (types, commitment, base58 keys) live in params.py; what is here is
pubsub's own: its "Invalid Request: Invalid pubkey provided" wording, programSubscribe
filters (compiled to predicates over account data) and logsSubscribe's filter enum.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any, TypedDict, TypeVar

from solders.pubkey import Pubkey
from solders.signature import Signature

from . import params as p
from .b58 import b58decode
from .encoding import check_account_encoding, slice_data
from .errors import RpcError, invalid_params
from .records import is_token_account_data

MAX_PROGRAM_FILTERS = 4
MAX_FILTER_BYTES, MAX_FILTER_BASE58, MAX_FILTER_BASE64 = 128, 175, 172
_LOGS_FILTERS = "`all`, `allWithVotes`, `mentions`"

T = TypeVar("T")
AccountDataFilter = Callable[[bytes], bool]


class AccountView(TypedDict):
    """How an account or program subscription wants accounts shown."""

    commitment: str
    encoding: str
    data_slice: dict[str, Any] | None


def subject_and_config(params: list[Any], parse: Callable[[Any], T]) -> tuple[T, dict[str, Any]]:
    """Every *Subscribe takes what it watches first, then an optional config object."""
    p.require(params, 1)
    subject = parse(params[0])
    return subject, p.config_arg(params, 1)


def _parsed(value: Any, parse: Callable[[Any], T], thing: str) -> T:
    """A base58 param, with Agave's pubsub wording when it does not parse."""
    if not isinstance(value, str):
        raise p.type_error(value, "a string")
    try:
        return parse(value)
    except RpcError:
        raise invalid_params(f"Invalid Request: Invalid {thing} provided") from None


def pubkey(value: Any) -> Pubkey:
    return _parsed(value, p.pubkey, "pubkey")


def signature(value: Any) -> Signature:
    return _parsed(value, p.signature, "signature")


def account_view(cfg: dict[str, Any]) -> AccountView:
    return AccountView(
        commitment=p.commitment(cfg),
        encoding=check_account_encoding(cfg.get("encoding")),
        data_slice=_data_slice(cfg.get("dataSlice")),
    )


def notify_received(cfg: dict[str, Any]) -> bool:
    received = cfg.get("enableReceivedNotification")
    if received is not None and not isinstance(received, bool):
        raise p.type_error(received, "a boolean")
    return bool(received)


def _data_slice(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise p.type_error(value, "struct UiDataSliceConfig")
    slice_data(b"", value)  # raises now rather than in every notification
    return value


def logs_filter(value: Any) -> Pubkey | None:
    """The one address logsSubscribe's `mentions` names; None for every transaction."""
    if value in ("all", "allWithVotes"):  # the localnet has no vote transactions
        return None
    if isinstance(value, str):
        raise invalid_params(
            f"Invalid params: unknown variant `{value}`, expected one of {_LOGS_FILTERS}."
        )
    if not isinstance(value, dict) or len(value) != 1:
        raise p.type_error(value, "enum RpcTransactionLogsFilter")
    [(variant, keys)] = value.items()
    if variant != "mentions":
        raise invalid_params(
            f"Invalid params: unknown variant `{variant}`, expected one of {_LOGS_FILTERS}."
        )
    if not isinstance(keys, list):
        raise p.type_error(keys, "a sequence")
    if len(keys) != 1:
        raise invalid_params("Invalid Request: Only 1 address supported")
    return _parsed(keys[0], p.pubkey, "mentions")


def program_filters(value: Any) -> list[AccountDataFilter]:
    """programSubscribe's `filters`: every predicate must accept an account's data."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise p.type_error(value, "a sequence")
    if len(value) > MAX_PROGRAM_FILTERS:
        # Agave's programSubscribe prefixes the RPC error's text with its code's name.
        raise invalid_params(
            f"Invalid params: Too many filters provided; max {MAX_PROGRAM_FILTERS}"
        )
    return [_program_filter(f) for f in value]


def _program_filter(value: Any) -> AccountDataFilter:
    if value == "tokenAccountState":
        return is_token_account_data
    if not isinstance(value, dict) or len(value) != 1:
        raise p.type_error(value, "enum RpcFilterType")
    [(kind, arg)] = value.items()
    if kind == "dataSize":
        if isinstance(arg, bool) or not isinstance(arg, int) or arg < 0:
            raise p.type_error(arg, "u64")
        return lambda data: len(data) == arg
    if kind != "memcmp":
        raise invalid_params(
            f"Invalid params: unknown variant `{kind}`, expected one of "
            "`dataSize`, `memcmp`, `tokenAccountState`."
        )
    if not isinstance(arg, dict):
        raise p.type_error(arg, "struct Memcmp")
    offset = arg.get("offset")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise p.type_error(offset, "usize")
    expected = _memcmp_bytes(arg.get("bytes"), arg.get("encoding"))
    return lambda data: data[offset : offset + len(expected)] == expected


def _memcmp_bytes(raw: Any, encoding: Any) -> bytes:
    too_large = invalid_params("Invalid params: Invalid param: DataTooLarge")
    if isinstance(raw, list):
        if not all(isinstance(b, int) and 0 <= b < 256 for b in raw):
            raise p.type_error(raw, "a sequence of u8")
        if len(raw) > MAX_FILTER_BYTES:
            raise too_large
        return bytes(raw)
    if not isinstance(raw, str):
        raise p.type_error(raw, "a string or a sequence of u8")
    if encoding in (None, "base58", "binary"):
        if len(raw) > MAX_FILTER_BASE58:
            raise too_large
        try:
            decoded = b58decode(raw)
        except ValueError:
            raise invalid_params("Invalid params: Invalid param: Base58DecodeError") from None
    elif encoding == "base64":
        if len(raw) > MAX_FILTER_BASE64:
            raise too_large
        try:
            decoded = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise invalid_params("Invalid params: Invalid param: Base64DecodeError") from None
    else:
        raise invalid_params(
            f"Invalid params: unknown variant `{encoding}`, expected one of "
            "`base58`, `base64`, `bytes`."
        )
    if len(decoded) > MAX_FILTER_BYTES:
        raise too_large
    return decoded
