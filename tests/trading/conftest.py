"""A localnet per test module (clock stepped by hand), a funded payer, and the platform
pointed at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from solders.keypair import Keypair

from apps.chain.localnet import LocalnetHandle, start_localnet_in_thread

SOL = 1_000_000_000


@pytest.fixture(scope="module")
def net() -> Iterator[LocalnetHandle]:
    with start_localnet_in_thread(slot_ms=0) as handle:  # the test steps the clock
        yield handle


@pytest.fixture
def payer(net: LocalnetHandle) -> Keypair:
    keypair = Keypair()
    net.chain.airdrop(keypair.pubkey(), 10 * SOL)
    return keypair


@pytest.fixture
def platform_rpc(net: LocalnetHandle, settings) -> str:
    """Point the platform's RPC pool at the test localnet."""
    settings.SOLANA_RPC_URLS = [net.rpc_url]
    return net.rpc_url
