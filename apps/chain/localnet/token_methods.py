"""Program-account and token methods of the localnet's JSON-RPC, as Agave answers them.

getProgramAccounts, getTokenAccountsByOwner / ByDelegate, getTokenAccountBalance,
getTokenSupply and getTokenLargestAccounts: same params, result shapes, filters and
error texts as agave `rpc/src/rpc.rs` (errors are -32602 "Invalid param: ..." unless
noted). Reads go through `Chain.get_account` and `Chain.program_accounts`; results are
sorted by address, as Agave's default `sortResults: true` gives.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from solders.account import Account
from solders.pubkey import Pubkey

from . import params as p
from .b58 import ALPHABET, b58decode
from .chain import Chain
from .encoding import check_account_encoding, encode_account
from .errors import invalid_params
from .records import TOKEN_PROGRAM
from .token_parsing import (
    ACCOUNT_LEN,
    ACCOUNT_TYPE_ACCOUNT,
    DELEGATE_OFFSET,
    MINT_OFFSET,
    NATIVE_MINT,
    NATIVE_MINT_DECIMALS,
    OWNER_OFFSET,
    TOKEN_PROGRAMS,
    is_valid_token_account_data,
    ui_token_amount,
    unpack_mint,
    unpack_token_account,
)

MAX_GET_PROGRAM_ACCOUNT_FILTERS = 4
NUM_LARGEST_ACCOUNTS = 20
# Memcmp limits (rpc-client-api filter.rs): 128 raw bytes, and their worst-case encodings.
MAX_MEMCMP_BYTES = 128
MAX_MEMCMP_BASE58_CHARS = 175
MAX_MEMCMP_BASE64_CHARS = 172

KeyedAccount = tuple[Pubkey, Account]


def _serde_error(message: str) -> Exception:
    # jsonrpc-core's rendering of a serde failure while reading the params.
    return invalid_params(f"Invalid params: {message}.")


# ---- filters --------------------------------------------------------------------------


@dataclass(frozen=True)
class Filter:
    """One getProgramAccounts filter: dataSize, memcmp (raw bytes) or tokenAccountState."""

    kind: str
    size: int = 0
    offset: int = 0
    raw: bytes = b""

    def allows(self, data: bytes) -> bool:
        if self.kind == "dataSize":
            return len(data) == self.size
        if self.kind == "memcmp":
            end = self.offset + len(self.raw)
            return (
                self.offset <= len(data)
                and end <= len(data)
                and data[self.offset : end] == self.raw
            )
        return is_valid_token_account_data(data)


def memcmp(offset: int, raw: bytes) -> Filter:
    return Filter("memcmp", offset=offset, raw=raw)


TOKEN_ACCOUNT_STATE = Filter("tokenAccountState")


def _base58_error(text: str) -> str | None:
    for index, char in enumerate(text):
        if char not in ALPHABET:
            return f"Base58DecodeError(InvalidCharacter {{ character: {char!r}, index: {index} }})"
    return None


def _base64_error(text: str) -> str | None:
    """The Debug form of the base64 crate's DecodeError, or None when `text` decodes."""
    try:
        base64.b64decode(text, validate=True)
        return None
    except (binascii.Error, ValueError):
        pass
    for index, char in enumerate(text):
        if not (char.isascii() and (char.isalnum() or char in "+/=")):
            return f"Base64DecodeError(InvalidByte({index}, {ord(char) if ord(char) < 256 else 0}))"
    stripped = text.rstrip("=")
    if "=" in stripped:
        index = stripped.index("=")
        return f"Base64DecodeError(InvalidByte({index}, 61))"
    if len(stripped) % 4 == 1:
        return f"Base64DecodeError(InvalidLength({len(stripped)}))"
    return "Base64DecodeError(InvalidPadding)"


