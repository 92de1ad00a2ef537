"""The modelled-program executor: Python models and LiteSVM run one transaction atomically.

A small counter model stands in for pump.fun here, so these tests pin the executor's
own guarantees (ordering, atomicity, fees, signatures, simulation, bundles) apart
from any one program's rules.
"""

from __future__ import annotations

import struct

import pytest
from solders.account import Account
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction

from apps.chain.localnet import Chain
from apps.chain.localnet.modelled import (
    AccountRef,
    AccountState,
    InnerInstruction,
    ModelOutput,
    ProgramFailure,
)
from tests.chain.localnet import SOL, badly_signed

COUNTER_PROGRAM = Pubkey.from_string("Counter111111111111111111111111111111111111")
INCREMENT, REFUSE = 0, 1


class CounterModel:
    """Increments a u64 in an account it owns; the signer must be named writable."""

    program_id = COUNTER_PROGRAM

    def process(self, accounts: list[AccountRef], data: bytes, state: AccountState) -> ModelOutput:
        if data[:1] == bytes([REFUSE]):
            raise ProgramFailure(6001, "Refused", "told to refuse", ["Program log: refusing"])
        counter, authority = accounts
        if not authority.is_signer:
            raise ProgramFailure(6002, "NotSigner", "authority must sign")
        if not counter.is_writable:
            raise ProgramFailure(6003, "NotWritable", "counter must be writable")
        account = state.get(counter.pubkey)
        value = struct.unpack("<Q", bytes(account.data))[0] if account else 0
        state.set(
            counter.pubkey,
            Account(
                lamports=account.lamports if account else 1_000_000,
                data=struct.pack("<Q", value + 1),
                owner=COUNTER_PROGRAM,
                executable=False,
            ),
        )
        return ModelOutput(
            logs=["Program log: Instruction: Increment"],
            inner=[InnerInstruction(COUNTER_PROGRAM, [counter.pubkey], b"\xee")],
            compute_units=1_234,
        )


@pytest.fixture
def chain() -> Chain:
    chain = Chain()
    chain.register_program_model(CounterModel())
    return chain


def counter_value(chain: Chain, counter: Pubkey) -> int:
    account = chain.get_account(counter)
    return struct.unpack("<Q", bytes(account.data))[0] if account else 0


def increment(counter: Pubkey, authority: Pubkey, op: int = INCREMENT) -> Instruction:
    return Instruction(
        COUNTER_PROGRAM,
        bytes([op]),
        [AccountMeta(counter, False, True), AccountMeta(authority, True, True)],
    )


def pay(src: Pubkey, dst: Pubkey, lamports: int) -> Instruction:
    return transfer(TransferParams(from_pubkey=src, to_pubkey=dst, lamports=lamports))


def signed(chain: Chain, payer: Keypair, instructions: list[Instruction]) -> VersionedTransaction:
    blockhash, _ = chain.latest_blockhash("processed")
    return VersionedTransaction(
        Message.new_with_blockhash(instructions, payer.pubkey(), blockhash), [payer]
    )


def funded(chain: Chain) -> Keypair:
    keypair = Keypair()
    chain.airdrop(keypair.pubkey(), 10 * SOL)
    return keypair


def test_program_account__is_executable_placeholder(chain: Chain) -> None:
    account = chain.get_account(COUNTER_PROGRAM)
    assert account is not None and account.executable


def test_mixed_transaction__runs_in_order_and_charges_one_fee(chain: Chain) -> None:
    payer, counter, receiver = funded(chain), Pubkey.new_unique(), Pubkey.new_unique()
    tx = signed(
        chain,
        payer,
        [
            pay(payer.pubkey(), receiver, SOL),
            increment(counter, payer.pubkey()),
            pay(payer.pubkey(), receiver, 2),
        ],
    )
    outcome = chain.execute(tx)
    assert outcome.err is None
    assert counter_value(chain, counter) == 1
    assert chain.get_balance(receiver) == SOL + 2
    assert chain.get_balance(payer.pubkey()) == 10 * SOL - SOL - 2 - 5_000
    record = outcome.record
    assert record is not None and record.fee == 5_000
    program = str(COUNTER_PROGRAM)
    assert f"Program {program} invoke [1]" in record.logs
    assert "Program log: Instruction: Increment" in record.logs
    assert f"Program {program} success" in record.logs
    # Logs stay in instruction order: system, counter, system.
    invokes = [line.split()[1] for line in record.logs if line.endswith("invoke [1]")]
    assert invokes == [
        "11111111111111111111111111111111",
        program,
        "11111111111111111111111111111111",
    ]
    inner = record.inner_instructions
    assert [group["index"] for group in inner] == [1]
    keys = record.account_keys
    assert keys[inner[0]["instructions"][0]["programIdIndex"]] == COUNTER_PROGRAM
    assert chain.transaction(outcome.signature) is record


