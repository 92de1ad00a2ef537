"""Shaping accounts and transactions into the validator's JSON (UiAccount, UiTransaction...)."""

from __future__ import annotations

import base64
import struct
from collections.abc import Callable
from typing import Any

from solders.account import Account
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction

from .b58 import b58encode
from .errors import INVALID_REQUEST, RpcError, invalid_params
from .records import TokenBalance, TxRecord
from .token_parsing import TOKEN_PROGRAMS, json_parsed_data, ui_token_amount

try:  # zstandard is optional; without it we still emit valid (uncompressed) zstd frames
    import zstandard as _zstd
except ImportError:  # pragma: no cover - depends on the environment
    _zstd = None

ACCOUNT_ENCODINGS = ("base58", "base64", "base64+zstd", "jsonParsed", "binary")
MAX_BASE58_BYTES = 128
RENT_EXEMPT_RENT_EPOCH = 2**64 - 1
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_ZSTD_MAX_BLOCK = 128 * 1024


def zstd_compress(data: bytes) -> bytes:
    """A zstd frame of `data`; raw blocks when the zstandard package is not installed.

    Raw blocks are part of the zstd format (RFC 8878), so every decoder accepts them;
    we only give up the compression ratio, never compatibility.
    """
    if _zstd is not None:
        return _zstd.ZstdCompressor().compress(data)
    size = len(data)
    # Single-segment frame: the content size field doubles as the window size.
    if size < 256:
        header, fcs = 0b0010_0000, struct.pack("<B", size)
    elif size < 65536 + 256:
        header, fcs = 0b0110_0000, struct.pack("<H", size - 256)
    else:
        header, fcs = 0b1010_0000, struct.pack("<I", size)
    out = bytearray(_ZSTD_MAGIC + bytes([header]) + fcs)
    chunks = [data[i : i + _ZSTD_MAX_BLOCK] for i in range(0, size, _ZSTD_MAX_BLOCK)] or [b""]
    for i, chunk in enumerate(chunks):
        last = 1 if i == len(chunks) - 1 else 0
        block_header = last | (0 << 1) | (len(chunk) << 3)  # block type 0 = raw
        out += block_header.to_bytes(3, "little") + chunk
    return bytes(out)


def slice_data(data: bytes, data_slice: dict[str, Any] | None) -> bytes:
    if not data_slice:
        return data
    offset, length = data_slice.get("offset", 0), data_slice.get("length", 0)
    if not isinstance(offset, int) or not isinstance(length, int) or offset < 0 or length < 0:
        raise invalid_params("Invalid params: invalid dataSlice.")
    return data[offset : offset + length]


def encode_account(
    pubkey: Pubkey,
    account: Account,
    encoding: str,
    data_slice: dict[str, Any] | None = None,
    *,
    get_account: Callable[[Pubkey], Account | None] | None = None,
) -> dict[str, Any]:
    """UiAccount, as Agave's encode_ui_account shapes it.

    jsonParsed parses SPL Token / Token-2022 accounts and mints (`get_account` resolves a
    token account's mint for its decimals); anything else falls back to base64, and a
    token-program account that does not parse falls back to its whole data, unsliced,
    because the validator's token path ignores dataSlice.
    """
    raw = bytes(account.data)
    if encoding == "jsonParsed" and get_account is not None:
        parsed = json_parsed_data(account, get_account)
        if parsed is not None:
            return _ui_account(account, parsed)
        if account.owner in TOKEN_PROGRAMS:
            data_slice = None
    data = slice_data(raw, data_slice)
    encoded: Any
    if encoding in ("base58", "binary"):
        if len(data) > MAX_BASE58_BYTES:
            raise RpcError(
                INVALID_REQUEST,
                f"Encoded binary (base 58) data should be less than {MAX_BASE58_BYTES} bytes, "
                "please use Base64 encoding.",
            )
        text = b58encode(data)
        encoded = text if encoding == "binary" else [text, "base58"]
    elif encoding == "base64+zstd":
        encoded = [base64.b64encode(zstd_compress(data)).decode(), "base64+zstd"]
    else:
        encoded = [base64.b64encode(data).decode(), "base64"]
    return _ui_account(account, encoded)


