"""A localnet per test module, its clock stepped by hand, and a funded payer."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from solders.keypair import Keypair

from apps.chain.localnet import LocalnetHandle, start_localnet_in_thread
from tests.chain.localnet import SOL


@pytest.fixture(scope="module")
def net() -> Iterator[LocalnetHandle]:
    with start_localnet_in_thread(slot_ms=0) as handle:  # the test steps the clock
        yield handle


@pytest.fixture
def payer(net: LocalnetHandle) -> Keypair:
    keypair = Keypair()
    net.chain.airdrop(keypair.pubkey(), 10 * SOL)
    return keypair
