"""IDL-driven Borsh/Anchor codec: accounts, events, instructions and PDAs of any Anchor program.

One `AnchorProgram` is built per IDL JSON (Anchor >= 0.30 format, as pump.fun publishes it) and
compiles every type once into encoder/decoder closures, so every account, event and instruction
the IDL defines can be read and written without hand-written layouts.

Wire format (Anchor):
- account data = 8-byte discriminator + Borsh(struct); event = 8-byte discriminator + Borsh(struct);
  instruction data = 8-byte discriminator + Borsh(args in IDL order). The IDL carries the
  discriminators (sha256("account:<Name>" / "event:<Name>" / "global:<name>")[:8]).
- `emit!` logs events as `Program data: <base64(disc + borsh)>`; `emit_cpi!` invokes the program
  itself with data EVENT_IX_TAG_LE + disc + borsh, signed by the `__event_authority` PDA.
- Borsh: little-endian integers, bool = 1 byte, pubkey = 32 bytes, string/bytes = u32 length +
  bytes, Option = 1-byte tag (0 None, 1 Some) + value, Vec = u32 count + items, [T; N] = N items,
  enum = u8 variant index + fields.

Programs grow by appending fields. Live accounts and events may therefore be SHORTER than the
IDL (written by an older program version: e.g. 49/81/115-byte bonding curves) or LONGER (accounts
are often reallocated with zero padding, and the live program can run ahead of the IDL). Top-level
decoding is lenient about both: a struct that ends exactly at a field boundary gets zero values for
the missing tail, and extra trailing bytes are ignored. A field cut in the middle is an error.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import json
import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from solders.instruction import AccountMeta, Instruction
from solders.pubkey import Pubkey

DISCRIMINATOR_SIZE = 8
# Anchor's EVENT_IX_TAG is the u64 0x1d9acb512ea545e4 (= sha256("anchor:event")[:8] read big-endian)
# written little-endian at the start of every emit_cpi! self-invocation.
EVENT_IX_TAG_LE = bytes.fromhex("e445a52e51cb9a1d")
PROGRAM_DATA_PREFIX = "Program data: "


class IdlError(ValueError):
    """The IDL names something it does not define, or uses a type this codec does not know."""


class DecodeError(ValueError):
    """Bytes that are not a valid Borsh value of the expected IDL type."""


class EncodeError(ValueError):
    """A Python value that cannot be written as the expected IDL type (range, type or length)."""


class MissingAccountError(ValueError):
    """An instruction account that is neither given, a fixed address, nor a derivable PDA."""


def sighash(namespace: str, name: str) -> bytes:
    """Anchor discriminator: sha256("<namespace>:<name>")[:8]."""
    return hashlib.sha256(f"{namespace}:{name}".encode()).digest()[:DISCRIMINATOR_SIZE]


# --------------------------------------------------------------------------------------------
# Borsh primitives
# --------------------------------------------------------------------------------------------


class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos

    @property
    def remaining(self) -> int:
        return len(self.data) - self.pos

    def take(self, n: int) -> bytes:
        end = self.pos + n
        if end > len(self.data):
            raise DecodeError(f"need {n} bytes at offset {self.pos}, only {self.remaining} left")
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk


Decoder = Callable[[_Reader], Any]
Encoder = Callable[[Any, bytearray], None]

_FIXED_INTS = {
    "u8": "<B",
    "i8": "<b",
    "u16": "<H",
    "i16": "<h",
    "u32": "<I",
    "i32": "<i",
    "u64": "<Q",
    "i64": "<q",
    "f32": "<f",
    "f64": "<d",
}
_WIDE_INTS = {"u128": (16, False), "i128": (16, True), "u256": (32, False), "i256": (32, True)}
_LEN = struct.Struct("<I")


def _fixed_codec(name: str, fmt: str) -> tuple[Decoder, Encoder]:
    packer = struct.Struct(fmt)
    size = packer.size
    is_float = name.startswith("f")

    def decode(r: _Reader) -> Any:
        return packer.unpack(r.take(size))[0]

    def encode(value: Any, out: bytearray) -> None:
        wanted = (int, float) if is_float else int
        if isinstance(value, bool) or not isinstance(value, wanted):
            raise EncodeError(f"{name} expects a number, got {type(value).__name__}")
        try:
            out += packer.pack(value)
        except struct.error as exc:
            raise EncodeError(f"{value!r} does not fit in {name}") from exc

    return decode, encode


def _wide_codec(name: str, size: int, signed: bool) -> tuple[Decoder, Encoder]:
    def decode(r: _Reader) -> int:
        return int.from_bytes(r.take(size), "little", signed=signed)

    def encode(value: Any, out: bytearray) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise EncodeError(f"{name} expects an int, got {type(value).__name__}")
        try:
            out += value.to_bytes(size, "little", signed=signed)
        except OverflowError as exc:
            raise EncodeError(f"{value!r} does not fit in {name}") from exc

    return decode, encode


def _bool_decode(r: _Reader) -> bool:
    byte = r.take(1)[0]
    if byte > 1:
        raise DecodeError(f"invalid bool byte {byte}")
    return byte == 1


def _bool_encode(value: Any, out: bytearray) -> None:
    if not isinstance(value, bool):
        raise EncodeError(f"bool expects True/False, got {type(value).__name__}")
    out.append(1 if value else 0)


def _pubkey_decode(r: _Reader) -> Pubkey:
    return Pubkey.from_bytes(r.take(32))


def _pubkey_encode(value: Any, out: bytearray) -> None:
    if isinstance(value, Pubkey):
        out += bytes(value)
    elif isinstance(value, str):
        try:
            out += bytes(Pubkey.from_string(value))
        except ValueError as exc:
            raise EncodeError(f"invalid pubkey {value!r}") from exc
    elif isinstance(value, bytes | bytearray) and len(value) == 32:
        out += value
    else:
        raise EncodeError(f"pubkey expects a Pubkey, got {type(value).__name__}")


def _bytes_decode(r: _Reader) -> bytes:
    (n,) = _LEN.unpack(r.take(4))
    return r.take(n)


def _bytes_encode(value: Any, out: bytearray) -> None:
    if not isinstance(value, bytes | bytearray):
        raise EncodeError(f"bytes expects bytes, got {type(value).__name__}")
    out += _LEN.pack(len(value)) + value


def _string_decode(r: _Reader) -> str:
    raw = _bytes_decode(r)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecodeError("string is not valid UTF-8") from exc


def _string_encode(value: Any, out: bytearray) -> None:
    if not isinstance(value, str):
        raise EncodeError(f"string expects str, got {type(value).__name__}")
    _bytes_encode(value.encode("utf-8"), out)


_PRIMITIVE_DEFAULTS: dict[str, Any] = {
    "bool": False,
    "pubkey": Pubkey.default(),
    "string": "",
    "bytes": b"",
    "f32": 0.0,
    "f64": 0.0,
}


def _field(value: Any, name: str) -> Any:
    """A struct field from a dict or an object (typed dataclass wrappers)."""
    try:
        if isinstance(value, Mapping):
            return value[name]
        return getattr(value, name)
    except (KeyError, AttributeError):
        raise EncodeError(f"missing field {name!r}") from None


# --------------------------------------------------------------------------------------------
# Compiled types
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class _Compiled:
    decode: Decoder
    encode: Encoder
    default: Callable[[], Any]


# Fixed-size primitives a struct.Struct can read in one call, with the conversion (if any)
# from what struct yields to what the field codec returns.
_PACKED: dict[str, tuple[str, Callable[[Any], Any] | None]] = {
    **{t: (fmt[1:], None) for t, fmt in _FIXED_INTS.items()},
    **{
        t: (f"{size}s", lambda raw, signed=signed: int.from_bytes(raw, "little", signed=signed))
        for t, (size, signed) in _WIDE_INTS.items()
    },
    "pubkey": ("32s", Pubkey.from_bytes),
}


def _checked_bool(byte: int) -> bool:
    if byte > 1:
        raise DecodeError(f"invalid bool byte {byte}")
    return byte == 1


def _packed(t: Any) -> tuple[str, Callable[[Any], Any] | None] | None:
    """How a struct.Struct reads an IDL type, or None when the type has no fixed size."""
    if isinstance(t, str):
        if t == "bool":
            return "B", _checked_bool
        return _PACKED.get(t)
    if isinstance(t, Mapping) and "array" in t:
        inner_t, length = t["array"]
        if inner_t == "u8" and isinstance(length, int):
            return f"{length}s", None
    return None


class _Run(NamedTuple):
    """Consecutive struct fields read in one unpack (packer None: one variable-size field)."""

    start: int
    packer: struct.Struct | None
    converts: tuple[tuple[int, Callable[[Any], Any]], ...]


@dataclasses.dataclass
class _StructCodec:
    """A defined struct: field codecs plus the Python type to build (dataclass, dict or tuple)."""

    name: str
    field_names: list[str] | None  # None for tuple structs
    fields: list[_Compiled]
    factory: Callable[..., Any] | None = None
    types: list[Any] | None = None  # the IDL types of `fields` (for the fast path)
    _runs: list[_Run] | None = dataclasses.field(default=None, repr=False)
    _built_by: Any = dataclasses.field(default=None, repr=False)
    _positional: bool = dataclasses.field(default=False, repr=False)

    def build(self, values: list[Any]) -> Any:
        if self.field_names is None:
            return tuple(values)
        factory = self.factory
        if factory is None:
            return dict(zip(self.field_names, values, strict=True))
        if factory is not self._built_by:
            self._built_by = factory
            self._positional = _init_order(factory) == self.field_names
        if self._positional:
            return factory(*values)
        return factory(**dict(zip(self.field_names, values, strict=True)))

    def _plan(self) -> list[_Run]:
        """Runs of fixed-size fields, each read by one precompiled struct.Struct."""
        runs: list[_Run] = []
        types = self.types if self.types is not None else [None] * len(self.fields)
        fmt, converts, start = "", [], 0
        for i, t in enumerate(types):
            packed = _packed(t)
            if packed is None:
                if fmt:
                    runs.append(_Run(start, struct.Struct("<" + fmt), tuple(converts)))
                runs.append(_Run(i, None, ()))
                fmt, converts, start = "", [], i + 1
                continue
            if packed[1] is not None:
                converts.append((i - start, packed[1]))
            fmt += packed[0]
        if fmt:
            runs.append(_Run(start, struct.Struct("<" + fmt), tuple(converts)))
        self._runs = runs
        return runs

    def decode(self, r: _Reader, lenient: bool = False) -> Any:
        runs = self._runs if self._runs is not None else self._plan()
        values: list[Any] = []
        data = r.data
        for start, packer, converts in runs:
            if packer is None:
                if lenient and r.remaining == 0:
                    values.extend(c.default() for c in self.fields[start:])
                    break
                values.append(self.fields[start].decode(r))
            elif len(data) - r.pos >= packer.size:
                chunk = packer.unpack_from(data, r.pos)
                r.pos += packer.size
                if converts:
                    chunk = list(chunk)
                    for i, convert in converts:
                        chunk[i] = convert(chunk[i])
                values.extend(chunk)
            else:
                # Short data (a legacy account, a cut event): field by field, for the
                # lenient tail and the exact error.
                self._decode_fields(r, lenient, values, start)
                break
        return self.build(values)

    def _decode_fields(self, r: _Reader, lenient: bool, values: list[Any], start: int) -> None:
        for i in range(start, len(self.fields)):
            if lenient and r.remaining == 0:
                values.extend(c.default() for c in self.fields[i:])
                return
            values.append(self.fields[i].decode(r))

    def encode(self, value: Any, out: bytearray) -> None:
        if self.field_names is None:
            items = value if isinstance(value, tuple | list) else (value,)
            if len(items) != len(self.fields):
                raise EncodeError(f"{self.name} expects {len(self.fields)} values")
            for codec, item in zip(self.fields, items, strict=True):
                codec.encode(item, out)
            return
        for fname, codec in zip(self.field_names, self.fields, strict=True):
            try:
                codec.encode(_field(value, fname), out)
            except EncodeError as exc:
                raise EncodeError(f"{self.name}.{fname}: {exc}") from None

    def default(self) -> Any:
        return self.build([c.default() for c in self.fields])


@dataclasses.dataclass(frozen=True)
class IdlInstruction:
    name: str
    discriminator: bytes
    args: list[dict[str, Any]]
    accounts: list[dict[str, Any]]


class _SeedInputs(NamedTuple):
    """What PDA seeds may read while one instruction's accounts are resolved."""

    ix: IdlInstruction
    known: Mapping[str, Pubkey]  # accounts resolved so far (grows while deriving)
    args: Mapping[str, Any]
    account_fields: Mapping[str, Pubkey]  # "account.field" seeds, e.g. bonding_curve.creator


