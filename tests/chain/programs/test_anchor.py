"""The IDL-driven codec: discriminators, Borsh primitives, Option args, events, error shapes."""

from __future__ import annotations

import base64
import hashlib
import struct
from pathlib import Path

import pytest
from solders.pubkey import Pubkey

from apps.chain.programs import ids, pump, pump_amm
from apps.chain.programs.anchor import (
    EVENT_IX_TAG_LE,
    AnchorProgram,
    DecodeError,
    EncodeError,
    IdlError,
    MissingAccountError,
    OtherEvent,
)
from apps.chain.programs.pump.program import PUMP, PUMP_FEES
from apps.chain.programs.pump_amm.program import PUMP_AMM

from .golden import disc, pda, u64

PROGRAMS = [PUMP, PUMP_AMM, PUMP_FEES]
PKG = Path(pump.__file__).parent.parent


@pytest.mark.parametrize("program", PROGRAMS, ids=lambda p: p.name)
def test_idl_discriminators_are_anchor_sighashes(program: AnchorProgram) -> None:
    idl = program.idl
    for account in idl["accounts"]:
        assert bytes(account["discriminator"]) == disc("account", account["name"])
    for event in idl["events"]:
        assert bytes(event["discriminator"]) == disc("event", event["name"])
    for ix in idl["instructions"]:
        assert bytes(ix["discriminator"]) == disc("global", ix["name"]), ix["name"]


@pytest.mark.parametrize("program", PROGRAMS, ids=lambda p: p.name)
def test_every_account_and_event_round_trips(program: AnchorProgram) -> None:
    """Zero values of every account/event type encode, decode and re-encode to the same bytes."""
    for name in program.account_discriminators:
        data = program.encode_account(name, program._struct(name).default())
        assert program.account_name(data) == name
        assert program.encode_account(name, program.decode_account(data, name)) == data
    for name in program.event_discriminators:
        data = program.encode_event(name, program._struct(name).default())
        found, value = program.decode_event(data)
        assert found == name
        assert program.encode_event(name, value) == data


def test_program_ids_are_the_idl_addresses() -> None:
    assert PUMP.program_id == ids.PUMP_PROGRAM_ID == pump.PUMP_PROGRAM_ID
    assert PUMP_AMM.program_id == ids.PUMP_AMM_PROGRAM_ID == pump_amm.PUMP_AMM_PROGRAM_ID
    assert PUMP_FEES.program_id == ids.PUMP_FEES_PROGRAM_ID


def test_fee_config_layout_agrees_across_the_three_idls() -> None:
    def fields(program: AnchorProgram) -> list:
        types = {t["name"]: t for t in program.idl["types"]}
        return [
            [(f["name"], f["type"]) for f in types[n]["type"]["fields"]]
            for n in ("FeeConfig", "FeeTier", "Fees")
        ]

    assert fields(PUMP) == fields(PUMP_AMM) == fields(PUMP_FEES)


def test_event_ix_tag_is_anchor_event_hash_little_endian() -> None:
    tag = int.from_bytes(hashlib.sha256(b"anchor:event").digest()[:8], "big")
    assert tag == 0x1D9ACB512EA545E4
    assert EVENT_IX_TAG_LE == struct.pack("<Q", tag) == bytes.fromhex("e445a52e51cb9a1d")


def test_option_argument_golden_bytes() -> None:
    """update_buyback_config(buyback_basis_points: Option<u64>): tag byte then the value."""
    authority = Pubkey.new_unique()
    some = PUMP.build_instruction(
        "update_buyback_config", {"buyback_basis_points": 25}, {"authority": authority}
    )
    none = PUMP.build_instruction(
        "update_buyback_config", {"buyback_basis_points": None}, {"authority": authority}
    )
    assert bytes(some.data) == disc("global", "update_buyback_config") + b"\x01" + u64(25)
    assert bytes(none.data) == disc("global", "update_buyback_config") + b"\x00"
    program_id = pump.PUMP_PROGRAM_ID
    assert [(m.pubkey, m.is_writable, m.is_signer) for m in some.accounts] == [
        (pda([b"global"], program_id), True, False),
        (authority, True, True),
        (pda([b"__event_authority"], program_id), False, False),
        (program_id, False, False),  # #[event_cpi]'s `program`: the program itself
    ]
    decoded = PUMP.decode_instruction_data(bytes(some.data))
    assert decoded.name == "update_buyback_config"
    assert decoded.args == {"buyback_basis_points": 25}
    assert PUMP.decode_instruction_data(bytes(none.data)).args == {"buyback_basis_points": None}


