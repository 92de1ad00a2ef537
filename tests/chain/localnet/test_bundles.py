"""Chain.execute_bundle: all transactions land in order in one slot, or none leaves a trace."""

from __future__ import annotations

import pytest
from solders.hash import Hash
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from apps.chain.localnet.chain import Chain
from apps.chain.localnet.records import TxRecord
from tests.chain.localnet import SOL, transfer_tx


@pytest.fixture
def chain() -> Chain:
    return Chain()


@pytest.fixture
def payer(chain: Chain) -> Keypair:
    keypair = Keypair()
    chain.airdrop(keypair.pubkey(), 10 * SOL)
    return keypair


def _blockhash(chain: Chain) -> Hash:
    return chain.latest_blockhash("processed")[0]


def test_failing_middle_transaction_leaves_no_trace(chain: Chain, payer: Keypair) -> None:
    fresh, other = Pubkey.new_unique(), Pubkey.new_unique()
    bh = _blockhash(chain)
    first = transfer_tx(payer, fresh, SOL, bh)
    # Overdraws: the runtime would commit this failure with a fee; a bundle must not.
    second = transfer_tx(payer, other, 100 * SOL, bh)
    third = transfer_tx(payer, other, SOL, bh, cu_price=1)
    heard: list[TxRecord] = []
    chain.transaction_listeners.append(heard.append)
    before = chain.get_balance(payer.pubkey())
    slot_txs = len(chain.slot_record(chain.slot).transactions)

    outcome = chain.execute_bundle([first, second, third])

    assert not outcome.landed
    assert outcome.failed_index == 1
    assert outcome.err == {"InstructionError": [0, {"Custom": 1}]}
    assert outcome.records == []
    assert chain.get_balance(payer.pubkey()) == before  # not even the first fee
    assert chain.get_account(fresh) is None  # the account tx 1 created is gone again
    assert chain.get_balance(other) == 0
    for tx in (first, second, third):
        assert chain.transaction(tx.signatures[0]) is None
    assert chain.transactions_for_address(fresh) == []
    payer_history = [r.signature for r in chain.transactions_for_address(payer.pubkey())]
    assert first.signatures[0] not in payer_history
    assert len(chain.slot_record(chain.slot).transactions) == slot_txs
    assert heard == []

    # Nothing remembers the rolled-back signature: the same transaction lands later.
    alone = chain.execute(first)
    assert alone.err is None and alone.record is not None
    assert chain.get_balance(fresh) == SOL


def test_landed_bundle_records_in_order_and_notifies_after_commit(
    chain: Chain, payer: Keypair
) -> None:
    a, b = Pubkey.new_unique(), Pubkey.new_unique()
    bh = _blockhash(chain)
    txs = [transfer_tx(payer, a, SOL, bh), transfer_tx(payer, b, 2 * SOL, bh)]
    seen_committed: list[bool] = []

    def listener(record: TxRecord) -> None:
        # Notified only once the whole bundle is in: the last transaction is already known.
        seen_committed.append(chain.transaction(txs[-1].signatures[0]) is not None)

    chain.transaction_listeners.append(listener)
    slot_txs = len(chain.slot_record(chain.slot).transactions)

    outcome = chain.execute_bundle(txs)

    assert outcome.landed and outcome.err is None and outcome.slot == chain.slot
    assert [r.signature for r in outcome.records] == [tx.signatures[0] for tx in txs]
    assert [r.index for r in outcome.records] == [slot_txs, slot_txs + 1]
    assert chain.slot_record(chain.slot).transactions[-2:] == outcome.records
    assert chain.get_balance(a) == SOL and chain.get_balance(b) == 2 * SOL
    assert seen_committed == [True, True]
    assert chain.transactions_for_address(b)[0].signature == txs[1].signatures[0]


def test_second_transaction_sees_the_first(chain: Chain, payer: Keypair) -> None:
    """In order: tx 2 spends what tx 1 delivered, which only works sequentially."""
    middle = Keypair()
    bh = _blockhash(chain)
    fund = transfer_tx(payer, middle.pubkey(), 2 * SOL, bh)
    spend = transfer_tx(middle, payer.pubkey(), SOL, bh)
    assert chain.execute_bundle([fund, spend]).landed
    assert chain.execute_bundle([spend, fund]).failed_index == 0  # already processed now


def test_replayed_or_duplicated_transactions_fail_the_bundle(chain: Chain, payer: Keypair) -> None:
    bh = _blockhash(chain)
    landed = transfer_tx(payer, Pubkey.new_unique(), SOL, bh)
    assert chain.execute(landed).record is not None
    assert chain.execute(landed).err == "AlreadyProcessed"  # no double spend on replay

    fresh = transfer_tx(payer, Pubkey.new_unique(), SOL, bh)
    before = chain.get_balance(payer.pubkey())
    outcome = chain.execute_bundle([fresh, landed])
    assert (outcome.failed_index, outcome.err) == (1, "AlreadyProcessed")
    duplicated = chain.execute_bundle([fresh, fresh])
    assert (duplicated.failed_index, duplicated.err) == (1, "AlreadyProcessed")
    assert chain.get_balance(payer.pubkey()) == before
    assert chain.transaction(fresh.signatures[0]) is None


def test_expired_blockhash_fails_the_bundle_after_earlier_transactions_ran(
    chain: Chain, payer: Keypair
) -> None:
    old = _blockhash(chain)
    chain.advance_slot(151)
    target = Pubkey.new_unique()
    good = transfer_tx(payer, target, SOL, _blockhash(chain))
    stale = transfer_tx(payer, target, SOL, old)
    outcome = chain.execute_bundle([good, stale])
    assert (outcome.failed_index, outcome.err) == (1, "BlockhashNotFound")
    assert chain.get_account(target) is None
    assert chain.transaction(good.signatures[0]) is None


def test_bad_signature_fails_the_bundle(chain: Chain, payer: Keypair) -> None:
    from tests.chain.localnet import badly_signed

    bh = _blockhash(chain)
    target = Pubkey.new_unique()
    outcome = chain.execute_bundle(
        [transfer_tx(payer, target, SOL, bh), badly_signed(transfer_tx(payer, target, 1, bh))]
    )
    assert outcome.failed_index == 1
    assert chain.get_account(target) is None


def test_empty_bundle_is_a_programming_error(chain: Chain) -> None:
    with pytest.raises(ValueError):
        chain.execute_bundle([])
