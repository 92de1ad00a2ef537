"""Base58 (Bitcoin alphabet) decoding for the platform: wire transactions clients send as base58.

Inputs are at most a transaction packet (1,232 bytes, 1,683 characters), so Python's big
integers are fast enough. Kept free of the localnet package, whose import loads LiteSVM.
"""

from __future__ import annotations

ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_INDEX = {c: i for i, c in enumerate(ALPHABET)}


class InvalidBase58Character(ValueError):
    """A character outside the alphabet, and where it stands."""

    def __init__(self, character: str, position: int) -> None:
        super().__init__(f"{character!r} at position {position} is not a base58 character")
        self.character = character
        self.position = position


def b58decode(text: str) -> bytes:
    """Decode; raises InvalidBase58Character (a ValueError) at the first bad character."""
    number = 0
    for position, char in enumerate(text):
        digit = _INDEX.get(char)
        if digit is None:
            raise InvalidBase58Character(char, position)
        number = number * 58 + digit
    zeros = len(text) - len(text.lstrip("1"))
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    return b"\0" * zeros + body


def b58encode(data: bytes) -> str:
    zeros = len(data) - len(data.lstrip(b"\0"))
    number = int.from_bytes(data, "big")
    out = []
    while number:
        number, rem = divmod(number, 58)
        out.append(ALPHABET[rem])
    return "1" * zeros + "".join(reversed(out))