@dataclasses.dataclass(frozen=True)
class ResolvedAccount:
    name: str
    pubkey: Pubkey
    is_writable: bool
    is_signer: bool

    def meta(self) -> AccountMeta:
        return AccountMeta(self.pubkey, is_signer=self.is_signer, is_writable=self.is_writable)


@dataclasses.dataclass(frozen=True)
class OtherEvent:
    """An IDL event the platform has no typed wrapper for (fields as a dict)."""

    name: str
    fields: dict[str, Any]


def event_value(name: str, value: Any) -> Any:
    """The typed event object, or OtherEvent when the event decoded to a plain dict."""
    return OtherEvent(name, value) if isinstance(value, dict) else value


@dataclasses.dataclass(frozen=True)
class DecodedInstruction:
    name: str
    args: dict[str, Any]


class AnchorProgram:
    """Codec for one Anchor program, compiled once from its IDL."""

    def __init__(self, idl: Mapping[str, Any]) -> None:
        self.idl = idl
        self.name: str = idl.get("metadata", {}).get("name", "")
        self.program_id = Pubkey.from_string(idl["address"])
        self._type_defs = {t["name"]: t for t in idl.get("types", [])}
        self._structs: dict[str, _StructCodec] = {}
        self._enums: dict[str, _Compiled] = {}
        self._factories: dict[str, Callable[..., Any]] = {}

        self.account_discriminators = {
            a["name"]: bytes(a["discriminator"]) for a in idl.get("accounts", [])
        }
        self.event_discriminators = {
            e["name"]: bytes(e["discriminator"]) for e in idl.get("events", [])
        }
        self._account_by_disc = {d: n for n, d in self.account_discriminators.items()}
        self._event_by_disc = {d: n for n, d in self.event_discriminators.items()}
        self.instructions = {
            ix["name"]: IdlInstruction(
                ix["name"], bytes(ix["discriminator"]), ix.get("args", []), ix.get("accounts", [])
            )
            for ix in idl.get("instructions", [])
        }
        self._ix_by_disc = {ix.discriminator: ix for ix in self.instructions.values()}
        self._arg_codecs = {
            ix.name: [self._compile(a["type"]) for a in ix.args]
            for ix in self.instructions.values()
        }
        for name in list(self.account_discriminators) + list(self.event_discriminators):
            self._struct(name)

    @classmethod
    def from_file(cls, path: str | Path) -> AnchorProgram:
        return cls(json.loads(Path(path).read_text()))

    # ----- type registry -----

    def register(self, type_name: str, factory: Callable[..., Any]) -> None:
        """Build `factory(**fields)` (e.g. a frozen dataclass) when struct `type_name` decodes."""
        self._struct(type_name).factory = factory

    def struct_fields(self, type_name: str) -> list[str]:
        codec = self._struct(type_name)
        return list(codec.field_names or [])

    def _struct(self, name: str) -> _StructCodec:
        codec = self._structs.get(name)
        if codec is not None:
            return codec
        tdef = self._type_defs.get(name)
        if tdef is None:
            raise IdlError(f"{self.name}: type {name!r} is not defined")
        body = tdef["type"]
        if body.get("kind") != "struct":
            raise IdlError(f"{self.name}: {name!r} is a {body.get('kind')}, not a struct")
        return self._fields_codec(name, body.get("fields", []), cache=True)

    def _fields_codec(
        self, name: str, raw_fields: list[Any], *, cache: bool = False
    ) -> _StructCodec:
        """Codec of IDL fields: named ({"name", "type"} entries) or a tuple (bare types).
        Struct definitions and enum variant payloads share this layout."""
        named = not raw_fields or isinstance(raw_fields[0], dict)
        codec = _StructCodec(name, [f["name"] for f in raw_fields] if named else None, [])
        if cache:
            self._structs[name] = codec  # before compiling fields: recursive types
        codec.types = [f["type"] if named else f for f in raw_fields]
        codec.fields = [self._compile(t) for t in codec.types]
        return codec

    def _enum(self, name: str, body: Mapping[str, Any]) -> _Compiled:
        if name in self._enums:
            return self._enums[name]
        variants = body.get("variants", [])
        names = [v["name"] for v in variants]
        payloads = [
            self._fields_codec(f"{name}::{v['name']}", v["fields"]) if v.get("fields") else None
            for v in variants
        ]

        # Unit variants decode to their name; variants with data to (name, fields).
        def decode(r: _Reader) -> Any:
            index = r.take(1)[0]
            if index >= len(names):
                raise DecodeError(f"{name}: invalid enum variant {index}")
            payload = payloads[index]
            return names[index] if payload is None else (names[index], payload.decode(r))

        def encode(value: Any, out: bytearray) -> None:
            variant, data = (value, None) if isinstance(value, str) else value
            if variant not in names:
                raise EncodeError(f"{name}: unknown variant {variant!r}")
            index = names.index(variant)
            out.append(index)
            if payloads[index] is not None:
                payloads[index].encode(data, out)

        def default() -> Any:
            return names[0] if payloads[0] is None else (names[0], payloads[0].default())

        compiled = _Compiled(decode, encode, default)
        self._enums[name] = compiled
        return compiled

    def _compile(self, t: Any) -> _Compiled:
        if isinstance(t, str):
            if t in _FIXED_INTS:
                dec, enc = _fixed_codec(t, _FIXED_INTS[t])
                return _Compiled(dec, enc, lambda t=t: 0.0 if t.startswith("f") else 0)
            if t in _WIDE_INTS:
                dec, enc = _wide_codec(t, *_WIDE_INTS[t])
                return _Compiled(dec, enc, lambda: 0)
            simple = {
                "bool": (_bool_decode, _bool_encode),
                "pubkey": (_pubkey_decode, _pubkey_encode),
                "string": (_string_decode, _string_encode),
                "bytes": (_bytes_decode, _bytes_encode),
            }
            if t in simple:
                return _Compiled(*simple[t], lambda t=t: _PRIMITIVE_DEFAULTS[t])
            raise IdlError(f"{self.name}: unsupported primitive type {t!r}")
        if not isinstance(t, Mapping):
            raise IdlError(f"{self.name}: malformed type {t!r}")
        if "option" in t or "coption" in t:
            return self._option(t.get("option", t.get("coption")), coption="coption" in t)
        if "vec" in t:
            return self._vec(self._compile(t["vec"]))
        if "array" in t:
            inner_t, length = t["array"]
            if not isinstance(length, int):
                raise IdlError(f"{self.name}: generic array length {length!r} is not supported")
            return self._array(inner_t, length)
        if "defined" in t:
            ref = t["defined"]
            name = ref["name"] if isinstance(ref, Mapping) else ref
            tdef = self._type_defs.get(name)
            if tdef is None:
                raise IdlError(f"{self.name}: type {name!r} is not defined")
            if tdef["type"].get("kind") == "enum":
                return self._enum(name, tdef["type"])
            self._struct(name)  # validates now; fields compile lazily (recursive types)
            return _Compiled(
                lambda r, n=name: self._structs[n].decode(r),
                lambda v, out, n=name: self._structs[n].encode(v, out),
                lambda n=name: self._structs[n].default(),
            )
        raise IdlError(f"{self.name}: unsupported type {dict(t)!r}")

    def _option(self, inner_t: Any, coption: bool) -> _Compiled:
        inner = self._compile(inner_t)
        tag_size = 4 if coption else 1

        def decode(r: _Reader) -> Any:
            tag = int.from_bytes(r.take(tag_size), "little")
            if tag == 0:
                if coption:  # COption always reserves the payload bytes
                    inner.decode(r)
                return None
            if tag != 1:
                raise DecodeError(f"invalid option tag {tag}")
            return inner.decode(r)

        def encode(value: Any, out: bytearray) -> None:
            if value is None:
                out += b"\x00" * tag_size
                if coption:
                    inner.encode(inner.default(), out)
            else:
                out += (1).to_bytes(tag_size, "little")
                inner.encode(value, out)

        return _Compiled(decode, encode, lambda: None)

    @staticmethod
    def _vec(inner: _Compiled) -> _Compiled:
        def decode(r: _Reader) -> tuple[Any, ...]:
            (n,) = _LEN.unpack(r.take(4))
            if n > r.remaining:  # every item is at least one byte: reject absurd lengths early
                raise DecodeError(f"vec length {n} exceeds the {r.remaining} bytes left")
            return tuple(inner.decode(r) for _ in range(n))

        def encode(value: Any, out: bytearray) -> None:
            if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
                raise EncodeError(f"vec expects a sequence, got {type(value).__name__}")
            items = list(value)
            out += _LEN.pack(len(items))
            for item in items:
                inner.encode(item, out)

        return _Compiled(decode, encode, tuple)

    def _array(self, inner_t: Any, length: int) -> _Compiled:
        if inner_t == "u8":  # byte arrays are bytes, not tuples of ints

            def decode_bytes(r: _Reader) -> bytes:
                return r.take(length)

            def encode_bytes(value: Any, out: bytearray) -> None:
                if not isinstance(value, bytes | bytearray) or len(value) != length:
                    raise EncodeError(f"[u8; {length}] expects {length} bytes")
                out += value

            return _Compiled(decode_bytes, encode_bytes, lambda: bytes(length))
        inner = self._compile(inner_t)

        def decode(r: _Reader) -> tuple[Any, ...]:
            return tuple(inner.decode(r) for _ in range(length))

        def encode(value: Any, out: bytearray) -> None:
            items = list(value) if isinstance(value, Iterable) else None
            if items is None or len(items) != length:
                raise EncodeError(f"array expects exactly {length} items")
            for item in items:
                inner.encode(item, out)

        return _Compiled(decode, encode, lambda: tuple(inner.default() for _ in range(length)))

    # ----- generic values -----

    def encode_type(self, type_name: str, value: Any) -> bytes:
        out = bytearray()
        self._struct(type_name).encode(value, out)
        return bytes(out)

    def decode_type(self, type_name: str, data: bytes, *, lenient: bool = True) -> Any:
        return self._struct(type_name).decode(_Reader(bytes(data)), lenient=lenient)

    # ----- accounts -----

    def account_name(self, data: bytes) -> str | None:
        """The IDL account type the data's discriminator names, or None."""
        return self._account_by_disc.get(bytes(data[:DISCRIMINATOR_SIZE]))

    def decode_account(self, data: bytes, name: str | None = None) -> Any:
        """Decode account data; with `name`, insist on that account type."""
        data = bytes(data)
        found = self.account_name(data)
        if found is None:
            raise DecodeError(f"{self.name}: unknown account discriminator {data[:8].hex()}")
        if name is not None and found != name:
            raise DecodeError(f"{self.name}: expected a {name} account, got {found}")
        return self._decode_body(found, data)

    def encode_account(self, name: str, value: Any, *, size: int | None = None) -> bytes:
        """Account data in the real layout. `size` reproduces an on-chain length: zero padding for
        reallocated accounts, or truncation for legacy short accounts (only of zero tail bytes)."""
        data = self._encode_with_discriminator("account", self.account_discriminators, name, value)
        return _fit(data, size)

    # ----- events -----

    def decode_event(self, data: bytes) -> tuple[str, Any] | None:
        """(name, event) for `discriminator + borsh` bytes; None for an unknown discriminator."""
        data = bytes(data)
        name = self._event_by_disc.get(data[:DISCRIMINATOR_SIZE])
        if name is None:
            return None
        return name, self._decode_body(name, data)

    def encode_event(self, name: str, value: Any) -> bytes:
        return self._encode_with_discriminator("event", self.event_discriminators, name, value)

    # Accounts and events share one wire shape: 8-byte discriminator, then the Borsh struct
    # (decoded leniently: older/newer program versions write shorter/longer data).

    def _decode_body(self, name: str, data: bytes) -> Any:
        return self._struct(name).decode(_Reader(data, DISCRIMINATOR_SIZE), lenient=True)

    def _encode_with_discriminator(
        self, kind: str, discriminators: Mapping[str, bytes], name: str, value: Any
    ) -> bytes:
        disc = discriminators.get(name)
        if disc is None:
            raise IdlError(f"{self.name}: {kind} {name!r} is not defined")
        return disc + self.encode_type(name, value)

    def decode_event_instruction(self, data: bytes) -> tuple[str, Any] | None:
        """An event from emit_cpi! self-invocation data; None if it is not one of our events."""
        data = bytes(data)
        if not data.startswith(EVENT_IX_TAG_LE):
            return None
        return self.decode_event(data[len(EVENT_IX_TAG_LE) :])

    def encode_event_instruction(self, name: str, value: Any) -> bytes:
        return EVENT_IX_TAG_LE + self.encode_event(name, value)

    def event_log_line(self, name: str, value: Any) -> str:
        """The `Program data: ...` log line `emit!` writes for this event."""
        return PROGRAM_DATA_PREFIX + base64.b64encode(self.encode_event(name, value)).decode()

    def decode_log_events(self, logs: Sequence[str]) -> list[tuple[str, Any]]:
        """Events in a transaction's log messages, only those logged while this program ran.

        Tracks the invoke stack from `Program <id> invoke [n]` / `success` / `failed` lines so a
        different program logging bytes that happen to carry one of our discriminators is ignored.
        """
        ours = str(self.program_id)
        stack: list[str] = []
        events: list[tuple[str, Any]] = []
        for line in logs:
            if line.startswith(PROGRAM_DATA_PREFIX):
                if stack and stack[-1] == ours:
                    events.extend(self._events_in_data_line(line))
                continue
            parts = line.split(" ", 3)
            if len(parts) < 3 or parts[0] != "Program" or parts[1].endswith(":"):
                continue  # "Program log: ...", "Program return: ..." and other lines
            if parts[2] == "invoke":
                stack.append(parts[1])
            elif parts[2] in ("success", "failed:", "failed") and stack and stack[-1] == parts[1]:
                stack.pop()
        return events

    def _events_in_data_line(self, line: str) -> list[tuple[str, Any]]:
        events = []
        for chunk in line[len(PROGRAM_DATA_PREFIX) :].split():
            try:
                event = self.decode_event(base64.b64decode(chunk, validate=True))
            except (binascii.Error, ValueError):
                continue  # not base64, or cut short by the runtime's log limit
            if event is not None:
                events.append(event)
        return events

    # ----- instructions -----

    def encode_instruction_data(self, name: str, args: Mapping[str, Any]) -> bytes:
        ix = self._instruction(name)
        out = bytearray(ix.discriminator)
        for spec, codec in zip(ix.args, self._arg_codecs[name], strict=True):
            if spec["name"] not in args:
                raise EncodeError(f"{name}: missing argument {spec['name']!r}")
            try:
                codec.encode(args[spec["name"]], out)
            except EncodeError as exc:
                raise EncodeError(f"{name}.{spec['name']}: {exc}") from None
        unknown = set(args) - {a["name"] for a in ix.args}
        if unknown:
            raise EncodeError(f"{name}: unknown arguments {sorted(unknown)}")
        return bytes(out)

    def decode_instruction_data(self, data: bytes) -> DecodedInstruction | None:
        """(name, args) of an instruction of this program; None for an unknown discriminator.

        Trailing arguments an older client left out (e.g. `track_volume`) decode as zero values.
        """
        data = bytes(data)
        ix = self._ix_by_disc.get(data[:DISCRIMINATOR_SIZE])
        if ix is None:
            return None
        r = _Reader(data, DISCRIMINATOR_SIZE)
        args: dict[str, Any] = {}
        for spec, codec in zip(ix.args, self._arg_codecs[ix.name], strict=True):
            args[spec["name"]] = codec.default() if r.remaining == 0 else codec.decode(r)
        return DecodedInstruction(ix.name, args)

    def _instruction(self, name: str) -> IdlInstruction:
        ix = self.instructions.get(name)
        if ix is None:
            raise IdlError(f"{self.name}: instruction {name!r} is not defined")
        return ix

    def resolve_accounts(
        self,
        name: str,
        accounts: Mapping[str, Pubkey],
        *,
        args: Mapping[str, Any] | None = None,
        account_fields: Mapping[str, Pubkey] | None = None,
    ) -> list[ResolvedAccount]:
        """The instruction's accounts in IDL order with IDL signer/writable flags.

        Given accounts win; otherwise fixed `address`es are used and PDAs are derived from their
        `pda.seeds` (const / account / arg) under `pda.program` or this program. Seeds that read
        a field of another account (`bonding_curve.creator`) come from `account_fields`.
        Optional accounts left out take the program id, as Anchor expects.
        """
        ix = self._instruction(name)
        args = args or {}
        account_fields = account_fields or {}
        known: dict[str, Pubkey] = {}
        for spec in ix.accounts:
            if spec["name"] in accounts:
                known[spec["name"]] = _as_pubkey(accounts[spec["name"]], spec["name"])
            elif "address" in spec:
                known[spec["name"]] = Pubkey.from_string(spec["address"])
            elif spec["name"] == "program" and "pda" not in spec:
                # #[event_cpi] appends `program` = the emitting program itself.
                known["program"] = self.program_id
        unknown = set(accounts) - {s["name"] for s in ix.accounts}
        if unknown:
            raise MissingAccountError(f"{name}: unknown accounts {sorted(unknown)}")
        # PDAs can depend on accounts listed after them: derive until nothing changes.
        inputs = _SeedInputs(ix, known, args, account_fields)
        progress = True
        while progress:
            progress = False
            for spec in ix.accounts:
                if spec["name"] in known or "pda" not in spec:
                    continue
                pda = self._derive(spec["pda"], inputs)
                if pda is not None:
                    known[spec["name"]] = pda
                    progress = True
        resolved, missing = [], []
        for spec in ix.accounts:
            key = known.get(spec["name"])
            if key is None and spec.get("optional"):
                key = self.program_id
            if key is None:
                missing.append(spec["name"])
                continue
            resolved.append(
                ResolvedAccount(
                    spec["name"], key, bool(spec.get("writable")), bool(spec.get("signer"))
                )
            )
        if missing:
            raise MissingAccountError(f"{name}: accounts needed: {', '.join(missing)}")
        return resolved

    def build_instruction(
        self,
        name: str,
        args: Mapping[str, Any],
        accounts: Mapping[str, Pubkey],
        *,
        account_fields: Mapping[str, Pubkey] | None = None,
        remaining_accounts: Sequence[AccountMeta] = (),
    ) -> Instruction:
        data = self.encode_instruction_data(name, args)
        resolved = self.resolve_accounts(name, accounts, args=args, account_fields=account_fields)
        metas = [a.meta() for a in resolved] + list(remaining_accounts)
        return Instruction(self.program_id, data, metas)

    def _derive(self, pda: Mapping[str, Any], inputs: _SeedInputs) -> Pubkey | None:
        """The PDA, or None while one of its seeds (or its owning program) is still unknown."""
        parts = [*pda["seeds"], pda["program"]] if "program" in pda else pda["seeds"]
        raw: list[bytes] = []
        for part in parts:
            value = self._seed_bytes(part, inputs)
            if value is None:
                return None
            raw.append(value)
        program = Pubkey.from_bytes(raw.pop()) if "program" in pda else self.program_id
        return Pubkey.find_program_address(raw, program)[0]

    def _seed_bytes(self, seed: Mapping[str, Any], inputs: _SeedInputs) -> bytes | None:
        ix, known, args, account_fields = inputs
        kind = seed["kind"]
        if kind == "const":
            return bytes(seed["value"])
        if kind == "account":
            path = seed["path"]
            if "." in path:
                value = account_fields.get(path)
                return None if value is None else bytes(_as_pubkey(value, path))
            key = known.get(path)
            return None if key is None else bytes(key)
        if kind == "arg":
            path = seed["path"]
            if path not in args:
                return None
            spec = next((a for a in ix.args if a["name"] == path), None)
            if spec is None:
                raise IdlError(f"{ix.name}: seed arg {path!r} is not an argument")
            out = bytearray()
            self._compile(spec["type"]).encode(args[path], out)
            # Anchor seeds strings/bytes by content, without the Borsh length prefix.
            return bytes(out[4:]) if spec["type"] in ("string", "bytes") else bytes(out)
        raise IdlError(f"{ix.name}: unsupported seed kind {kind!r}")


def _init_order(factory: Any) -> list[str] | None:
    """A dataclass's constructor parameters in order (None for anything else)."""
    if not dataclasses.is_dataclass(factory):
        return None
    fields = [f for f in dataclasses.fields(factory) if f.init]
    if any(f.kw_only for f in fields):
        return None
    return [f.name for f in fields]


def _as_pubkey(value: Any, what: str) -> Pubkey:
    if isinstance(value, Pubkey):
        return value
    if isinstance(value, str):
        try:
            return Pubkey.from_string(value)
        except ValueError:
            pass
    raise MissingAccountError(f"{what}: not a pubkey: {value!r}")


def _fit(data: bytes, size: int | None) -> bytes:
    if size is None or size == len(data):
        return data
    if size > len(data):
        return data + bytes(size - len(data))
    if any(data[size:]):
        raise EncodeError(f"cannot shrink to {size} bytes: the dropped fields are not zero")
    return data[:size]