def test_model_failure__undoes_earlier_instructions_and_still_charges_fee(chain: Chain) -> None:
    payer, counter, receiver = funded(chain), Pubkey.new_unique(), Pubkey.new_unique()
    chain.execute(signed(chain, payer, [increment(counter, payer.pubkey())]))
    before = chain.get_balance(payer.pubkey())
    tx = signed(
        chain,
        payer,
        [
            pay(payer.pubkey(), receiver, SOL),
            increment(counter, payer.pubkey()),
            increment(counter, payer.pubkey(), REFUSE),
        ],
    )
    outcome = chain.execute(tx)
    assert outcome.err == {"InstructionError": [2, {"Custom": 6001}]}
    assert chain.get_balance(receiver) == 0
    assert counter_value(chain, counter) == 1
    assert chain.get_balance(payer.pubkey()) == before - 5_000
    assert outcome.record is not None
    assert f"Program {COUNTER_PROGRAM} failed: custom program error: 0x1771" in outcome.record.logs


def test_litesvm_failure_after_model__undoes_model_writes(chain: Chain) -> None:
    payer, counter = funded(chain), Pubkey.new_unique()
    tx = signed(
        chain,
        payer,
        [increment(counter, payer.pubkey()), pay(payer.pubkey(), Pubkey.new_unique(), 100 * SOL)],
    )
    outcome = chain.execute(tx)
    assert outcome.err is not None and outcome.err["InstructionError"][0] == 1
    assert chain.get_account(counter) is None
    assert chain.get_balance(payer.pubkey()) == 10 * SOL - 5_000


def test_bad_signature__nothing_runs_or_is_recorded(chain: Chain) -> None:
    payer, counter = funded(chain), Pubkey.new_unique()
    tx = badly_signed(signed(chain, payer, [increment(counter, payer.pubkey())]))
    outcome = chain.execute(tx)
    assert outcome.err == "SignatureFailure" and outcome.record is None
    assert chain.get_account(counter) is None
    assert chain.get_balance(payer.pubkey()) == 10 * SOL


def test_replay__is_already_processed(chain: Chain) -> None:
    payer, counter = funded(chain), Pubkey.new_unique()
    tx = signed(chain, payer, [increment(counter, payer.pubkey())])
    assert chain.execute(tx).err is None
    assert chain.execute(tx).err == "AlreadyProcessed"
    assert counter_value(chain, counter) == 1


def test_simulation__reports_effects_and_commits_nothing(chain: Chain) -> None:
    payer, counter, receiver = funded(chain), Pubkey.new_unique(), Pubkey.new_unique()
    tx = signed(
        chain, payer, [pay(payer.pubkey(), receiver, SOL), increment(counter, payer.pubkey())]
    )
    sim = chain.simulate(tx, sig_verify=True, addresses=[counter])
    assert sim.err is None
    assert struct.unpack("<Q", bytes(sim.accounts[0].data))[0] == 1
    assert sim.units_consumed >= 1_234
    assert "Program log: Instruction: Increment" in sim.logs
    assert chain.get_account(counter) is None
    assert chain.get_balance(receiver) == 0
    assert chain.get_balance(payer.pubkey()) == 10 * SOL
    failing = chain.simulate(
        signed(chain, payer, [increment(counter, payer.pubkey(), REFUSE)]), sig_verify=True
    )
    assert failing.err == {"InstructionError": [0, {"Custom": 6001}]}
    assert "Program log: refusing" in failing.logs


def test_bundle_with_modelled_transaction__all_or_nothing(chain: Chain) -> None:
    payer, counter = funded(chain), Pubkey.new_unique()
    first = signed(chain, payer, [increment(counter, payer.pubkey())])
    second = signed(chain, payer, [increment(counter, payer.pubkey(), REFUSE)])
    outcome = chain.execute_bundle([first, second])
    assert not outcome.landed and outcome.failed_index == 1
    assert chain.get_account(counter) is None
    assert chain.get_balance(payer.pubkey()) == 10 * SOL
    assert chain.transaction(first.signatures[0]) is None
    third = signed(
        chain, payer, [increment(counter, payer.pubkey()), pay(payer.pubkey(), counter, 1)]
    )
    assert chain.execute_bundle([first, third]).landed
    assert counter_value(chain, counter) == 2
