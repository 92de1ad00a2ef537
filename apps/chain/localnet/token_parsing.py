"""SPL Token and Token-2022 account data, read the way a validator's account-decoder reads it.

`parse_token_account_data` gives the `jsonParsed` body a validator answers for a token
account or mint (`{"program": "spl-token-2022", "parsed": {...}, "space": N}`), Token-2022
extensions included. The unpack rules are Token-2022's `StateWithExtensions::unpack`:
a base Account is 165 bytes and a base Mint 82; with extensions either is padded to 165
bytes, followed by the AccountType byte (1 mint, 2 account) and TLV entries (u16 type,
u16 length, value). A 355-byte account is always a multisig, never a mint or account.

Layouts: solana-program/token-2022 `interface/src/extension/*`, summarised in
/work/shared/reference/solana-facts.md section 7.3.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from solders.account import Account
from solders.pubkey import Pubkey

from .records import TOKEN_2022_PROGRAM, TOKEN_PROGRAM

TOKEN_PROGRAMS = (TOKEN_PROGRAM, TOKEN_2022_PROGRAM)
NATIVE_MINT = Pubkey.from_string("So11111111111111111111111111111111111111112")
NATIVE_MINT_DECIMALS = 9

ACCOUNT_LEN = 165
MINT_LEN = 82
MULTISIG_LEN = 355
ACCOUNT_TYPE_MINT = 1
ACCOUNT_TYPE_ACCOUNT = 2
MINT_OFFSET = 0
OWNER_OFFSET = 32
DELEGATE_OFFSET = 72  # COption tag (u32); the delegate key follows at 76

_PROGRAM_NAMES = {TOKEN_PROGRAM: "spl-token", TOKEN_2022_PROGRAM: "spl-token-2022"}
_ACCOUNT_STATES = ("uninitialized", "initialized", "frozen")


class ExtensionType:
    """Token-2022 ExtensionType numbers (u16 in the TLV header)."""

    UNINITIALIZED = 0
    TRANSFER_FEE_CONFIG = 1
    TRANSFER_FEE_AMOUNT = 2
    MINT_CLOSE_AUTHORITY = 3
    CONFIDENTIAL_TRANSFER_MINT = 4
    CONFIDENTIAL_TRANSFER_ACCOUNT = 5
    DEFAULT_ACCOUNT_STATE = 6
    IMMUTABLE_OWNER = 7
    MEMO_TRANSFER = 8
    NON_TRANSFERABLE = 9
    INTEREST_BEARING_CONFIG = 10
    CPI_GUARD = 11
    PERMANENT_DELEGATE = 12
    NON_TRANSFERABLE_ACCOUNT = 13
    TRANSFER_HOOK = 14
    TRANSFER_HOOK_ACCOUNT = 15
    CONFIDENTIAL_TRANSFER_FEE_CONFIG = 16
    CONFIDENTIAL_TRANSFER_FEE_AMOUNT = 17
    METADATA_POINTER = 18
    TOKEN_METADATA = 19
    GROUP_POINTER = 20
    TOKEN_GROUP = 21
    GROUP_MEMBER_POINTER = 22
    TOKEN_GROUP_MEMBER = 23
    CONFIDENTIAL_MINT_BURN = 24
    SCALED_UI_AMOUNT = 25
    PAUSABLE = 26
    PAUSABLE_ACCOUNT = 27


# Fixed value sizes of the extensions (TokenMetadata is variable-length).
EXTENSION_SIZES: dict[int, int] = {
    ExtensionType.TRANSFER_FEE_CONFIG: 108,
    ExtensionType.TRANSFER_FEE_AMOUNT: 8,
    ExtensionType.MINT_CLOSE_AUTHORITY: 32,
    ExtensionType.CONFIDENTIAL_TRANSFER_MINT: 65,
    ExtensionType.CONFIDENTIAL_TRANSFER_ACCOUNT: 295,
    ExtensionType.DEFAULT_ACCOUNT_STATE: 1,
    ExtensionType.IMMUTABLE_OWNER: 0,
    ExtensionType.MEMO_TRANSFER: 1,
    ExtensionType.NON_TRANSFERABLE: 0,
    ExtensionType.INTEREST_BEARING_CONFIG: 52,
    ExtensionType.CPI_GUARD: 1,
    ExtensionType.PERMANENT_DELEGATE: 32,
    ExtensionType.NON_TRANSFERABLE_ACCOUNT: 0,
    ExtensionType.TRANSFER_HOOK: 64,
    ExtensionType.TRANSFER_HOOK_ACCOUNT: 1,
    ExtensionType.CONFIDENTIAL_TRANSFER_FEE_CONFIG: 129,
    ExtensionType.CONFIDENTIAL_TRANSFER_FEE_AMOUNT: 64,
    ExtensionType.METADATA_POINTER: 64,
    ExtensionType.GROUP_POINTER: 64,
    ExtensionType.TOKEN_GROUP: 80,
    ExtensionType.GROUP_MEMBER_POINTER: 64,
    ExtensionType.TOKEN_GROUP_MEMBER: 72,
    ExtensionType.CONFIDENTIAL_MINT_BURN: 196,
    ExtensionType.SCALED_UI_AMOUNT: 56,
    ExtensionType.PAUSABLE: 33,
    ExtensionType.PAUSABLE_ACCOUNT: 0,
}
_KNOWN_EXTENSIONS = set(EXTENSION_SIZES) | {ExtensionType.TOKEN_METADATA}


def account_len_with_extensions(value_sizes: list[int]) -> int:
    """Space of a Token-2022 mint/account carrying extensions with these value sizes.

    Mirrors ExtensionType::try_calculate_account_len: base padded to 165, one AccountType
    byte, a 4-byte TLV header per extension; a total equal to the multisig size gets two
    more bytes so the account can never be mistaken for a multisig.
    """
    length = ACCOUNT_LEN + 1 + sum(4 + size for size in value_sizes)
    return length + 2 if length == MULTISIG_LEN else length


# ---- amounts --------------------------------------------------------------------------


def ui_token_amount(amount: int, decimals: int) -> dict[str, Any]:
    """UiTokenAmount exactly as Agave's token_amount_to_ui_amount renders it.

    uiAmount is `amount as f64 / 10^decimals as f64` (two roundings, like Rust), and null
    once 10^decimals no longer fits a u64; uiAmountString is the exact decimal, trimmed.
    """
    ui_amount = float(amount) / float(10**decimals) if decimals <= 19 else None
    if decimals:
        padded = f"{amount:0{decimals + 1}d}"
        text = f"{padded[:-decimals]}.{padded[-decimals:]}".rstrip("0").rstrip(".")
    else:
        text = str(amount)
    return {
        "amount": str(amount),
        "decimals": decimals,
        "uiAmount": ui_amount,
        "uiAmountString": text,
    }


# ---- unpacking ------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenAccountState:
    mint: Pubkey
    owner: Pubkey
    amount: int
    delegate: Pubkey | None
    state: int
    is_native: int | None  # the rent-exempt reserve of a wrapped-SOL account
    delegated_amount: int
    close_authority: Pubkey | None
    extensions: list[tuple[int, bytes]] = field(default_factory=list)


@dataclass(frozen=True)
class MintState:
    mint_authority: Pubkey | None
    supply: int
    decimals: int
    is_initialized: bool
    freeze_authority: Pubkey | None
    extensions: list[tuple[int, bytes]] = field(default_factory=list)


class _Unpackable(ValueError):
    pass


def _coption_key(data: bytes, offset: int) -> Pubkey | None:
    tag = struct.unpack_from("<I", data, offset)[0]
    if tag == 0:
        return None
    if tag == 1:
        return Pubkey.from_bytes(data[offset + 4 : offset + 36])
    raise _Unpackable("invalid COption tag")


def _tlv_region(data: bytes, base_len: int, account_type: int) -> bytes | None:
    """The TLV bytes after the base state, or None when the data is not this kind of state."""
    if len(data) == MULTISIG_LEN or len(data) < base_len:
        return None
    rest = data[base_len:]
    if not rest:
        return b""
    type_index = ACCOUNT_LEN - base_len
    if len(rest) <= type_index:
        return None
    if any(rest[:type_index]):  # a mint's padding up to byte 165 must be zero
        return None
    if rest[type_index] != account_type:
        return None
    return rest[type_index + 1 :]


def extension_entries(tlv: bytes) -> list[tuple[int, bytes]]:
    """(type, value) pairs in TLV order; [] when the region is malformed, as Agave's
    `get_extension_types().unwrap_or_default()` gives."""
    out: list[tuple[int, bytes]] = []
    start = 0
    while start < len(tlv):
        if len(tlv) < start + 2:
            break  # a spare byte left for a realloc
        ext_type = struct.unpack_from("<H", tlv, start)[0]
        if ext_type == ExtensionType.UNINITIALIZED:
            break
        if ext_type not in _KNOWN_EXTENSIONS or len(tlv) < start + 4:
            return []
        length = struct.unpack_from("<H", tlv, start + 2)[0]
        end = start + 4 + length
        if end > len(tlv):
            return []
        out.append((ext_type, tlv[start + 4 : end]))
        start = end
    return out


def unpack_token_account(data: bytes) -> TokenAccountState | None:
    """StateWithExtensions::<Account>::unpack: None unless an initialized token account."""
    tlv = _tlv_region(data, ACCOUNT_LEN, ACCOUNT_TYPE_ACCOUNT)
    if tlv is None:
        return None
    try:
        state = data[108]
        if state not in (1, 2):
            return None
        native_tag = struct.unpack_from("<I", data, 109)[0]
        if native_tag not in (0, 1):
            return None
        return TokenAccountState(
            mint=Pubkey.from_bytes(data[0:32]),
            owner=Pubkey.from_bytes(data[32:64]),
            amount=struct.unpack_from("<Q", data, 64)[0],
            delegate=_coption_key(data, 72),
            state=state,
            is_native=struct.unpack_from("<Q", data, 113)[0] if native_tag else None,
            delegated_amount=struct.unpack_from("<Q", data, 121)[0],
            close_authority=_coption_key(data, 129),
            extensions=extension_entries(tlv),
        )
    except _Unpackable:
        return None


def unpack_mint(data: bytes) -> MintState | None:
    """StateWithExtensions::<Mint>::unpack: None unless an initialized mint."""
    tlv = _tlv_region(data, MINT_LEN, ACCOUNT_TYPE_MINT)
    if tlv is None:
        return None
    try:
        if data[45] != 1:  # is_initialized, a strict bool
            return None
        return MintState(
            mint_authority=_coption_key(data, 0),
            supply=struct.unpack_from("<Q", data, 36)[0],
            decimals=data[44],
            is_initialized=True,
            freeze_authority=_coption_key(data, 46),
            extensions=extension_entries(tlv),
        )
    except _Unpackable:
        return None


def is_valid_token_account_data(data: bytes) -> bool:
    """Token-2022's `Account::valid_account_data`, the TokenAccountState filter."""
    if len(data) < ACCOUNT_LEN or data[108] == 0:
        return False
    if len(data) == ACCOUNT_LEN:
        return True
    return len(data) != MULTISIG_LEN and data[ACCOUNT_LEN] == ACCOUNT_TYPE_ACCOUNT


