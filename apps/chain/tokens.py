"""SPL Token and Token-2022 state, unpacked from raw account bytes (no RPC, no rendering).

One implementation for the platform (token safety, balances) and the localnet (which renders
validator-shaped `jsonParsed` from it in `apps/chain/localnet/token_parsing.py`).

The unpack rules are Token-2022's `StateWithExtensions::unpack`: a base Account is 165 bytes
and a base Mint 82; with extensions either is padded to 165 bytes, followed by the
AccountType byte (1 mint, 2 account) and TLV entries (u16 type, u16 length, value). A
355-byte account is always a multisig, never a mint or account.

Layouts: solana-program/token-2022 `interface/src/extension/*`, summarised in
/work/shared/reference/solana-facts.md section 7.3.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from solders.pubkey import Pubkey

from apps.chain.programs.ids import TOKEN_2022_PROGRAM_ID, TOKEN_PROGRAM_ID, WSOL_MINT

TOKEN_PROGRAMS = (TOKEN_PROGRAM_ID, TOKEN_2022_PROGRAM_ID)
NATIVE_MINT = WSOL_MINT
NATIVE_MINT_DECIMALS = 9

ACCOUNT_LEN = 165
MINT_LEN = 82
MULTISIG_LEN = 355
ACCOUNT_TYPE_MINT = 1
ACCOUNT_TYPE_ACCOUNT = 2
MINT_OFFSET = 0
OWNER_OFFSET = 32
DELEGATE_OFFSET = 72  # COption tag (u32); the delegate key follows at 76
ACCOUNT_STATE_UNINITIALIZED = 0
ACCOUNT_STATE_INITIALIZED = 1
ACCOUNT_STATE_FROZEN = 2


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

    @property
    def is_frozen(self) -> bool:
        return self.state == ACCOUNT_STATE_FROZEN


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


# ---- typed mint extensions ------------------------------------------------------------
# Decoded views of the mint-side extensions that decide whether holders can trade. An
# all-zero OptionalNonZeroPubkey means None.

MAX_FEE_BASIS_POINTS = 10_000


def _optional_nonzero_key(raw: bytes) -> Pubkey | None:
    return Pubkey.from_bytes(raw) if any(raw) else None


@dataclass(frozen=True)
class TransferFee:
    """One transfer-fee schedule entry: in force from `epoch` on."""

    epoch: int
    maximum_fee: int
    basis_points: int

    def fee(self, amount: int) -> int:
        """Token-2022's TransferFee::calculate_fee: ceil(amount * bps / 10000), capped."""
        if self.basis_points == 0 or amount == 0:
            return 0
        raw = -(-amount * self.basis_points // MAX_FEE_BASIS_POINTS)
        return min(raw, self.maximum_fee)


@dataclass(frozen=True)
class TransferFeeConfig:
    config_authority: Pubkey | None
    withdraw_withheld_authority: Pubkey | None
    withheld_amount: int
    older: TransferFee
    newer: TransferFee

    def in_force(self, epoch: int) -> TransferFee:
        """The schedule entry that applies in `epoch` (newer once its epoch is reached)."""
        return self.newer if epoch >= self.newer.epoch else self.older


@dataclass(frozen=True)
class TransferHookConfig:
    authority: Pubkey | None
    program_id: Pubkey | None


@dataclass(frozen=True)
class PausableConfig:
    authority: Pubkey | None
    paused: bool


@dataclass(frozen=True)
class ConfidentialTransferMint:
    authority: Pubkey | None
    auto_approve_new_accounts: bool
    has_auditor: bool


@dataclass(frozen=True)
class MintExtensions:
    """The mint-side extensions a mint carries; None/False when absent."""

    types: tuple[int, ...] = ()
    transfer_fee: TransferFeeConfig | None = None
    transfer_hook: TransferHookConfig | None = None
    permanent_delegate: Pubkey | None = None
    has_permanent_delegate: bool = False
    non_transferable: bool = False
    default_account_state: int | None = None
    pausable: PausableConfig | None = None
    close_authority: Pubkey | None = None
    has_close_authority: bool = False
    confidential_transfer: ConfidentialTransferMint | None = None


def _transfer_fee(raw: bytes, offset: int) -> TransferFee:
    epoch, maximum_fee, bps = struct.unpack_from("<QQH", raw, offset)
    return TransferFee(epoch=epoch, maximum_fee=maximum_fee, basis_points=bps)


def mint_extensions(mint: MintState) -> MintExtensions:
    """Decode the trading-relevant extensions of `mint`; a value of the wrong size is skipped
    (Token-2022 itself could not read it either)."""
    values: dict[str, object] = {"types": tuple(t for t, _ in mint.extensions)}
    for ext_type, raw in mint.extensions:
        if ext_type in EXTENSION_SIZES and len(raw) != EXTENSION_SIZES[ext_type]:
            continue
        if ext_type == ExtensionType.TRANSFER_FEE_CONFIG:
            values["transfer_fee"] = TransferFeeConfig(
                config_authority=_optional_nonzero_key(raw[0:32]),
                withdraw_withheld_authority=_optional_nonzero_key(raw[32:64]),
                withheld_amount=struct.unpack_from("<Q", raw, 64)[0],
                older=_transfer_fee(raw, 72),
                newer=_transfer_fee(raw, 90),
            )
        elif ext_type == ExtensionType.TRANSFER_HOOK:
            values["transfer_hook"] = TransferHookConfig(
                authority=_optional_nonzero_key(raw[0:32]),
                program_id=_optional_nonzero_key(raw[32:64]),
            )
        elif ext_type == ExtensionType.PERMANENT_DELEGATE:
            values["has_permanent_delegate"] = True
            values["permanent_delegate"] = _optional_nonzero_key(raw)
        elif ext_type == ExtensionType.NON_TRANSFERABLE:
            values["non_transferable"] = True
        elif ext_type == ExtensionType.DEFAULT_ACCOUNT_STATE:
            values["default_account_state"] = raw[0]
        elif ext_type == ExtensionType.PAUSABLE:
            values["pausable"] = PausableConfig(
                authority=_optional_nonzero_key(raw[0:32]), paused=raw[32] != 0
            )
        elif ext_type == ExtensionType.MINT_CLOSE_AUTHORITY:
            values["has_close_authority"] = True
            values["close_authority"] = _optional_nonzero_key(raw)
        elif ext_type == ExtensionType.CONFIDENTIAL_TRANSFER_MINT:
            values["confidential_transfer"] = ConfidentialTransferMint(
                authority=_optional_nonzero_key(raw[0:32]),
                auto_approve_new_accounts=raw[32] != 0,
                has_auditor=any(raw[33:65]),
            )
    return MintExtensions(**values)  # type: ignore[arg-type]


_EXTENSION_NAMES = {
    value: name.lower()
    for name, value in vars(ExtensionType).items()
    if not name.startswith("_") and isinstance(value, int)
}


def extension_name(ext_type: int) -> str:
    """snake_case name of an ExtensionType number ("transfer_fee_config")."""
    return _EXTENSION_NAMES.get(ext_type, f"unknown_{ext_type}")


__all__ = [
    "ACCOUNT_LEN",
    "ACCOUNT_STATE_FROZEN",
    "ACCOUNT_STATE_INITIALIZED",
    "MINT_LEN",
    "MULTISIG_LEN",
    "NATIVE_MINT",
    "TOKEN_PROGRAMS",
    "ConfidentialTransferMint",
    "ExtensionType",
    "MintExtensions",
    "MintState",
    "PausableConfig",
    "TokenAccountState",
    "TransferFee",
    "TransferFeeConfig",
    "TransferHookConfig",
    "account_len_with_extensions",
    "extension_entries",
    "extension_name",
    "is_valid_token_account_data",
    "mint_extensions",
    "token_account_mint",
    "unpack_mint",
    "unpack_token_account",
]


def ui_amount(raw: int, decimals: int) -> str:
    """Exact decimal text of `raw` base units, signed: (1_500_000, 6) -> "1.5",
    (-1_500_000, 6) -> "-1.5", (0, 9) -> "0". Never a float, which loses low digits."""
    sign = "-" if raw < 0 else ""
    whole, fraction = divmod(abs(raw), 10**decimals)
    digits = f"{fraction:0{decimals}d}".rstrip("0") if decimals else ""
    return f"{sign}{whole}.{digits}" if digits else f"{sign}{whole}"
