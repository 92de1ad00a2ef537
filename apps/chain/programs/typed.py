"""Typed views over an `AnchorProgram`: the dataclass-in, dataclass-out plumbing every program
package (pump, pump_amm) needs for its accounts and events, written once.

`AnchorProgram` speaks in (IDL name, value) pairs; these wrappers take the name from the
dataclass itself, and hand back `OtherEvent` for events the platform has no dataclass for.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .anchor import AnchorProgram, OtherEvent, event_value


def register_types(program: AnchorProgram, *classes: type) -> None:
    """Decode the IDL structs named like `classes` into those classes."""
    for cls in classes:
        program.register(cls.__name__, cls)


class TypedAccounts:
    """Account data of one program to and from its registered dataclasses."""

    def __init__(self, program: AnchorProgram) -> None:
        self.program = program

    def decode_account(self, data: bytes) -> object:
        """Any account by its discriminator (a dataclass where one is registered)."""
        return self.program.decode_account(data)

    def encode_account(self, account: object, *, size: int | None = None) -> bytes:
        """Account data (discriminator + Borsh); `size` pads or trims to an on-chain length."""
        return self.program.encode_account(type(account).__name__, account, size=size)

    def decode_as(self, cls: type, data: bytes) -> Any:
        """Account data that must be a `cls` account (DecodeError otherwise)."""
        return self.program.decode_account(data, cls.__name__)


def _event_name(event: Any) -> str:
    return event.name if isinstance(event, OtherEvent) else type(event).__name__


def _event_fields(event: Any) -> Any:
    return event.fields if isinstance(event, OtherEvent) else event


class TypedEvents:
    """Events of one program as dataclasses (or OtherEvent), from and to every wire form."""

    def __init__(self, program: AnchorProgram) -> None:
        self.program = program

    def decode_event(self, data: bytes) -> Any | None:
        """`discriminator + borsh` bytes to an event; None for bytes that are no event of ours."""
        found = self.program.decode_event(data)
        return None if found is None else event_value(*found)

    def decode_event_instruction(self, data: bytes) -> Any | None:
        """The event inside an emit_cpi! inner instruction's data; None if it is not one."""
        found = self.program.decode_event_instruction(data)
        return None if found is None else event_value(*found)

    def decode_log_events(self, logs: Sequence[str]) -> list[Any]:
        """Events the program logged in a transaction's log messages."""
        return [event_value(n, v) for n, v in self.program.decode_log_events(logs)]

    def encode_event(self, event: Any) -> bytes:
        return self.program.encode_event(_event_name(event), _event_fields(event))

    def encode_event_instruction(self, event: Any) -> bytes:
        """Instruction data of the emit_cpi! self-invocation that carries `event`."""
        return self.program.encode_event_instruction(_event_name(event), _event_fields(event))

    def event_log_line(self, event: Any) -> str:
        """The `Program data: ...` log line `emit!` writes for `event`."""
        return self.program.event_log_line(_event_name(event), _event_fields(event))