def _memcmp(spec: Any) -> Filter:
    if not isinstance(spec, dict):
        raise p.type_error(spec, "struct Memcmp")
    if "offset" not in spec:
        raise _serde_error("missing field `offset`")
    if "bytes" not in spec:
        raise _serde_error("missing field `bytes`")
    offset, data, encoding = spec["offset"], spec["bytes"], spec.get("encoding")
    if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset < 2**64:
        raise p.type_error(offset, "usize")
    if encoding not in (None, "base58", "base64", "bytes", "binary"):
        raise _serde_error(
            f"unknown variant `{encoding}`, expected one of `base58`, `base64`, `bytes`"
        )
    if isinstance(data, list):  # raw bytes, whatever the encoding says
        if not all(isinstance(b, int) and not isinstance(b, bool) and 0 <= b < 256 for b in data):
            raise _serde_error("data did not match any variant of untagged enum DataType")
        if len(data) > MAX_MEMCMP_BYTES:
            raise invalid_params("Invalid param: DataTooLarge")
        return memcmp(offset, bytes(data))
    if not isinstance(data, str) or encoding == "bytes":
        raise _serde_error("data did not match any variant of untagged enum DataType")
    if encoding == "base64":
        if len(data) > MAX_MEMCMP_BASE64_CHARS:
            raise invalid_params("Invalid param: DataTooLarge")
        error = _base64_error(data)
        if error:
            raise invalid_params(f"Invalid param: {error}")
        raw = base64.b64decode(data)
    else:  # base58 is the default, and legacy "binary" means base58 too
        if len(data) > MAX_MEMCMP_BASE58_CHARS:
            raise invalid_params("Invalid param: DataTooLarge")
        error = _base58_error(data)
        if error:
            raise invalid_params(f"Invalid param: {error}")
        raw = b58decode(data)
    if len(raw) > MAX_MEMCMP_BYTES:
        raise invalid_params("Invalid param: DataTooLarge")
    return memcmp(offset, raw)


def parse_filters(value: Any) -> list[Filter]:
    """getProgramAccounts `filters`, checked as Agave's verify_filters checks them."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise p.type_error(value, "a sequence")
    if len(value) > MAX_GET_PROGRAM_ACCOUNT_FILTERS:
        raise invalid_params(f"Too many filters provided; max {MAX_GET_PROGRAM_ACCOUNT_FILTERS}")
    filters = []
    for item in value:
        if item == "tokenAccountState":
            filters.append(TOKEN_ACCOUNT_STATE)
            continue
        if not isinstance(item, dict) or len(item) != 1:
            raise _serde_error(
                f"invalid type: {p.describe(item)}, expected enum RpcFilterType"
                if not isinstance(item, dict)
                else "invalid value: map, expected map with a single key"
            )
        kind, spec = next(iter(item.items()))
        if kind == "dataSize":
            if isinstance(spec, bool) or not isinstance(spec, int) or not 0 <= spec < 2**64:
                raise p.type_error(spec, "u64")
            filters.append(Filter("dataSize", size=spec))
        elif kind == "memcmp":
            filters.append(_memcmp(spec))
        elif kind == "tokenAccountState":
            filters.append(TOKEN_ACCOUNT_STATE)
        else:
            raise _serde_error(
                f"unknown variant `{kind}`, expected one of "
                "`dataSize`, `memcmp`, `tokenAccountState`"
            )
    return filters


def _is_token_subset(program_id: Pubkey, filters: list[Filter], offset: int) -> bool:
    """Agave's get_spl_token_{owner,mint}_filter: filters that select token accounts by
    owner/mint make the validator scan its index, which also applies TokenAccountState."""
    if program_id not in TOKEN_PROGRAMS:
        return False
    keyed = any(f.kind == "memcmp" and f.offset == offset and len(f.raw) == 32 for f in filters)
    account_only = any(
        (f.kind == "dataSize" and f.size == ACCOUNT_LEN)
        or f.kind == "tokenAccountState"
        or (
            f.kind == "memcmp"
            and f.offset == ACCOUNT_LEN
            and f.raw == bytes([ACCOUNT_TYPE_ACCOUNT])
            and program_id != TOKEN_PROGRAM
        )
        for f in filters
    )
    return keyed and account_only


# ---- reading the chain ----------------------------------------------------------------


def scan_program_accounts(
    chain: Chain, program_id: Pubkey, filters: Iterable[Filter]
) -> list[KeyedAccount]:
    """Accounts owned by `program_id` that pass every filter, sorted by address."""
    filters = list(filters)
    found = [
        (key, account)
        for key, account in chain.program_accounts(program_id)
        if account.owner == program_id and all(f.allows(bytes(account.data)) for f in filters)
    ]
    found.sort(key=lambda item: bytes(item[0]))
    return found


def _cached_getter(chain: Chain) -> Callable[[Pubkey], Account | None]:
    cache: dict[Pubkey, Account | None] = {}

    def get(key: Pubkey) -> Account | None:
        if key not in cache:
            cache[key] = chain.get_account(key)
        return cache[key]

    return get


def mint_owner_and_decimals(chain: Chain, mint: Pubkey) -> tuple[Pubkey, int]:
    """Agave's get_mint_owner_and_additional_data (the native mint needs no lookup)."""
    if mint == NATIVE_MINT:
        return TOKEN_PROGRAM, NATIVE_MINT_DECIMALS
    account = chain.get_account(mint)
    if account is None:
        raise invalid_params("Invalid param: could not find mint")
    state = unpack_mint(bytes(account.data))
    if state is None:
        raise invalid_params("Invalid param: Token mint could not be unpacked")
    return account.owner, state.decimals