def token_account_mint(data: bytes) -> Pubkey | None:
    return Pubkey.from_bytes(data[:32]) if is_valid_token_account_data(data) else None


# ---- extensions -----------------------------------------------------------------------


def _optional_key(raw: bytes) -> str | None:
    """OptionalNonZeroPubkey: all zeros means None."""
    return None if not any(raw) else str(Pubkey.from_bytes(raw))


def _pod_b64(raw: bytes) -> str:
    # Display of the zk-sdk Pod types (ElGamal keys and ciphertexts) is base64.
    return base64.b64encode(raw).decode()


def _optional_pod_b64(raw: bytes) -> str | None:
    return None if not any(raw) else _pod_b64(raw)


def _u64(raw: bytes, offset: int) -> int:
    return struct.unpack_from("<Q", raw, offset)[0]


def _i64(raw: bytes, offset: int) -> int:
    return struct.unpack_from("<q", raw, offset)[0]


def _i16(raw: bytes, offset: int) -> int:
    return struct.unpack_from("<h", raw, offset)[0]


def _bool(raw: bytes, offset: int) -> bool:
    return raw[offset] != 0


def _transfer_fee(raw: bytes, offset: int) -> dict[str, Any]:
    return {
        "epoch": _u64(raw, offset),
        "maximumFee": _u64(raw, offset + 8),
        "transferFeeBasisPoints": struct.unpack_from("<H", raw, offset + 16)[0],
    }


