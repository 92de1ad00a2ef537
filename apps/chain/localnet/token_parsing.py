"""SPL Token and Token-2022 account data, rendered the way a validator's account-decoder does.

`parse_token_account_data` gives the `jsonParsed` body a validator answers for a token
account or mint (`{"program": "spl-token-2022", "parsed": {...}, "space": N}`), Token-2022
extensions included. The unpacking itself (StateWithExtensions::unpack, TLV entries) is
the platform's `apps/chain/tokens.py`; this module only renders it.

Layouts: solana-program/token-2022 `interface/src/extension/*`, summarised in
/work/shared/reference/solana-facts.md section 7.3.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Callable
from typing import Any

from solders.account import Account
from solders.pubkey import Pubkey

# The pure unpacking is platform code, shared with the localnet; re-exported here so the
# localnet modules keep importing token layouts from one place.
from apps.chain.tokens import (
    ACCOUNT_LEN,
    ACCOUNT_TYPE_ACCOUNT,
    ACCOUNT_TYPE_MINT,
    DELEGATE_OFFSET,
    EXTENSION_SIZES,
    MINT_LEN,
    MINT_OFFSET,
    MULTISIG_LEN,
    NATIVE_MINT,
    NATIVE_MINT_DECIMALS,
    OWNER_OFFSET,
    TOKEN_PROGRAMS,
    ExtensionType,
    MintState,
    TokenAccountState,
    account_len_with_extensions,
    extension_entries,
    is_valid_token_account_data,
    token_account_mint,
    unpack_mint,
    unpack_token_account,
)

from .records import TOKEN_2022_PROGRAM, TOKEN_PROGRAM

_PROGRAM_NAMES = {TOKEN_PROGRAM: "spl-token", TOKEN_2022_PROGRAM: "spl-token-2022"}
_ACCOUNT_STATES = ("uninitialized", "initialized", "frozen")


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
    "ACCOUNT_TYPE_ACCOUNT",
    "ACCOUNT_TYPE_MINT",
    "DELEGATE_OFFSET",
    "EXTENSION_SIZES",
    "MINT_LEN",
    "MINT_OFFSET",
    "MULTISIG_LEN",
    "NATIVE_MINT",
    "NATIVE_MINT_DECIMALS",
    "OWNER_OFFSET",
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