def test_bad_bytes_raise_decode_errors() -> None:
    good = pump.accounts.encode_account(pump.curve.fresh_curve(creator=Pubkey.new_unique()))
    with pytest.raises(DecodeError, match="unknown account discriminator"):
        PUMP.decode_account(b"\x00" * 8 + good[8:])
    with pytest.raises(DecodeError, match="expected a Global account"):
        PUMP.decode_account(good, "Global")
    with pytest.raises(DecodeError, match="need 8 bytes"):
        PUMP.decode_account(good[:12])  # cut inside virtual_token_reserves
    bad_bool = bytearray(good)
    bad_bool[48] = 2  # `complete`
    with pytest.raises(DecodeError, match="invalid bool"):
        PUMP.decode_account(bytes(bad_bool))
    # SharingConfig: bump u8, version u8, status enum, mint, admin, admin_revoked, shareholders.
    head = b"\x01\x01" + b"\x01" + bytes(64) + b"\x00"
    config = PUMP.decode_type("SharingConfig", head + struct.pack("<I", 0))
    assert config["status"] == "Active" and config["shareholders"] == ()
    with pytest.raises(DecodeError, match="vec length"):  # rejected before allocating
        PUMP.decode_type("SharingConfig", head + struct.pack("<I", 10**9))
    with pytest.raises(DecodeError, match="invalid enum variant"):
        PUMP.decode_type("SharingConfig", b"\x01\x01\x07" + bytes(65) + bytes(4))
    assert pump.events.decode_event(b"\x01" * 40) is None


def test_bad_values_raise_encode_errors() -> None:
    with pytest.raises(EncodeError, match="does not fit in u64"):
        PUMP.encode_instruction_data("sell", {"amount": 2**64, "min_sol_output": 0})
    with pytest.raises(EncodeError, match="does not fit in u64"):
        PUMP.encode_instruction_data("sell", {"amount": -1, "min_sol_output": 0})
    with pytest.raises(EncodeError, match="expects a number"):
        PUMP.encode_instruction_data("sell", {"amount": "10", "min_sol_output": 0})
    with pytest.raises(EncodeError, match="missing argument 'min_sol_output'"):
        PUMP.encode_instruction_data("sell", {"amount": 1})
    with pytest.raises(EncodeError, match="unknown arguments"):
        PUMP.encode_instruction_data("sell", {"amount": 1, "min_sol_output": 0, "x": 1})
    with pytest.raises(IdlError):
        PUMP.encode_instruction_data("no_such_instruction", {})
    with pytest.raises(MissingAccountError, match="accounts needed: .*user"):
        PUMP.build_instruction(
            "sell", {"amount": 1, "min_sol_output": 0}, {"mint": Pubkey.new_unique()}
        )


def test_program_data_logs_only_count_inside_our_program() -> None:
    mint, user = Pubkey.new_unique(), Pubkey.new_unique()
    event = pump.events.CompleteEvent(
        user=user, mint=mint, bonding_curve=Pubkey.new_unique(), timestamp=1_700_000_000,
        quote_mint=Pubkey.default(),
    )  # fmt: skip
    line = pump.events.event_log_line(event)
    other = "Program Other111111111111111111111111111111111"
    logs = [
        f"Program {pump.PUMP_PROGRAM_ID} invoke [1]",
        "Program log: Instruction: Buy",
        f"{other} invoke [2]",
        line,  # logged by another program: not ours
        f"{other} success",
        line,
        "Program data: !!not-base64!!",
        "Program data: " + base64.b64encode(b"\x00" * 8).decode(),  # unknown discriminator
        f"Program {pump.PUMP_PROGRAM_ID} consumed 5000 of 200000 compute units",
        f"Program {pump.PUMP_PROGRAM_ID} success",
        line,  # outside any invoke
    ]
    assert pump.events.decode_log_events(logs) == [event]
    assert pump_amm.events.decode_log_events(logs) == []


def test_unwrapped_events_come_back_as_other_event() -> None:
    data = PUMP.encode_event("ExtendAccountEvent", PUMP._struct("ExtendAccountEvent").default())
    event = pump.events.decode_event(data)
    assert isinstance(event, OtherEvent) and event.name == "ExtendAccountEvent"
    assert pump.events.encode_event(event) == data