def _f64_text(value: float) -> str:
    # Rust's f64 Display: no exponent, shortest digits that round-trip, "1" not "1.0".
    text = repr(value)
    if "e" in text or "E" in text:
        text = format(value, "f")
    return text[:-2] if text.endswith(".0") else text


def _borsh_string(raw: bytes, offset: int) -> tuple[str, int]:
    length = struct.unpack_from("<I", raw, offset)[0]
    start = offset + 4
    return raw[start : start + length].decode(), start + length


def _token_metadata(raw: bytes) -> dict[str, Any]:
    name, offset = _borsh_string(raw, 64)
    symbol, offset = _borsh_string(raw, offset)
    uri, offset = _borsh_string(raw, offset)
    count = struct.unpack_from("<I", raw, offset)[0]
    offset += 4
    additional = []
    for _ in range(count):
        key, offset = _borsh_string(raw, offset)
        value, offset = _borsh_string(raw, offset)
        additional.append([key, value])
    return {
        "updateAuthority": _optional_key(raw[0:32]),
        "mint": str(Pubkey.from_bytes(raw[32:64])),
        "name": name,
        "symbol": symbol,
        "uri": uri,
        "additionalMetadata": additional,
    }


_ExtensionRenderer = Callable[[bytes], tuple[str, dict[str, Any] | None]]