def _program_and_mint(chain: Chain, value: Any) -> tuple[Pubkey, Pubkey | None]:
    """The `{"mint": ...}` / `{"programId": ...}` argument of the token-accounts methods."""
    if isinstance(value, str):
        if value in ("mint", "programId"):
            raise _serde_error("invalid type: unit variant, expected newtype variant")
        raise _serde_error(f"unknown variant `{value}`, expected `mint` or `programId`")
    if not isinstance(value, dict):
        raise _serde_error(f"invalid type: {p.describe(value)}, expected string or map")
    if len(value) != 1:
        raise _serde_error("invalid value: map, expected map with a single key")
    kind, key = next(iter(value.items()))
    if kind not in ("mint", "programId"):
        raise _serde_error(f"unknown variant `{kind}`, expected `mint` or `programId`")
    if not isinstance(key, str):
        raise p.type_error(key, "a string")
    pubkey = p.pubkey(key)
    if kind == "mint":
        owner, _ = mint_owner_and_decimals(chain, pubkey)
        if owner not in TOKEN_PROGRAMS:
            raise invalid_params("Invalid param: not a Token mint")
        return owner, pubkey
    if pubkey not in TOKEN_PROGRAMS:
        raise invalid_params("Invalid param: unrecognized Token program id")
    return pubkey, None


def _data_slice(value: Any) -> dict[str, Any] | None:
    if value is not None and not isinstance(value, dict):
        raise p.type_error(value, "struct UiDataSliceConfig")
    return value


# ---- the methods ----------------------------------------------------------------------


