"""A Python model of an Anchor program, checked against its IDL the way Anchor checks.

The IDL says, per instruction, which accounts come in which order, which must sign or be
writable, which have a fixed address and which are PDAs of which seeds. The model
checks all of that before a handler runs, failing with Anchor's own error codes
(ConstraintSigner 2002, ConstraintMut 2000, ConstraintSeeds 2006, ConstraintAddress
2012, AccountNotEnoughKeys 3005, InstructionFallbackNotFound 101, ...), and logs
errors as Anchor does. Events are emitted like `emit_cpi!`: a `Program data:` line and
the self-invocation through the program's `__event_authority`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from solders.pubkey import Pubkey

from apps.chain.programs.anchor import AnchorProgram, DecodeError, MissingAccountError
from apps.chain.programs.anchor_errors import ANCHOR_ERRORS

from ..modelled import AccountRef, AccountState, InnerInstruction, ModelOutput, ProgramFailure

EVENT_AUTHORITY_SEED = b"__event_authority"


def anchor_failure(
    name: str, *, account: str | None = None, detail: list[str] = ()
) -> ProgramFailure:
    """An Anchor framework error, logged the way Anchor logs it."""
    number, message = ANCHOR_ERRORS[name]
    where = f"caused by account: {account}" if account else "occurred"
    logs = [
        f"Program log: AnchorError {where}. Error Code: {name}. "
        f"Error Number: {number}. Error Message: {message}.",
        *detail,
    ]
    return ProgramFailure(number, name, message, logs)


class ProgramErrors:
    """The IDL's `errors`, raised with the program's own codes and messages."""

    def __init__(self, program: AnchorProgram) -> None:
        self._by_name = {
            e["name"]: (e["code"], e.get("msg", e["name"])) for e in program.idl["errors"]
        }

    def __call__(self, name: str) -> ProgramFailure:
        code, message = self._by_name[name]
        log = (
            f"Program log: AnchorError occurred. Error Code: {name}. "
            f"Error Number: {code}. Error Message: {message}."
        )
        return ProgramFailure(code, name, message, [log])


@dataclass
class Invocation:
    """One call of a modelled instruction: its decoded args, its accounts by IDL name."""

    model: AnchorModel
    name: str
    args: dict[str, Any]
    accounts: dict[str, AccountRef]
    remaining: list[AccountRef]
    state: AccountState
    output: ModelOutput = field(default_factory=ModelOutput)

    def key(self, name: str) -> Pubkey:
        return self.accounts[name].pubkey

    def verify_pdas(
        self, account_fields: Mapping[str, Pubkey] | None = None, *, skip: tuple[str, ...] = ()
    ) -> None:
        """Each PDA account must be the address its IDL seeds derive (ConstraintSeeds)."""
        program = self.model.program
        given = {
            spec["name"]: self.accounts[spec["name"]].pubkey
            for spec in program.instructions[self.name].accounts
            if "pda" not in spec or spec["name"] in skip
        }
        try:
            expected = program.resolve_accounts(
                self.name, given, args=self.args, account_fields=account_fields
            )
        except MissingAccountError:
            return  # a seed reads an account field the handler did not supply
        for resolved in expected:
            actual = self.accounts[resolved.name].pubkey
            if actual != resolved.pubkey:
                raise anchor_failure(
                    "ConstraintSeeds",
                    account=resolved.name,
                    detail=[
                        "Program log: Left:",
                        f"Program log: {actual}",
                        "Program log: Right:",
                        f"Program log: {resolved.pubkey}",
                    ],
                )

    def emit(self, event_name: str, event: Any) -> None:
        """emit_cpi!: the event as a `Program data:` line and as a self-CPI instruction."""
        program = self.model.program
        self.output.logs.append(program.event_log_line(event_name, event))
        self.output.inner.append(
            InnerInstruction(
                program.program_id,
                [self.model.event_authority],
                program.encode_event_instruction(event_name, event),
            )
        )

    def log(self, message: str) -> None:
        self.output.logs.append(f"Program log: {message}")

    def cpi(self, program_id: Pubkey, accounts: list[Pubkey], data: bytes = b"") -> None:
        """Record a CPI the real program makes (a transfer, a mint...) as an inner instruction."""
        self.output.inner.append(InnerInstruction(program_id, accounts, data))


Handler = Callable[[Invocation], None]


def typed(program: AnchorProgram, type_name: str, **fields: Any) -> Any:
    """A typed account or event with every field the IDL defines; the ones not given are zero."""
    blank = program.decode_type(type_name, b"", lenient=True)
    if dataclasses.is_dataclass(blank):
        return dataclasses.replace(blank, **fields)
    return {**blank, **fields}


class AnchorModel:
    """Dispatches an instruction to its handler after the IDL's account checks."""

    def __init__(self, program: AnchorProgram, handlers: dict[str, Handler]) -> None:
        self.program = program
        self.program_id = program.program_id
        self.handlers = handlers
        self.errors = ProgramErrors(program)
        self.event_authority = Pubkey.find_program_address([EVENT_AUTHORITY_SEED], self.program_id)[
            0
        ]

    def process(self, accounts: list[AccountRef], data: bytes, state: AccountState) -> ModelOutput:
        try:
            decoded = self.program.decode_instruction_data(data) if len(data) >= 8 else None
        except DecodeError:
            raise anchor_failure("InstructionDidNotDeserialize") from None
        if decoded is None:
            raise anchor_failure("InstructionFallbackNotFound")
        handler = self.handlers.get(decoded.name)
        if handler is None:
            raise anchor_failure(
                "InstructionFallbackNotFound",
                detail=[f"Program log: {decoded.name} is not modelled on the localnet"],
            )
        invocation = self._bind(decoded.name, decoded.args, accounts, state)
        invocation.log(f"Instruction: {_title(decoded.name)}")
        handler(invocation)
        return invocation.output

    def _bind(
        self, name: str, args: Any, accounts: list[AccountRef], state: AccountState
    ) -> Invocation:
        specs = self.program.instructions[name].accounts
        if len(accounts) < len(specs):
            raise anchor_failure("AccountNotEnoughKeys")
        named: dict[str, AccountRef] = {}
        for spec, ref in zip(specs, accounts, strict=False):
            if spec.get("signer") and not ref.is_signer:
                raise anchor_failure("ConstraintSigner", account=spec["name"])
            if spec.get("writable") and not ref.is_writable:
                raise anchor_failure("ConstraintMut", account=spec["name"])
            address = spec.get("address")
            if address is not None and ref.pubkey != Pubkey.from_string(address):
                raise anchor_failure("ConstraintAddress", account=spec["name"])
            named[spec["name"]] = ref
        arg_values = dict(args) if isinstance(args, Mapping) else dataclasses.asdict(args)
        return Invocation(self, name, arg_values, named, accounts[len(specs) :], state)


def _title(snake: str) -> str:
    """Anchor logs `Instruction: BuyExactSolIn` for `buy_exact_sol_in`."""
    return "".join(part.capitalize() for part in snake.split("_"))