_RENDERERS: dict[int, _ExtensionRenderer] = {
    ExtensionType.TRANSFER_FEE_CONFIG: lambda r: (
        "transferFeeConfig",
        {
            "transferFeeConfigAuthority": _optional_key(r[0:32]),
            "withdrawWithheldAuthority": _optional_key(r[32:64]),
            "withheldAmount": _u64(r, 64),
            "olderTransferFee": _transfer_fee(r, 72),
            "newerTransferFee": _transfer_fee(r, 90),
        },
    ),
    ExtensionType.TRANSFER_FEE_AMOUNT: lambda r: (
        "transferFeeAmount",
        {"withheldAmount": _u64(r, 0)},
    ),
    ExtensionType.MINT_CLOSE_AUTHORITY: lambda r: (
        "mintCloseAuthority",
        {"closeAuthority": _optional_key(r[0:32])},
    ),
    ExtensionType.CONFIDENTIAL_TRANSFER_MINT: lambda r: (
        "confidentialTransferMint",
        {
            "authority": _optional_key(r[0:32]),
            "autoApproveNewAccounts": _bool(r, 32),
            "auditorElgamalPubkey": _optional_pod_b64(r[33:65]),
        },
    ),
    ExtensionType.CONFIDENTIAL_TRANSFER_ACCOUNT: lambda r: (
        "confidentialTransferAccount",
        {
            "approved": _bool(r, 0),
            "elgamalPubkey": _pod_b64(r[1:33]),
            "pendingBalanceLo": _pod_b64(r[33:97]),
            "pendingBalanceHi": _pod_b64(r[97:161]),
            "availableBalance": _pod_b64(r[161:225]),
            "decryptableAvailableBalance": _pod_b64(r[225:261]),
            "allowConfidentialCredits": _bool(r, 261),
            "allowNonConfidentialCredits": _bool(r, 262),
            "pendingBalanceCreditCounter": _u64(r, 263),
            "maximumPendingBalanceCreditCounter": _u64(r, 271),
            "expectedPendingBalanceCreditCounter": _u64(r, 279),
            "actualPendingBalanceCreditCounter": _u64(r, 287),
        },
    ),
    ExtensionType.DEFAULT_ACCOUNT_STATE: lambda r: (
        "defaultAccountState",
        # An out-of-range byte reads as the default state, Uninitialized, like Agave.
        {"accountState": _ACCOUNT_STATES[r[0]] if r[0] < 3 else "uninitialized"},
    ),
    ExtensionType.IMMUTABLE_OWNER: lambda r: ("immutableOwner", None),
    ExtensionType.MEMO_TRANSFER: lambda r: (
        "memoTransfer",
        {"requireIncomingTransferMemos": _bool(r, 0)},
    ),
    ExtensionType.NON_TRANSFERABLE: lambda r: ("nonTransferable", None),
    ExtensionType.INTEREST_BEARING_CONFIG: lambda r: (
        "interestBearingConfig",
        {
            "rateAuthority": _optional_key(r[0:32]),
            "initializationTimestamp": _i64(r, 32),
            "preUpdateAverageRate": _i16(r, 40),
            "lastUpdateTimestamp": _i64(r, 42),
            "currentRate": _i16(r, 50),
        },
    ),
    ExtensionType.CPI_GUARD: lambda r: ("cpiGuard", {"lockCpi": _bool(r, 0)}),
    ExtensionType.PERMANENT_DELEGATE: lambda r: (
        "permanentDelegate",
        {"delegate": _optional_key(r[0:32])},
    ),
    ExtensionType.NON_TRANSFERABLE_ACCOUNT: lambda r: ("nonTransferableAccount", None),
    ExtensionType.TRANSFER_HOOK: lambda r: (
        "transferHook",
        {"authority": _optional_key(r[0:32]), "programId": _optional_key(r[32:64])},
    ),
    ExtensionType.TRANSFER_HOOK_ACCOUNT: lambda r: (
        "transferHookAccount",
        {"transferring": _bool(r, 0)},
    ),
    ExtensionType.CONFIDENTIAL_TRANSFER_FEE_CONFIG: lambda r: (
        "confidentialTransferFeeConfig",
        {
            "authority": _optional_key(r[0:32]),
            "withdrawWithheldAuthorityElgamalPubkey": _optional_pod_b64(r[32:64]),
            "harvestToMintEnabled": _bool(r, 64),
            "withheldAmount": _pod_b64(r[65:129]),
        },
    ),
    ExtensionType.CONFIDENTIAL_TRANSFER_FEE_AMOUNT: lambda r: (
        "confidentialTransferFeeAmount",
        {"withheldAmount": _pod_b64(r[0:64])},
    ),
    ExtensionType.METADATA_POINTER: lambda r: (
        "metadataPointer",
        {"authority": _optional_key(r[0:32]), "metadataAddress": _optional_key(r[32:64])},
    ),
    ExtensionType.TOKEN_METADATA: lambda r: ("tokenMetadata", _token_metadata(r)),
    ExtensionType.GROUP_POINTER: lambda r: (
        "groupPointer",
        {"authority": _optional_key(r[0:32]), "groupAddress": _optional_key(r[32:64])},
    ),
    ExtensionType.TOKEN_GROUP: lambda r: (
        "tokenGroup",
        {
            "updateAuthority": _optional_key(r[0:32]),
            "mint": str(Pubkey.from_bytes(r[32:64])),
            "size": _u64(r, 64),
            "maxSize": _u64(r, 72),
        },
    ),
    ExtensionType.GROUP_MEMBER_POINTER: lambda r: (
        "groupMemberPointer",
        {"authority": _optional_key(r[0:32]), "memberAddress": _optional_key(r[32:64])},
    ),
    ExtensionType.TOKEN_GROUP_MEMBER: lambda r: (
        "tokenGroupMember",
        {
            "mint": str(Pubkey.from_bytes(r[0:32])),
            "group": str(Pubkey.from_bytes(r[32:64])),
            "memberNumber": _u64(r, 64),
        },
    ),
    ExtensionType.CONFIDENTIAL_MINT_BURN: lambda r: (
        "confidentialMintBurn",
        {
            "confidentialSupply": _pod_b64(r[0:64]),
            "decryptableSupply": _pod_b64(r[64:100]),
            "supplyElgamalPubkey": _pod_b64(r[100:132]),
            "pendingBurn": _pod_b64(r[132:196]),
        },
    ),
    ExtensionType.SCALED_UI_AMOUNT: lambda r: (
        "scaledUiAmountConfig",
        {
            "authority": _optional_key(r[0:32]),
            "multiplier": _f64_text(struct.unpack_from("<d", r, 32)[0]),
            "newMultiplierEffectiveTimestamp": _i64(r, 40),
            "newMultiplier": _f64_text(struct.unpack_from("<d", r, 48)[0]),
        },
    ),
    ExtensionType.PAUSABLE: lambda r: (
        "pausableConfig",
        {"authority": _optional_key(r[0:32]), "paused": _bool(r, 32)},
    ),
    ExtensionType.PAUSABLE_ACCOUNT: lambda r: ("pausableAccount", None),
}

