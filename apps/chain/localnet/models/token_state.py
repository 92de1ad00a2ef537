"""SPL token and lamport movements a modelled program makes, written in the real layouts.

A real program moves tokens and SOL by CPI into the token and system programs; a model
writes the resulting account bytes directly. Layouts are the SPL Token ones (Token-2022
shares the base layout): mint 82 bytes, token account 165 bytes.
"""

from __future__ import annotations

import struct

from solders.account import Account
from solders.pubkey import Pubkey

from ..modelled import AccountState, ProgramFailure
from ..records import NATIVE_MINT, NATIVE_MINT_2022, SYSTEM_PROGRAM
from ..token_parsing import unpack_mint, unpack_token_account

NATIVE_MINTS = (NATIVE_MINT, NATIVE_MINT_2022)
MINT_LEN = 82
TOKEN_ACCOUNT_LEN = 165
_AMOUNT_OFFSET = 64
_SUPPLY_OFFSET = 36
_INITIALIZED = 1
# The system and token programs' own error codes, which surface through a failed CPI.
SYSTEM_INSUFFICIENT_FUNDS = 1
TOKEN_INSUFFICIENT_FUNDS = 1


def _with(account: Account, *, lamports: int | None = None, data: bytes | None = None) -> Account:
    return Account(
        lamports=account.lamports if lamports is None else lamports,
        data=bytes(account.data) if data is None else data,
        owner=account.owner,
        executable=account.executable,
        rent_epoch=account.rent_epoch,
    )


def lamports(state: AccountState, pubkey: Pubkey) -> int:
    account = state.get(pubkey)
    return account.lamports if account else 0


def move_lamports(state: AccountState, source: Pubkey, destination: Pubkey, amount: int) -> None:
    """What a system transfer (or a program debiting an account it owns) leaves behind."""
    if amount == 0 or source == destination:
        return
    src = state.get(source)
    if src is None or src.lamports < amount:
        raise ProgramFailure(
            SYSTEM_INSUFFICIENT_FUNDS,
            "InsufficientFunds",
            f"Transfer: insufficient lamports {lamports(state, source)}, need {amount}",
            [f"Transfer: insufficient lamports {lamports(state, source)}, need {amount}"],
        )
    state.set(source, _with(src, lamports=src.lamports - amount))
    dst = state.get(destination) or Account(
        lamports=0, data=b"", owner=SYSTEM_PROGRAM, executable=False
    )
    state.set(destination, _with(dst, lamports=dst.lamports + amount))


def token_account(state: AccountState, pubkey: Pubkey) -> tuple[Pubkey, Pubkey, int] | None:
    """(mint, owner, amount) of an initialized token account, else None."""
    account = state.get(pubkey)
    if account is None:
        return None
    parsed = unpack_token_account(bytes(account.data))
    if parsed is None:
        return None
    return parsed.mint, parsed.owner, parsed.amount


def token_amount(state: AccountState, pubkey: Pubkey) -> int:
    found = token_account(state, pubkey)
    return found[2] if found else 0


def set_token_amount(state: AccountState, pubkey: Pubkey, amount: int) -> None:
    account = state.get(pubkey)
    assert account is not None
    data = bytearray(bytes(account.data))
    struct.pack_into("<Q", data, _AMOUNT_OFFSET, amount)
    state.set(pubkey, _with(account, data=bytes(data)))


def move_tokens(state: AccountState, source: Pubkey, destination: Pubkey, amount: int) -> None:
    """A token transfer between two accounts of the same mint."""
    src = token_account(state, source)
    dst = token_account(state, destination)
    if src is None or dst is None or src[0] != dst[0]:
        raise ProgramFailure(3, "MintMismatch", "Error: Account not associated with this Mint")
    if src[2] < amount:
        raise ProgramFailure(
            TOKEN_INSUFFICIENT_FUNDS,
            "InsufficientFunds",
            "Error: insufficient funds",
            ["Program log: Error: insufficient funds"],
        )
    if source != destination and amount:
        set_token_amount(state, source, src[2] - amount)
        set_token_amount(state, destination, dst[2] + amount)
        if src[0] in NATIVE_MINTS:
            # Wrapped SOL is lamports: the balance moves with the token amount.
            move_lamports(state, source, destination, amount)


def mint_supply(state: AccountState, mint: Pubkey) -> int:
    account = state.get(mint)
    parsed = unpack_mint(bytes(account.data)) if account else None
    return parsed.supply if parsed else 0


def set_mint_supply(state: AccountState, mint: Pubkey, supply: int) -> None:
    account = state.get(mint)
    assert account is not None
    data = bytearray(bytes(account.data))
    struct.pack_into("<Q", data, _SUPPLY_OFFSET, supply)
    state.set(mint, _with(account, data=bytes(data)))


def _coption(key: Pubkey | None) -> bytes:
    return struct.pack("<I", 1) + bytes(key) if key is not None else bytes(36)


def mint_data(*, decimals: int, supply: int, mint_authority: Pubkey | None) -> bytes:
    """An initialized mint without a freeze authority."""
    return (
        _coption(mint_authority)
        + struct.pack("<QBB", supply, decimals, _INITIALIZED)
        + _coption(None)
    )


def token_account_data(
    *, mint: Pubkey, owner: Pubkey, amount: int, native_rent: int | None = None
) -> bytes:
    """An initialized token account with no delegate and no close authority; a wrapped-SOL
    account carries its rent-exempt reserve in is_native, as SyncNative expects."""
    native = struct.pack("<IQ", 1, native_rent) if native_rent is not None else bytes(12)
    return (
        bytes(mint)
        + bytes(owner)
        + struct.pack("<Q", amount)
        + _coption(None)
        + bytes([_INITIALIZED])
        + native
        + struct.pack("<Q", 0)
        + _coption(None)
    )


def create_account(
    state: AccountState, payer: Pubkey, pubkey: Pubkey, *, owner: Pubkey, data: bytes
) -> None:
    """What system create_account + the owner's init leave: rent paid by `payer`."""
    rent = state.rent_exempt_minimum(len(data))
    existing = state.get(pubkey)
    prefunded = existing.lamports if existing else 0
    if existing is not None and (bytes(existing.data) or existing.owner != SYSTEM_PROGRAM):
        raise ProgramFailure(0, "AccountAlreadyInUse", f"Allocate: account {pubkey} already in use")
    move_lamports(state, payer, pubkey, max(0, rent - prefunded))
    funded = state.get(pubkey)
    state.set(
        pubkey,
        Account(
            lamports=funded.lamports if funded else rent, data=data, owner=owner, executable=False
        ),
    )
