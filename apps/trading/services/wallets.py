"""Custodial wallets: generate, import, list with balances, sign, rotate the key.

Secret keys are sealed with AES-256-GCM under WALLET_ENCRYPTION_KEY (a random 96-bit
nonce per seal, the wallet's public key as associated data, so a ciphertext moved to
another row does not open). `wallet_keypair` is the one place a secret is opened, in
memory, to sign. Keys rotate by putting the old key in WALLET_ENCRYPTION_OLD_KEYS, the new
one in WALLET_ENCRYPTION_KEY, and running `manage.py rotate_wallet_key`.

No function here returns, logs or puts a secret in an exception message: errors name the
wallet's public key and what is wrong, never the bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.db import IntegrityError, transaction
from solders.keypair import Keypair

from apps.chain.base58 import b58decode
from apps.chain.rpc_pool import rpc_pool
from apps.trading.models import Wallet
from config.api_errors import ApiError

NONCE_BYTES = 12
LAMPORTS_PER_SOL = 1_000_000_000
MAX_ACCOUNTS_PER_CALL = 100  # getMultipleAccounts' limit


class WalletError(ApiError):
    status = 422
    code = "invalid_wallet"


class WalletExists(ApiError):
    status = 409
    code = "wallet_exists"


class WalletNotFound(ApiError):
    status = 404
    code = "not_found"


class WalletSealError(Exception):
    """A sealed secret that does not open: wrong key, tampered, or moved to another row."""


# ---- keys and sealing -----------------------------------------------------------------------


def _key_bytes(encoded: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(encoded)
    except (binascii.Error, ValueError):
        raise ValueError("a wallet encryption key is urlsafe base64 of 32 bytes") from None
    if len(key) != 32:
        raise ValueError("a wallet encryption key is urlsafe base64 of 32 bytes")
    return key


def key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:16]


def _keys() -> tuple[tuple[str, bytes], dict[str, bytes]]:
    """(current key id and key, every known key by id including the current one)."""
    current = _key_bytes(settings.WALLET_ENCRYPTION_KEY)
    known = {key_id(current): current}
    for encoded in settings.WALLET_ENCRYPTION_OLD_KEYS:
        old = _key_bytes(encoded)
        known.setdefault(key_id(old), old)
    return (key_id(current), current), known


def seal(secret: bytes, pubkey: str) -> tuple[bytes, str]:
    """(ciphertext, key id) of `secret` under the current key, bound to `pubkey`."""
    (current_id, key), _ = _keys()
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, secret, pubkey.encode()), current_id


def unseal(sealed: bytes, sealed_key_id: str, pubkey: str) -> bytes:
    _, known = _keys()
    key = known.get(sealed_key_id)
    if key is None:
        raise WalletSealError(f"wallet {pubkey}: sealed under unknown key {sealed_key_id}")
    sealed = bytes(sealed)
    try:
        return AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], pubkey.encode())
    except InvalidTag:
        raise WalletSealError(f"wallet {pubkey}: the sealed key does not open") from None


def wallet_keypair(wallet: Wallet) -> Keypair:
    """The wallet's keypair, in memory, to sign with. Checks that it is this wallet's."""
    keypair = Keypair.from_bytes(unseal(wallet.encrypted_secret, wallet.key_id, wallet.pubkey))
    if str(keypair.pubkey()) != wallet.pubkey:
        raise WalletSealError(f"wallet {wallet.pubkey}: the sealed key is another wallet's")
    return keypair


# ---- import formats -------------------------------------------------------------------------


def parse_secret(text: str) -> Keypair:
    """A keypair from what wallets export: base58 of the 64-byte secret (Phantom, Solflare)
    or a keypair file's JSON array of 64 numbers (solana-keygen). WalletError names what is
    wrong without repeating the input."""
    if not isinstance(text, str) or not text.strip():
        raise WalletError("the secret key is empty", field="secret_key")
    text = text.strip()
    if text.startswith("["):
        try:
            numbers = json.loads(text)
        except ValueError:
            raise WalletError("not a valid JSON array of bytes", field="secret_key") from None
        if not isinstance(numbers, list) or not all(
            isinstance(n, int) and not isinstance(n, bool) and 0 <= n <= 255 for n in numbers
        ):
            raise WalletError("the JSON array must hold numbers 0-255", field="secret_key")
        raw = bytes(numbers)
    else:
        try:
            raw = b58decode(text)
        except ValueError:
            raise WalletError("not base58 (nor a JSON byte array)", field="secret_key") from None
    if len(raw) != 64:
        raise WalletError(
            f"a secret key is 64 bytes (seed and public key), got {len(raw)}", field="secret_key"
        )
    try:
        keypair = Keypair.from_bytes(raw)
    except ValueError:
        raise WalletError("not a valid ed25519 keypair", field="secret_key") from None
    if bytes(keypair.pubkey()) != raw[32:]:
        raise WalletError("its public half does not match its seed", field="secret_key")
    return keypair


# ---- the user's wallets ---------------------------------------------------------------------


async def _store(user_id: int, keypair: Keypair, label: str) -> Wallet:
    pubkey = str(keypair.pubkey())
    sealed, sealed_key_id = seal(bytes(keypair), pubkey)
    try:
        return await Wallet.objects.acreate(
            user_id=user_id,
            label=label,
            pubkey=pubkey,
            encrypted_secret=sealed,
            key_id=sealed_key_id,
        )
    except IntegrityError:
        raise WalletExists(f"wallet {pubkey} is already registered", field="secret_key") from None


async def generate_wallet(*, user_id: int, label: str = "") -> Wallet:
    return await _store(user_id, Keypair(), label)


async def import_wallet(*, user_id: int, secret_key: str, label: str = "") -> Wallet:
    return await _store(user_id, parse_secret(secret_key), label)


async def user_wallet(*, user_id: int, pubkey: str) -> Wallet:
    """One of the user's active wallets; someone else's reads as not found."""
    wallet = await Wallet.objects.filter(user_id=user_id, pubkey=pubkey, archived=False).afirst()
    if wallet is None:
        raise WalletNotFound("no such wallet among yours", field="wallet")
    return wallet


@dataclass(frozen=True)
class WalletBalance:
    wallet: Wallet
    lamports: int | None  # None: the account does not exist yet (never funded)


async def list_wallets(*, user_id: int, commitment: str = "confirmed") -> tuple[list, int | None]:
    """The user's active wallets with SOL balances (one getMultipleAccounts per 100), and the
    slot they were read at."""
    wallets = [
        w
        async for w in Wallet.objects.filter(user_id=user_id, archived=False).order_by(
            "created_at", "pk"
        )
    ]
    balances: list[WalletBalance] = []
    slot = None
    for start in range(0, len(wallets), MAX_ACCOUNTS_PER_CALL):
        chunk = wallets[start : start + MAX_ACCOUNTS_PER_CALL]
        answer = await rpc_pool().call(
            "getMultipleAccounts",
            [
                [w.pubkey for w in chunk],
                {
                    "encoding": "base64",
                    "dataSlice": {"offset": 0, "length": 0},
                    "commitment": commitment,
                },
            ],
        )
        slot = answer["context"]["slot"]
        for wallet, account in zip(chunk, answer["value"], strict=True):
            balances.append(WalletBalance(wallet, account["lamports"] if account else 0))
    return balances, slot


# ---- key rotation ---------------------------------------------------------------------------


@dataclass
class RotationReport:
    rotated: int = 0
    already_current: int = 0
    unreadable: list[str] | None = None


def rotate_wallet_keys(batch: int = 200) -> RotationReport:
    """Re-seal every wallet not under the current key with it; idempotent. A wallet that
    does not open with any known key is reported (by public key) and left as it is."""
    (current_id, _), _ = _keys()
    report = RotationReport(unreadable=[])
    report.already_current = Wallet.objects.filter(key_id=current_id).count()
    last_pk = 0
    while True:
        with transaction.atomic():
            rows = list(
                Wallet.objects.select_for_update()
                .filter(pk__gt=last_pk)
                .exclude(key_id=current_id)
                .order_by("pk")[:batch]
            )
            if not rows:
                return report
            for wallet in rows:
                last_pk = wallet.pk
                try:
                    secret = unseal(wallet.encrypted_secret, wallet.key_id, wallet.pubkey)
                except WalletSealError:
                    report.unreadable.append(wallet.pubkey)
                    continue
                wallet.encrypted_secret, wallet.key_id = seal(secret, wallet.pubkey)
                wallet.save(update_fields=["encrypted_secret", "key_id"])
                report.rotated += 1