# Extensions that belong to the other side (a mint's extension found in an account, or
# the reverse) cannot be read by `get_extension::<T>` and come out unparseable.
_ACCOUNT_SIDE = {
    ExtensionType.TRANSFER_FEE_AMOUNT,
    ExtensionType.CONFIDENTIAL_TRANSFER_ACCOUNT,
    ExtensionType.IMMUTABLE_OWNER,
    ExtensionType.MEMO_TRANSFER,
    ExtensionType.CPI_GUARD,
    ExtensionType.NON_TRANSFERABLE_ACCOUNT,
    ExtensionType.TRANSFER_HOOK_ACCOUNT,
    ExtensionType.CONFIDENTIAL_TRANSFER_FEE_AMOUNT,
    ExtensionType.PAUSABLE_ACCOUNT,
}
# Zero-size markers are answered without reading a value, whatever side they sit on.
_MARKERS = {
    ExtensionType.IMMUTABLE_OWNER,
    ExtensionType.NON_TRANSFERABLE,
    ExtensionType.NON_TRANSFERABLE_ACCOUNT,
    ExtensionType.PAUSABLE_ACCOUNT,
}
_UNPARSEABLE = {"extension": "unparseableExtension"}


def ui_extension(ext_type: int, value: bytes, *, account_side: bool) -> dict[str, Any]:
    """One entry of `extensions`: {"extension": name, "state": {...}} (no state for markers)."""
    if ext_type not in _MARKERS:
        if (ext_type in _ACCOUNT_SIDE) != account_side:
            return dict(_UNPARSEABLE)
        size = EXTENSION_SIZES.get(ext_type)
        if size is not None and len(value) != size:
            return dict(_UNPARSEABLE)
    try:
        name, state = _RENDERERS[ext_type](value)
    except (struct.error, ValueError, IndexError):  # malformed variable-length metadata
        return dict(_UNPARSEABLE)
    return {"extension": name} if state is None else {"extension": name, "state": state}