class TokenMethods:
    """Mixin for RpcMethods: needs `self.chain` and `self.context(slot, value)`."""

    chain: Chain
    context: Callable[[int, Any], dict[str, Any]]

    def token_handlers(self) -> dict[str, Callable[[list[Any]], Any]]:
        return {
            "getProgramAccounts": self.get_program_accounts,
            "getTokenAccountsByOwner": self.get_token_accounts_by_owner,
            "getTokenAccountsByDelegate": self.get_token_accounts_by_delegate,
            "getTokenAccountBalance": self.get_token_account_balance,
            "getTokenSupply": self.get_token_supply,
            "getTokenLargestAccounts": self.get_token_largest_accounts,
        }

    def _keyed(
        self,
        accounts: list[KeyedAccount],
        encoding: str,
        data_slice: dict[str, Any] | None,
        *,
        token_program: bool,
    ) -> list[dict[str, Any]]:
        if encoding == "jsonParsed" and token_program:
            # Agave's get_parsed_token_accounts drops what does not parse.
            get = _cached_getter(self.chain)
            out = []
            for key, account in accounts:
                ui = encode_account(key, account, encoding, get_account=get)
                if isinstance(ui["data"], dict):
                    out.append({"pubkey": str(key), "account": ui})
            return out
        return [
            {"pubkey": str(key), "account": encode_account(key, account, encoding, data_slice)}
            for key, account in accounts
        ]

    def get_program_accounts(self, params: list[Any]) -> Any:
        p.require(params, 1)
        cfg = p.config_arg(params, 1)
        program_id = p.pubkey(params[0])
        filters = parse_filters(cfg.get("filters"))
        encoding = check_account_encoding(cfg.get("encoding"))
        data_slice = _data_slice(cfg.get("dataSlice"))
        with_context = cfg.get("withContext")
        if with_context is not None and not isinstance(with_context, bool):
            raise p.type_error(with_context, "a boolean")
        slot = p.context_slot(self.chain, cfg)
        if _is_token_subset(program_id, filters, OWNER_OFFSET) or _is_token_subset(
            program_id, filters, MINT_OFFSET
        ):
            filters.append(TOKEN_ACCOUNT_STATE)
        accounts = scan_program_accounts(self.chain, program_id, filters)
        value = self._keyed(
            accounts, encoding, data_slice, token_program=program_id in TOKEN_PROGRAMS
        )
        return self.context(slot, value) if with_context else value

    def _token_accounts(self, params: list[Any], *, by_delegate: bool) -> Any:
        p.require(params, 2)
        holder = p.pubkey(params[0])
        cfg = p.config_arg(params, 2)
        encoding = check_account_encoding(cfg.get("encoding"))
        data_slice = _data_slice(cfg.get("dataSlice"))
        slot = p.context_slot(self.chain, cfg)
        program_id, mint = _program_and_mint(self.chain, params[1])
        filters = [TOKEN_ACCOUNT_STATE]
        if by_delegate:
            filters += [
                memcmp(DELEGATE_OFFSET, (1).to_bytes(4, "little")),
                memcmp(DELEGATE_OFFSET + 4, bytes(holder)),
            ]
        else:
            filters.append(memcmp(OWNER_OFFSET, bytes(holder)))
        if mint is not None:
            filters.append(memcmp(MINT_OFFSET, bytes(mint)))
        accounts = scan_program_accounts(self.chain, program_id, filters)
        return self.context(slot, self._keyed(accounts, encoding, data_slice, token_program=True))

    def get_token_accounts_by_owner(self, params: list[Any]) -> Any:
        return self._token_accounts(params, by_delegate=False)

    def get_token_accounts_by_delegate(self, params: list[Any]) -> Any:
        return self._token_accounts(params, by_delegate=True)

    def _commitment_slot(self, params: list[Any], index: int) -> int:
        # These methods take a bare CommitmentConfig: minContextSlot is not read.
        cfg = p.config_arg(params, index)
        return p.context_slot(self.chain, {"commitment": cfg.get("commitment")})

    def get_token_account_balance(self, params: list[Any]) -> Any:
        p.require(params, 1)
        key = p.pubkey(params[0])
        slot = self._commitment_slot(params, 1)
        account = self.chain.get_account(key)
        if account is None:
            raise invalid_params("Invalid param: could not find account")
        state = (
            unpack_token_account(bytes(account.data)) if account.owner in TOKEN_PROGRAMS else None
        )
        if state is None:
            raise invalid_params("Invalid param: not a Token account")
        _, decimals = mint_owner_and_decimals(self.chain, state.mint)
        return self.context(slot, ui_token_amount(state.amount, decimals))

    def get_token_supply(self, params: list[Any]) -> Any:
        p.require(params, 1)
        key = p.pubkey(params[0])
        slot = self._commitment_slot(params, 1)
        account = self.chain.get_account(key)
        if account is None:
            raise invalid_params("Invalid param: could not find account")
        if account.owner not in TOKEN_PROGRAMS:
            raise invalid_params("Invalid param: not a Token mint")
        mint = unpack_mint(bytes(account.data))
        if mint is None:
            raise invalid_params("Invalid param: mint could not be unpacked")
        return self.context(slot, ui_token_amount(mint.supply, mint.decimals))

    def get_token_largest_accounts(self, params: list[Any]) -> Any:
        p.require(params, 1)
        mint = p.pubkey(params[0])
        slot = self._commitment_slot(params, 1)
        program_id, decimals = mint_owner_and_decimals(self.chain, mint)
        if program_id not in TOKEN_PROGRAMS:
            raise invalid_params("Invalid param: not a Token mint")
        holders = scan_program_accounts(
            self.chain, program_id, [TOKEN_ACCOUNT_STATE, memcmp(MINT_OFFSET, bytes(mint))]
        )
        balances = []
        for key, account in holders:
            state = unpack_token_account(bytes(account.data))
            balances.append((state.amount if state else 0, bytes(key), key))
        # Largest first; equal balances by address, highest first, like Agave's heap.
        balances.sort(reverse=True)
        return self.context(
            slot,
            [
                {"address": str(key), **ui_token_amount(amount, decimals)}
                for amount, _, key in balances[:NUM_LARGEST_ACCOUNTS]
            ],
        )