def _ui_account(account: Account, data: Any) -> dict[str, Any]:
    return {
        "data": data,
        "executable": account.executable,
        "lamports": account.lamports,
        "owner": str(account.owner),
        # Rent collection is gone: a current validator reports every account as exempt
        # with rent epoch u64::MAX, whatever LiteSVM stored.
        "rentEpoch": RENT_EXEMPT_RENT_EPOCH,
        "space": len(bytes(account.data)),
    }


def check_account_encoding(encoding: Any) -> str:
    if encoding is None:
        return "binary"  # the validator's default for getAccountInfo is legacy base58
    if encoding not in ACCOUNT_ENCODINGS:
        raise invalid_params(
            f"Invalid params: unknown variant `{encoding}`, expected one of "
            "`binary`, `base58`, `base64`, `jsonParsed`, `base64+zstd`."
        )
    return encoding


# ---- transactions -------------------------------------------------------------------


def transaction_version(tx: VersionedTransaction) -> Any:
    return 0 if isinstance(tx.message, MessageV0) else "legacy"


def encode_transaction(tx: VersionedTransaction, encoding: str) -> Any:
    if encoding == "base64":
        return [base64.b64encode(bytes(tx)).decode(), "base64"]
    if encoding in ("base58", "binary"):
        text = b58encode(bytes(tx))
        return text if encoding == "binary" else [text, "base58"]
    msg = tx.message
    header = msg.header
    message: dict[str, Any] = {
        "accountKeys": [str(k) for k in msg.account_keys],
        "header": {
            "numReadonlySignedAccounts": header.num_readonly_signed_accounts,
            "numReadonlyUnsignedAccounts": header.num_readonly_unsigned_accounts,
            "numRequiredSignatures": header.num_required_signatures,
        },
        "instructions": [
            {
                "accounts": list(bytes(ix.accounts)),
                "data": b58encode(bytes(ix.data)),
                "programIdIndex": ix.program_id_index,
                "stackHeight": None,
            }
            for ix in msg.instructions
        ],
        "recentBlockhash": str(msg.recent_blockhash),
    }
    if isinstance(msg, MessageV0):
        message["addressTableLookups"] = [
            {
                "accountKey": str(lookup.account_key),
                "readonlyIndexes": list(bytes(lookup.readonly_indexes)),
                "writableIndexes": list(bytes(lookup.writable_indexes)),
            }
            for lookup in msg.address_table_lookups
        ]
    return {"message": message, "signatures": [str(s) for s in tx.signatures]}


def _token_balance(tb: TokenBalance) -> dict[str, Any]:
    return {
        "accountIndex": tb.account_index,
        "mint": str(tb.mint),
        "owner": str(tb.owner),
        "programId": str(tb.program_id),
        "uiTokenAmount": ui_token_amount(tb.amount, tb.decimals),
    }


def inner_instructions_json(inner: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "index": group["index"],
            "instructions": [{**ix, "data": b58encode(ix["data"])} for ix in group["instructions"]],
        }
        for group in inner
    ]


def return_data_json(return_data: dict[str, Any] | None) -> dict[str, Any] | None:
    if return_data is None:
        return None
    return {
        "programId": str(return_data["programId"]),
        "data": [base64.b64encode(return_data["data"]).decode(), "base64"],
    }


def transaction_status_meta(record: TxRecord) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "computeUnitsConsumed": record.compute_units,
        "err": record.err,
        "fee": record.fee,
        "innerInstructions": inner_instructions_json(record.inner_instructions),
        "loadedAddresses": {
            "readonly": [str(k) for k in record.loaded_readonly],
            "writable": [str(k) for k in record.loaded_writable],
        },
        "logMessages": record.logs,
        "postBalances": record.post_balances,
        "postTokenBalances": [_token_balance(t) for t in record.post_token_balances],
        "preBalances": record.pre_balances,
        "preTokenBalances": [_token_balance(t) for t in record.pre_token_balances],
        "rewards": [],
        "status": {"Ok": None} if record.err is None else {"Err": record.err},
    }
    if record.return_data is not None:
        meta["returnData"] = return_data_json(record.return_data)
    return meta