# ---- jsonParsed -----------------------------------------------------------------------


def _ui_token_account(acc: TokenAccountState, decimals: int) -> dict[str, Any]:
    info: dict[str, Any] = {
        "isNative": acc.is_native is not None,
        "mint": str(acc.mint),
        "owner": str(acc.owner),
        "state": _ACCOUNT_STATES[acc.state],
        "tokenAmount": ui_token_amount(acc.amount, decimals),
    }
    # Agave skips these keys when empty rather than sending nulls.
    if acc.delegate is not None:
        info["delegate"] = str(acc.delegate)
        info["delegatedAmount"] = ui_token_amount(acc.delegated_amount, decimals)
    if acc.is_native is not None:
        info["rentExemptReserve"] = ui_token_amount(acc.is_native, decimals)
    if acc.close_authority is not None:
        info["closeAuthority"] = str(acc.close_authority)
    if acc.extensions:
        info["extensions"] = [ui_extension(t, v, account_side=True) for t, v in acc.extensions]
    return info


def _ui_mint(mint: MintState) -> dict[str, Any]:
    info: dict[str, Any] = {
        "decimals": mint.decimals,
        "freezeAuthority": str(mint.freeze_authority) if mint.freeze_authority else None,
        "isInitialized": mint.is_initialized,
        "mintAuthority": str(mint.mint_authority) if mint.mint_authority else None,
        "supply": str(mint.supply),
    }
    if mint.extensions:
        info["extensions"] = [ui_extension(t, v, account_side=False) for t, v in mint.extensions]
    return info


