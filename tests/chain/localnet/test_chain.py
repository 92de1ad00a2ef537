"""The chain itself: slots, blockhash expiry, records, commitment, fees (no HTTP)."""

from __future__ import annotations

import pytest
from solders.keypair import Keypair

from apps.chain.localnet import Chain
from apps.chain.localnet.chain import BLOCKHASH_MAX_AGE
from tests.chain.localnet import SOL, badly_signed, transfer_tx


@pytest.fixture
def chain() -> Chain:
    return Chain()


@pytest.fixture
def funded(chain: Chain) -> Keypair:
    payer = Keypair()
    assert chain.airdrop(payer.pubkey(), 10 * SOL).err is None
    return payer


def test_advance_slot__moves_litesvm_clock_and_rotates_blockhash(chain: Chain) -> None:
    first, _ = chain.latest_blockhash("processed")

    chain.advance_slot(3)

    second, last_valid = chain.latest_blockhash("processed")
    assert chain.slot == 3
    assert chain._svm.get_clock().slot == 3
    assert second != first
    assert last_valid == 3 + BLOCKHASH_MAX_AGE


def test_blockhash__valid_for_150_slots_then_expired(chain: Chain, funded: Keypair) -> None:
    blockhash, _ = chain.latest_blockhash("processed")
    chain.advance_slot(BLOCKHASH_MAX_AGE)
    assert chain.is_blockhash_valid(blockhash)

    chain.advance_slot()

    assert not chain.is_blockhash_valid(blockhash)
    outcome = chain.execute(transfer_tx(funded, Keypair().pubkey(), SOL, blockhash))
    assert outcome.err == "BlockhashNotFound"
    assert outcome.record is None


def test_execute__records_fee_balances_logs_and_written_accounts(
    chain: Chain, funded: Keypair
) -> None:
    to = Keypair().pubkey()
    blockhash, _ = chain.latest_blockhash("processed")

    outcome = chain.execute(transfer_tx(funded, to, SOL, blockhash))

    record = outcome.record
    assert outcome.err is None and record is not None
    assert record.slot == chain.slot
    assert record.fee == 5000
    assert record.pre_balances[:2] == [10 * SOL, 0]
    assert record.post_balances[:2] == [9 * SOL - 5000, SOL]
    assert record.logs[-1] == "Program 11111111111111111111111111111111 success"
    assert record.compute_units > 0
    assert [k for k, _ in record.accounts_written] == [funded.pubkey(), to]
    assert chain.transaction(outcome.signature) is record
    assert chain.slot_record(chain.slot).transactions[-1] is record


def test_execute__failed_instruction_is_committed_with_fee_only(
    chain: Chain, funded: Keypair
) -> None:
    blockhash, _ = chain.latest_blockhash("processed")

    outcome = chain.execute(transfer_tx(funded, Keypair().pubkey(), 100 * SOL, blockhash))

    assert outcome.err == {"InstructionError": [0, {"Custom": 1}]}
    assert outcome.record is not None
    assert chain.get_balance(funded.pubkey()) == 10 * SOL - 5000
    assert [k for k, _ in outcome.record.accounts_written] == [funded.pubkey()]


def test_execute__bad_signature_is_rejected_without_trace(chain: Chain, funded: Keypair) -> None:
    blockhash, _ = chain.latest_blockhash("processed")
    tx = badly_signed(transfer_tx(funded, Keypair().pubkey(), SOL, blockhash))

    outcome = chain.execute(tx)

    assert outcome.err == "SignatureFailure"
    assert outcome.record is None
    assert chain.get_balance(funded.pubkey()) == 10 * SOL


def test_airdrop__twice_in_one_slot_lands_twice(chain: Chain) -> None:
    who = Keypair().pubkey()

    first = chain.airdrop(who, SOL)
    second = chain.airdrop(who, SOL)

    assert first.signature != second.signature
    assert chain.get_balance(who) == 2 * SOL


def test_confirmation_status__processed_confirmed_finalized(chain: Chain, funded: Keypair) -> None:
    slot = chain.transactions_for_address(funded.pubkey())[0].slot
    assert chain.confirmation_status(slot) == ("processed", 0)

    chain.advance_slot()
    assert chain.confirmation_status(slot) == ("confirmed", 1)
    assert chain.commitment_slot("confirmed") == slot

    chain.advance_slot(chain.finality_depth - 1)
    assert chain.confirmation_status(slot) == ("finalized", None)
    assert chain.commitment_slot("finalized") == slot


def test_recent_prioritization_fees__min_per_slot_and_max_over_written_accounts(
    chain: Chain, funded: Keypair
) -> None:
    hot, cold = Keypair().pubkey(), Keypair().pubkey()
    blockhash, _ = chain.latest_blockhash("processed")
    chain.execute(transfer_tx(funded, hot, SOL, blockhash, cu_price=5_000))
    chain.execute(transfer_tx(funded, cold, SOL, blockhash, cu_price=100))
    fee_slot = chain.slot
    assert fee_slot not in dict(chain.recent_prioritization_fees())  # slot still open

    chain.advance_slot()

    # The airdrop in the same slot paid 0, so the block minimum is 0.
    assert dict(chain.recent_prioritization_fees())[fee_slot] == 0
    assert dict(chain.recent_prioritization_fees([hot]))[fee_slot] == 5_000
    assert dict(chain.recent_prioritization_fees([cold, hot]))[fee_slot] == 5_000


def test_simulate__changes_nothing(chain: Chain, funded: Keypair) -> None:
    to = Keypair().pubkey()
    blockhash, _ = chain.latest_blockhash("processed")

    sim = chain.simulate(transfer_tx(funded, to, SOL, blockhash), addresses=[to])

    assert sim.err is None
    assert sim.accounts[0] is not None and sim.accounts[0].lamports == SOL
    assert chain.get_account(to) is None


def test_listeners__see_slots_and_transactions(chain: Chain) -> None:
    slots, txs = [], []
    chain.slot_listeners.append(lambda record: slots.append(record.slot))
    chain.transaction_listeners.append(lambda record: txs.append(record.signature))

    outcome = chain.airdrop(Keypair().pubkey(), SOL)
    chain.advance_slot(2)

    assert txs == [outcome.signature]
    assert slots == [1, 2]
