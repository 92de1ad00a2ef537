"""Independent byte builders for golden tests: discriminators from sha256, fields packed with
`struct` in IDL order. Nothing here imports the codec under test."""

from __future__ import annotations

import hashlib
import struct

from solders.pubkey import Pubkey


def disc(namespace: str, name: str) -> bytes:
    return hashlib.sha256(f"{namespace}:{name}".encode()).digest()[:8]


def u64(v: int) -> bytes:
    return struct.pack("<Q", v)


def i64(v: int) -> bytes:
    return struct.pack("<q", v)


def u16(v: int) -> bytes:
    return struct.pack("<H", v)


def u8(v: int) -> bytes:
    return struct.pack("<B", v)


def boolean(v: bool) -> bytes:
    return struct.pack("<?", v)


def i128(v: int) -> bytes:
    lo, hi = v & (2**64 - 1), (v >> 64) & (2**64 - 1)  # two's complement, little-endian halves
    return struct.pack("<QQ", lo, hi)


def u128(v: int) -> bytes:
    return struct.pack("<QQ", v & (2**64 - 1), v >> 64)


def pk(key: Pubkey) -> bytes:
    return bytes(key)


def string(s: str) -> bytes:
    raw = s.encode()
    return struct.pack("<I", len(raw)) + raw


def vec(items: list[bytes]) -> bytes:
    return struct.pack("<I", len(items)) + b"".join(items)


def pda(seeds: list[bytes], program: Pubkey) -> Pubkey:
    return Pubkey.find_program_address(seeds, program)[0]


def keys(n: int) -> list[Pubkey]:
    return [Pubkey.new_unique() for _ in range(n)]


# Independent copies of the SPL ids an ATA derives from (not imported from the code under test).
SPL_TOKEN = Pubkey.from_string("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA")
SPL_ATA_PROGRAM = Pubkey.from_string("ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL")


def ata(owner: Pubkey, mint: Pubkey, token_program: Pubkey = SPL_TOKEN) -> Pubkey:
    """Associated token account: seeds [owner, token program, mint] under the ATA program."""
    return pda([pk(owner), pk(token_program), pk(mint)], SPL_ATA_PROGRAM)