def _ui_multisig(data: bytes) -> dict[str, Any] | None:
    m, n, initialized = data[0], data[1], data[2]
    if initialized != 1:  # Multisig::unpack insists on an initialized multisig
        return None
    signers = [data[3 + 32 * i : 35 + 32 * i] for i in range(11)]
    return {
        "isInitialized": True,
        "numRequiredSigners": m,
        "numValidSigners": n,
        "signers": [str(Pubkey.from_bytes(s)) for s in signers if any(s)],
    }


def parse_token_account_data(
    program: Pubkey, data: bytes, decimals: int | None
) -> dict[str, Any] | None:
    """The `data` of a jsonParsed UiAccount for a token-program account, or None when the
    validator would fall back to base64 (unparsable data, or a token account whose mint
    decimals are unknown)."""
    name = _PROGRAM_NAMES.get(program)
    if name is None:
        return None
    parsed: dict[str, Any] | None = None
    account = unpack_token_account(data)
    if account is not None:
        if decimals is None:
            return None  # Agave: "no mint_decimals provided to parse spl-token account"
        parsed = {"info": _ui_token_account(account, decimals), "type": "account"}
    else:
        mint = unpack_mint(data)
        if mint is not None:
            parsed = {"info": _ui_mint(mint), "type": "mint"}
        elif len(data) == MULTISIG_LEN:
            info = _ui_multisig(data)
            parsed = {"info": info, "type": "multisig"} if info is not None else None
    if parsed is None:
        return None
    # Agave builds `parsed` as a serde_json::Value, whose maps are sorted by key.
    return {"program": name, "parsed": _sorted_keys(parsed), "space": len(data)}


def _sorted_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _sorted_keys(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted_keys(v) for v in value]
    return value


def mint_decimals(mint: Pubkey, get_account: Callable[[Pubkey], Account | None]) -> int | None:
    """Decimals a token account's amounts are shown with; None when the mint is unreadable."""
    if mint == NATIVE_MINT:
        return NATIVE_MINT_DECIMALS
    account = get_account(mint)
    if account is None:
        return None
    state = unpack_mint(bytes(account.data))
    return state.decimals if state is not None else None


def json_parsed_data(
    account: Account, get_account: Callable[[Pubkey], Account | None]
) -> dict[str, Any] | None:
    """Parsed data for a token-program account, resolving its mint's decimals; else None."""
    if account.owner not in TOKEN_PROGRAMS:
        return None
    data = bytes(account.data)
    mint = token_account_mint(data)
    decimals = mint_decimals(mint, get_account) if mint is not None else None
    return parse_token_account_data(account.owner, data, decimals)


__all__ = [
    "ACCOUNT_LEN",
    "MINT_LEN",
    "NATIVE_MINT",
    "TOKEN_PROGRAMS",
    "ExtensionType",
    "MintState",
    "TokenAccountState",
    "account_len_with_extensions",
    "extension_entries",
    "is_valid_token_account_data",
    "json_parsed_data",
    "mint_decimals",
    "parse_token_account_data",
    "token_account_mint",
    "ui_extension",
    "ui_token_amount",
    "unpack_mint",
    "unpack_token_account",
]
