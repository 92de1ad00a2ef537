"""Base58 for the localnet: the platform's codec, with errors worded as a validator words them."""

from __future__ import annotations

from apps.chain import base58 as _base58
from apps.chain.base58 import ALPHABET, b58encode

__all__ = ["ALPHABET", "b58decode", "b58encode"]


def b58decode(text: str) -> bytes:
    """Decode; a bad character raises ValueError in the Rust bs58 crate's wording."""
    try:
        return _base58.b58decode(text)
    except _base58.InvalidBase58Character as exc:
        raise ValueError(
            f"InvalidCharacter {{ character: {exc.character!r}, index: {exc.position} }}"
        ) from None
